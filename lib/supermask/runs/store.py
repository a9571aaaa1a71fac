"""The run store: one directory per run config and data set, named by the config's hash and the
data's fingerprint (open_lth style).

``<root>/runs/<model>-<method>-<hash>-<data>/`` holds ``config.json`` (written when the run starts),
``checkpoint.pt`` (the latest finished epoch, while the run is unfinished), and, once finished,
``model.pt`` (the final state) and ``result.json``. A run with a readable ``result.json`` is
finished and never redone; anything else resumes from its checkpoint. Every file is written to a
temporary name and renamed, so a killed process never leaves a half-written file behind.

Many workers may share one store. A worker trains a run only while it holds the exclusive
``flock`` of the run's ``claim`` file, so two workers never train the same run at once; the
operating system drops the lock the moment its holder dies (on NFS, when the dead node's lease
expires), so a crashed worker's claim expires by itself and the next worker resumes the run from
its checkpoint. Every worker that trains a run appends itself to ``trainers.log``: who trained
a run, and who resumed it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import DigestError, check_real_dir
from ..training.checkpoint import checkpoint_sittings, read_checkpoint
from .records import (
    CHECKPOINT,
    CONFIG,
    MODEL,
    RESULT,
    read_config,
    read_result,
    typical_seconds_per_epoch,
    write_config,
    write_result,
)

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..data.cifar10 import DataIdentity

__all__ = ["RunStore", "StoreError", "holder_of", "worker_id"]


class StoreError(ValueError):
    """A run's place in the store cannot take its files (found before any training)."""


# The files a run writes into its directory; a directory under one of these names would make
# the write fail after an epoch of training, every time.
_RUN_FILES = ("claim", CONFIG, "trainers.log", CHECKPOINT, MODEL)

log = logging.getLogger(__name__)


def worker_id() -> str:
    """``host:pid`` of this process, as claims record it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RunStore:
    """Run directories under ``<root>/runs``, for runs on the data of fingerprint ``data``.

    A result trained on other data lives in another directory and is never served: a run's
    identity is its config and its data. ``data=None`` (ImageNet, which is never fingerprinted)
    names directories by the config alone.
    """

    def __init__(self, root: str | os.PathLike, data: DataIdentity | None = None):
        if not isinstance(root, (str, os.PathLike)) or not str(root).strip():
            raise StoreError(
                f"the results directory must be a path, got {root!r} (an empty "
                "path would put runs in the current directory)"
            )
        self.root = Path(root)
        self.runs = self.root / "runs"
        self.data = data

    def run_dir(self, config: RunConfig) -> Path:
        """The run's directory, which is always directly inside ``runs/``."""
        name = config.name if self.data is None else f"{config.name}-{self.data.short}"
        if Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"run name {name!r} would leave {self.runs}")
        return self.runs / name

    @contextlib.contextmanager
    def claim(self, config: RunConfig, wait: bool = False) -> Iterator[bool]:
        """Hold the run's claim for the duration of the block; yields whether it was taken.

        With ``wait`` the call blocks until the current holder finishes or dies (then it always
        yields True); without, it yields False at once if another worker holds the run.
        """
        run_dir = self.real_run_dir(config)
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / "claim", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{worker_id()}\n".encode(), 0)
            _remove_stale_temporaries(run_dir)
            yield True
        finally:
            os.close(fd)  # releases the lock

    def real_run_dir(self, config: RunConfig) -> Path:
        """The run's directory, refused (:class:`StoreError`) when it is a symbolic link or not
        a directory: through a link, this run's writes would replace another run's files."""
        run_dir = self.run_dir(config)
        try:
            return check_real_dir(run_dir, "run directory")
        except DigestError as error:
            raise StoreError(f"{error}; move it aside") from None

    def note_trainer(self, config: RunConfig) -> None:
        """Record that this worker (holding the claim) starts or resumes training the run."""
        with open(self.run_dir(config) / "trainers.log", "a") as log_file:
            log_file.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {worker_id()}\n")

    def trainers(self, config: RunConfig) -> list[str]:
        """``host:pid`` of every worker that has trained this run, oldest first."""
        path = self.run_dir(config) / "trainers.log"
        if not path.exists():
            return []
        return [line.split()[1] for line in path.read_text().splitlines() if line.strip()]

    def holder(self, config: RunConfig) -> str | None:
        """``host:pid`` of the worker training this run now, or None."""
        return holder_of(self.run_dir(config))

    def check_writable(self, config: RunConfig) -> None:
        """Raise :class:`StoreError` naming the path when the run's files could not be written
        there: ``runs`` or the run directory a file, one of its file names a directory, or a
        place this user may not write into. Called before training, so no epoch is lost to it."""
        run_dir = self.real_run_dir(config)
        for path in (self.root, self.runs, run_dir):
            if path.exists() and not path.is_dir():
                raise StoreError(
                    f"{path} is a file where the run store needs a directory; move it aside"
                )
        for name in _RUN_FILES:
            if (run_dir / name).is_dir():
                raise StoreError(
                    f"{run_dir / name} is a directory where the run's {name} file "
                    "belongs; move it aside"
                )
        existing = next(
            p for p in (run_dir, self.runs, self.root, *self.root.parents) if p.exists()
        )
        if not os.access(existing, os.W_OK | os.X_OK):
            raise StoreError(
                f"{existing} is not writable by this user: the run could not save "
                "its checkpoints there"
            )

    def checkpoint_path(self, config: RunConfig) -> Path:
        return self.run_dir(config) / CHECKPOINT

    def model_path(self, config: RunConfig) -> Path:
        return self.run_dir(config) / MODEL

    def start(self, config: RunConfig) -> Path:
        """Create the run directory and record the config it belongs to. A ``config.json`` that
        is not this run's (hand-edited, copied, damaged) is moved aside and written anew."""
        run_dir = self.real_run_dir(config)
        config_path = run_dir / CONFIG
        if config_path.exists():
            wrong = _foreign_config(config_path, config)
            if wrong is None:
                return run_dir
            stamp = time.strftime("%Y%m%dT%H%M%S")
            aside = config_path.with_name(f"config.json.unreadable-{stamp}")
            log.warning("moving %s aside to %s: %s", config_path, aside, wrong)
            config_path.rename(aside)
        write_config(config_path, config)
        return run_dir

    def result(self, config: RunConfig) -> dict | None:
        """The finished run's result, or None if it has none (an unreadable one counts as none)."""
        path = self.run_dir(config) / RESULT
        if not path.exists():
            return None
        try:
            check_real_dir(path.parent, "run directory")
            result = read_result(path)
            if result.get("hash") != config.hash:
                raise ValueError(f"it belongs to run {result.get('hash')}")
            if self.data is not None and result.get("data_fingerprint") != self.data.fingerprint:
                raise ValueError(f"it was trained on data {result.get('data_fingerprint')}")
        except (ValueError, OSError) as error:
            log.warning("ignoring unreadable result %s (%s); the run will be redone", path, error)
            return None
        result["run_dir"] = str(path.parent)
        return result

    def save_result(self, config: RunConfig, result: dict) -> None:
        path = self.real_run_dir(config) / RESULT
        if path.exists():  # not this run's (else it would not have been trained): kept aside
            aside = path.with_name(f"result.json.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
            log.warning("moving %s, which is not this run's result, aside to %s", path, aside)
            path.rename(aside)
        write_result(path, result)

    def remove_leftover_checkpoint(self, config: RunConfig) -> None:
        """Remove a finished run's checkpoint, left by a worker killed between writing the
        result and removing it (a finished run never resumes, so it is dead weight)."""
        path = self.checkpoint_path(config)
        if path.is_file() and not path.is_symlink():
            try:
                path.unlink()
                log.warning("removed %s, left beside its finished result", path)
            except OSError:
                pass

    def checkpoint_progress(
        self, config: RunConfig, device: str | None = None
    ) -> tuple[int, float | None]:
        """The epochs an unfinished run's checkpoint holds, which a resumed run will not train
        again, and what an epoch of it took lately (the best guess at its epochs left); (0, None)
        without a readable checkpoint. With ``device`` (a :func:`device_name`), no time when the
        checkpoint's latest epochs ran on another device: a stashed checkpoint may come from
        another machine (checkpoints from before sittings were kept do not say; theirs counts)."""
        try:
            state = read_checkpoint(self.checkpoint_path(config))
            epoch = state["epoch"]
        except Exception:  # no checkpoint yet, one being replaced, or a damaged one
            return 0, None
        if not (isinstance(epoch, int) and 0 < epoch <= config.epochs):
            return 0, None
        latest = checkpoint_sittings(state)[-1]["device"]
        if device is not None and latest is not None and latest != device:
            return epoch, None
        return epoch, typical_seconds_per_epoch(state)

    def progress(self) -> list[dict]:
        """Every run directory's state, for following a campaign: finished runs with their
        status and accuracy, unfinished ones with the epochs their checkpoint holds, the last
        test accuracy measured, the training time so far (``wall_s``), what an epoch takes now
        (``seconds_per_epoch``) and the worker training them now."""
        rows = []
        for run_dir in self._run_dirs():
            row = {"run": run_dir.name, "holder": None, "wall_s": None, "seconds_per_epoch": None}
            try:
                record = read_result(run_dir / RESULT)
            except FileNotFoundError:
                record = None
            except (ValueError, OSError) as error:
                rows.append(
                    {
                        **row,
                        "state": "damaged",
                        "epoch": None,
                        "epochs": None,
                        "test_acc": None,
                        "note": f"result.json: {error}",
                    }
                )
                continue
            if record is not None:
                config = record["config"] if isinstance(record.get("config"), dict) else {}
                fields = {
                    "epoch": record.get("epochs_run"),
                    "test_acc": record.get("test_acc"),
                    "epochs": config.get("epochs"),
                }
                wrong = _mistyped(fields)
                row.update(
                    state="damaged" if wrong else str(record["status"]),
                    **{name: None if name in wrong else value for name, value in fields.items()},
                )
                if wrong:
                    row["note"] = f"result.json: {', '.join(wrong)} not a number"
            else:
                row.update(
                    state="unfinished",
                    epoch=0,
                    epochs=None,
                    test_acc=None,
                    holder=holder_of(run_dir),
                )
                try:
                    config = json.loads((run_dir / CONFIG).read_text())["config"]
                    if _mistyped({"epochs": config["epochs"]}):
                        row.update(state="damaged", note="config.json: epochs not a number")
                        raise ValueError("epochs")
                    row["epochs"] = config["epochs"]
                    state = read_checkpoint(run_dir / CHECKPOINT)
                    row.update(
                        epoch=state["epoch"],
                        wall_s=state["wall_s"],
                        test_acc=state["history"][-1].get("test_acc"),
                        seconds_per_epoch=typical_seconds_per_epoch(state),
                    )
                except Exception:  # no checkpoint yet, or one being replaced
                    pass
            rows.append(row)
        return rows

    def finished(self) -> list[dict]:
        """Every readable result under this store."""
        results = []
        for path in (run_dir / RESULT for run_dir in self._run_dirs()):
            if not path.exists():
                continue
            try:
                result = read_result(path)
            except (ValueError, OSError) as error:
                log.warning("skipping unreadable %s (%s)", path, error)
                continue
            result["run_dir"] = str(path.parent)
            results.append(result)
        return results

    def _run_dirs(self) -> list[Path]:
        """The run directories of the store, sorted; a symbolic link among them is skipped
        with a warning naming it (its files belong to the run it points at)."""
        try:
            entries = sorted(self.runs.iterdir())
        except OSError:
            return []
        dirs = []
        for path in entries:
            if path.is_symlink():
                log.warning("skipping %s: a symbolic link, not a run directory", path)
            elif path.is_dir():
                dirs.append(path)
        return dirs


def _foreign_config(path: Path, config: RunConfig) -> str | None:
    """Why the ``config.json`` at ``path`` is not ``config``'s record, or None if it is."""
    try:
        recorded = read_config(path)
    except (ValueError, KeyError, TypeError, OSError) as error:
        return f"it is not a readable run config ({error})"
    if recorded.hash != config.hash:
        return f"it describes run {recorded.hash}, not {config.hash}"
    return None


def _mistyped(fields: dict) -> list[str]:
    """The names of ``fields`` whose value is neither None nor a (non-boolean) number."""
    return [
        name
        for name, value in fields.items()
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)))
    ]


def _remove_stale_temporaries(run_dir: Path) -> None:
    """Half-written files (``.<name>.*.tmp``) of a worker killed before its rename. Only the
    claim's holder writes into a run directory, so once we hold it no write is in flight."""
    for path in run_dir.glob(".*.tmp"):
        if path.is_file():
            log.warning("removing %s, left by a worker killed while writing it", path)
            path.unlink(missing_ok=True)


def holder_of(run_dir: Path) -> str | None:
    """``host:pid`` of the worker holding the run's claim now, or None (the lock dies with it)."""
    path = run_dir / "claim"
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return path.read_text().strip() or None
        return None
    finally:
        os.close(fd)
