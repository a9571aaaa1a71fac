"""Finished runs -> one tidy table per figure, with the provenance of every row."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from ..config import FIELDS, IMPLICIT_VALUES, INT_FIELDS, RunConfig
from ..files import atomic_write_bytes
from ..names import model_name, plain_text, run_name
from .records import median_epoch_seconds, seconds_per_epoch

__all__ = [
    "CHANCE_TOLERANCE",
    "COLUMNS",
    "CURVE_COLUMNS",
    "ESCAPE_MARGIN",
    "MILESTONES",
    "chance_from_curves",
    "curves_frame",
    "did_not_leave_chance",
    "epoch_seconds",
    "escape_epochs",
    "with_chance",
    "milestone_epochs",
    "milestones",
    "read_csv",
    "results_frame",
    "row_config",
    "write_csv",
]

# Every RunConfig field is a column: a field added to RunConfig reaches every CSV.
_CONFIG_COLUMNS = list(FIELDS)
_RESULT_COLUMNS = [
    "status",
    "test_acc",
    "train_acc",
    "kept",
    "total",
    "kept_fraction",
    "trainable_values",
    "epochs_run",
    "wall_s",
    "eval_s",
    "prepare_s",
    "device",
    "git_commit",
    "finished_at",
    "hash",
    "data",
    "data_source",
    "error",
]
# Measured by some methods only (Zhou et al.; PaB's sign flips): empty elsewhere.
_METHOD_COLUMNS = ["test_acc_deterministic", "expected_kept_fraction"]
COLUMNS = [
    "figure",
    "profile",
    *_CONFIG_COLUMNS,
    *_RESULT_COLUMNS,
    *_METHOD_COLUMNS,
    "flips_per_epoch",
    "median_epoch_s",
    "did_not_leave_chance",
]

# A run "did not leave chance" when its epoch's mean training loss stayed within this of ln 10
# (a uniform guess over CIFAR-10's ten classes) for more than half its epochs: its accuracy
# says the search never started, not how good a subnetwork it found.
CHANCE_TOLERANCE = 0.01


def did_not_leave_chance(losses) -> bool | None:
    """Whether a run's per-epoch training losses sat within CHANCE_TOLERANCE of ln 10 for more
    than half its epochs; None without a recorded loss."""
    losses = [loss for loss in losses if loss is not None and not pd.isna(loss)]
    if not losses:
        return None
    near = sum(abs(loss - math.log(10)) <= CHANCE_TOLERANCE for loss in losses)
    return near > len(losses) / 2


def chance_from_curves(curves: pd.DataFrame) -> pd.Series:
    """Per run (``hash``), :func:`did_not_leave_chance` of its learning curve."""
    return curves.groupby("hash", sort=False)["loss"].agg(lambda v: did_not_leave_chance(v))


def with_chance(runs: pd.DataFrame, curves: pd.DataFrame | None) -> pd.DataFrame:
    """``runs`` with the did_not_leave_chance column, from ``curves`` where a CSV written before
    the column existed lacks it."""
    if "did_not_leave_chance" in runs or curves is None or curves.empty:
        return runs
    return runs.assign(did_not_leave_chance=runs["hash"].map(chance_from_curves(curves)))


def epoch_seconds(frame: pd.DataFrame) -> pd.Series:
    """Each run's seconds per epoch: its median epoch (``median_epoch_s``), so the time its worker
    was stopped does not count as speed; wall time over epochs where the record did not time its
    epochs or the CSV is older than that column."""
    mean = seconds_per_epoch(frame["wall_s"], frame["epochs_run"])
    return frame["median_epoch_s"].fillna(mean) if "median_epoch_s" in frame else mean


CURVE_COLUMNS = [
    "figure",
    "profile",
    *_CONFIG_COLUMNS,
    "hash",
    "data",
    "epoch",
    "loss",
    "train_acc",
    "test_acc",
]


def _config_values(config: dict) -> dict:
    """The config columns of a recorded run; a field recorded before it existed gets the value
    every run had then (``precision``: fp32)."""
    return {key: config.get(key, IMPLICIT_VALUES.get(key)) for key in _CONFIG_COLUMNS}


def row_config(row: pd.Series) -> RunConfig:
    """The config a CSV row records, a run not trained yet included: empty cells read back as
    None, counts as ints, a column the CSV predates as the value every run had then. Raises
    ValueError unless the config hashes to the row's run."""
    fields = {}
    for name in _CONFIG_COLUMNS:
        value = row.get(name, IMPLICIT_VALUES.get(name))
        if isinstance(value, float) and math.isnan(value):
            value = None
        elif name in INT_FIELDS and value is not None:
            value = int(value)
        fields[name] = value.item() if hasattr(value, "item") else value
    config = RunConfig.from_dict(fields)
    if config.hash != row.get("hash"):
        raise ValueError(f"a CSV row of run {row.get('hash')} reads back as run {config.hash}")
    return config


def _short(fingerprint: str | None) -> str | None:
    return fingerprint[:12] if fingerprint else None


def results_frame(
    results: list[dict | None],
    figure: str,
    profile: str,
    labels: list[dict] | None = None,
    configs: list | None = None,
) -> pd.DataFrame:
    """One row per run: label columns, config fields, measurements (accuracies as fractions),
    provenance. A ``None`` result (a run of ``configs`` not in the store) becomes a row with
    status ``missing``, so a figure shows what it lacks."""
    labels = labels if labels is not None else [{} for _ in results]
    label_columns = list(dict.fromkeys(key for label in labels for key in label))
    rows = []
    for i, (result, label) in enumerate(zip(results, labels, strict=True)):
        row = {"figure": figure, "profile": profile, **label}
        if result is None:
            config = configs[i]
            row.update({key: getattr(config, key) for key in _CONFIG_COLUMNS})
            row.update({"status": "missing", "hash": config.hash})
            rows.append(row)
            continue
        row.update(_config_values(result["config"]))
        row.update({key: result.get(key) for key in _RESULT_COLUMNS + _METHOD_COLUMNS})
        row["data"] = _short(result.get("data_fingerprint"))
        flips = [epoch["flips"] for epoch in result.get("history", []) if "flips" in epoch]
        row["flips_per_epoch"] = sum(flips) / len(flips) if flips else None
        row["median_epoch_s"] = median_epoch_seconds(result)
        row["did_not_leave_chance"] = did_not_leave_chance(
            epoch.get("loss") for epoch in result.get("history", [])
        )
        rows.append(row)
    columns = ["figure", "profile", *label_columns, *COLUMNS[2:]]
    return pd.DataFrame(rows, columns=columns)


def curves_frame(
    results: list[dict | None], figure: str, profile: str, labels: list[dict] | None = None
) -> pd.DataFrame:
    """Learning curves in long format: one row per run and epoch (test accuracy where the run
    measured it after every epoch)."""
    labels = labels if labels is not None else [{} for _ in results]
    label_columns = list(dict.fromkeys(key for label in labels for key in label))
    rows = []
    for result, label in zip(results, labels, strict=True):
        if result is None:
            continue
        base = {
            "figure": figure,
            "profile": profile,
            **label,
            **_config_values(result["config"]),
            "hash": result.get("hash"),
            "data": _short(result.get("data_fingerprint")),
        }
        for epoch in result.get("history", []):
            rows.append(
                {
                    **base,
                    **{key: epoch.get(key) for key in ("epoch", "loss", "train_acc", "test_acc")},
                }
            )
    columns = ["figure", "profile", *label_columns, *CURVE_COLUMNS[2:]]
    return pd.DataFrame(rows, columns=columns)


# The epochs a learning curve is tabulated at (those a profile's runs reach): what a shorter run
# of the same protocol would have shown.
MILESTONES = (2, 10, 25, 50, 100)


def milestone_epochs(last_epoch: int) -> list[int]:
    """The milestones a run of ``last_epoch`` epochs reaches."""
    return [epoch for epoch in MILESTONES if epoch <= last_epoch]


def milestones(curves: pd.DataFrame, epochs=MILESTONES) -> pd.DataFrame:
    """Test accuracy (%) of each run after each of ``epochs``, one row per run (its seeds
    averaged), one column per epoch (empty where the run has not got there): what a shorter run
    of the same protocol shows. Rows are named as in the papers: the model, then the run
    ("dense (SGD)", "edge-popup U_k k=0.5"), never a dense run's unused distribution and k."""
    named = curves.assign(
        model=[model_name(model) for model in curves["model"]],
        run=[plain_text(run_name(row)) for row in curves.to_dict("records")],
    )
    at = named[named["epoch"].isin(epochs)]
    table = at.groupby(["model", "run", "epoch"], sort=False)["test_acc"].mean().unstack("epoch")
    table = table.reindex(columns=list(epochs))
    table.columns = [f"epoch {epoch}" for epoch in epochs]
    return (100 * table).round(1)


# A run has left chance once its epoch's mean training loss is this far below ln 10 (the loss of
# a uniform guess over CIFAR-10's ten classes); fixed before the deep low-k runs were trained.
ESCAPE_MARGIN = 0.05


def escape_epochs(curves: pd.DataFrame) -> pd.Series:
    """Per run (``hash``), the first epoch whose training loss is ESCAPE_MARGIN below ln 10, or
    <NA> for a run that never got there."""
    below = curves[curves["loss"] < math.log(10) - ESCAPE_MARGIN]
    first = below.groupby("hash")["epoch"].min()
    return first.reindex(list(dict.fromkeys(curves["hash"]))).astype("Int64")


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    path = Path(path)
    atomic_write_bytes(frame.to_csv(index=False).encode(), path)
    return path


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the notebook with train=True first")
    return pd.read_csv(path)
