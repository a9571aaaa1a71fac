"""Where each figure stands: runs finished of its grid, and what training the rest costs.

The grids are the notebooks' own (:mod:`supermask.notebooks.grid`); a run counts as finished
when the store holds its record (:func:`supermask.runs.grid.stored_results`, no data set needed).
The cost is in CPU-hours of one thread, at the median speed of the store's runs timed on one
thread of a CPU, per model and precision (:func:`supermask.runs.speeds.one_thread_cpu_speeds`),
so that every machine computes the same table from the same store. A model never timed takes
its precision's median over the models timed, scaled by the GFLOP of its training step (marked
``~``).
"""

from __future__ import annotations

import math
import statistics
from functools import cache
from pathlib import Path

import pandas as pd

from .notebooks.grid import notebook_grid
from .registry import FIGURES
from .runs.campaign import figure_notebooks
from .runs.grid import stored_results
from .runs.speeds import one_thread_cpu_speeds, run_work
from .runs.store import RunStore

__all__ = ["PROFILE_ORDER", "figure_status", "status_markdown"]

PROFILE_ORDER = ("short", "paper")  # smoke exercises the pipeline: nothing to report


@cache
def _gflop(model: str) -> float:
    from .training.bench import training_gflop_per_image

    return training_gflop_per_image(model)


def figure_status(results_dir: str | Path, profiles=PROFILE_ORDER) -> pd.DataFrame:
    """One row per figure and profile: runs finished, runs in the grid, CPU-hours left (one
    thread) and whether that rests on a model never timed."""
    results_dir = Path(results_dir)
    speeds = one_thread_cpu_speeds(RunStore(results_dir))
    per_gflop = {  # a model never timed: its precision's median speed per GFLOP of a step
        precision: statistics.median(
            v / _gflop(m) for (m, p), v in speeds.items() if p == precision
        )
        for precision in {p for _, p in speeds}
    }
    rows = []
    for figure in figure_notebooks():
        for profile in profiles:
            try:
                grid = [config for _, config in notebook_grid(figure, profile, results_dir)]
            except ValueError:  # no CIFAR-10 grid (ImageNet), or not at this profile (budget)
                continue
            grid = list(dict.fromkeys(grid))
            stored = stored_results(grid, results_dir)
            left = [config for config, result in zip(grid, stored) if result is None]
            seconds, guessed = 0.0, False
            for config in left:
                precision = str(config.precision)
                speed = speeds.get((config.model, precision))
                if speed is None:
                    speed = per_gflop.get(precision, math.nan) * _gflop(config.model)
                    guessed = True
                seconds += speed * run_work(config)
            rows.append(
                {
                    "figure": figure,
                    "profile": profile,
                    "finished": len(grid) - len(left),
                    "runs": len(grid),
                    "cpu_hours_left": seconds / 3600,
                    "guessed": guessed,
                }
            )
    return pd.DataFrame(rows)


def status_markdown(results_dir: str | Path, figures_dir: str = "figures") -> str:
    """The status as a markdown table, one row per figure, a column pair per profile."""
    table = figure_status(results_dir)
    lines = [
        "| figure | "
        + " | ".join(f"{p}: runs finished | {p}: CPU-hours left" for p in PROFILE_ORDER)
        + " | plot (short) |",
        "|---|" + "---|---|" * len(PROFILE_ORDER) + "---|",
    ]
    for figure, rows in table.groupby("figure", sort=False):
        cells = []
        for profile in PROFILE_ORDER:
            row = rows[rows["profile"] == profile]
            if row.empty:
                cells += ["", ""]
                continue
            row = row.iloc[0]
            hours = row["cpu_hours_left"]
            cells += [
                f"{row['finished']} / {row['runs']}",
                "0"
                if row["finished"] == row["runs"]
                else f"{'~' if row['guessed'] else ''}{hours:,.0f}",
            ]
        plots = FIGURES[figure].plots
        plot = Path(figures_dir) / "short" / f"{plots[0]}.png" if plots else None
        link = (
            f"[{plot.name}]({plot.as_posix()})"
            if plot is not None and (Path(results_dir).parent / plot).exists()
            else ""
        )
        lines.append(f"| {figure} | " + " | ".join(cells) + f" | {link} |")
    totals = []
    for profile in PROFILE_ORDER:
        rows = table[table["profile"] == profile]
        guessed = "~" if (rows["guessed"] & (rows["finished"] < rows["runs"])).any() else ""
        totals += [
            f"{rows['finished'].sum()} / {rows['runs'].sum()}",
            f"{guessed}{rows['cpu_hours_left'].sum():,.0f}",
        ]
    lines.append("| **all** | " + " | ".join(f"**{cell}**" for cell in totals) + " |  |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m supermask.status", description=__doc__)
    parser.add_argument("--profile", default="short", choices=PROFILE_ORDER)
    parser.add_argument("--results", default="results", help="results directory (default: results)")
    args = parser.parse_args(argv)
    table = figure_status(args.results, profiles=(args.profile,))
    guessed = " (guessed: a model never timed here, at the others' speed)"
    for row in table.itertuples():
        left = row.runs - row.finished
        cost = f", about {row.cpu_hours_left:,.1f} CPU-hours of one thread" if left else ""
        print(
            f"{row.figure} ({args.profile}): {row.finished} of {row.runs} runs in the store, "
            f"{left} to train{cost}{guessed if left and row.guessed else ''}"
        )
    total = table["cpu_hours_left"].sum()
    print(
        f"all figures ({args.profile}): {int((table['runs'] - table['finished']).sum())} runs to "
        f"train, about {total:,.0f} CPU-hours of one thread"
        + (" (some guessed)" if table["guessed"].any() else "")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
