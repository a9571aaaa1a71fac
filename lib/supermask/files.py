"""Files written whole or not at all, and directories checked before anything is written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_torch_save", "atomic_write_bytes", "atomic_write_json", "check_name_lengths",
           "check_writable_dir"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0600
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> None:
    _atomic_write(Path(path), lambda f: f.write(data))


def atomic_write_json(obj: Any, path: str | os.PathLike) -> None:
    _atomic_write(Path(path), lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    _atomic_write(Path(path), lambda f: torch.save(obj, f))


def check_name_lengths(path: str | os.PathLike, what: str) -> None:
    """A ``ValueError`` naming ``path`` when one of its names is longer than the file system
    allows (the OS would only say "File name too long" once something had been created)."""
    path = Path(path)
    limit = 255
    for ancestor in path.parents:  # the limit of the file system the names would go on
        try:
            if ancestor.exists():
                limit = os.pathconf(ancestor, "PC_NAME_MAX")
                break
        except (OSError, ValueError):  # an over-long ancestor: keep looking further up
            continue
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            raise ValueError(f"{what} {str(path)[:60]}...: its name {part[:16]}... has "
                             f"{len(os.fsencode(part))} bytes, more than the {limit} this "
                             "file system allows")


def check_writable_dir(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a directory this process may write into (existing, or creatable), else a
    ``ValueError`` naming it; creates nothing."""
    check_name_lengths(path, what)
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} is a file, not a directory")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path} is not writable ({existing} does not let this user "
                         "write into it)")
    return path
