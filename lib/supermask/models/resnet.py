"""CIFAR ResNet-18 (He et al.'s ImageNet ResNet-18 with a 3x3 stride-1 stem and no max-pool),
assembled from torchvision's ``ResNet`` and ``BasicBlock`` rather than re-typed."""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from .conv import scaled_units

__all__ = ["cifar_resnet18"]


def cifar_resnet18(width: float = 1.0, num_classes: int = 10) -> ResNet:
    """ResNet-18 for 32x32 images; ``width`` multiplies every channel count (64..512)."""
    model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    if width != 1.0:
        # Rebuild the stages at the new width with torchvision's own stage builder.
        model.inplanes = scaled_units(64, width)
        model.bn1 = nn.BatchNorm2d(model.inplanes)
        for i, (base, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2)), start=1):
            setattr(
                model,
                f"layer{i}",
                model._make_layer(BasicBlock, scaled_units(base, width), 2, stride=stride),
            )
        model.fc = nn.Linear(model.inplanes, num_classes)
    model.conv1 = nn.Conv2d(
        3, scaled_units(64, width), kernel_size=3, stride=1, padding=1, bias=False
    )
    model.maxpool = nn.Identity()
    return model
