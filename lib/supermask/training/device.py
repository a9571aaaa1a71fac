"""The device a run trains on and the arithmetic it trains in, the same meaning on every device.

``resolve_device`` turns ``auto``/``cpu``/``cuda:N`` into a device that is there, or refuses it.

Precision (``RunConfig.precision``). ``fp32``: every operation in float32; on CUDA, TF32 is
switched off, so a GPU fp32 run computes what a CPU fp32 run computes (up to summation order);
no run uses TF32. ``bf16``: ``torch.autocast`` with bfloat16 for the forward pass (and so its
backward) and the evaluation; weights, scores, masks, the top-k
selection and the optimiser state stay float32, since autocast only lowers the matmuls and
convolutions. On a CPU without bf16 instructions (``avx512_bf16`` or AMX) bf16 still computes
correctly, but emulated, and much slower than fp32: :func:`check_precision` warns so.
What the CPU has is read in :mod:`supermask.provenance`, which every record names.

Memory (:func:`keep_freed_memory`). glibc hands blocks above its mmap threshold straight back to
the OS when they are freed, so the multi-megabyte tensors a training step allocates (masks,
masked weights, their gradients) are mapped and page-faulted afresh on every step. Keeping
freed memory in the heap removes most of edge-popup's overhead over dense training on CPU
(`make bench` times both steps).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import sys
from functools import lru_cache

import torch

from ..protocol import PRECISIONS
from ..provenance import cpu_bf16_native

__all__ = [
    "autocast",
    "check_precision",
    "keep_freed_memory",
    "resolve_device",
    "set_matmul_precision",
]

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` is CUDA when available, else CPU; a device that is not there is refused."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N") from None
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; valid: auto, cpu, cuda, cuda:N")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r} asked for, but there are only "
                f"{torch.cuda.device_count()} CUDA devices"
            )
    return resolved


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed blocks instead of unmapping them; False where that is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        done = bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1)
        )
    except (OSError, AttributeError):
        return False
    log.debug("glibc malloc tuned to keep freed memory: %s", done)
    return done


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse an unknown precision; warn when bf16 on this CPU is emulated (slow, not wrong)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if precision == "bf16" and device.type == "cpu" and not cpu_bf16_native():
        log.warning(
            "this CPU has no bf16 instructions (no avx512_bf16 or amx_bf16 in "
            "/proc/cpuinfo): bf16 runs correctly but emulated, many times slower than "
            "fp32 (see make bench); use --precision fp32 here"
        )


def set_matmul_precision(device: torch.device) -> None:
    """No TF32 on CUDA (cuDNN allows it by default): what is not autocast to bf16 is fp32, so
    the record's precision says everything."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def autocast(device: torch.device, precision: str, cache: bool = True):
    """The context a forward pass of a ``precision`` run goes in (``cache=False`` inside a
    CUDA graph's capture, which autocast's cache of cast weights must not outlive)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()
