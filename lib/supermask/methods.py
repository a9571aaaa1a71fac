"""Methods: what is learned on top of a freshly initialised model, registered by name."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .init import initialize
from .masks import apply_edge_popup

__all__ = ["METHODS", "Dense", "EdgePopup", "Method", "get_method"]


@dataclass(frozen=True)
class Method:
    """A training method. ``prepare`` turns a built model into what the optimiser trains."""

    name: str
    masked: bool
    default_k: float
    default_init: str

    def prepare(self, model: nn.Module, init: str, k: float) -> nn.Module:
        raise NotImplementedError


class EdgePopup(Method):
    """Ramanujan et al.: random weights drawn once and frozen; only the top-k scores learn."""

    def prepare(self, model: nn.Module, init: str, k: float) -> nn.Module:
        return apply_edge_popup(initialize(model, init, k), k)


class Dense(Method):
    """The learned dense baseline: same model, same init, every weight trained."""

    def prepare(self, model: nn.Module, init: str, k: float) -> nn.Module:
        return initialize(model, init, k)


METHODS: dict[str, Method] = {
    "edge-popup": EdgePopup("edge-popup", masked=True, default_k=0.5, default_init="signed_constant"),
    "dense": Dense("dense", masked=False, default_k=1.0, default_init="kaiming_normal"),
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHODS)}") from None
