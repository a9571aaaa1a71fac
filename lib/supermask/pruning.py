"""Pruning at initialisation: PaB's first stage picks which conv weights survive, once.

Every pruner returns ``{layer name: bool mask}`` over the prunable layers (every Conv2d and Linear
but the classifier; in a ResNet, the convs) keeping ``k`` of their weights: SynFlow ranks
all of them together (global scope) and keep exactly ``round(k * n)``; random keeps
``round(k * n_layer)`` in each layer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from .masks import classifier_name, kept_count, kth_largest

__all__ = ["PRUNERS", "global_top", "prunable_layers", "random_masks", "synflow_masks"]


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every Conv2d and Linear except the classifier, which PaB trains densely."""
    classifier = classifier_name(model)
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and name != classifier
    }


def global_top(scores: dict[str, torch.Tensor], k: float) -> dict[str, torch.Tensor]:
    """Masks keeping the ``round(k * n)`` highest of all scores together; of scores tied at the
    threshold, the first ones (in layer order) are kept."""
    flat = torch.cat([s.flatten() for s in scores.values()])
    j = kept_count(k, flat.numel())
    threshold, at_or_above = kth_largest(flat, j)
    keep = flat > threshold
    tied = (flat == threshold).nonzero().flatten()
    keep[tied[: j - (at_or_above - tied.numel())]] = True
    masks, start = {}, 0
    for name, s in scores.items():
        masks[name] = keep[start : start + s.numel()].view_as(s)
        start += s.numel()
    return masks


@torch.no_grad()
def random_masks(
    model: nn.Module, k: float, generator: torch.Generator | None = None
) -> dict[str, torch.Tensor]:
    """``round(k * n)`` weights of each conv layer, uniformly at random (PaB's ablation)."""
    masks = {}
    for name, layer in prunable_layers(model).items():
        n = layer.weight.numel()
        chosen = torch.randperm(n, generator=generator)[: kept_count(k, n)]
        mask = torch.zeros(n, dtype=torch.bool)
        mask[chosen] = True
        masks[name] = mask.view_as(layer.weight).to(layer.weight.device)
    return masks


def synflow_masks(
    model: nn.Module, k: float, iterations: int = 100, input_shape: tuple[int, ...] = (3, 32, 32)
) -> dict[str, torch.Tensor]:
    """SynFlow (Tanaka et al., 2020): iterative, data-free, global, exponential schedule.

    Each iteration scores every surviving weight by |w * dR/dw|, where R is the sum of the
    output of the network with all parameters replaced by their magnitudes (batch norm in eval
    mode) on an all-ones input, then keeps the top ``k ** (i / iterations)`` of all weights.
    The computation runs on a float64 copy; ``model`` is not changed.
    """
    net = copy.deepcopy(model).double().eval()
    for p in net.parameters():
        p.requires_grad_(False).abs_()
    layers = prunable_layers(net)
    magnitudes = {name: layer.weight.detach().clone() for name, layer in layers.items()}
    masks = {name: torch.ones_like(w, dtype=torch.bool) for name, w in magnitudes.items()}
    ones = torch.ones(1, *input_shape, dtype=torch.float64, device=next(net.parameters()).device)
    for i in range(1, iterations + 1):
        for name, layer in layers.items():
            layer.weight = nn.Parameter(magnitudes[name] * masks[name])
        net(ones).sum().backward()
        scores = {
            name: (layer.weight.grad * layer.weight).detach().abs()
            for name, layer in layers.items()
        }
        masks = global_top(scores, k ** (i / iterations))
    return masks


PRUNERS: dict[str, Callable[..., dict[str, torch.Tensor]]] = {
    "synflow": synflow_masks,
    "random": random_masks,
}
