"""How fast each model trains, from the store's finished records: the one speed model behind a
sweep's time estimate (this machine's speed, :mod:`supermask.runs.progress`) and the README's
CPU-hours left (every one-thread CPU's, :mod:`supermask.status`).

A speed is seconds per unit of :func:`image_work`: one training image through the model at width
1, evaluation included. A convolution's FLOPs grow as the square of the width multiplier, so a
run's cost is its epochs times its images times width^2, at its model and precision's speed.
"""

from __future__ import annotations

import math
import statistics

from ..config import RunConfig
from ..provenance import device_label
from .records import typical_seconds_per_epoch
from .store import RunStore

__all__ = [
    "Key",
    "Speeds",
    "image_work",
    "measured_speeds",
    "one_thread_cpu_speeds",
    "run_work",
    "speed_for",
    "speed_keys",
    "speeds_elsewhere",
]

CIFAR10_TRAIN_IMAGES = 50_000
RECENT_RUNS = 5  # the speed of a model on a device is the median of its latest runs there

Key = tuple[str, str | None, str, float]  # model, method (None: any), precision, width
Speeds = dict[Key, float]


def image_work(train_subset: int | None, width: float) -> float:
    """One epoch's cost in training images through the model at width 1."""
    return (train_subset or CIFAR10_TRAIN_IMAGES) * width**2


def run_work(config: RunConfig) -> float:
    """A whole run's cost, in the unit of :func:`image_work`."""
    return (config.epochs or 0) * image_work(config.train_subset, config.width)


def speed_keys(model: str, method: str | None, precision: str, width: float) -> tuple[Key, Key]:
    """A speed's two keys: for its method, and for any method."""
    return (model, method, precision, width), (model, None, precision, width)


def speed_samples(
    store: RunStore, timed_only: bool = False
) -> dict[str, dict[Key, list[tuple[str, float]]]]:
    """Per device, per :func:`speed_keys`: (when finished, speed) of each finished CIFAR-10 run,
    from the epochs it trained on that device (a run resumed on another machine is timed on
    each), at its typical epoch, so that a worker stopped for a while does not make it slow.
    A record from before epochs were timed gives its wall time over its epochs (pauses, setup
    and all), unless ``timed_only``."""
    samples: dict[str, dict[Key, list[tuple[str, float]]]] = {}
    for result in store.finished():
        config = result.get("config") or {}
        if config.get("dataset") not in (None, "cifar10") or (
            timed_only and not result.get("epoch_s")
        ):
            continue
        width = float(config.get("width", 1.0))
        images = image_work(config.get("train_subset"), width)
        when = str(result.get("finished_at", ""))
        # Records made before precision was a field trained in fp32.
        model, precision = str(config.get("model")), config.get("precision") or "fp32"
        devices = {s["device"] for s in result.get("sittings") or []} or {result.get("device")}
        for device in devices - {None}:
            per_epoch = typical_seconds_per_epoch(result, device)
            if per_epoch is None:
                continue
            for key in speed_keys(model, config.get("method"), precision, width):
                samples.setdefault(device, {}).setdefault(key, []).append(
                    (when, per_epoch / images)
                )
    return samples


def _latest_median(values: list[tuple[str, float]]) -> float:
    return statistics.median(s for _, s in sorted(values)[-RECENT_RUNS:])


def measured_speeds(store: RunStore, device: str) -> Speeds:
    """The speeds on ``device``, from its latest finished runs in ``store``: keyed (model,
    method, precision, width) and (model, None, precision, width) for any method; bf16 and fp32
    differ by up to 2x, and far more where bf16 is emulated."""
    return {
        key: _latest_median(values) for key, values in speed_samples(store).get(device, {}).items()
    }


def speeds_elsewhere(store: RunStore, device: str) -> dict[Key, tuple[float, str]]:
    """For each model, method and precision timed on other machines than ``device``: its speed
    on the one that timed it last, and that machine's name. A stashed store carries runs from
    every machine a campaign ran on; their speed is only a guess here (machines differ, and not
    by one factor for every model), but a better one than none."""
    best: dict[Key, tuple[str, float, str]] = {}
    for other, keys in speed_samples(store).items():
        if other == device:
            continue
        for key, values in keys.items():
            latest = max(when for when, _ in values)
            if key not in best or latest > best[key][0]:
                best[key] = (latest, _latest_median(values), other)
    return {key: (speed, other) for key, (_, speed, other) in best.items()}


def one_thread_cpu_speeds(store: RunStore) -> dict[tuple[str, str], float]:
    """Per (model, precision): the median speed of every finished run whose epochs were timed on
    one thread of a CPU, whatever the machine, method or width, so that every machine computes
    the same table from the same store (GPU runs and runs timed on more threads say nothing of
    one, and a wall time holds pauses and set-up)."""
    pooled: dict[tuple[str, str], list[float]] = {}
    for device, keys in speed_samples(store, timed_only=True).items():
        if not (device.startswith("cpu") and "1 thread)" in device_label(device)):
            continue
        for (model, method, precision, _), values in keys.items():
            if method is None:
                pooled.setdefault((model, precision), []).extend(s for _, s in values)
    return {key: statistics.median(values) for key, values in pooled.items()}


def speed_for(config: RunConfig, speeds: dict):
    """What ``speeds`` holds for the config's model, method, precision and width, else for any
    method at its width, else at the nearest width measured (the method's first): width^2
    overestimates a wider run a little and underestimates a narrower one, whose fixed costs
    weigh more, so a measured width comes first. None where the model and precision never ran."""
    keys = speed_keys(config.model, config.method, str(config.precision), config.width)
    exact = next((speeds[key] for key in keys if key in speeds), None)
    if exact is not None:
        return exact
    for method in (config.method, None):
        widths = [
            key[3] for key in speeds if key[:3] == (config.model, method, str(config.precision))
        ]
        if widths:
            nearest = min(widths, key=lambda w: (abs(math.log(w / config.width)), w))
            return speeds[(config.model, method, str(config.precision), nearest)]
    return None
