"""Copies of unfinished runs' checkpoints outside the checkout.

A new session lays the checkout anew, and with it the ignored checkpoints of unfinished runs. A
campaign worker saves each one (with its config and trainers.log) to the stash every minute and
drops the copies of runs that have finished since; starting a worker restores every stashed
checkpoint newer than the run's own, so the run resumes from its last finished epoch.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .records import CHECKPOINT, CONFIG, RESULT

__all__ = ["STASH_ENV", "default_stash", "restore", "save"]

STASH_ENV = "SUPERMASK_STASH"
_KEPT = (CONFIG, "trainers.log")  # copied beside the checkpoint, when present


def default_stash() -> Path:
    """``$SUPERMASK_STASH``, else ``~/.cache/supermask/stash``."""
    return Path(os.environ.get(STASH_ENV) or Path.home() / ".cache" / "supermask" / "stash")


def _copy(source: Path, target: Path) -> None:
    """``source`` to ``target`` whole or not at all, its modification time kept."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copy2(source, partial)
    os.replace(partial, target)


def save(results_dir: str | os.PathLike, stash: Path | None = None) -> list[str]:
    """Stash every unfinished run's checkpoint newer than its copy; drop the copies of runs
    finished since. The runs copied now."""
    runs, stash = Path(results_dir) / "runs", stash or default_stash()
    if stash.is_dir():
        for copy in stash.iterdir():
            if (runs / copy.name / RESULT).is_file():
                shutil.rmtree(copy, ignore_errors=True)
    saved = []
    for checkpoint in sorted(runs.glob(f"*/{CHECKPOINT}")):
        run_dir = checkpoint.parent
        target = stash / run_dir.name
        if (run_dir / RESULT).exists() or not (run_dir / CONFIG).is_file():
            continue
        if (target / CHECKPOINT).is_file() and checkpoint.stat().st_mtime <= (
            target / CHECKPOINT
        ).stat().st_mtime:
            continue
        target.mkdir(parents=True, exist_ok=True)
        for name in _KEPT:
            if (run_dir / name).is_file():
                _copy(run_dir / name, target / name)
        _copy(checkpoint, target / CHECKPOINT)
        saved.append(run_dir.name)
    return saved


def restore(results_dir: str | os.PathLike, stash: Path | None = None) -> list[str]:
    """Copy back every stashed checkpoint newer than the run's own, for runs not finished. The
    runs restored."""
    runs, stash = Path(results_dir) / "runs", stash or default_stash()
    restored = []
    for checkpoint in sorted(stash.glob(f"*/{CHECKPOINT}")) if stash.is_dir() else []:
        copy, run_dir = checkpoint.parent, runs / checkpoint.parent.name
        if (run_dir / RESULT).exists():
            continue
        own = run_dir / CHECKPOINT
        if own.is_file() and checkpoint.stat().st_mtime <= own.stat().st_mtime:
            continue
        run_dir.mkdir(parents=True, exist_ok=True)
        for name in _KEPT:
            if (copy / name).is_file():
                _copy(copy / name, run_dir / name)
        _copy(checkpoint, own)
        restored.append(run_dir.name)
    return restored
