"""What a figure's sweep will cost before it trains, and where it stands while it does.

Before training: one line (runs in the store, runs to train, estimated time at the speed this
machine measured on earlier runs of the same models, at the same width where one ran; for a
model it never timed, at another machine's speed, named as a guess). While training: one bar
for the whole sweep, advanced once per epoch (a widget in a notebook, so an executed notebook
keeps one bar, not one line per update), and one printed line per finished run with the time
left.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence

from tqdm.auto import tqdm

from ..config import RunConfig
from .records import typical_seconds_per_epoch
from .store import RunStore

__all__ = ["SweepProgress", "format_duration", "measured_speeds", "speeds_elsewhere"]

CIFAR10_TRAIN_IMAGES = 50_000
RECENT_RUNS = 5  # the speed of a model is the median of its latest runs on this device


def _image_work(train_subset: int | None, width: float) -> float:
    """One epoch's cost in training images through the model at width 1: a convolution's
    FLOPs grow as the square of the width multiplier."""
    return (train_subset or CIFAR10_TRAIN_IMAGES) * width**2


def _work(config: RunConfig) -> float:
    """A whole run's cost, in the unit of :func:`_image_work`."""
    return config.epochs * _image_work(config.train_subset, config.width)


Key = tuple[str, str | None, str, float]  # model, method (None: any), precision, width
Speeds = dict[Key, float]


def _keys(model: str, method: str | None, precision: str, width: float) -> tuple[Key, Key]:
    """A speed's two keys: for its method, and for any method."""
    return (model, method, precision, width), (model, None, precision, width)


def _speed_samples(store: RunStore) -> dict[str, dict[Key, list[tuple[str, float]]]]:
    """Per device, per (model, method, precision, width) and (model, None, precision, width):
    (when finished, seconds per unit of :func:`_image_work`) of each finished run, from the
    epochs it trained on that device (a run resumed on another machine is timed on each)."""
    samples: dict[str, dict[tuple, list[tuple[str, float]]]] = {}
    for result in store.finished():
        config = result.get("config") or {}
        if config.get("dataset") not in (None, "cifar10"):
            continue
        width = float(config.get("width", 1.0))
        images = _image_work(config.get("train_subset"), width)
        when = str(result.get("finished_at", ""))
        # Records made before precision was a field trained in fp32.
        model, precision = config.get("model"), config.get("precision") or "fp32"
        devices = {s["device"] for s in result.get("sittings") or []} or {result.get("device")}
        for device in devices - {None}:
            # The typical epoch: a worker stopped for a while does not make its run slow.
            per_epoch = typical_seconds_per_epoch(result, device)
            if per_epoch is None:
                continue
            for key in _keys(model, config.get("method"), precision, width):
                samples.setdefault(device, {}).setdefault(key, []).append(
                    (when, per_epoch / images)
                )
    return samples


def _latest_median(values: list[tuple[str, float]]) -> float:
    return statistics.median(s for _, s in sorted(values)[-RECENT_RUNS:])


def measured_speeds(store: RunStore, device: str) -> Speeds:
    """Seconds per training image and epoch (evaluation included) on ``device``, scaled to the
    model at width 1 (:func:`_image_work`), from the latest finished runs in ``store``: keyed
    (model, method, precision, width) and (model, None, precision, width) for any method; bf16
    and fp32 differ by up to 2x, and far more where bf16 is emulated."""
    return {
        key: _latest_median(values) for key, values in _speed_samples(store).get(device, {}).items()
    }


def speeds_elsewhere(store: RunStore, device: str) -> dict[Key, tuple[float, str]]:
    """For each model, method and precision timed on other machines than ``device``: its speed
    on the one that timed it last, and that machine's name. A stashed store carries runs from
    every machine a campaign ran on; their speed is only a guess here (machines differ, and not
    by one factor for every model), but a better one than none."""
    best: dict[Key, tuple[str, float, str]] = {}
    for other, keys in _speed_samples(store).items():
        if other == device:
            continue
        for key, values in keys.items():
            latest = max(when for when, _ in values)
            if key not in best or latest > best[key][0]:
                best[key] = (latest, _latest_median(values), other)
    return {key: (speed, other) for key, (_, speed, other) in best.items()}


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
        for key in _keys(config.model, config.method, config.precision, config.width):
            samples.setdefault(key, []).append(
                per_epoch / _image_work(config.train_subset, config.width)
            )
    return {**speeds, **{key: statistics.median(s) for key, s in samples.items()}}


def _speed(config: RunConfig, speeds: dict):
    """What ``speeds`` holds for the config's model, method, precision and width, else for any
    method at its width, else at the nearest width measured (the method's first): width^2
    overestimates a wider run a little and underestimates a narrower one, whose fixed costs
    weigh more, so a measured width comes first. None where the model and precision never ran."""
    keys = _keys(config.model, config.method, config.precision, config.width)
    exact = next((speeds[key] for key in keys if key in speeds), None)
    if exact is not None:
        return exact
    for method in (config.method, None):
        widths = [key[3] for key in speeds if key[:3] == (config.model, method, config.precision)]
        if widths:
            nearest = min(widths, key=lambda w: (abs(math.log(w / config.width)), w))
            return speeds[(config.model, method, config.precision, nearest)]
    return None


def _estimate(config: RunConfig, speed: float | None) -> float | None:
    """A whole run's seconds at ``speed`` (seconds per unit of :func:`_image_work`)."""
    return None if speed is None else speed * _work(config)


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
        speeds = _with_resumed_speeds(measured_speeds(store, device), self.todo, resumed)
        self.device = device
        self.estimates = {
            h: _estimate(c, _speed(c, speeds))
            if resumed[h][1] is None
            else resumed[h][1] * c.epochs
            for h, c in self.todo.items()
        }
        # Runs of models never timed here: estimated at their speed on another machine, named.
        self.borrowed: dict[str, str] = {}  # run hash: the machine whose speed its estimate is
        elsewhere = speeds_elsewhere(store, device) if None in self.estimates.values() else {}
        for h, config in self.todo.items():
            if self.estimates[h] is None and (found := _speed(config, elsewhere)):
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
        if estimate is not None and taken and not self.borrowed.pop(config.hash, None):
            self.spent_s += taken
            self.spent_estimate_s += estimate
        elif taken and result.get("status") == "finished":  # the first measurement of a model
            speed = taken / _work(config)
            for other, pending in self.todo.items():
                if _kind(pending) == _kind(config) and (
                    self.estimates[other] is None or other in self.borrowed
                ):
                    self.estimates[other] = speed * _work(pending)
                    self.borrowed.pop(other, None)
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

    def close(self) -> None:
        self.bar.close()
