"""Methods: what is learned on top of a freshly initialised model, registered by name."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
from torch import nn

from .data import ImageTensors
from .evaluate import accuracy
from .init import initialize
from .masks import ZhouMask, apply_edge_popup, apply_zhou, masked_layers, sampled_masks

__all__ = ["METHODS", "Dense", "EdgePopup", "Method", "Zhou", "get_method"]


@dataclass(frozen=True)
class Method:
    """A training method. ``prepare`` turns a built model into what the optimiser trains."""

    name: str
    masked: bool
    default_k: float | None  # None: the kept fraction is learned, not chosen
    default_init: str
    default_eval_samples: int | None = None  # masks averaged at evaluation, for sampled masks

    def prepare(self, model: nn.Module, init: str, k: float | None) -> nn.Module:
        raise NotImplementedError

    def evaluate(self, model: nn.Module, data: ImageTensors, device: torch.device,
                 eval_samples: int | None = None) -> dict:
        """Measurements on the test set; ``test_acc`` is the one every figure plots."""
        return {"test_acc": accuracy(model, data, device)}


class EdgePopup(Method):
    """Ramanujan et al.: random weights drawn once and frozen; only the top-k scores learn."""

    def prepare(self, model: nn.Module, init: str, k: float) -> nn.Module:
        return apply_edge_popup(initialize(model, init, k), k)


class Dense(Method):
    """The learned dense baseline: same model, same init, every weight trained."""

    def prepare(self, model: nn.Module, init: str, k: float) -> nn.Module:
        return initialize(model, init, k)


class Zhou(Method):
    """Zhou et al. (2019): frozen random weights, a learned Bernoulli keep-probability per weight.

    Evaluated as Zhou et al. do, by the mean accuracy over ``eval_samples`` sampled masks (10 in
    their protocol); the deterministic mask (probability > 0.5) and the expected kept fraction
    are recorded too.
    """

    def prepare(self, model: nn.Module, init: str, k: float | None) -> nn.Module:
        return apply_zhou(initialize(model, init))

    def evaluate(self, model: nn.Module, data: ImageTensors, device: torch.device,
                 eval_samples: int | None = None) -> dict:
        with sampled_masks(model, True):
            sampled = [accuracy(model, data, device)
                       for _ in range(eval_samples or self.default_eval_samples)]
        with sampled_masks(model, False):
            deterministic = accuracy(model, data, device)
        expected = {name: (mask.expected_kept(), mask.scores.numel())
                    for name, _, mask in masked_layers(model) if isinstance(mask, ZhouMask)}
        total = sum(n for _, n in expected.values())
        return {
            "test_acc": statistics.mean(sampled),
            "test_acc_sampled": sampled,
            "test_acc_deterministic": deterministic,
            "expected_kept_fraction": sum(e for e, _ in expected.values()) / total,
            "expected_kept_fraction_per_layer": {name: e / n for name, (e, n) in expected.items()},
        }


METHODS: dict[str, Method] = {
    "edge-popup": EdgePopup("edge-popup", masked=True, default_k=0.5, default_init="signed_constant"),
    "dense": Dense("dense", masked=False, default_k=1.0, default_init="kaiming_normal"),
    "zhou": Zhou("zhou", masked=True, default_k=None, default_init="signed_constant",
                 default_eval_samples=10),
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHODS)}") from None
