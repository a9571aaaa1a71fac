"""The files a run leaves in its directory, each with one writer and one reader.

``config.json`` (what the run is), ``checkpoint.pt`` (the state after the latest finished epoch,
while the run is unfinished), ``model.pt`` (the final state) and ``result.json`` (what it
measured). The store, the training loop, ImageNet training, export, ``status`` and the offload
archive all go through these functions, so each format is defined here and nowhere else.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..files import atomic_torch_save, atomic_write_json

if TYPE_CHECKING:
    from ..config import RunConfig

__all__ = ["CHECKPOINT", "CONFIG", "MODEL", "RESULT", "Clock", "check_record", "checkpoint_sittings",
           "median_epoch_seconds", "parse_config", "parse_result", "read_checkpoint",
           "read_config", "read_model", "read_result", "recorded_devices", "restore_checkpoint",
           "seconds_per_epoch", "sittings_device", "typical_seconds_per_epoch", "write_checkpoint",
           "write_config", "write_model", "write_result"]

CONFIG, CHECKPOINT, MODEL, RESULT = "config.json", "checkpoint.pt", "model.pt", "result.json"

Optimizers = list[tuple[torch.optim.Optimizer, object]]  # (optimizer, scheduler or None)


def write_config(path: Path, config: RunConfig) -> None:
    atomic_write_json({"hash": config.hash, "config": config.to_dict()}, path)


def parse_config(record: object) -> RunConfig:
    """The RunConfig of a parsed ``config.json``; ``ValueError`` (or ``KeyError``,
    ``TypeError``) when it is not one, or its recorded hash is not its config's."""
    from ..config import RunConfig

    config = RunConfig.from_dict(record["config"])
    if record.get("hash") != config.hash:
        raise ValueError(f"it records hash {record.get('hash')} for a config that hashes to "
                         f"{config.hash}")
    return config


def read_config(path: Path) -> RunConfig:
    """A run's ``config.json``; raises as :func:`parse_config`, or ``OSError``."""
    return parse_config(json.loads(Path(path).read_text()))


def write_result(path: Path, result: dict) -> None:
    atomic_write_json(result, path)


def parse_result(record: object) -> dict:
    """A parsed ``result.json``; ``ValueError`` when it is not a run result (``[]``, ``null``,
    a bare hash, a dict without a status)."""
    if not isinstance(record, dict) or "status" not in record:
        raise ValueError("it is not a run result")
    return record


def read_result(path: Path) -> dict:
    """A run's ``result.json``; ``ValueError`` or ``OSError`` when it is not a readable result
    (truncated, not a result, a directory, missing)."""
    return parse_result(json.loads(Path(path).read_text()))


def check_record(name: str, config: RunConfig, result: dict) -> None:
    """``ValueError`` unless the run directory ``name``, its config and its result belong
    together: the folder is named by the config's hash and the result records that hash."""
    if result.get("hash") != config.hash:
        raise ValueError(f"{name}: result.json belongs to run {result.get('hash')}, "
                         f"config.json to {config.hash}")
    if name != config.name and not name.startswith(f"{config.name}-"):
        raise ValueError(f"{name}: its config hashes to {config.hash}, not to this folder")


def write_model(path: Path, model: nn.Module) -> None:
    atomic_torch_save(model.state_dict(), path)


def read_model(path: Path) -> dict:
    """The state dict a finished run saved (``OSError``, or another error when damaged)."""
    return torch.load(path, map_location="cpu", weights_only=True)


class Clock:
    """Training time of a run across sittings: what earlier sittings measured plus this one's
    wall clock since :meth:`start`; ``eval_s`` is the share spent on per-epoch evaluation,
    ``epoch_s`` each epoch's own time (None for epochs timed before records kept it), and
    ``sittings`` where each sitting ran: a run resumed from a stashed checkpoint may go on on
    another machine, whose epochs differ in speed and in bf16 rounding."""

    def __init__(self, wall_s: float = 0.0, eval_s: float = 0.0,
                 epoch_s: list[float | None] | None = None, sittings: list[dict] | None = None):
        self.before, self.eval_s, self.started = wall_s, eval_s, time.perf_counter()
        self.epoch_s = list(epoch_s or [])
        self.sittings = list(sittings or [])
        self.lap = self.started

    def start(self, from_epoch: int = 0, device: str | None = None) -> None:
        """A sitting begins after ``from_epoch`` epochs, on ``device`` (its :func:`device_name`)."""
        self.started = self.lap = time.perf_counter()
        self.sittings.append({"from_epoch": from_epoch, "device": device})

    def epoch_done(self) -> None:
        """An epoch (its evaluation included) ends: its time since the last one ended."""
        now = time.perf_counter()
        self.epoch_s.append(now - self.lap)
        self.lap = now

    @property
    def wall_s(self) -> float:
        return self.before + time.perf_counter() - self.started


def seconds_per_epoch(wall_s, epochs):
    """An epoch's mean time (scalars or pandas columns alike): a record's or a checkpoint's
    ``wall_s`` over the epochs it covers. Wall time includes the per-epoch evaluation and any
    time the worker was stopped (SIGSTOP) while it trained."""
    return wall_s / epochs


def _timed_epochs(record: dict) -> list[float]:
    """The epochs a result or checkpoint timed (none in records from before epochs were)."""
    return [s for s in record.get("epoch_s") or [] if isinstance(s, (int, float))]


def median_epoch_seconds(record: dict) -> float | None:
    """A finished run's typical epoch: the median of its timed epochs, so the epochs its worker
    spent stopped (SIGSTOP, while the suite ran) do not count as the run's speed; None for
    records from before epochs were timed."""
    timed = _timed_epochs(record)
    return statistics.median(timed) if timed else None


RECENT_EPOCHS = 5


def _epochs_timed_on(record: dict, device: str) -> tuple[list[float], bool]:
    """The timed epochs of ``record`` that ran on ``device``, and whether all of its epochs
    did (a run resumed on another machine trained some epochs on each)."""
    sittings = record.get("sittings") or [{"from_epoch": 0, "device": record.get("device")}]
    epoch_s = record.get("epoch_s") or []
    ends = [s["from_epoch"] for s in sittings[1:]] + [len(epoch_s)]
    timed = [s for sitting, end in zip(sittings, ends) if sitting["device"] == device
             for s in epoch_s[sitting["from_epoch"]:end] if isinstance(s, (int, float))]
    return timed, all(sitting["device"] == device for sitting in sittings)


def typical_seconds_per_epoch(record: dict, device: str | None = None) -> float | None:
    """What an epoch of this run takes now: the lower median of its latest timed epochs (a
    worker stopped for a while inflates one epoch, not the estimate; of two epochs, the
    shorter), else its mean (records from before epochs were timed); None without a time.
    With ``device`` (a device name), only the epochs trained on it count; None if none did.
    ``record``: a result or a checkpoint."""
    if device is None:
        timed, everywhere = _timed_epochs(record), True
    else:
        timed, everywhere = _epochs_timed_on(record, device)
    if timed:
        return statistics.median_low(timed[-RECENT_EPOCHS:])
    if not everywhere:
        return None
    wall_s = record.get("wall_s")
    epochs = record.get("epochs_run", record.get("epoch"))
    if isinstance(wall_s, (int, float)) and isinstance(epochs, int) and epochs > 0:
        return seconds_per_epoch(wall_s, epochs)
    return None


def write_checkpoint(path: Path, epoch: int, model: nn.Module, optimizers: Optimizers,
                     clock: Clock, history: list[dict], device: torch.device) -> None:
    """Everything a resumed run needs to continue exactly as an uninterrupted one would."""
    atomic_torch_save({
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizers": [optimizer.state_dict() for optimizer, _ in optimizers],
        "schedulers": [None if scheduler is None else scheduler.state_dict()
                       for _, scheduler in optimizers],
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "wall_s": clock.wall_s,
        "eval_s": clock.eval_s,
        "epoch_s": clock.epoch_s,
        "sittings": clock.sittings,
        "history": history,
    }, path)


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> object:
    """A checkpoint's state as saved (raises when it is missing or cannot be read at all);
    :func:`restore_checkpoint` checks that it is one of this run's."""
    return torch.load(path, map_location=device, weights_only=True)


def restore_checkpoint(state: dict, model: nn.Module, optimizers: Optimizers,
                       config: RunConfig, device: torch.device) -> tuple[int, Clock, list[dict]]:
    """Load a checkpoint into the model and optimisers; (epoch, clock, history). Raises if the
    checkpoint does not belong to this run (then the caller starts over)."""
    if not isinstance(state, dict):
        raise TypeError(f"a checkpoint is a dict, not {type(state).__name__}")
    epoch, history = state["epoch"], state["history"]
    if not isinstance(epoch, int) or not 1 <= epoch <= config.epochs or len(history) != epoch:
        raise ValueError(f"checkpoint after epoch {epoch!r} with {len(history)} epochs of "
                         f"history, for a run of {config.epochs} epochs")
    model.load_state_dict(state["model"])
    if len(state["optimizers"]) != len(optimizers) or len(state["schedulers"]) != len(optimizers):
        raise ValueError("checkpoint has another number of optimisers")
    for (optimizer, scheduler), saved, saved_schedule in zip(
            optimizers, state["optimizers"], state["schedulers"], strict=True):
        optimizer.load_state_dict(saved)
        if scheduler is not None:
            scheduler.load_state_dict(saved_schedule)
    torch.set_rng_state(state["rng"].cpu())
    if device.type == "cuda" and state.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
    timed = list(state.get("epoch_s") or [])
    return epoch, Clock(state["wall_s"], state.get("eval_s", 0.0),
                        [None] * (epoch - len(timed)) + timed[:epoch],
                        checkpoint_sittings(state)), history


def checkpoint_sittings(state: dict) -> list[dict]:
    """The sittings a checkpoint's epochs were trained in; checkpoints written before sittings
    were kept hold one sitting whose device was not recorded (None)."""
    sittings = state.get("sittings")
    return list(sittings) if sittings else [{"from_epoch": 0, "device": None}]


def sittings_device(sittings: list[dict], epochs: int) -> str | None:
    """A record's ``device``: the one device every sitting ran on, else each device with the
    epochs it trained, e.g. ``cpu: A (epochs 1-12); cpu: B (epochs 13-20)``, where a device
    not recorded reads ``device not recorded``; None without sittings."""
    spans: list[list] = []  # [device, first epoch, last epoch], consecutive sittings merged
    ends = [s["from_epoch"] for s in sittings[1:]] + [epochs]
    for sitting, end in zip(sittings, ends):
        if end <= sitting["from_epoch"]:
            continue
        if spans and spans[-1][0] == sitting["device"]:
            spans[-1][2] = end
        else:
            spans.append([sitting["device"], sitting["from_epoch"] + 1, end])
    if len(spans) == 1 and spans[0][0] is not None:
        return spans[0][0]
    return "; ".join(f"{device or 'device not recorded'} (epochs {first}-{last})"
                     for device, first, last in spans) or None


_SPAN = r"(.+?) \(epochs \d+-\d+\)(?:; |$)"


def recorded_devices(device: str) -> list[str | None]:
    """The devices a record's ``device`` (see :func:`sittings_device`) names, in order; None
    for epochs whose device was not recorded."""
    if not re.fullmatch(f"(?:{_SPAN})+", device):  # one device, whose name may hold anything
        return [device]
    return [None if name == "device not recorded" else name for name in re.findall(_SPAN, device)]
