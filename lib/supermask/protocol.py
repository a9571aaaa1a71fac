"""The training protocol in one table: every hyperparameter of a run, its default for each data
set, optimiser, method and model, its valid values and who owns it, with where each value comes
from (PROTOCOL.md says the same in words).

RunConfig fills its unset fields and checks them from this table; the command line's choices and
help, which methods and data sets may set which field, and PROTOCOL.md's table are read from it.
A rule's ``when`` names the runs it is for (``dataset``, ``optimizer``, ``method``, ``model``:
a value, or a tuple of values; a model may end in ``*``). The first rule that fits a run gives
the default; where none fits, the field stays unset. A rule's value may be computed from the
fields resolved before it (the table's order). A ``fixed`` rule's value is the only one its runs
may have (the dense baseline keeps every weight).

RunConfig takes the fields that only some methods or data sets have from this table, so a method
with a field of its own adds it here and nowhere else.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from .init import DISTRIBUTIONS
from .pruning import PRUNERS
from .registry import METHODS

__all__ = [
    "METHOD_NAMES",
    "OPTIMIZERS",
    "PAPER_EPOCHS",
    "PRECISIONS",
    "PROTOCOL",
    "Hyperparameter",
    "Interval",
    "Rule",
    "check",
    "markdown_table",
    "resolve",
]

METHOD_NAMES = tuple(METHODS)
OPTIMIZERS = ("sgd", "adam")
# What a run's forward pass computes in (supermask.training.device makes each one).
PRECISIONS = ("fp32", "bf16")
# The paper's schedule: a method's default, and what profiles' epochs are a share of.
PAPER_EPOCHS = 100
_MASKS_LEARNED = tuple(name for name, method in METHODS.items() if method.learns_scores)


@dataclass(frozen=True)
class Rule:
    """A default for the runs ``when`` names; ``label`` shows a computed value. ``fixed`` says
    why those runs can have no other value (the error for another value quotes it)."""

    value: object | Callable[[dict], object]
    source: str
    when: dict = field(default_factory=dict)
    label: str | None = None
    fixed: str | None = None

    def fits(self, run: dict) -> bool:
        for key, wanted in self.when.items():
            options = wanted if isinstance(wanted, tuple) else (wanted,)
            if not any(fnmatch.fnmatchcase(str(run[key]), str(option)) for option in options):
                return False
        return True

    def value_for(self, run: dict) -> object:
        return self.value(run) if callable(self.value) else self.value

    def describe(self) -> str:
        shown = self.label or (
            "unset"
            if self.value is None
            else f"{self.value:g}"
            if isinstance(self.value, float)
            else str(self.value)
        )
        where = ", ".join(
            "/".join(v) if isinstance(v, tuple) else str(v) for v in self.when.values()
        )
        fixed = ", fixed" if self.fixed else ""
        return f"{shown} ({where}{fixed})" if where else shown


@dataclass(frozen=True)
class Interval:
    """The numbers from ``low`` to ``high``, each end in or out."""

    low: float = -math.inf
    high: float = math.inf
    low_in: bool = True
    high_in: bool = True

    def __contains__(self, value: float) -> bool:
        above = value >= self.low if self.low_in else value > self.low
        below = value <= self.high if self.high_in else value < self.high
        return above and below

    def __str__(self) -> str:
        if self.high == math.inf:
            return f"{'>=' if self.low_in else '>'} {self.low:g}"
        return (
            f"in {'[' if self.low_in else '('}{self.low:g}, {self.high:g}"
            f"{']' if self.high_in else ')'}"
        )


@dataclass(frozen=True)
class Hyperparameter:
    """One field of the protocol. ``refusal`` words the error for a value outside ``valid``
    (``{name}``, ``{valid}``, ``{value}``); ``kind`` names a value not among the choices.
    ``type`` is the field's type in RunConfig (a number field is a float unless it says int)."""

    name: str
    help: str
    rules: tuple[Rule, ...]
    valid: Interval | tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None  # the only methods that have it
    dataset: str | None = None  # the only data set whose runs have it
    refused: tuple[tuple[str, str], ...] = ()  # (method, why it has no such field)
    refusal: str = "{name} must be {valid}, got {value}"
    kind: str | None = None
    integer: bool = False

    @property
    def type(self) -> type:
        return str if isinstance(self.valid, tuple) else int if self.integer else float

    @property
    def owned(self) -> bool:
        """Only some methods or one data set have it."""
        return self.methods is not None or self.dataset is not None

    def rule_for(self, run: dict) -> Rule | None:
        return next((rule for rule in self.rules if rule.fits(run)), None)

    def default(self, run: dict) -> object:
        rule = self.rule_for(run)
        return None if rule is None else rule.value_for(run)

    def check(self, value: object) -> None:
        """``ValueError`` for a set value outside ``valid``."""
        if value is None or self.valid is None:
            return
        if isinstance(self.valid, Interval):
            if value not in self.valid:
                raise ValueError(self.refusal.format(name=self.name, valid=self.valid, value=value))
        elif value not in self.valid:
            raise ValueError(
                f"unknown {self.kind or self.name} {value!r}; valid: {', '.join(self.valid)}"
            )

    def describe(self) -> str:
        """What ``--help`` says: the meaning, the valid range, the defaults (the command line
        lists the choices of a field that has them)."""
        valid = f", {self.valid}" if isinstance(self.valid, Interval) else ""
        owner = (
            f"{'/'.join(self.methods)} only: "
            if self.methods
            else f"{self.dataset} only: "
            if self.dataset
            else f"not {'/'.join(method for method, _ in self.refused)}: "
            if self.refused
            else ""
        )
        defaults = "; ".join(rule.describe() for rule in self.rules) or "unset"
        return f"{owner}{self.help}{valid}; default {defaults}"


def _imagenet_lr(run: dict) -> float:
    return 0.256 * run["batch_size"] / 256


_NVIDIA = "NVIDIA's ResNet-50 v1.5 recipe, as the authors' ImageNet configs"
_PAPER_ADAM = "Ramanujan et al., Section 4.1 (dense Adam baselines)"
_EDGE_POPUP_SGD = "Ramanujan et al., Section 4.1 and the authors' configs"
_RESNET_WD = (
    'hidden-networks resnet18-usc-unsigned.yaml; IteRand config.yaml ("0.0005 for '
    "resnets\"); PaB's released code"
)

# In the order a run's defaults are resolved: a rule may read the fields above it.
PROTOCOL: dict[str, Hyperparameter] = {
    h.name: h
    for h in (
        Hyperparameter(
            "k",
            "fraction of weights KEPT per layer",
            (
                Rule(
                    0.5, "Ramanujan et al.: k = 50 % in Figures 4 and 6", {"method": _MASKS_LEARNED}
                ),
                Rule(1.0, "every weight trains", {"method": "dense"}, fixed="trains every weight"),
                Rule(0.3, "PaB README (--prune-ratio 3e-1)", {"method": "pab"}),
            ),
            Interval(0.0, 1.0, low_in=False),
            refused=(("zhou", "learns its kept fraction"),),
            refusal="k is the fraction of weights kept and must be {valid}, got {value}",
        ),
        Hyperparameter(
            "init",
            "weight distribution",
            (
                Rule(
                    "kaiming_normal",
                    "dense: a learned network's usual init; PaB README "
                    "(--init-method kaiming_normal)",
                    {"method": ("dense", "pab")},
                ),
                Rule("signed_constant", "Ramanujan et al.: their best distribution (U_k)"),
            ),
            tuple(DISTRIBUTIONS),
            kind="weight distribution",
        ),
        Hyperparameter(
            "epochs",
            "training epochs",
            (
                Rule(180, "PaB README (--epochs 180)", {"method": "pab"}),
                Rule(PAPER_EPOCHS, "Ramanujan et al., Section 4.1"),
            ),
            Interval(1),
            integer=True,
        ),
        Hyperparameter(
            "optimizer",
            "sgd (cosine decay to zero) or adam (constant rate)",
            (
                Rule(
                    "sgd",
                    "PaB: Bop on the kept signs, SGD on the classifier and batch norm",
                    {"method": "pab"},
                    fixed="trains with Bop and SGD",
                ),
                Rule("sgd", "Ramanujan et al., Section 4.1"),
            ),
            OPTIMIZERS,
            kind="optimizer",
        ),
        Hyperparameter(
            "precision",
            "fp32 (everything in float32, no TF32) or bf16 (bfloat16 "
            "autocast of the forward pass; weights, scores and optimiser state stay fp32)",
            (Rule("fp32", "bf16 only where a profile names it (PROTOCOL.md)"),),
            PRECISIONS,
            kind="precision",
        ),
        Hyperparameter(
            "eval_samples",
            "sampled masks averaged for the test accuracy",
            (Rule(10, "Zhou et al.: the mean over 10 sampled masks", {"method": "zhou"}),),
            Interval(1),
            methods=("zhou",),
            integer=True,
        ),
        Hyperparameter(
            "batch_size",
            "batch size (ImageNet: over all processes)",
            (
                Rule(256, _NVIDIA, {"dataset": "imagenet"}),
                Rule(60, _PAPER_ADAM, {"optimizer": "adam"}),
                Rule(128, _EDGE_POPUP_SGD + "; IteRand's and PaB's ResNet-18 (PROTOCOL.md)"),
            ),
            Interval(1),
            integer=True,
        ),
        Hyperparameter(
            "lr",
            "learning rate",
            (
                Rule(_imagenet_lr, _NVIDIA, {"dataset": "imagenet"}, label="0.256 x batch / 256"),
                Rule(2e-4, _PAPER_ADAM, {"optimizer": "adam", "model": "conv2"}),
                Rule(3e-4, _PAPER_ADAM, {"optimizer": "adam"}),
                Rule(
                    800.0,
                    "Ramanujan et al.'s tuned re-run of Zhou et al.",
                    {"method": "zhou", "model": "conv8"},
                ),
                Rule(200.0, "Ramanujan et al.'s tuned re-run of Zhou et al.", {"method": "zhou"}),
                Rule(
                    0.01, "0.1 diverges without batch norm", {"method": "dense", "model": "conv*"}
                ),
                Rule(0.1, _EDGE_POPUP_SGD + "; PaB's classifier and batch norm"),
            ),
            Interval(0.0, low_in=False),
        ),
        Hyperparameter(
            "momentum",
            "SGD momentum",
            (
                Rule(0.875, _NVIDIA, {"dataset": "imagenet"}),
                Rule(0.0, "Adam has none", {"optimizer": "adam"}),
                Rule(0.9, _EDGE_POPUP_SGD),
            ),
            Interval(0.0, 1.0, high_in=False),
        ),
        Hyperparameter(
            "weight_decay",
            "weight decay (SGD: applies to the scores too)",
            (
                Rule(3.0517578125e-05, _NVIDIA, {"dataset": "imagenet"}),
                Rule(0.0, _PAPER_ADAM, {"optimizer": "adam"}),
                Rule(0.0, "Ramanujan et al.'s re-run of Zhou et al.", {"method": "zhou"}),
                Rule(5e-4, _RESNET_WD, {"model": "resnet*"}),
                Rule(5e-4, "PaB's released code (classifier and batch norm)", {"method": "pab"}),
                Rule(1e-4, _EDGE_POPUP_SGD),
            ),
            Interval(0.0, 1.0, high_in=False),
            refusal="{name} must be {valid} (the papers use 0 to 5e-4), got {value:g}",
        ),
        Hyperparameter(
            "prune",
            "stage-1 pruner at initialisation",
            (Rule("synflow", "PaB README (--pruner SynFlow)", {"method": "pab"}),),
            tuple(PRUNERS),
            methods=("pab",),
            kind="pruner",
        ),
        Hyperparameter(
            "flip_rate",
            "Bop's gamma",
            (Rule(1e-3, "PaB README (--ar 1e-3)", {"method": "pab"}),),
            Interval(0.0, 1.0, low_in=False),
            methods=("pab",),
            refusal="{name} (Bop's gamma) must be {valid}, got {value}",
        ),
        Hyperparameter(
            "flip_threshold",
            "Bop's tau",
            (Rule(1e-6, "PaB README (--tau 1e-6)", {"method": "pab"}),),
            Interval(0.0),
            methods=("pab",),
            refusal="{name} (Bop's tau) must be {valid}, got {value}",
        ),
        Hyperparameter(
            "psg_bits",
            "PSG: the convolutions' weight gradients from their input "
            "quantized to this many bits and the output gradient to 16 (PaB's "
            "authors: 8)",
            (Rule(None, "exact gradients unless asked for", {"method": "pab"}),),
            Interval(2, 16),
            methods=("pab",),
            integer=True,
            refusal="{name} (PSG's input bits; PaB's authors: 8) must be in 2-16 or unset (exact "
            "gradients), got {value}",
        ),
        Hyperparameter(
            "rerandomize_every",
            "steps between re-draws",
            (Rule(300, "Chijiwa et al.: K_per = 300 iterations", {"method": "iterand"}),),
            Interval(1),
            methods=("iterand",),
            integer=True,
        ),
        Hyperparameter(
            "rerandomize_fraction",
            "fraction of the pruned weights re-drawn",
            (Rule(0.1, "Chijiwa et al.: r = 0.1", {"method": "iterand"}),),
            Interval(0.0, 1.0, low_in=False),
            methods=("iterand",),
        ),
        Hyperparameter(
            "warmup_epochs",
            "epochs of linear warm-up before the cosine decay",
            (
                Rule(
                    lambda run: min(5, run["epochs"] - 1),
                    _NVIDIA,
                    {"dataset": "imagenet"},
                    label="5",
                ),
            ),
            Interval(0),
            dataset="imagenet",
            integer=True,
        ),
        Hyperparameter(
            "label_smoothing",
            "label smoothing",
            (Rule(0.1, _NVIDIA, {"dataset": "imagenet"}),),
            Interval(0.0, 1.0, high_in=False),
            dataset="imagenet",
        ),
    )
}


def resolve(run: dict) -> dict:
    """``run`` (RunConfig's fields) with every unset field of the protocol at its default."""
    resolved = dict(run)
    for name, hyperparameter in PROTOCOL.items():
        if resolved[name] is None:
            resolved[name] = hyperparameter.default(resolved)
    return resolved


def _shown(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def check(run: dict) -> None:
    """``ValueError`` for a resolved run (RunConfig's fields) that sets a field its method or
    data set does not have, a fixed field to another value, or a value outside the valid ones."""
    for name, hyperparameter in PROTOCOL.items():
        value = run[name]
        if value is None:
            continue
        why = dict(hyperparameter.refused).get(run["method"])
        if why is not None:
            raise ValueError(f"method {run['method']!r} {why}: leave {name} unset")
        if hyperparameter.methods is not None and run["method"] not in hyperparameter.methods:
            raise ValueError(
                f"{name} is a setting of {', '.join(hyperparameter.methods)} "
                f"only, not of method {run['method']!r}: leave it unset"
            )
        if hyperparameter.dataset is not None and run["dataset"] != hyperparameter.dataset:
            raise ValueError(
                f"{name} is a setting of {hyperparameter.dataset} runs only: leave it unset"
            )
        rule = hyperparameter.rule_for(run)
        if rule is not None and rule.fixed and value != rule.value_for(run):
            runs = " ".join(f"{key} {run[key]!r}" for key in rule.when)
            raise ValueError(
                f"{runs} {rule.fixed}: {name} must be "
                f"{_shown(rule.value_for(run))}, got {_shown(value)}"
            )
        hyperparameter.check(value)


def markdown_table() -> str:
    """PROTOCOL.md's table: every hyperparameter, its defaults, valid values and sources."""
    rows = ["| field | valid | default (first that fits) | source |", "|---|---|---|---|"]
    for h in PROTOCOL.values():
        valid = (
            ""
            if h.valid is None
            else str(h.valid)
            if isinstance(h.valid, Interval)
            else ", ".join(h.valid)
        )
        owner = (
            f" ({'/'.join(h.methods)} only)"
            if h.methods
            else f" ({h.dataset} only)"
            if h.dataset
            else f" (not {'/'.join(method for method, _ in h.refused)})"
            if h.refused
            else ""
        )
        for i, rule in enumerate(h.rules):
            rows.append(
                f"| {'`' + h.name + '`' + owner if i == 0 else ''} | "
                f"{valid if i == 0 else ''} | {rule.describe()} | {rule.source} |"
            )
    return "\n".join(rows)
