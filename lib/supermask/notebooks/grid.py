"""A figure's grid as its notebook declares it, without running the notebook.

A figure's runs are declared once, in its notebook's cell tagged ``grid``. Campaign workers and
estimates need that grid before anything trains (which runs a line selects, in which
precision), so this runs the notebook's code cells up to that cell, with the parameters set as
papermill would set them, and returns its ``grid``: (label, RunConfig) pairs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

from ..config import RunConfig
from ..runs.campaign import figure_notebooks

__all__ = ["GRID_TAG", "notebook_grid"]

GRID_TAG = "grid"


def notebook_grid(
    figure: str,
    profile: str,
    results_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    seeds=None,
    notebooks: dict[str, Path] | None = None,
) -> list[tuple[dict, RunConfig]]:
    """The (label, RunConfig) pairs of ``figure``'s grid at ``profile``. ValueError for a
    figure that is not in :data:`supermask.registry.FIGURES` or whose notebook declares no grid
    (the ImageNet table); the notebook's own parameter checks raise as they would in it."""
    notebooks = figure_notebooks() if notebooks is None else notebooks
    if figure not in notebooks:
        raise ValueError(f"unknown figure {figure!r}; valid: {', '.join(notebooks)}")
    path = notebooks[figure]
    cells = [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]
    if not any(GRID_TAG in cell["metadata"].get("tags", []) for cell in cells):
        raise ValueError(
            f"{figure} ({path.name}) declares no grid of CIFAR-10 runs "
            f"(no cell tagged {GRID_TAG!r}): it cannot be a campaign's figure"
        )
    parameters = {
        "profile": profile,
        "seeds": seeds,
        "data_dir": data_dir,
        "results_dir": str(results_dir),
        "figures_dir": None,
        "train": False,
        "wait": False,
        "device": "cpu",
    }
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):  # the cells' own prints (profile, sizes)
        for cell in cells:
            tags = cell["metadata"].get("tags", [])
            exec(compile("".join(cell["source"]), f"{path.name}", "exec"), namespace)
            if "parameters" in tags:
                namespace.update(parameters)
            if GRID_TAG in tags:
                return [(dict(label), config) for label, config in namespace["grid"]]
    raise AssertionError("unreachable: the grid cell was found above")
