"""CIFAR-10 batches made on the run's device without ever making the host wait for it.

An epoch's shuffle and crop/flip draws are made on the CPU generator up front, with the very
calls :func:`supermask.data.cifar10.epoch_batches` makes (``randperm``, then per batch two
``randint`` and one ``rand``), so the batches are bit for bit the same; they are uploaded once an
epoch (pinned and asynchronous on CUDA), and the channel statistics live on the device. A step
then only slices device tensors and launches kernels: no ``.item()``, no host tensor copied in,
so the CPU can run ahead of a GPU's queue (and a step can be captured in a CUDA graph).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ..data.cifar10 import CIFAR10_MEAN, CIFAR10_STD, ImageTensors

__all__ = ["EpochDraws", "augmented_batches", "channel_stats", "draw_epoch"]

_PAD = 4


@dataclass(frozen=True)
class EpochDraws:
    """One epoch's random draws, one row per image in the epoch's order: the permutation, each
    crop's offsets and each flip."""

    order: torch.Tensor
    dy: torch.Tensor
    dx: torch.Tensor
    flip: torch.Tensor

    def to(self, device: torch.device) -> EpochDraws:
        """On ``device``; on CUDA copied from pinned memory without a wait."""
        if device.type != "cuda":
            return EpochDraws(*(t.to(device) for t in (self.order, self.dy, self.dx, self.flip)))
        return EpochDraws(
            *(
                t.pin_memory().to(device, non_blocking=True)
                for t in (self.order, self.dy, self.dx, self.flip)
            )
        )


def draw_epoch(
    n: int, batch_size: int, generator: torch.Generator, augment: bool = True
) -> EpochDraws:
    """The draws of an epoch of ``n`` images, in the generator's order of the batch-at-a-time
    path: the permutation first, then each batch's row offsets, column offsets and flips."""
    order = torch.randperm(n, generator=generator)
    dy, dx, flip = [], [], []
    if augment:
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            dy.append(torch.randint(0, 2 * _PAD + 1, (size, 1), generator=generator))
            dx.append(torch.randint(0, 2 * _PAD + 1, (size, 1), generator=generator))
            flip.append(torch.rand(size, 1, generator=generator) < 0.5)
    empty = torch.zeros(0, 1, dtype=torch.int64)
    return EpochDraws(
        order,
        torch.cat(dy) if dy else empty,
        torch.cat(dx) if dx else empty,
        torch.cat(flip) if flip else empty.bool(),
    )


def channel_stats(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10's channel mean and standard deviation on the 0-255 scale, on ``device``,
    computed as :func:`supermask.data.cifar10.normalize` computes them."""
    mean = torch.tensor(CIFAR10_MEAN, device=device).view(1, -1, 1, 1) * 255
    std = torch.tensor(CIFAR10_STD, device=device).view(1, -1, 1, 1) * 255
    return mean, std


def _crop_flip(
    images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor
) -> torch.Tensor:
    """:func:`supermask.data.cifar10.random_crop_flip` with its draws given, on their device."""
    n, channels, height, width = images.shape
    device = images.device
    padded = torch.nn.functional.pad(images, (_PAD, _PAD, _PAD, _PAD))
    cols = torch.arange(width, device=device).expand(n, width)
    cols = torch.where(flip, cols.flip(1), cols) + dx
    rows = torch.arange(height, device=device) + dy
    batch = torch.arange(n, device=device).view(n, 1, 1, 1)
    chans = torch.arange(channels, device=device).view(1, channels, 1, 1)
    return padded[batch, chans, rows.view(n, 1, height, 1), cols.view(n, 1, 1, width)]


def augmented_batches(
    data: ImageTensors,
    batch_size: int,
    draws: EpochDraws,
    stats: tuple[torch.Tensor, torch.Tensor],
    memory_format: torch.memory_format = torch.channels_last,
    augment: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised (x, y) batches of one epoch from its ``draws`` (on ``data``'s device)."""
    mean, std = stats
    for start in range(0, len(data), batch_size):
        end = start + batch_size
        index = draws.order[start:end]
        images = data.images[index]
        if augment:
            images = _crop_flip(
                images, draws.dy[start:end], draws.dx[start:end], draws.flip[start:end]
            )
        x = images.float().sub_(mean).div_(std)
        yield x.contiguous(memory_format=memory_format), data.labels[index]
