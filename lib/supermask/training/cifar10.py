"""Training on CIFAR-10 held in memory: the data prepared once on the run's device, each epoch
shuffled and augmented by its own generator, seeded from (seed, epoch), through :func:`fit`."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from ..config import RunConfig, epoch_seed
from ..data.cifar10 import ImageTensors, balanced_subset
from .device import keep_freed_memory, resolve_device
from .feed import augmented_batches, channel_stats, draw_epoch
from .loop import Feed, TrainOutcome, fit

__all__ = ["check_data_fits", "in_memory_feed", "train"]


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(epoch_seed(seed, epoch))


def check_data_fits(config: RunConfig, train_data: ImageTensors, test_data: ImageTensors) -> None:
    """A ``ValueError`` when the config asks for more images than the data has."""
    for name, data in (("train_subset", train_data), ("test_subset", test_data)):
        wanted = getattr(config, name)
        if wanted is not None and wanted > len(data):
            raise ValueError(
                f"{name}={wanted} asks for more images than the data set has "
                f"({len(data)}); valid: 10 to {len(data)}, or None for all"
            )
        if wanted is not None:
            try:
                balanced_subset(data.labels, wanted)
            except ValueError as error:
                raise ValueError(f"{name}={wanted}: {error}") from None


def _prepare_data(
    config: RunConfig, train_data: ImageTensors, test_data: ImageTensors, device: torch.device
) -> tuple[ImageTensors, ImageTensors]:
    if config.train_subset is not None:
        train_data = train_data.subset(balanced_subset(train_data.labels, config.train_subset))
    if config.test_subset is not None:
        test_data = test_data.subset(balanced_subset(test_data.labels, config.test_subset))
    return train_data.to(device), test_data.to(device)


def in_memory_feed(
    config: RunConfig,
    train_data: ImageTensors,
    test_data: ImageTensors,
    memory_format: torch.memory_format = torch.channels_last,
) -> Feed:
    """CIFAR-10 held in memory: each epoch shuffled and augmented by its own generator, seeded
    from (seed, epoch), one micro-batch a step; the draws go to the device once an epoch
    (:mod:`.feed`), so no step waits on the host."""
    stats = channel_stats(train_data.images.device)

    def epoch(index: int):
        draws = draw_epoch(
            len(train_data), config.batch_size, _epoch_generator(config.seed, index)
        ).to(train_data.images.device)
        return (
            [batch]
            for batch in augmented_batches(
                train_data, config.batch_size, draws, stats, memory_format
            )
        )

    return Feed(math.ceil(len(train_data) / config.batch_size), epoch, test_data)


def train(
    config: RunConfig,
    train_data: ImageTensors,
    test_data: ImageTensors,
    device: str | torch.device = "auto",
    checkpoint: str | Path | None = None,
    progress: bool = True,
    stop_after_epoch: int | None = None,
    eval_every_epoch: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
    data_fingerprint: str | None = None,
    commit: str | None = None,
    graphs: bool | None = None,
) -> TrainOutcome | None:
    """Train ``config`` on CIFAR-10 in memory, from scratch or from ``checkpoint``, saving it
    after every epoch.

    ``stop_after_epoch`` ends the call early (returning None) once that many epochs are done, to
    split a long run over several sittings; calling again with the same checkpoint resumes.
    ``eval_every_epoch`` adds the test accuracy after every epoch to the history (the learning
    curve); it never changes what training does. ``data_fingerprint`` and ``commit`` go into
    the checkpoints and sittings (what the run trains on, the code of each sitting).
    ``graphs`` replays each step from a CUDA graph (default: on CUDA where the method allows).
    """
    device = resolve_device(device)
    if device.type == "cpu":
        keep_freed_memory()
    train_data, test_data = _prepare_data(config, train_data, test_data, device)
    return fit(
        config,
        in_memory_feed(config, train_data, test_data),
        device,
        Path(checkpoint) if checkpoint is not None else None,
        progress,
        stop_after_epoch,
        eval_every_epoch,
        on_epoch=on_epoch,
        data_fingerprint=data_fingerprint,
        commit=commit,
        graphs=graphs,
    )
