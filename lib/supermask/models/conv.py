"""Conv2/4/6/8 of Frankle & Carbin as used by Ramanujan et al. (no batch norm, no bias, no
dropout)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ConvNet", "LayoutKeepingFlatten", "conv2", "conv4", "conv6", "conv8", "scaled_units"]

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


class _FlattenChannelsLast(torch.autograd.Function):
    """``x.flatten(1)`` of a channels_last ``x`` (a copy, in NCHW order), whose backward returns
    the gradient channels_last."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.shape = x.shape
        return x.flatten(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.reshape(ctx.shape).contiguous(memory_format=torch.channels_last)


class LayoutKeepingFlatten(nn.Flatten):
    """``nn.Flatten`` (same values, same feature order) whose backward hands a channels_last
    input its gradient channels_last. nn.Flatten's gradient comes back in NCHW order, and the
    channels_last max-pool before it then takes 4-7x longer in its backward (``make bench``);
    a non-overlapping max-pool's backward only routes each gradient value to one input, so
    every result is bit for bit the same."""

    def __init__(self):
        super().__init__(start_dim=1, end_dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.dim() == 4
            and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last)
        ):
            return _FlattenChannelsLast.apply(x)
        return x.flatten(1)


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
                layers += [
                    nn.Conv2d(channels, out, 3, padding=1, bias=False),
                    nn.ReLU(inplace=True),
                ]
                channels = out
            layers.append(nn.MaxPool2d(2))
            size //= 2
        self.features = nn.Sequential(*layers)

        fc: list[nn.Module] = [LayoutKeepingFlatten()]
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
