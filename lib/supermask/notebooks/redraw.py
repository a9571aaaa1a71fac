"""Redraw, training nothing, every figure whose grid holds given runs.

One run can belong to several figures: Figure 6's Conv4 Zhou et al. N_k run is also a seed of
the budget study's noise families, Figure 3's width-1 runs are Figure 4's, Figure 4's Conv6 runs
are IteRand's edge-popup points. The notebook that trains a run redraws its own figure; the
others would keep a CSV and plot that no longer match the store. A campaign worker redraws them
after each line, and ``python -m supermask redraw RUN_DIR...`` (``make land``) after runs arrive
from elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..provenance import REPO_DIR
from ..registry import FIGURES
from ..runs.campaign import figure_notebooks
from ..runs.records import read_config
from .grid import notebook_grid
from .run import execute

__all__ = ["figures_holding", "read_hashes", "redraw", "redraw_holding"]

PROFILES = ("short", "paper")  # the profiles whose CSVs and plots are committed


def figures_holding(
    hashes: Iterable[str],
    results_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    profiles: Iterable[str] = PROFILES,
) -> list[tuple[str, str]]:
    """(figure, profile) of every figure drawn at one of ``profiles`` whose grid holds one of
    ``hashes``, in the registry's order; figures without a CIFAR-10 grid hold none."""
    wanted = set(hashes)
    holding: list[tuple[str, str]] = []
    if not wanted:
        return holding
    for figure in FIGURES.values():
        for profile in profiles:
            if not figure.drawn_at(profile):
                continue
            try:
                grid = notebook_grid(figure.target, profile, results_dir, data_dir)
            except ValueError:  # no grid (the ImageNet table)
                break
            if wanted & {config.hash for _, config in grid}:
                holding.append((figure.target, profile))
    return holding


def redraw(
    figure: str,
    profile: str,
    results_dir: str | os.PathLike,
    figures_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None,
    executed_dir: str | os.PathLike = REPO_DIR / "notebooks" / "executed",
) -> Path:
    """Run ``figure``'s notebook at ``profile`` without training (its CSVs under
    ``results_dir``, its plots under ``figures_dir``); the executed notebook's path, one per
    figure and profile, the latest redraw's. A failing notebook raises papermill's
    ``PapermillExecutionError`` and stays under a name of its own process for reading."""
    notebook = figure_notebooks()[figure]  # run from its folder: every path made absolute
    executed = Path(executed_dir).resolve() / f"{notebook.stem}-{profile}-redraw.ipynb"
    # Workers redraw at once: each writes its own file, then takes the shared name whole.
    working = executed.with_name(f"{executed.stem}-{os.getpid()}.ipynb")
    parameters = {
        "profile": profile,
        "results_dir": str(Path(results_dir).resolve()),
        "figures_dir": str(Path(figures_dir).resolve()),
        "train": False,
    }
    if data_dir is not None:
        parameters["data_dir"] = str(Path(data_dir).resolve())
    execute(notebook, working, parameters)
    for suffix in (".kernel.log", ".ipynb"):
        os.replace(
            working.with_name(working.stem + suffix), executed.with_name(executed.stem + suffix)
        )
    return executed


def redraw_holding(
    hashes: Iterable[str],
    results_dir: str | os.PathLike,
    figures_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None,
    skip: tuple[str, str] | None = None,
    executed_dir: str | os.PathLike = REPO_DIR / "notebooks" / "executed",
) -> list[tuple[str, str, str | None]]:
    """:func:`redraw` every figure of :func:`figures_holding` but ``skip`` (a (figure, profile)
    just drawn): (figure, profile, None or the error of its failing notebook) for each."""
    import papermill

    done: list[tuple[str, str, str | None]] = []
    for figure, profile in figures_holding(hashes, results_dir, data_dir):
        if (figure, profile) == skip:
            continue
        try:
            redraw(figure, profile, results_dir, figures_dir, data_dir, executed_dir)
            done.append((figure, profile, None))
        except papermill.PapermillExecutionError as error:
            done.append((figure, profile, f"{error.ename}: {error.evalue}"))
    return done


def read_hashes(run_dirs: Iterable[str | os.PathLike]) -> list[str]:
    """The config hash of each run directory; ValueError naming the first one without a
    readable config.json."""
    hashes = []
    for run_dir in run_dirs:
        try:
            hashes.append(read_config(Path(run_dir) / "config.json").hash)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"{run_dir} is not a run directory with a readable config.json ({error})"
            ) from None
    return hashes
