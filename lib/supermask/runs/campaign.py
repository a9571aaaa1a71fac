"""A campaign: figure sub-grids trained in order across sessions (``campaigns/*.txt``), and the
table of what its finished runs show, so the README quotes the results rather than a hand copy."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..config import PROFILES, Profile
from ..names import model_name, percent, run_name
from ..provenance import REPO_DIR, device_label
from ..registry import FIGURES
from .grid import csv_path, curves_path, parse_only
from .tables import epoch_seconds, milestone_epochs

__all__ = [
    "CampaignRun",
    "campaign_profile",
    "campaign_table",
    "figure_notebooks",
    "figure_targets",
    "read_campaign",
    "resolve_profile",
    "to_markdown",
]


def figure_notebooks() -> dict[str, Path]:
    """Each figure's make target and its notebook (:data:`supermask.registry.FIGURES`)."""
    return {f.target: REPO_DIR / "notebooks" / f"{f.notebook}.ipynb" for f in FIGURES.values()}


def figure_targets() -> list[str]:
    """The figures' make targets, the names a campaign line may start with."""
    return list(FIGURES)


@dataclass(frozen=True)
class CampaignRun:
    """One line of a campaign file: a figure and the part of its grid to train (``only``)."""

    figure: str
    only: dict[str, list]


def _lines(path: Path) -> list[tuple[int, str, str]]:
    """(line number, first word, the rest) of each line that is not blank or a comment."""
    if not path.is_file():
        raise ValueError(f"campaign file {path} does not exist")
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise ValueError(
            f"campaign file {path} is not text: expected lines '<figure> <only JSON>'"
        ) from None
    found = []
    for number, line in enumerate(lines, 1):
        if line.strip() and not line.lstrip().startswith("#"):
            word, rest = (line.split(None, 1) + [""])[:2]
            found.append((number, word, rest))
    return found


def campaign_profile(path: str | os.PathLike) -> str | None:
    """The profile a campaign file names in its ``profile <name>`` line (None without one):
    the profile its runs are trained and looked up at."""
    path = Path(path)
    named = [(number, text.strip()) for number, word, text in _lines(path) if word == "profile"]
    if len(named) > 1:
        raise ValueError(f"{path}:{named[1][0]}: a second profile line; a campaign has one")
    for number, name in named:
        if name not in PROFILES:
            raise ValueError(
                f"{path}:{number}: unknown profile {name!r}; valid: {', '.join(PROFILES)}"
            )
        return name
    return None


def resolve_profile(path: str | os.PathLike, asked: str | None) -> str:
    """The profile to run or tabulate a campaign at: the file's own (``asked``, if given, must
    agree), else ``asked``, else short (as ``make``'s PROFILE), so that the worker and the
    table of one file always read the same runs."""
    named = campaign_profile(path)
    if named is not None and asked is not None and asked != named:
        raise ValueError(
            f"{path} is a campaign at profile {named}; --profile {asked} contradicts it "
            "(leave --profile out)"
        )
    return named or asked or "short"


def read_campaign(path: str | os.PathLike) -> list[CampaignRun]:
    """The lines ``<figure> <only JSON>`` of a campaign file, in order (``#`` starts a comment;
    a ``profile <name>`` line names the campaign's profile, :func:`campaign_profile`). A bad
    line raises ValueError naming the file, the line and what is valid."""
    path = Path(path)
    campaign_profile(path)
    figures = figure_targets()
    runs = []
    seen: dict[str, int] = {}
    for number, figure, text in _lines(path):
        if figure == "profile":
            continue
        where = f"{path}:{number}"
        if figure not in figures:
            raise ValueError(f"{where}: unknown figure {figure!r}; valid: {', '.join(figures)}")
        only = parse_only(
            text if text.strip() else None, where=f"{where}: the part after {figure!r}"
        )
        run = CampaignRun(figure, only or {})
        key = f"{figure} {json.dumps(run.only, sort_keys=True)}"
        if key in seen:
            raise ValueError(
                f"{where}: the same line as line {seen[key]} ({key}); a campaign names each part "
                f"of a figure once"
            )
        seen[key] = number
        runs.append(run)
    return runs


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.exists() else pd.DataFrame()


def _selected(frame: pd.DataFrame, only: dict[str, list]) -> pd.DataFrame:
    if frame.empty:
        return frame
    chosen = pd.Series(True, index=frame.index)
    for name, values in only.items():
        chosen &= frame[name].isin(values) if name in frame else False
    return frame[chosen]


def campaign_table(
    runs: list[CampaignRun], results_dir: str | os.PathLike, profile: Profile
) -> pd.DataFrame:
    """One row per run of the campaign, in its order, read from the figures' CSVs: final test
    accuracy (%), test accuracy at each milestone epoch that the campaign's longest run reaches
    (from the learning curves), wall time and device. Runs not finished yet are listed with their
    status and no numbers."""
    frames = [
        _selected(_read(csv_path(results_dir, profile, run.figure)), run.only) for run in runs
    ]
    # A campaign of 20-epoch runs at the 100-epoch profile (the seed spread) has no epoch 100.
    lengths_run = [
        int(e) for frame in frames if "epochs" in frame for e in frame["epochs"].dropna()
    ]
    epochs = milestone_epochs(max(lengths_run, default=profile.epochs))
    # A campaign over schedule lengths (the budget study) names each run's length.
    lengths = {profile.epochs} | {e for run in runs for e in run.only.get("epochs", [])}
    # ... and one over several models (a whole figure) names each run's model.
    models = {model for run in runs for model in run.only.get("model", [])}
    # ... and one over seeds (the seed spread) names each run's seed.
    seeds = {seed for run in runs for seed in run.only.get("seed", [])}

    def label(row) -> str:
        name = (f"{model_name(row['model'])} " if len(models) > 1 else "") + run_name(row)
        name += f", {row['epochs']} epochs" if len(lengths) > 1 else ""
        name += f", seed {row['seed']}" if len(seeds) > 1 else ""
        precision = row.get("precision")  # named where it is not the profile's
        return name + (
            f", {precision}"
            if isinstance(precision, str) and precision != profile.precision
            else ""
        )

    rows: list[dict[str, str]] = []
    for run, frame in zip(runs, frames, strict=True):
        curves = _read(curves_path(results_dir, profile, run.figure))
        if frame.empty:
            rows.append(
                {
                    "run": f"{len(rows) + 1}. {run.figure} {json.dumps(run.only)}",
                    "test acc.": "not run yet",
                }
            )
        frame = frame.assign(s_per_epoch=epoch_seconds(frame)) if len(frame) else frame
        for _, row in frame.iterrows():  # numbered as trained: "run 23 of 48"
            entry = {"run": f"{len(rows) + 1}. {label(row)}"}
            if row["status"] != "finished":
                entry["test acc."] = (
                    "not finished yet" if row["status"] == "missing" else str(row["status"])
                )
                rows.append(entry)
                continue
            curve = (
                curves[curves["hash"] == row["hash"]].set_index("epoch")["test_acc"]
                if not curves.empty
                else pd.Series(dtype=float)
            )
            entry["test acc."] = f"**{percent(row['test_acc'], unit='')}**"
            entry.update({f"epoch {e}": percent(curve.get(e), unit="") for e in epochs})
            entry["wall time"] = f"{row['wall_s'] / 3600:.2f} h ({row['s_per_epoch']:.0f} s/epoch)"
            entry["device"] = device_label(str(row["device"]))
            rows.append(entry)
    columns = ["run", "test acc.", *(f"epoch {e}" for e in epochs), "wall time", "device"]
    return pd.DataFrame(rows, columns=columns).astype(object).fillna("")


def to_markdown(table: pd.DataFrame) -> str:
    """The table as GitHub markdown, one line per row, no trailing newline."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)
