"""Checking a figure notebook's papermill parameters before it runs anything."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import MAX_SEED, Profile, get_profile
from ..data.cifar10 import cifar10_identity
from ..files import check_writable_dir
from ..training.device import resolve_device
from ..training.stacked import check_stack_size
from .sweep import default_data_dir

__all__ = [
    "FigureParameters",
    "ImageNetParameters",
    "check_figure_parameters",
    "check_imagenet_parameters",
]


@dataclass(frozen=True)
class FigureParameters:
    profile: Profile
    seeds: tuple[int, ...]
    data_dir: Path


def check_figure_parameters(
    profile: str,
    seeds,
    data_dir: str | os.PathLike | None,
    device: str,
    train: bool,
    wait: bool = True,
    results_dir: str | os.PathLike | None = None,
    figures_dir: str | os.PathLike | None = None,
    stack: int | None = None,
) -> FigureParameters:
    """The checked parameters, or a ``ValueError`` (``DataNotFoundError`` for the data) that
    says what was wrong and what is accepted, raised before any run or file is written."""
    _check_text(profile=profile, device=device)
    check_stack_size(stack, none_ok=True)
    prof = get_profile(profile)
    seeds = _check_seeds(seeds, prof.seeds)
    if not isinstance(train, bool):
        raise ValueError(f"train must be True or False, got {train!r}")
    if not isinstance(wait, bool):
        raise ValueError(f"wait must be True or False, got {wait!r}")
    _check_output_dirs(results_dir, figures_dir)
    data_dir = _check_path("data_dir", data_dir) if data_dir is not None else default_data_dir()
    if train:
        resolve_device(device)
        cifar10_identity(data_dir)  # decodes (once) and checks every image
    return FigureParameters(prof, seeds, data_dir)


def _check_text(**values) -> None:
    """Parameters that are names (a profile, a device): text, not a number or a bool."""
    for name, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a name (text), got {value!r}")


def _check_path(name: str, path) -> Path:
    """A path parameter: text or a path, and not empty (an empty path would be the notebook's
    own folder)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise ValueError(f"{name} must be a directory path, got {path!r}")
    return Path(path)


def _check_output_dirs(results_dir, figures_dir) -> None:
    """Where runs, CSVs and plots go: writable directories, and named (an empty path would
    put them inside notebooks/)."""
    for name, path in (("results_dir", results_dir), ("figures_dir", figures_dir)):
        if path is None:
            continue
        if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise ValueError(f"{name} must be a directory path, got {path!r}")
        check_writable_dir(path, name)


def _check_seeds(seeds, default: tuple[int, ...]) -> tuple[int, ...]:
    """A non-empty list of distinct seeds in [0, MAX_SEED]; None gives ``default``."""
    if seeds is None:
        return default
    if (
        not isinstance(seeds, (list, tuple))
        or not seeds
        or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in seeds
        )
    ):
        raise ValueError(
            f"seeds must be a list of integers in [0, {MAX_SEED}] (or None for the "
            f"profile's {list(default)}), got {seeds!r}"
        )
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds!r}")
    return tuple(seeds)


@dataclass(frozen=True)
class ImageNetParameters:
    profile: Profile
    seeds: tuple[int, ...]
    imagenet_dir: Path | None  # None: no ImageNet, nothing to train
    why_not: str | None  # why no runs are launched, when none are


def check_imagenet_parameters(
    profile: str,
    seeds,
    imagenet_dir: str | os.PathLike | None,
    nproc: int,
    device: str,
    train: bool,
    synthetic_dir: str | os.PathLike,
    workers: int = 8,
    results_dir: str | os.PathLike | None = None,
    figures_dir: str | os.PathLike | None = None,
) -> ImageNetParameters:
    """The ImageNet notebook's parameters. ``smoke`` trains on a synthetic ImageFolder made in
    ``synthetic_dir``; ``paper`` trains on ``imagenet_dir``; ``short`` never trains
    ImageNet (a laptop CPU cannot); all show published numbers beside any measured ones."""
    from ..data.imagenet import find_imagenet, make_synthetic_imagenet

    _check_text(profile=profile, device=device)
    prof = get_profile(profile)
    seeds = _check_seeds(seeds, (0,))
    if not isinstance(nproc, int) or isinstance(nproc, bool) or nproc < 1:
        raise ValueError(f"nproc (processes for torchrun) must be an integer >= 1, got {nproc!r}")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise ValueError(
            f"workers (DataLoader workers per process) must be an integer >= 0, got {workers!r}"
        )
    if not isinstance(train, bool):
        raise ValueError(f"train must be True or False, got {train!r}")
    _check_output_dirs(results_dir, figures_dir)
    why_not = None
    root = None
    if not train:
        why_not = "train=False: re-drawing from the CSV"
    elif prof.name == "short":
        why_not = f"the {prof.name} profile does not train ImageNet (it needs GPUs and days)"
    elif prof.name == "smoke":
        root = make_synthetic_imagenet(Path(synthetic_dir) / "synthetic-imagenet")
    elif imagenet_dir is None:
        why_not = "no imagenet_dir given"
    else:
        root = find_imagenet(_check_path("imagenet_dir", imagenet_dir))
    if root is not None:
        resolve_device(device)
    return ImageNetParameters(prof, seeds, root, why_not)
