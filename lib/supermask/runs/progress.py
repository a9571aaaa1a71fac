"""What a figure's sweep will cost before it trains, and where it stands while it does.

Before training: one line (runs in the store, runs to train, estimated time at the speed this
machine measured on earlier runs of the same models, at the same width where one ran; for a
model it never timed, at another machine's speed, named as a guess). While training: one bar
for the whole sweep, advanced once per epoch (a widget in a notebook, so an executed notebook
keeps one bar, not one line per update), and one printed line per finished run with the time
left.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

from tqdm.auto import tqdm

from ..config import RunConfig
from .records import typical_seconds_per_epoch
from .speeds import (
    Key,
    image_work,
    measured_speeds,
    run_work,
    speed_for,
    speed_keys,
    speeds_elsewhere,
)
from .store import RunStore

__all__ = ["SweepProgress", "format_duration"]


def format_duration(seconds: float) -> str:
    """45 s / 12 min / 3.4 h: the unit a person reads at a glance."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _with_resumed_speeds(
    speeds: dict, todo: dict[str, RunConfig], resumed: dict[str, tuple[int, float | None]]
) -> dict:
    """``speeds`` updated by the median speed of the runs resumed now, the latest measurement of
    their model (finished runs may have been timed beside the tests): a sweep that resumes its
    first conv8 run can also say what conv8 costs."""
    samples: dict[Key, list[float]] = {}
    for h, (_, per_epoch) in resumed.items():
        config = todo[h]
        if per_epoch is None:
            continue
        for key in speed_keys(config.model, config.method, str(config.precision), config.width):
            samples.setdefault(key, []).append(
                per_epoch / image_work(config.train_subset, config.width)
            )
    return {**speeds, **{key: statistics.median(s) for key, s in samples.items()}}


def _estimate(config: RunConfig, speed: float | None) -> float | None:
    """A whole run's seconds at ``speed`` (:mod:`supermask.runs.speeds`' unit)."""
    return None if speed is None else speed * run_work(config)


def _timed(config: RunConfig, speeds: dict) -> bool:
    """Whether ``speeds`` holds the config's own model, width and precision."""
    keys = speed_keys(config.model, config.method, str(config.precision), config.width)
    return any(key in speeds for key in keys)


def _kind(config: RunConfig) -> str:
    """What a speed measurement is good for: the model, and its precision where not fp32."""
    return config.model if config.precision == "fp32" else f"{config.model} {config.precision}"


class SweepProgress:
    """Reports on the configs of one sweep that the store does not hold yet."""

    def __init__(
        self,
        title: str,
        configs: Sequence[RunConfig],
        store: RunStore,
        device: str,
        write: Callable[[str], None] = print,
        bar: bool = True,
    ):
        self.title, self.write = title, write
        self.todo = {config.hash: config for config in configs if store.result(config) is None}
        self.stored = len(configs) - len(self.todo)
        # Epochs each run still has to train: a resumed run continues from its checkpoint, at
        # the speed its own latest epochs took (measured beside whatever runs beside it now).
        resumed = {h: store.checkpoint_progress(c, device) for h, c in self.todo.items()}
        self.left = {h: c.epochs - resumed[h][0] for h, c in self.todo.items()}
        self.speeds = _with_resumed_speeds(measured_speeds(store, device), self.todo, resumed)
        self.device = device
        self.estimates = {
            h: _estimate(c, speed_for(c, self.speeds))
            if resumed[h][1] is None
            else resumed[h][1] * c.epochs
            for h, c in self.todo.items()
        }
        # Runs priced at their own model, width and precision here: only they say, once
        # finished, how far this machine's speed has moved (a run priced from another width
        # misses its fixed costs, and says nothing of the machine).
        self.exact = {
            h for h, c in self.todo.items() if resumed[h][1] is not None or _timed(c, self.speeds)
        }
        # Runs of models never timed here: estimated at their speed on another machine, named.
        self.borrowed: dict[str, str] = {}  # run hash: the machine whose speed its estimate is
        elsewhere = speeds_elsewhere(store, device) if None in self.estimates.values() else {}
        for h, config in self.todo.items():
            if self.estimates[h] is None and (found := speed_for(config, elsewhere)):
                self.estimates[h], self.borrowed[h] = _estimate(config, found[0]), found[1]
        self.done = 0
        self.spent_s = 0.0  # what the runs finished so far in this sweep took, at their speed
        self.spent_estimate_s = 0.0  # what the estimate said they would take
        self.started = time.monotonic()
        self.bar = tqdm(
            total=sum(self.left.values()),
            unit="epoch",
            desc=title,
            disable=not (bar and self.todo),
            leave=True,
        )

    def _remaining(self) -> tuple[float, list[str]]:
        """Estimated seconds for the epochs not trained yet of the runs that have an estimate,
        corrected by how far off the estimates were for the runs finished so far, and the models
        of the rest (never measured on this device)."""
        ratio = self.spent_s / self.spent_estimate_s if self.spent_estimate_s else 1.0
        known = sum(
            e * self.left[h] / self.todo[h].epochs
            for h in self.todo
            if (e := self.estimates[h]) is not None
        )
        unmeasured = sorted({_kind(c) for h, c in self.todo.items() if self.estimates[h] is None})
        return ratio * known, unmeasured

    def _cost(self) -> str:
        seconds, unmeasured = self._remaining()
        guessed = ""
        if self.borrowed:
            names = ", ".join(sorted({_kind(self.todo[h]) for h in self.borrowed}))
            machines = " and ".join(sorted(set(self.borrowed.values())))
            guessed = f" (the {names} runs guessed from their speed on {machines})"
        if not unmeasured:
            return format_duration(seconds) + guessed
        names = ", ".join(unmeasured)
        return (
            f"unknown (no {names} run timed on this machine yet)"
            if not seconds
            else f"{format_duration(seconds)}{guessed} + the {names} runs (not timed on this "
            "machine yet)"
        )

    def plan(self) -> str:
        """One line: what is stored, what will be trained, what that costs here."""
        if not self.todo:
            held = f"all {self.stored} runs are" if self.stored != 1 else "its run is"
            return f"{self.title}: {held} in the store; nothing to train"
        epochs = sum(self.left.values())
        resumed = sum(left < self.todo[h].epochs for h, left in self.left.items())
        resuming = f", {resumed} resumed from a checkpoint" if resumed else ""
        return (
            f"{self.title}: {self.stored} of {self.stored + len(self.todo)} runs in the "
            f"store, {len(self.todo)} to train ({epochs} epochs{resuming}); time: "
            f"{self._cost()}, at the speed measured on {self.device}"
        )

    def epoch_done(self, config: RunConfig, entry: dict) -> None:
        if config.hash in self.todo:
            self.bar.set_postfix_str(
                f"{config.name} epoch {entry['epoch']}/{config.epochs}", refresh=False
            )
            self.bar.update()

    def run_done(self, config: RunConfig, result: dict | None) -> None:
        """One line for a run this sweep trained (or found finished by another worker)."""
        if config.hash not in self.todo or result is None:
            return
        self.todo.pop(config.hash)
        self.left.pop(config.hash)
        self.done += 1
        wall_s = result.get("wall_s") or 0.0
        # What its epochs take, not its wall time: a worker stopped while the tests ran, or a
        # run that diverged early, says nothing of what the runs left will take.
        per_epoch = typical_seconds_per_epoch(result)
        taken = per_epoch * config.epochs if per_epoch else wall_s
        estimate = self.estimates.pop(config.hash)
        self.borrowed.pop(config.hash, None)
        if estimate is not None and taken and config.hash in self.exact:
            self.spent_s += taken
            self.spent_estimate_s += estimate
        self.exact.discard(config.hash)
        if taken and result.get("status") == "finished":
            self._learn(config, taken / run_work(config))
        accuracy = result.get("test_acc")
        outcome = (
            f"{100 * accuracy:.1f}%"
            if result.get("status") == "finished" and accuracy is not None
            else result.get("status", "?")
        )
        eta = f", ETA {self._cost()}" if self.todo else ""
        self.bar.clear()
        self.write(
            f"{self.title} [{self.done}/{self.done + len(self.todo)}] {config.name}: "
            f"{outcome} in {format_duration(wall_s)}; {len(self.todo)} left{eta}"
        )

    def _learn(self, config: RunConfig, speed: float) -> None:
        """Price again, at a speed measured here now, the runs left that had only another
        width's, another machine's or no speed: the first run of a model or width gives the
        ETA of its kind."""
        for key in speed_keys(config.model, config.method, str(config.precision), config.width):
            self.speeds.setdefault(key, speed)
        for h, pending in self.todo.items():
            if h in self.exact or (found := speed_for(pending, self.speeds)) is None:
                continue
            self.estimates[h] = _estimate(pending, found)
            self.borrowed.pop(h, None)
            if _timed(pending, self.speeds):
                self.exact.add(h)

    def close(self) -> None:
        self.bar.close()
