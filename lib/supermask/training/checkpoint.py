"""Checkpoints: the state after a run's latest finished epoch, from which a stopped run resumes
exactly as an uninterrupted one would go on, and the clock that times a run across sittings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..files import atomic_torch_save

if TYPE_CHECKING:
    from ..config import RunConfig

__all__ = [
    "Clock",
    "Optimizers",
    "checkpoint_identity",
    "checkpoint_sittings",
    "read_checkpoint",
    "restore_checkpoint",
    "write_checkpoint",
]

Optimizers = list[tuple[torch.optim.Optimizer, object]]  # (optimizer, scheduler or None)


class Clock:
    """Training time of a run across sittings: what earlier sittings measured plus this one's
    wall clock since :meth:`start`; ``eval_s`` is the share spent on per-epoch evaluation,
    ``epoch_s`` each epoch's own time (None for epochs timed before records kept it), and
    ``sittings`` where each sitting ran: a run resumed from a stashed checkpoint may go on on
    another machine, whose epochs differ in speed and in bf16 rounding."""

    def __init__(
        self,
        wall_s: float = 0.0,
        eval_s: float = 0.0,
        epoch_s: list[float | None] | None = None,
        sittings: list[dict] | None = None,
    ):
        self.before, self.eval_s, self.started = wall_s, eval_s, time.perf_counter()
        self.epoch_s = list(epoch_s or [])
        self.sittings = list(sittings or [])
        self.lap = self.started

    def start(
        self, from_epoch: int = 0, device: str | None = None, commit: str | None = None
    ) -> None:
        """A sitting begins after ``from_epoch`` epochs, on ``device`` (its :func:`device_name`),
        running the code of ``commit`` (recorded when known: a resumed run may change code)."""
        self.started = self.lap = time.perf_counter()
        sitting = {"from_epoch": from_epoch, "device": device}
        if commit is not None:
            sitting["commit"] = commit
        self.sittings.append(sitting)

    def epoch_done(self) -> None:
        """An epoch (its evaluation included) ends: its time since the last one ended."""
        now = time.perf_counter()
        self.epoch_s.append(now - self.lap)
        self.lap = now

    @property
    def wall_s(self) -> float:
        return self.before + time.perf_counter() - self.started


def checkpoint_identity(config: RunConfig, data_fingerprint: str | None) -> dict:
    """What a checkpoint is of: the run's config hash and the data it trains on."""
    return {"hash": config.hash, "data_fingerprint": data_fingerprint}


def write_checkpoint(
    path: Path,
    epoch: int,
    model: nn.Module,
    optimizers: Optimizers,
    clock: Clock,
    history: list[dict],
    device: torch.device,
    identity: dict | None = None,
) -> None:
    """Everything a resumed run needs to continue exactly as an uninterrupted one would, and
    the run it belongs to (:func:`checkpoint_identity`), which a resume checks."""
    atomic_torch_save(
        {
            "identity": identity,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizers": [optimizer.state_dict() for optimizer, _ in optimizers],
            "schedulers": [
                None if scheduler is None else scheduler.state_dict() for _, scheduler in optimizers
            ],
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "wall_s": clock.wall_s,
            "eval_s": clock.eval_s,
            "epoch_s": clock.epoch_s,
            "sittings": clock.sittings,
            "history": history,
        },
        path,
    )


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> object:
    """A checkpoint's state as saved (raises when it is missing or cannot be read at all);
    :func:`restore_checkpoint` checks that it is one of this run's."""
    return torch.load(path, map_location=device, weights_only=True)


def restore_checkpoint(
    state: dict,
    model: nn.Module,
    optimizers: Optimizers,
    config: RunConfig,
    device: torch.device,
    data_fingerprint: str | None = None,
) -> tuple[int, Clock, list[dict]]:
    """Load a checkpoint into the model and optimisers; (epoch, clock, history). Raises if the
    checkpoint does not belong to this run: another config's hash, other data (then the caller
    starts over). Checkpoints from before identities were recorded are checked by shape."""
    if not isinstance(state, dict):
        raise TypeError(f"a checkpoint is a dict, not {type(state).__name__}")
    identity = state.get("identity")
    if identity is not None:
        if not isinstance(identity, dict):
            raise ValueError("its identity is not a record of run and data")
        if identity.get("hash") != config.hash:
            raise ValueError(
                f"it is a checkpoint of run {identity.get('hash')}, not of {config.hash}"
            )
        if data_fingerprint is not None and identity.get("data_fingerprint") not in (
            None,
            data_fingerprint,
        ):
            raise ValueError(
                f"it was trained on data {str(identity['data_fingerprint'])[:12]}, "
                f"not {data_fingerprint[:12]}"
            )
    epoch, history = state["epoch"], state["history"]
    if not isinstance(epoch, int) or not 1 <= epoch <= config.epochs or len(history) != epoch:
        raise ValueError(
            f"checkpoint after epoch {epoch!r} with {len(history)} epochs of "
            f"history, for a run of {config.epochs} epochs"
        )
    model.load_state_dict(state["model"])
    if len(state["optimizers"]) != len(optimizers) or len(state["schedulers"]) != len(optimizers):
        raise ValueError("checkpoint has another number of optimisers")
    for (optimizer, scheduler), saved, saved_schedule in zip(
        optimizers, state["optimizers"], state["schedulers"], strict=True
    ):
        optimizer.load_state_dict(saved)
        if scheduler is not None:
            scheduler.load_state_dict(saved_schedule)
    torch.set_rng_state(state["rng"].cpu())
    if device.type == "cuda" and state.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
    timed = list(state.get("epoch_s") or [])
    return (
        epoch,
        Clock(
            state["wall_s"],
            state.get("eval_s", 0.0),
            [None] * (epoch - len(timed)) + timed[:epoch],
            checkpoint_sittings(state),
        ),
        history,
    )


def checkpoint_sittings(state: dict) -> list[dict]:
    """The sittings a checkpoint's epochs were trained in; checkpoints written before sittings
    were kept hold one sitting whose device was not recorded (None)."""
    sittings = state.get("sittings")
    return list(sittings) if sittings else [{"from_epoch": 0, "device": None}]
