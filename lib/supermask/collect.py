"""Finished runs -> one tidy table per figure, with the provenance of every row."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .store import atomic_write_bytes

__all__ = ["COLUMNS", "read_csv", "results_frame", "write_csv"]

_CONFIG_COLUMNS = ["dataset", "model", "method", "k", "init", "width", "seed", "epochs",
                   "train_subset", "test_subset", "optimizer", "lr", "batch_size", "eval_samples",
                   "prune", "rerandomize_every"]
_RESULT_COLUMNS = ["status", "test_acc", "train_acc", "kept", "total", "kept_fraction",
                   "trainable_values", "epochs_run", "wall_s", "prepare_s", "device", "git_commit",
                   "finished_at", "hash"]
# Measured by some methods only (Zhou et al.; PaB's sign flips): empty elsewhere.
_METHOD_COLUMNS = ["test_acc_deterministic", "expected_kept_fraction"]
COLUMNS = ["figure", "profile", *_CONFIG_COLUMNS, *_RESULT_COLUMNS, *_METHOD_COLUMNS,
           "flips_per_epoch"]


def results_frame(results: list[dict], figure: str, profile: str) -> pd.DataFrame:
    """One row per run: config fields, measurements (accuracies as fractions), provenance."""
    rows = []
    for result in results:
        row = {"figure": figure, "profile": profile}
        row.update({key: result["config"].get(key) for key in _CONFIG_COLUMNS})
        row.update({key: result.get(key) for key in _RESULT_COLUMNS + _METHOD_COLUMNS})
        flips = [epoch["flips"] for epoch in result.get("history", []) if "flips" in epoch]
        row["flips_per_epoch"] = sum(flips) / len(flips) if flips else None
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    path = Path(path)
    atomic_write_bytes(frame.to_csv(index=False).encode(), path)
    return path


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the notebook with train=True first")
    return pd.read_csv(path)
