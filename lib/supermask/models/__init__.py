"""Model registry: name -> builder(width, num_classes), and the data set each model is for."""

from __future__ import annotations

from collections.abc import Callable

import torchvision
from torch import nn

from .conv import ConvNet, conv2, conv4, conv6, conv8
from .resnet import cifar_resnet18

__all__ = ["DATASET_OF", "MODELS", "NUM_CLASSES", "ConvNet", "build_model", "smallest_width"]

NUM_CLASSES = {"cifar10": 10, "imagenet": 1000}


def _torchvision(name: str) -> Callable[..., nn.Module]:
    """torchvision's own ImageNet architecture, untrained (widths as torchvision defines them)."""

    def build(width: float = 1.0, num_classes: int = 1000) -> nn.Module:
        if width != 1.0:
            raise ValueError(f"{name} comes at torchvision's width only (width=1), got {width}")
        return getattr(torchvision.models, name)(weights=None, num_classes=num_classes)

    build.__name__ = name
    return build


MODELS: dict[str, Callable[..., nn.Module]] = {
    "conv2": conv2,
    "conv4": conv4,
    "conv6": conv6,
    "conv8": conv8,
    "resnet18": cifar_resnet18,
    "resnet50": _torchvision("resnet50"),
    "resnet101": _torchvision("resnet101"),
    "wide_resnet50_2": _torchvision("wide_resnet50_2"),
}
DATASET_OF = {
    name: "imagenet" if name in ("resnet50", "resnet101", "wide_resnet50_2") else "cifar10"
    for name in MODELS
}


def build_model(name: str, width: float = 1.0, num_classes: int | None = None) -> nn.Module:
    """The named architecture; ``num_classes`` defaults to that of the data set it is for."""
    try:
        builder = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}") from None
    if num_classes is None:
        num_classes = NUM_CLASSES[DATASET_OF[name]]
    return builder(width=width, num_classes=num_classes)


def smallest_width(name: str) -> float:
    """The smallest width multiplier that leaves every layer of ``name`` a unit: the narrowest
    layer of every CIFAR model has 64 at width 1; torchvision's models come at width 1 only."""
    return 1.0 if DATASET_OF[name] == "imagenet" else 1 / 64
