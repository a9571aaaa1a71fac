"""The arithmetic a run trains in (``RunConfig.precision``), the same meaning on every device.

``fp32``: every operation in float32; on CUDA, TF32 is switched off, so a GPU fp32 run computes
what a CPU fp32 run computes (up to summation order); no run uses TF32. ``bf16``: ``torch.autocast`` with bfloat16
for the forward pass (and so its backward) and the evaluation; weights, scores, masks, the top-k
selection and the optimiser state stay float32, since autocast only lowers the matmuls and
convolutions. On a CPU without bf16 instructions (``avx512_bf16`` or AMX) bf16 still computes
correctly, but emulated, and much slower than fp32: :func:`check_precision` warns so.
"""

from __future__ import annotations

import contextlib
import logging
from functools import lru_cache
from pathlib import Path

import torch

__all__ = ["PRECISIONS", "autocast", "check_precision", "cpu_bf16_native", "cpu_flags",
           "cpu_instruction_sets", "set_matmul_precision"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")
# The /proc/cpuinfo flags that say what a CPU's vector units can do, in the bench's order.
_INSTRUCTION_SETS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                     "amx_tile", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as the kernel reports them (empty where there is no
    /proc/cpuinfo)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_instruction_sets() -> dict[str, bool]:
    """Which of the vector instruction sets that matter for fp32 and bf16 training this CPU
    has, read from the machine, with what PyTorch itself dispatches to."""
    flags = cpu_flags()
    sets = {name: name in flags for name in _INSTRUCTION_SETS}
    sets["torch_capability"] = torch.backends.cpu.get_cpu_capability()
    return sets


def cpu_bf16_native() -> bool:
    """True when this CPU computes bf16 matmuls in hardware (AVX-512 BF16 or AMX)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


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
