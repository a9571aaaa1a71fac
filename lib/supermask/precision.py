"""The arithmetic a run trains in (``RunConfig.precision``), the same meaning on every device.

``fp32``: every operation in float32; on CUDA, TF32 is switched off, so a GPU fp32 run computes
what a CPU fp32 run computes (up to summation order); no run uses TF32. ``bf16``: ``torch.autocast`` with bfloat16
for the forward pass (and so its backward) and the evaluation; weights, scores, masks, the top-k
selection and the optimiser state stay float32, since autocast only lowers the matmuls and
convolutions. On a CPU without bf16 instructions (``avx512_bf16`` or AMX) bf16 still computes
correctly, but emulated, and much slower than fp32: :func:`check_precision` warns so.
What the CPU has is read in :mod:`supermask.provenance`, which every record names.
"""

from __future__ import annotations

import contextlib
import logging

import torch

from .provenance import cpu_bf16_native

__all__ = ["PRECISIONS", "autocast", "check_precision", "set_matmul_precision"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")
def check_precision(precision: str, device: torch.device) -> None:
    """Refuse an unknown precision; warn when bf16 on this CPU is emulated (slow, not wrong)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if precision == "bf16" and device.type == "cpu" and not cpu_bf16_native():
        log.warning("this CPU has no bf16 instructions (no avx512_bf16 or amx_bf16 in "
                    "/proc/cpuinfo): bf16 runs correctly but emulated, many times slower than "
                    "fp32 (see make bench); use --precision fp32 here")


def set_matmul_precision(device: torch.device) -> None:
    """No TF32 on CUDA (cuDNN allows it by default): what is not autocast to bf16 is fp32, so
    the record's precision says everything."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def autocast(device: torch.device, precision: str):
    """The context a forward pass of a ``precision`` run goes in."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
