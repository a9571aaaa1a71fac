"""Conv2/4/6/8 of Frankle & Carbin as used by Ramanujan et al. (no batch norm, no bias, no dropout)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ConvNet", "conv2", "conv4", "conv6", "conv8", "scaled_units"]

_CONV_BLOCKS = {
    "conv2": ((64, 64),),
    "conv4": ((64, 64), (128, 128)),
    "conv6": ((64, 64), (128, 128), (256, 256)),
    "conv8": ((64, 64), (128, 128), (256, 256), (512, 512)),
}
_HIDDEN_FC = (256, 256)


def scaled_units(units: int, width: float) -> int:
    """A layer's units (channels, neurons) at width multiplier ``width``; every model's widths
    go through here."""
    scaled = int(units * width)
    if scaled < 1:
        raise ValueError(f"width {width} leaves a layer of {units} with no units")
    return scaled


class ConvNet(nn.Module):
    """VGG-like stack: blocks of 3x3 convs followed by a 2x2 max-pool, then a 3-layer MLP.

    ``width`` multiplies every hidden channel count and hidden FC width (``int(n * width)``);
    the 3 input channels and the class count stay fixed.
    """

    def __init__(
        self,
        blocks: Sequence[Sequence[int]],
        hidden_fc: Sequence[int] = _HIDDEN_FC,
        width: float = 1.0,
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        channels, size = in_channels, image_size
        for block in blocks:
            for out in block:
                out = scaled_units(out, width)
                layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.ReLU(inplace=True)]
                channels = out
            layers.append(nn.MaxPool2d(2))
            size //= 2
        self.features = nn.Sequential(*layers)

        fc: list[nn.Module] = [nn.Flatten()]
        features = channels * size * size
        for hidden in hidden_fc:
            hidden = scaled_units(hidden, width)
            fc += [nn.Linear(features, hidden, bias=False), nn.ReLU(inplace=True)]
            features = hidden
        fc.append(nn.Linear(features, num_classes, bias=False))
        self.classifier = nn.Sequential(*fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def conv2(width: float = 1.0, num_classes: int = 10) -> ConvNet:
    return ConvNet(_CONV_BLOCKS["conv2"], width=width, num_classes=num_classes)


def conv4(width: float = 1.0, num_classes: int = 10) -> ConvNet:
    return ConvNet(_CONV_BLOCKS["conv4"], width=width, num_classes=num_classes)


def conv6(width: float = 1.0, num_classes: int = 10) -> ConvNet:
    return ConvNet(_CONV_BLOCKS["conv6"], width=width, num_classes=num_classes)


def conv8(width: float = 1.0, num_classes: int = 10) -> ConvNet:
    return ConvNet(_CONV_BLOCKS["conv8"], width=width, num_classes=num_classes)
