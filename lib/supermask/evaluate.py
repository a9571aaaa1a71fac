"""Test accuracy of a model on in-memory data."""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.utils import parametrize

from .data import ImageTensors, epoch_batches

__all__ = ["accuracy", "autocast"]

_EVAL_BATCH = 1000


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full precision on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def accuracy(model: nn.Module, data: ImageTensors, device: torch.device) -> float:
    """Top-1 accuracy (a fraction) in eval mode; each mask is computed (or sampled) once."""
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with parametrize.cached(), autocast(device):
        for x, y in epoch_batches(data, _EVAL_BATCH):
            correct += (model(x).argmax(1) == y).sum()
    return correct.item() / len(data)
