"""Checking a figure notebook's papermill parameters before it runs anything."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .config import Profile, get_profile
from .data import find_cifar10
from .sweep import default_data_dir
from .train import resolve_device

__all__ = ["FigureParameters", "check_figure_parameters"]


@dataclass(frozen=True)
class FigureParameters:
    profile: Profile
    seeds: tuple[int, ...]
    data_dir: Path


def check_figure_parameters(profile: str, seeds, data_dir: str | os.PathLike | None,
                            device: str, train: bool) -> FigureParameters:
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
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if train:
        resolve_device(device)
        find_cifar10(data_dir)
    return FigureParameters(prof, seeds, data_dir)
