"""Subnetwork sizes: how many weights a (model, width, k) keeps, and the k that keeps a given
count."""

from __future__ import annotations

import torch
from torch import nn

from ..masks import kept_count
from ..models import build_model

__all__ = ["k_for_kept", "kept_weights", "layer_sizes"]


def layer_sizes(model: str, width: float) -> list[int]:
    """Weight count of every Conv2d and Linear (built on the meta device: no memory used)."""
    with torch.device("meta"):
        net = build_model(model, width=width)
    return [m.weight.numel() for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def kept_weights(model: str, width: float, k: float) -> int:
    """Weights kept by per-layer top-k at fraction ``k``."""
    return sum(kept_count(k, n) for n in layer_sizes(model, width))


def k_for_kept(model: str, width: float, kept: int, tolerance: float = 0.01) -> float:
    """The k at which ``model`` at ``width`` keeps ``kept`` weights (within ``tolerance``).

    Raises ValueError when the width is too narrow to hold that many weights.
    """
    total = sum(layer_sizes(model, width))
    if kept > total:
        raise ValueError(f"{model} at width {width} has {total} weights, fewer than {kept}")
    k = round(kept / total, 6)
    realised = kept_weights(model, width, k)
    if abs(realised - kept) > tolerance * kept:
        raise ValueError(
            f"k={k} keeps {realised} weights of {model} at width {width}, "
            f"not {kept} within {tolerance:.0%}"
        )
    return k
