"""The one error boundary of every entry point (the command line, notebooks, offload, export,
land, campaign): whatever escapes becomes one line naming the path or value and the cause, and
an exit status that says whose fault it was: 2 for bad input (a path that is not there, not a
directory, too long, a value of the wrong type or range), 1 for the environment (a full or
read-only disk, a file-size limit, too many open files, no memory). Nothing below an entry point
prints or exits; it raises, and this turns the raise into the line."""

from __future__ import annotations

import errno
import functools
import logging
import resource
import sys
from collections.abc import Callable

__all__ = ["BAD_INPUT", "ENVIRONMENT", "describe", "entry_point", "exit_status", "expected"]

# Errors of the input a person gave: fixing the command fixes them.
BAD_INPUT_ERRNOS = {
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ENAMETOOLONG,
    errno.ELOOP,
    errno.EEXIST,
    errno.EINVAL,
    errno.ENOTEMPTY,
    errno.EXDEV,
}
# Errors of the machine: the same command works elsewhere, or once space or limits allow.
_ENVIRONMENT_CAUSES = {
    errno.ENOSPC: "no space left on its device",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "its file system is read-only",
    errno.EFBIG: "the file would pass this process's file-size limit (ulimit -f)",
    errno.EMFILE: "this process has too many open files (ulimit -n)",
    errno.ENFILE: "the system has too many open files",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "input/output error of its device",
    errno.ENOMEM: "out of memory",
    errno.EAGAIN: "a resource is temporarily unavailable",
}
BAD_INPUT, ENVIRONMENT = 2, 1

log = logging.getLogger(__name__)


def _errno(error: BaseException) -> int | None:
    """The errno of an OSError, or of an error that carries one (ZMQError), or of the first
    error in its chain that does (torch.save reports an OSError as a RuntimeError)."""
    seen: BaseException | None = error
    depth = 0
    while seen is not None and depth < 10:
        number = getattr(seen, "errno", None)
        if isinstance(number, int):
            return number
        seen, depth = seen.__cause__ or seen.__context__, depth + 1
    return None


def _out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and any(
        marker in text
        for marker in (
            "can't allocate memory",
            "out of memory",
            "DefaultCPUAllocator",
            "CUDA out of memory",
        )
    )


def _file_size_limited() -> bool:
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return soft != resource.RLIM_INFINITY


def exit_status(error: BaseException) -> int:
    """2 for bad input, 1 for the environment (see the module's docstring)."""
    if _out_of_memory(error):
        return ENVIRONMENT
    number = _errno(error)
    if number is not None:
        return BAD_INPUT if number in BAD_INPUT_ERRNOS else ENVIRONMENT
    if isinstance(error, ValueError):
        return BAD_INPUT
    return ENVIRONMENT


def expected(error: BaseException) -> bool:
    """Whether ``error`` is one the boundary answers with a line: a bad value, a failed system
    call (or an error carrying its errno), no memory. Anything else is a bug, whose traceback
    is kept."""
    return (
        isinstance(error, (ValueError, OSError))
        or _out_of_memory(error)
        or _errno(error) is not None
    )


def describe(error: BaseException) -> str:
    """One line: the path or value and the cause."""
    if _out_of_memory(error):
        return f"out of memory ({type(error).__name__}: {_first_line(error) or 'no detail'})"
    number = _errno(error)
    if isinstance(error, OSError) and number is not None:
        where = " -> ".join(str(p) for p in (error.filename, error.filename2) if p is not None)
        cause = (
            _ENVIRONMENT_CAUSES.get(number)
            or error.strerror
            or errno.errorcode.get(number, str(number))
        )
        if number == errno.ENAMETOOLONG and where:
            where = where[:60] + "..."
        text = f"{where}: {cause}" if where else f"{_first_line(error)} ({cause})"
    elif number is not None:
        cause = _ENVIRONMENT_CAUSES.get(number, errno.errorcode.get(number, str(number)))
        text = f"{_first_line(error)} ({cause})"
    else:
        text = _first_line(error) or type(error).__name__
    if number in (errno.ENOSPC, errno.EFBIG) or "device is full" in text:
        if _file_size_limited():
            text += " (this process has a file-size limit, ulimit -f, which may be the cause)"
    return text


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else ""


def entry_point(prog: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Wrap an entry point's ``main``: an :func:`expected` exception that escapes it is printed
    as ``prog: error: <one line>`` on stderr and turned into the exit status of
    :func:`exit_status`. ``SystemExit``, ``KeyboardInterrupt`` and bugs pass."""

    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def guarded(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except (SystemExit, KeyboardInterrupt):
                raise
            except Exception as error:
                if not expected(error):
                    raise
                log.debug("%s failed", prog, exc_info=True)
                try:
                    print(f"{prog}: error: {describe(error)}", file=sys.stderr)
                except OSError:
                    pass  # stderr itself is gone: the status still tells
                return exit_status(error)

        return guarded

    return wrap
