"""Where a result came from: code version, library versions, device."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

__all__ = [
    "LIB_DIR",
    "REPO_DIR",
    "cpu_bf16_native",
    "library_digest",
    "cpu_flags",
    "cpu_instruction_sets",
    "cpu_kind",
    "device_label",
    "device_name",
    "git_commit",
    "versions",
]

# Where this package lies in its checkout: REPO_DIR/lib/supermask/provenance.py.
LIB_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = LIB_DIR.parent

# The /proc/cpuinfo flags that say what a CPU's vector units can do, in the bench's order.
_INSTRUCTION_SETS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
)


def library_digest(lib: Path | None = None) -> str:
    """SHA-256 over this package's Python sources (their paths and bytes): what trains, for a
    copy that has no git history to say which commit it is."""
    package = (lib or LIB_DIR) / "supermask"
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(f"{path.relative_to(package)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@lru_cache(maxsize=1)
def git_commit() -> str:
    """HEAD of the checkout this package runs from, with ``+dirty`` if tracked files differ;
    ``$SUPERMASK_GIT_COMMIT`` where it is set: :mod:`supermask.runs.offload` sets it to the
    commit it packed (its library clean), since the copy on a lent machine may carry another
    history."""
    if os.environ.get("SUPERMASK_GIT_COMMIT"):
        return os.environ["SUPERMASK_GIT_COMMIT"]
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def versions() -> dict[str, str]:
    import torchvision

    from . import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "supermask": __version__,
    }


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, colon, value = line.partition(":")
            if not colon:
                if fields:
                    break  # the end of the first processor's block
                continue
            fields.setdefault(name.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as the kernel reports them."""
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_instruction_sets() -> dict[str, bool | str]:
    """Which of the vector instruction sets that matter for fp32 and bf16 training this CPU
    has, read from the machine, with what PyTorch itself dispatches to."""
    flags = cpu_flags()
    sets = {name: name in flags for name in _INSTRUCTION_SETS}
    sets["torch_capability"] = torch.backends.cpu.get_cpu_capability()
    return sets


def cpu_bf16_native() -> bool:
    """True when this CPU computes bf16 matmuls in hardware (AVX-512 BF16 or AMX)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def cpu_kind(sets: dict | None = None) -> str:
    """The CPU's best instructions for this work, as a short name: amx-bf16, avx512-bf16, or
    what PyTorch dispatches to (avx512, avx2, ...). Machines of one model name differ in this,
    and bf16 is many times faster on the first two than elsewhere."""
    sets = cpu_instruction_sets() if sets is None else sets
    if sets.get("amx_bf16"):
        return "amx-bf16"
    if sets.get("avx512_bf16"):
        return "avx512-bf16"
    return str(sets.get("torch_capability", "cpu")).lower()


def device_label(recorded: str) -> str:
    """A record's ``device`` for display: records written before :func:`device_name` minded
    its grammar say ``(1 threads)``; the record itself is never rewritten."""
    return re.sub(r"\b1 threads\)", "1 thread)", recorded)


def machine_kind(recorded: str | None) -> str | None:
    """What a record's ``device`` says of the machine's arithmetic: its name and, where named,
    its best bf16 instructions (``cpu: AMD EPYC``, ``cpu: Intel(R) Xeon(R) Processor
    [amx-bf16]``, ``NVIDIA H200``), without thread counts or how many workers shared it; None
    for a run that trained on several devices or did not record one. Two CPUs of one name
    but different instructions run different bf16 kernels."""
    if not recorded or ";" in recorded or recorded.startswith("device not recorded"):
        return None
    match = re.fullmatch(r"(.*?)(?: \((.*)\))?", recorded.strip())
    assert match is not None  # the pattern matches any string
    name, notes = match.group(1), match.group(2) or ""
    instructions = [
        note.strip()
        for note in notes.split(",")
        if note.strip() and not re.fullmatch(r"\d+ threads?|shared by \d+ workers", note.strip())
    ]
    return name + (f" [{', '.join(instructions)}]" if instructions else "")


def same_machine_kind(a: str | None, b: str | None) -> bool:
    """Whether two records' devices are one kind of machine (:func:`machine_kind`); a record
    that names no instructions (written before devices did) matches its model's any."""
    kind_a, kind_b = machine_kind(a), machine_kind(b)
    if kind_a is None or kind_b is None:
        return False
    name_a, _, instructions_a = kind_a.partition(" [")
    name_b, _, instructions_b = kind_b.partition(" [")
    return name_a == name_b and (
        instructions_a == instructions_b or not (instructions_a and instructions_b)
    )


def device_name(device: torch.device, threads: int | None = None) -> str:
    """E.g. ``NVIDIA H100 80GB HBM3`` or ``cpu: AMD EPYC (avx512-bf16, 1 thread)``: a CPU with
    this process's threads, or ``threads`` (the name another process would record)."""
    if device.type == "cuda":  # lent GPUs may be shared by several workers (offload)
        shared = os.environ.get("SUPERMASK_DEVICE_SHARED_BY")
        return torch.cuda.get_device_name(device) + (
            f" (shared by {shared} workers)" if shared and shared != "1" else ""
        )
    model = _cpuinfo().get("model name") or platform.processor() or platform.machine()
    threads = torch.get_num_threads() if threads is None else threads
    return f"cpu: {model} ({cpu_kind()}, {threads} thread{'s' if threads != 1 else ''})"
