"""Test accuracy of a model over test batches: in memory or from loaders, on one process or
summed over several."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..data.cifar10 import ImageTensors, epoch_batches

__all__ = ["Batches", "Reduce", "accuracy", "test_batches"]

_EVAL_BATCH = 1000

# Test data: images in memory, or a function giving a fresh iterable of (x, y) on the device.
Batches = ImageTensors | Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]
# Sums counts over processes (an all-reduce); None on one process.
Reduce = Callable[[list[float]], list[float]] | None


def test_batches(data: Batches) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(data, ImageTensors):
        return epoch_batches(data, _EVAL_BATCH)
    return data()


@torch.no_grad()
def accuracy(model: nn.Module, data: Batches, device: torch.device, reduce: Reduce = None) -> float:
    """Top-1 accuracy (a fraction) in eval mode; each mask is computed (or sampled) once.
    With ``reduce``, the counts of every process's share of the test set are summed first.
    Runs in the caller's precision (the trainer wraps it in the run's autocast)."""
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    with parametrize.cached():
        for x, y in test_batches(data):
            correct += (model(x).argmax(1) == y).sum()
            seen += len(y)
    counts = [correct.item(), seen]
    if reduce is not None:
        counts = reduce(counts)
    return counts[0] / counts[1]
