"""Files written whole or not at all, and directories checked before anything is written."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["WriteError", "atomic_torch_save", "atomic_write_bytes", "atomic_write_json",
           "check_name_lengths", "check_writable_dir"]


class WriteError(OSError):
    """A file could not be written whole (most often: its disk is full); the file it was to
    replace is untouched and nothing half-written is left."""


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _write_failure(path: Path, error: BaseException) -> WriteError | None:
    """The one-line error for a write that failed for want of space (torch.save reports it as a
    RuntimeError from its zip writer), or None for any other failure."""
    chain: list[BaseException] = []
    seen: BaseException | None = error
    while seen is not None and len(chain) < 10:  # torch.save's RuntimeError hides the OSError
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(e, OSError) and e.errno in _NO_SPACE for e in chain):
        why = "no space left on its device"
    elif isinstance(error, RuntimeError) and "inline_container" in str(error):
        why = "torch.save's write failed, most often because its device is full"
    else:
        return None
    try:
        usage = os.statvfs(path.parent)
        free = f"{usage.f_bavail * usage.f_frsize / 2**20:.1f} MiB free there now"
    except OSError:
        free = "free space unknown"
    return WriteError(f"could not write {path}: {why} ({free}); the previous file, if any, is "
                      "kept and nothing half-written is left")


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
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        failure = _write_failure(path, error)
        if failure is not None:
            raise failure from error
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
