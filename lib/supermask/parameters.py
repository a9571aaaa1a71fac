"""Checking a figure notebook's papermill parameters before it runs anything."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .config import Profile, get_profile
from .data import find_cifar10
from .sweep import default_data_dir
from .train import resolve_device

__all__ = ["FigureParameters", "ImageNetParameters", "check_figure_parameters",
           "check_imagenet_parameters"]


@dataclass(frozen=True)
class FigureParameters:
    profile: Profile
    seeds: tuple[int, ...]
    data_dir: Path


def check_figure_parameters(profile: str, seeds, data_dir: str | os.PathLike | None,
                            device: str, train: bool, wait: bool = True) -> FigureParameters:
    """The checked parameters, or a ``ValueError`` (``DataNotFoundError`` for the data) that
    says what was wrong and what is accepted, raised before any run or file is written."""
    prof = get_profile(profile)
    if seeds is None:
        seeds = prof.seeds
    elif isinstance(seeds, (int, str)) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ValueError(f"seeds must be a list of integers >= 0 (or None for the profile's "
                         f"{list(prof.seeds)}), got {seeds!r}")
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed, or None for the profile's")
    if not isinstance(train, bool):
        raise ValueError(f"train must be True or False, got {train!r}")
    if not isinstance(wait, bool):
        raise ValueError(f"wait must be True or False, got {wait!r}")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if train:
        resolve_device(device)
        find_cifar10(data_dir)
    return FigureParameters(prof, seeds, data_dir)


@dataclass(frozen=True)
class ImageNetParameters:
    profile: Profile
    seeds: tuple[int, ...]
    imagenet_dir: Path | None  # None: no ImageNet, nothing to train
    why_not: str | None  # why no runs are launched, when none are


def check_imagenet_parameters(profile: str, seeds, imagenet_dir: str | os.PathLike | None,
                              nproc: int, device: str, train: bool,
                              synthetic_dir: str | os.PathLike) -> ImageNetParameters:
    """The ImageNet notebook's parameters. ``smoke`` trains on a synthetic ImageFolder made in
    ``synthetic_dir``; ``paper`` trains on ``imagenet_dir``; ``quick`` never trains ImageNet
    (a laptop CPU cannot), and shows published numbers beside any measured ones."""
    from .imagenet import find_imagenet, make_synthetic_imagenet

    prof = get_profile(profile)
    if seeds is None:
        seeds = (0,)
    elif isinstance(seeds, (int, str)) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    if not isinstance(nproc, int) or isinstance(nproc, bool) or nproc < 1:
        raise ValueError(f"nproc (processes for torchrun) must be an integer >= 1, got {nproc!r}")
    if not isinstance(train, bool):
        raise ValueError(f"train must be True or False, got {train!r}")
    why_not = None
    root = None
    if not train:
        why_not = "train=False: re-drawing from the CSV"
    elif prof.name == "quick":
        why_not = "the quick profile does not train ImageNet (it needs GPUs and days)"
    elif prof.name == "smoke":
        root = make_synthetic_imagenet(Path(synthetic_dir) / "synthetic-imagenet")
    elif imagenet_dir is None:
        why_not = "no imagenet_dir given"
    else:
        root = find_imagenet(imagenet_dir)
    if root is not None:
        resolve_device(device)
    return ImageNetParameters(prof, tuple(seeds), root, why_not)
