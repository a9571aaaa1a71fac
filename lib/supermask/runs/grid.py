"""A figure's grid through the run store: train all of it or part of it, collect all of it.

A notebook builds its grid as (labels, RunConfig) pairs and hands it to :func:`figure_runs`, which
trains what ``only`` selects (everything by default), then collects every run of the grid that
the store holds, finished in this call or earlier, on this machine or committed from another,
marks the others ``missing``, and writes the figure's CSV and its learning curves.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..config import FIELDS, Profile, RunConfig
from ..provenance import device_name
from ..training.device import resolve_device
from . import tables
from .progress import SweepProgress
from .records import RESULT, read_result
from .sweep import lookup, store_for, sweep

__all__ = [
    "curves_path",
    "csv_path",
    "figure_runs",
    "parse_only",
    "read_curves",
    "select",
    "stored_results",
]

log = logging.getLogger(__name__)


def parse_only(
    only: str | dict | None, grid: Sequence[RunConfig] | None = None, where: str = "only"
) -> dict[str, list] | None:
    """``only`` as {field: [values]}: a dict or its JSON text, every key a RunConfig field and,
    given the figure's ``grid``, every value one the grid has. None or ``{}`` selects all (None).
    Errors name ``where`` the text came from."""
    if only is None:
        return None
    if isinstance(only, str):
        try:
            only = json.loads(only)
        except ValueError as error:
            raise ValueError(
                f'{where} must be JSON like \'{{"model": ["conv2"], "k": '
                f"[0.5]}}', got {only!r} ({error})"
            ) from None
    if not isinstance(only, dict):
        raise ValueError(f"{where} must map RunConfig fields to lists of values, got {only!r}")
    checked = {}
    for name, values in only.items():
        if name not in FIELDS:
            raise ValueError(f"{where}: unknown field {name!r}; valid: {', '.join(FIELDS)}")
        values = values if isinstance(values, list) else [values]
        if grid is not None:
            present = list(dict.fromkeys(getattr(config, name) for config in grid))
            for value in values:
                if value not in present:
                    raise ValueError(
                        f"{where}: {name}={value!r} is not in this figure's grid; "
                        f"valid: {', '.join(map(repr, present))}"
                    )
        checked[name] = values
    return checked or None


def select(grid: Sequence[RunConfig], only: str | dict | None) -> list[RunConfig]:
    """The configs of ``grid`` that ``only`` selects (all of them for None)."""
    only = parse_only(only, grid)
    if only is None:
        return list(grid)
    chosen = [c for c in grid if all(getattr(c, name) in values for name, values in only.items())]
    if not chosen:
        raise ValueError(f"only={only!r} selects no run of this figure's grid")
    return chosen


def csv_path(results_dir: str | os.PathLike, profile: Profile, figure: str) -> Path:
    return Path(results_dir) / profile.name / f"{figure}.csv"


def curves_path(results_dir: str | os.PathLike, profile: Profile, figure: str) -> Path:
    return Path(results_dir) / profile.name / f"{figure}_curves.csv"


def read_curves(
    results_dir: str | os.PathLike, profile: Profile, figure: str
) -> pd.DataFrame | None:
    """The figure's learning curves, or None where none were written (CSVs made before the
    learning curves were recorded)."""
    path = curves_path(results_dir, profile, figure)
    return tables.read_csv(path) if path.exists() else None


def figure_runs(
    figure: str,
    profile: Profile,
    grid: Sequence[tuple[dict, RunConfig]],
    results_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    device: str = "auto",
    train: bool = True,
    only: str | dict | None = None,
    wait: bool = True,
    stack: int | None = None,
) -> pd.DataFrame:
    """The figure's table, one row per grid point (status ``missing`` where no run exists).

    With ``train``, the runs ``only`` selects are trained first (finished ones are read).
    Either way every run of the grid that the store holds (trained here, earlier, or committed)
    is collected, and the CSV and learning-curve CSV are written from them (derived files: the
    same store writes the same bytes). Redrawing (``train=False``) needs no data set: a run's
    data is told by the fingerprint in its record. ``wait=False`` leaves runs that another
    worker holds to that worker. Training prints what it will cost first, then a line per
    finished run. ``stack`` runs train as one (default: :func:`~.sweep.default_stack`).
    """
    labels = [dict(label) for label, _ in grid]
    configs = [config for _, config in grid]
    parse_only(only, configs)  # a bad `only` is refused even when nothing is trained
    failed: dict[str, dict] = {}
    if train:
        chosen = select(configs, only)
        progress = SweepProgress(
            f"{figure} ({profile.name})",
            chosen,
            store_for(results_dir, data_dir, progress=False),
            device_name(resolve_device(device)),
            write=print,
        )
        print(progress.plan())
        try:
            trained = sweep(
                chosen,
                results_dir=results_dir,
                data_dir=data_dir,
                device=device,
                progress=False,
                wait=wait,
                on_epoch=progress.epoch_done,
                on_run=progress.run_done,
                stack=stack,
            )
        finally:
            progress.close()
            if progress.done:
                print()  # after the last run's line
        failed = {
            c.hash: r for c, r in zip(chosen, trained) if r is not None and r["status"] == "failed"
        }
        stored = lookup(configs, results_dir=results_dir, data_dir=data_dir)
    else:
        stored = stored_results(configs, results_dir)
    results = [result or failed.get(config.hash) for config, result in zip(configs, stored)]
    frame = tables.results_frame(results, figure, profile.name, labels, configs)
    if (
        any(result is not None for result in results)
        or csv_path(results_dir, profile, figure).exists()
    ):
        tables.write_csv(frame, csv_path(results_dir, profile, figure))
        tables.write_csv(
            tables.curves_frame(results, figure, profile.name, labels),
            curves_path(results_dir, profile, figure),
        )
    return (
        tables.read_csv(csv_path(results_dir, profile, figure))
        if csv_path(results_dir, profile, figure).exists()
        else frame
    )


def stored_results(
    configs: Sequence[RunConfig], results_dir: str | os.PathLike
) -> list[dict | None]:
    """Each config's finished result in the store, found without the data set: among a run's
    records on several data sets (a run directory is named by config and data), the data that
    most of the grid's runs were trained on (CIFAR-10 as committed) is taken."""
    runs = Path(results_dir) / "runs"
    found: dict[str, dict[str | None, dict]] = {}
    for config in configs:
        for path in sorted(runs.glob(f"{config.name}-*/{RESULT}")):
            try:
                result = read_result(path)
            except (ValueError, OSError) as error:
                log.warning("ignoring unreadable result %s (%s)", path, error)
                continue
            if result.get("hash") == config.hash:
                result["run_dir"] = str(path.parent)
                found.setdefault(config.hash, {})[result.get("data_fingerprint")] = result
    counts = Counter(data for by_data in found.values() for data in by_data)
    if not counts:
        return [None] * len(configs)
    data = counts.most_common(1)[0][0]
    return [found.get(config.hash, {}).get(data) for config in configs]
