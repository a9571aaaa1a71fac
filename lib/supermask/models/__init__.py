"""Model registry: name -> builder(width, num_classes)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .conv import ConvNet, conv2, conv4, conv6, conv8
from .resnet import cifar_resnet18

__all__ = ["MODELS", "ConvNet", "build_model"]

MODELS: dict[str, Callable[..., nn.Module]] = {
    "conv2": conv2,
    "conv4": conv4,
    "conv6": conv6,
    "conv8": conv8,
    "resnet18": cifar_resnet18,
}


def build_model(name: str, width: float = 1.0, num_classes: int = 10) -> nn.Module:
    try:
        builder = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}") from None
    return builder(width=width, num_classes=num_classes)
