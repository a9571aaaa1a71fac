"""ImageNet from an ImageFolder root (``train/`` and ``val/``, one folder per class), read by
DataLoader workers with the standard transforms.

Batches are cut the way ``DistributedSampler`` cuts them, for *replicas*: the processes of a
``torchrun`` job times the micro-batches each process accumulates per step. A run with R
replicas sees the same samples in every step however they are spread over processes, so a
2-process job and a 1-process job accumulating 2 micro-batches train on identical batches.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset
from torchvision import datasets, transforms

from ..config import epoch_seed
from .cifar10 import DataNotFoundError

__all__ = ["find_imagenet", "make_synthetic_imagenet", "replica_loaders", "start_epoch",
           "val_loader"]

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_RANK_STREAMS = 10_007  # epoch_seed streams between one rank's (or replica's) loader and the next


def _classes(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def find_imagenet(root: str | os.PathLike) -> Path:
    """``root`` if it holds ``train/`` and ``val/`` with the same, non-empty class folders."""
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"ImageNet directory {root} does not exist; it must hold "
                                "train/<class>/*.JPEG and val/<class>/*.JPEG")
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise DataNotFoundError(f"{root} has no {split}/ folder; an ImageNet root must hold "
                                    "train/<class>/ and val/<class>/ (val sorted into class "
                                    "folders, e.g. with the devkit's labels)")
    train, val = _classes(root / "train"), _classes(root / "val")
    if not train:
        raise DataNotFoundError(f"{root / 'train'} holds no class folders")
    if train != val:
        missing = sorted(set(train) ^ set(val))
        raise DataNotFoundError(f"train/ and val/ of {root} have different class folders "
                                f"({len(train)} vs {len(val)}; differing: {', '.join(missing[:5])})")
    return root


def _train_set(root: Path) -> datasets.ImageFolder:
    return datasets.ImageFolder(root / "train", transforms.Compose([
        transforms.RandomResizedCrop(224),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ]))


def _val_set(root: Path) -> datasets.ImageFolder:
    return datasets.ImageFolder(root / "val", transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ]))


def replica_loaders(root: str | os.PathLike, replicas: range, num_replicas: int,
                    replica_batch: int, seed: int, workers: int, pin_memory: bool
                    ) -> tuple[list[DataLoader], list[DistributedSampler]]:
    """One loader per replica this process runs (``replicas`` of ``num_replicas`` in all), each
    giving ``replica_batch`` images a step; call :func:`start_epoch` before every epoch.

    With ``workers >= 1`` each replica's augmentation is drawn in its own workers, seeded from
    (seed, replica, epoch), so it is the same however replicas are spread over processes and
    whether or not the run was resumed; with ``workers=0`` it comes from the process's global
    generator, seeded from (seed, rank, epoch).
    """
    dataset = _train_set(Path(root))
    loaders: list[DataLoader] = []
    samplers: list[DistributedSampler] = []
    for replica in replicas:
        sampler = DistributedSampler(dataset, num_replicas=num_replicas, rank=replica,
                                     shuffle=True, seed=seed, drop_last=True)
        generator = torch.Generator()
        loaders.append(DataLoader(dataset, batch_size=replica_batch, sampler=sampler,
                                  num_workers=workers, pin_memory=pin_memory, drop_last=True,
                                  generator=generator))
        samplers.append(sampler)
    return loaders, samplers


def start_epoch(loaders: list[DataLoader], samplers: list[DistributedSampler], seed: int,
                rank: int, epoch: int) -> None:
    """Fix the epoch's sample order and augmentation (so a resumed run repeats them exactly)."""
    torch.manual_seed(epoch_seed(seed, epoch, rank * _RANK_STREAMS))
    for loader, sampler in zip(loaders, samplers, strict=True):
        sampler.set_epoch(epoch)
        loader.generator.manual_seed(epoch_seed(seed, epoch, sampler.rank * _RANK_STREAMS))


def val_loader(root: str | os.PathLike, rank: int, world_size: int, batch: int, workers: int,
               pin_memory: bool) -> DataLoader:
    """This process's share of the validation images (every image counted exactly once)."""
    dataset = _val_set(Path(root))
    share = Subset(dataset, range(rank, len(dataset), world_size))
    return DataLoader(share, batch_size=batch, shuffle=False, num_workers=workers,
                      pin_memory=pin_memory)


def make_synthetic_imagenet(root: str | os.PathLike, classes: int = 2, train: int = 8,
                            val: int = 3, seed: int = 0) -> Path:
    """A tiny ImageNet-shaped ImageFolder (classes differ in colour), for exercising the
    ImageNet code path where ImageNet is absent: the smoke profile and the tests."""
    from PIL import Image

    root = Path(root)
    generator = torch.Generator().manual_seed(seed)
    for split, count in (("train", train), ("val", val)):
        for label in range(classes):
            folder = root / split / f"n{label:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            base = torch.tensor([(97 * label) % 256, 255 - (97 * label) % 256, 100]).view(3, 1, 1)
            for i in range(count):
                noise = torch.randint(-30, 30, (3, 48, 64), generator=generator)
                image = (base + noise).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
                Image.fromarray(image).save(folder / f"{i:04d}.png")
    return root
