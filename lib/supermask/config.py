"""The one description of a run (:class:`RunConfig`) and the protocol profiles.

A RunConfig is complete once built: every hyperparameter left as ``None`` is filled from the
reference protocol for its method, optimiser and model, so its canonical string (and the hash that
names its run directory) says everything that determines the result. Fields added in the future
must default to ``None``; ``None`` fields are left out of the canonical string, which keeps the
hashes of existing runs valid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .models import DATASET_OF, MODELS, NUM_CLASSES, smallest_width
from .protocol import METHOD_NAMES, PAPER_EPOCHS, PROTOCOL, check, resolve

__all__ = [
    "FIELDS",
    "FLOAT_FIELDS",
    "IMPLICIT_VALUES",
    "INT_FIELDS",
    "PROFILES",
    "Profile",
    "RunConfig",
    "epoch_seed",
    "get_profile",
]

# Seeds are kept below 2**32 so that every seed derived from them (per epoch, per evaluation)
# stays inside what torch.manual_seed accepts.
MAX_SEED = 2**32 - 1
# Widths beyond this do not fit in a machine's memory for any model here (the papers go to 2).
MAX_WIDTH = 16.0
# INT_FIELDS and FLOAT_FIELDS (set below RunConfig) come from the fields' annotations.
# Fields added after runs were recorded, with the value every earlier run had: that value stays
# out of the canonical string, so those runs keep their hashes.
IMPLICIT_VALUES = {"precision": "fp32"}


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """The seed of one epoch's draws in one ``stream`` (data order and augmentation: 0; the
    learning curve's sampled masks; an ImageNet replica's loader): the run's seed and the epoch
    fix it, so a resumed run repeats exactly the epochs it resumes."""
    return seed * 1_000_003 + epoch + stream


def _field(default, help: str):
    """A RunConfig field with its help text (the CLI's ``--help`` is built from these)."""
    return dataclasses.field(default=default, metadata={"help": help})


def _protocol_field(name: str):
    """A hyperparameter: unset until the protocol (:mod:`supermask.protocol`) fills it, and
    described by it."""
    return _field(None, PROTOCOL[name].describe())


def _with_owned_fields(cls: type) -> type:
    """Declare the protocol's fields that only some methods or one data set have (PaB's pruner,
    IteRand's period, ImageNet's warm-up...), in the table's order, after the class's own: a
    method with a field of its own adds a row to the table and nothing here."""
    for name, hyperparameter in PROTOCOL.items():
        if hyperparameter.owned:
            cls.__annotations__[name] = f"{hyperparameter.type.__name__} | None"
            setattr(cls, name, _protocol_field(name))
    return cls


def _choice(field: str, value: str, valid) -> None:
    if value not in valid:
        raise ValueError(f"unknown {field} {value!r}; valid: {', '.join(valid)}")


@dataclass(frozen=True)
@_with_owned_fields
class RunConfig:
    """Everything that determines one training run.

    ``k`` is the fraction of weights KEPT per layer (1.0 for the dense baseline, None for Zhou et
    al., whose kept fraction is learned).
    ``train_subset``/``test_subset`` take a class-balanced subset of that many images (None: all).
    ImageNet runs (``dataset="imagenet"``) follow NVIDIA's recipe: ``batch_size`` is the global
    batch over all processes, the default lr is 0.256 per 256 images, ``warmup_epochs`` of linear
    warm-up precede the cosine decay, and the loss uses ``label_smoothing``.
    ``eval_samples`` is how many sampled masks the test accuracy averages, for methods whose
    masks are sampled (Zhou et al.: 10); None for the others.
    PaB only: ``prune`` (stage-1 pruner), ``flip_rate`` and ``flip_threshold`` (Bop's gamma and
    tau); ``lr``/``momentum``/``weight_decay`` are those of its classifier and batch norm SGD.
    IteRand only: every ``rerandomize_every`` steps a ``rerandomize_fraction`` of the pruned
    weights is drawn again.
    SGD runs use cosine decay to zero over all steps; Adam runs a constant learning rate.
    The fields only some methods or data sets have (``eval_samples``, PaB's, IteRand's and
    ImageNet's) are declared from the protocol table, after those below.
    """

    model: str = _field("conv4", "architecture")
    method: str = _field("edge-popup", "what is learned on top of the random weights")
    k: float | None = _protocol_field("k")
    init: str | None = _protocol_field("init")
    width: float = _field(1.0, "width multiplier of the hidden layers")
    seed: int = _field(0, "seed of weights, scores, data order and augmentation")
    epochs: int | None = _protocol_field("epochs")
    train_subset: int | None = _field(
        None, "train on a class-balanced subset of this many images (default: all)"
    )
    test_subset: int | None = _field(
        None, "evaluate on a class-balanced subset of this many images (default: all)"
    )
    dataset: str = _field("cifar10", "data set the model is for")
    optimizer: str | None = _protocol_field("optimizer")
    lr: float | None = _protocol_field("lr")
    momentum: float | None = _protocol_field("momentum")
    weight_decay: float | None = _protocol_field("weight_decay")
    batch_size: int | None = _protocol_field("batch_size")
    precision: str | None = _protocol_field("precision")

    def __post_init__(self):
        self._check_types()
        _choice("model", self.model, MODELS)
        _choice("method", self.method, METHOD_NAMES)
        _choice("dataset", self.dataset, NUM_CLASSES)
        if DATASET_OF[self.model] != self.dataset:
            raise ValueError(
                f"model {self.model!r} is for {DATASET_OF[self.model]}, not "
                f"{self.dataset}; {self.dataset} models: "
                f"{', '.join(m for m, d in DATASET_OF.items() if d == self.dataset)}"
            )
        for name, value in resolve(dataclasses.asdict(self)).items():
            if getattr(self, name) is None and value is not None:
                object.__setattr__(self, name, value)
        self._validate()

    def _check_types(self) -> None:
        """Numbers are numbers: ints where counts are meant, finite reals elsewhere."""
        for name in INT_FIELDS:
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, numbers.Integral)
            ):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        for name in FLOAT_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        for name in ("model", "method", "dataset", "precision"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string, got {getattr(self, name)!r}")

    def _validate(self) -> None:
        check(dataclasses.asdict(self))
        if self.k is None and "scaled_" in self.init:  # only a method that learns its k has none
            raise ValueError(
                f"{self.init} divides by sqrt(k), which method {self.method!r} does not have"
            )
        if self.init.startswith("released_scaled_") and self.k == 1.0:
            raise ValueError(f"{self.init} divides by sqrt(1 - k): k must be below 1, got 1")
        if self.warmup_epochs is not None and not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs), got {self.warmup_epochs}")
        if not self.width >= smallest_width(self.model):
            raise ValueError(
                f"width {self.width} leaves a layer of {self.model} with no units; "
                f"the smallest width it allows is {smallest_width(self.model):g}"
            )
        if self.width > MAX_WIDTH:
            raise ValueError(
                f"width must be at most {MAX_WIDTH:g} (the papers use up to 2; a "
                f"wider {self.model} does not fit in memory), got {self.width:g}"
            )
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None and value < 10:
                raise ValueError(f"{name} must be >= 10 (one image per class) or None, got {value}")

    def canonical(self) -> str:
        """Sorted-key JSON of the non-None fields that differ from their implicit value: equal
        configs give equal strings."""
        fields = {
            k: v
            for k, v in dataclasses.asdict(self).items()
            if v is not None and IMPLICIT_VALUES.get(k, object()) != v
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:16]

    @property
    def name(self) -> str:
        """Run directory name: readable prefix, hash for identity."""
        return f"{self.model}-{self.method}-{self.hash}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(fields) - known
        if unknown:
            raise ValueError(f"unknown RunConfig fields: {', '.join(sorted(unknown))}")
        return cls(**fields)


def _fields_of(kind: str) -> tuple[str, ...]:
    return tuple(
        f.name for f in dataclasses.fields(RunConfig) if str(f.type).replace(" | None", "") == kind
    )


FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig))  # in declaration order
INT_FIELDS = _fields_of("int")
FLOAT_FIELDS = _fields_of("float")


@dataclass(frozen=True)
class Profile:
    """How much of the protocol a sweep runs: ``smoke`` (tests), ``short`` (the CPU's budget for
    whole figures), ``paper``."""

    name: str
    epochs: int
    train_subset: int | None
    test_subset: int | None
    seeds: tuple[int, ...]
    full_grid: bool = True
    eval_samples: int | None = None  # sampled masks per evaluation (None: the method's default)
    precision: str = "fp32"  # every run of a profile trains in one precision
    scales_methods: bool = True  # methods with their own schedule (PaB) train it, scaled

    def grid(self, values: Sequence) -> list:
        """A figure's grid axis: all of ``values``, or only its ends where the profile just
        exercises the pipeline."""
        values = list(values)
        return values if self.full_grid or len(values) <= 2 else [values[0], values[-1]]

    def describe(self, seeds_run: Iterable[int] | None = None) -> str:
        """The protocol in a line, for titles. ``seeds_run`` (the seeds of the finished runs a
        plot shows) says when fewer seeds than the profile's have been run so far."""
        train = "all" if self.train_subset is None else f"{self.train_subset:,}"
        test = "all" if self.test_subset is None else f"{self.test_subset:,}"
        seeds = f"{len(self.seeds)} seed{'s' if len(self.seeds) > 1 else ''}"
        if seeds_run is not None:
            run = sorted({int(seed) for seed in seeds_run})
            if not run:  # a title before the first run: what is planned, and that none has run
                seeds = f"{seeds}, no run finished yet"
            elif run != sorted(self.seeds):
                named = ", ".join(map(str, run))
                seeds = f"seed{'s' if len(run) > 1 else ''} {named} of {len(self.seeds)} so far"
        epochs = f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}"
        return (
            f"profile {self.name}: {epochs}, {train} train / {test} test images, "
            f"{seeds}, {self.precision}"
        )

    def steps_per_epoch(self, batch_size: int = 128, train_images: int = 50_000) -> int:
        """Optimiser steps in one epoch of this profile's CIFAR-10 training set."""
        return math.ceil((self.train_subset or train_images) / batch_size)

    def scaled_steps(self, steps: int, batch_size: int = 128) -> int:
        """A period of ``steps`` on the full training set, kept per epoch of data when this
        profile trains on a subset (IteRand's 300 steps: 2 on smoke's 300 images)."""
        full = PROFILES["paper"].steps_per_epoch(batch_size)
        return max(1, round(steps * self.steps_per_epoch(batch_size) / full))

    def apply_imagenet(self, **fields) -> RunConfig:
        """An ImageNet RunConfig at this profile: the paper's epochs, except ``smoke``, which
        trains one epoch of batch 8 on the synthetic folder (explicit fields win)."""
        base = {"epochs": 1, "batch_size": 8} if self.name == "smoke" else {"epochs": self.epochs}
        base["precision"] = self.precision
        return RunConfig(**{"dataset": "imagenet", **base, **fields})

    def method_epochs(self, method: str | None) -> int:
        """Epochs of ``method`` at this profile: a method with its own schedule (PaB: 180)
        trains it scaled by this profile's share of the paper's 100 epochs (36 at ``short``);
        ``smoke`` trains its own epochs whatever the method."""
        own = None if method is None else PROTOCOL["epochs"].default({"method": method})
        if own in (None, PAPER_EPOCHS) or not self.scales_methods:
            return self.epochs
        return max(1, round(own * self.epochs / PAPER_EPOCHS))

    def apply(self, **fields) -> RunConfig:
        """A RunConfig with this profile's epochs, subsets and, for methods whose masks are
        sampled, number of evaluation samples (explicit fields win)."""
        method = fields.get("method", RunConfig.method)
        base = {
            "epochs": self.method_epochs(method),
            "train_subset": self.train_subset,
            "test_subset": self.test_subset,
            "precision": self.precision,
        }
        if method in PROTOCOL["eval_samples"].methods:
            base["eval_samples"] = self.eval_samples
        return RunConfig(**{**base, **fields})


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        "smoke",
        epochs=1,
        train_subset=300,
        test_subset=300,
        seeds=(0,),
        full_grid=False,
        eval_samples=2,
        scales_methods=False,
    ),
    # The CPU's budget for whole figures: the paper's protocol cut to E* = 20 epochs, the budget
    # the Conv2 study's rule picked (supermask.figures.budget), one seed, in bf16: every pair of
    # the study's fidelity gate passed (10 epochs within 1.5 points, 100 within 1.0), and a Conv2
    # epoch trains about twice as fast in bf16 on a CPU with bf16 instructions.
    "short": Profile(
        "short", epochs=20, train_subset=None, test_subset=None, seeds=(0,), precision="bf16"
    ),
    "paper": Profile(
        "paper", epochs=PAPER_EPOCHS, train_subset=None, test_subset=None, seeds=(0, 1, 2, 3, 4)
    ),
}


def get_profile(name: str) -> Profile:
    _choice("profile", name, PROFILES)
    return PROFILES[name]
