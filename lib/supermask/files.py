"""Files written whole or not at all, directories checked before anything is written, and
files checked to be what they claim (a regular file, not a link; a recorded digest) before they
are read."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "DigestError",
    "WriteError",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_digest",
    "check_name_lengths",
    "check_real_dir",
    "check_regular_file",
    "check_writable_dir",
    "file_digest",
    "remove_stale_temporaries",
]

log = logging.getLogger(__name__)


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
    return WriteError(
        f"could not write {path}: {why} ({free}); the previous file, if any, is "
        "kept and nothing half-written is left"
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _writer_tag() -> str:
    """Who writes a temporary file: host and pid, so that the next writer can tell a dead
    writer's leftover from a live writer's file in flight."""
    return f"{socket.gethostname().replace('.', '_')}-{os.getpid()}"


def _writer_alive(tag: str) -> bool:
    """Whether the writer named by a temporary's tag may still be writing it: one on another
    host, or any tag this process cannot read, counts as alive."""
    host, _, pid = tag.rpartition("-")
    if host != socket.gethostname().replace(".", "_") or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by another user
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of ``path`` (``.<name>.<host>-<pid>.*.tmp``) whose writer on this
    host has died (a kill -9, a full disk that killed the process); the removed paths."""
    path = Path(path)
    removed: list[Path] = []
    try:
        candidates = list(path.parent.glob(f".{path.name}.*.tmp"))
    except OSError:
        return removed
    for candidate in candidates:
        tag = candidate.name[len(path.name) + 2 :].split(".", 1)[0]
        if _writer_alive(tag) or not candidate.is_file() or candidate.is_symlink():
            continue
        try:
            candidate.unlink()
        except OSError:
            continue
        log.warning("removed %s, left by a writer that died while writing it", candidate)
        removed.append(candidate)
    return removed


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{_writer_tag()}.", suffix=".tmp"
    )
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
            raise ValueError(
                f"{what} {str(path)[:60]}...: its name {part[:16]}... has "
                f"{len(os.fsencode(part))} bytes, more than the {limit} this "
                "file system allows"
            )


def check_writable_dir(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a directory this process may write into (existing, or creatable), else a
    ``ValueError`` naming it; creates nothing."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise ValueError(f"{what} must be a directory path, got {path!r}")
    check_name_lengths(path, what)
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} is a file, not a directory")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"{what} {path} is not writable ({existing} does not let this user write into it)"
        )
    return path


class DigestError(ValueError):
    """A file is not the one its record names: another file, a link, or not a regular file."""


def check_regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` as an existing regular file that is not a symbolic link (checked with
    ``lstat``); ``FileNotFoundError`` when absent, :class:`DigestError` when it is anything
    else (a link may point into another run, a FIFO would block the reader)."""
    path = Path(path)
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        raise DigestError(
            f"{what} {path} is a symbolic link (to {os.readlink(path)}), not a file of its own"
        )
    if not stat.S_ISREG(mode):
        raise DigestError(f"{what} {path} is not a regular file")
    return path


def check_real_dir(path: str | os.PathLike, what: str = "directory") -> Path:
    """``path`` as a directory that is not a symbolic link, or absent; :class:`DigestError`
    otherwise (a linked run folder would let one run's writes land in another's)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return path
    if stat.S_ISLNK(mode):
        raise DigestError(
            f"{what} {path} is a symbolic link (to {os.readlink(path)}); it must "
            "be a real directory of its own"
        )
    if not stat.S_ISDIR(mode):
        raise DigestError(f"{what} {path} is not a directory")
    return path


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a regular file's bytes (read in blocks)."""
    digest = hashlib.sha256()
    with open(check_regular_file(path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_digest(path: str | os.PathLike, recorded: str | None, what: str = "file") -> None:
    """:class:`DigestError` unless ``path`` is a regular file whose SHA-256 is ``recorded``;
    a ``recorded`` of None (records from before digests were kept) checks the file type only."""
    if recorded is None:
        check_regular_file(path, what)
        return
    found = file_digest(path)
    if found != recorded:
        raise DigestError(
            f"{what} {path} is not the file its record names (SHA-256 "
            f"{found[:12]}, recorded {str(recorded)[:12]}): replaced or damaged"
        )
