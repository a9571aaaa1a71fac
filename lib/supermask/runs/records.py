"""The files a run leaves in its directory, each with one writer and one reader.

``config.json`` (what the run is), ``model.pt`` (the final state) and ``result.json`` (what it
measured), and the timing statistics read from records. The store, ImageNet training, export,
``status`` and the offload archive all go through these functions, so each format is defined here
and nowhere else; ``checkpoint.pt`` (the state after the latest finished epoch, while the run is
unfinished) is the training loop's, in :mod:`supermask.training.checkpoint`.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..files import atomic_torch_save, atomic_write_json, check_digest, file_digest

if TYPE_CHECKING:
    from ..config import RunConfig

__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "MODEL",
    "RESULT",
    "STATUSES",
    "check_record",
    "median_epoch_seconds",
    "model_digest",
    "parse_config",
    "parse_result",
    "read_config",
    "read_model",
    "read_record",
    "read_result",
    "recorded_devices",
    "seconds_per_epoch",
    "sittings_device",
    "typical_seconds_per_epoch",
    "write_config",
    "write_model",
    "write_result",
]

CONFIG, CHECKPOINT, MODEL, RESULT = "config.json", "checkpoint.pt", "model.pt", "result.json"
# The states a stored record may be in; a failed run is reported, never stored.
STATUSES = ("finished", "diverged")
_NUMBERS = (
    "test_acc",
    "train_acc",
    "kept",
    "total",
    "kept_fraction",
    "epochs_run",
    "wall_s",
    "eval_s",
    "prepare_s",
    "resumed_from_epoch",
)
_DIGESTS = ("model_sha256", "mask_sha256")


def write_config(path: Path, config: RunConfig) -> None:
    atomic_write_json({"hash": config.hash, "config": config.to_dict()}, path)


def parse_config(record: object) -> RunConfig:
    """The RunConfig of a parsed ``config.json``; ``ValueError`` (or ``KeyError``,
    ``TypeError``) when it is not one, or its recorded hash is not its config's."""
    from ..config import RunConfig

    config = RunConfig.from_dict(record["config"])
    if record.get("hash") != config.hash:
        raise ValueError(
            f"it records hash {record.get('hash')} for a config that hashes to {config.hash}"
        )
    return config


def read_config(path: Path) -> RunConfig:
    """A run's ``config.json``; raises as :func:`parse_config`, or ``OSError``."""
    return parse_config(json.loads(Path(path).read_text()))


def write_result(path: Path, result: dict) -> None:
    atomic_write_json(result, path)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_result(record: object) -> dict:
    """A parsed ``result.json``, checked as every reader relies on it; ``ValueError`` naming the
    first field that is not what it claims: not a run result (``[]``, ``null``, a bare hash), a
    status that is not one of :data:`STATUSES`, a ``config`` that does not hash to its
    ``hash``, a number that is not one, sittings or epoch times of another shape."""
    from ..config import RunConfig

    if not isinstance(record, dict) or "status" not in record:
        raise ValueError("it is not a run result")
    if record["status"] not in STATUSES:
        raise ValueError(f"status {record['status']!r} is not one of {', '.join(STATUSES)}")
    if not isinstance(record.get("hash"), str) or not isinstance(record.get("config"), dict):
        raise ValueError("it records no run hash and config")
    try:
        config = RunConfig.from_dict(record["config"])
    except (ValueError, TypeError) as error:
        raise ValueError(f"its config is not a run config ({error})") from None
    if config.hash != record["hash"]:
        raise ValueError(f"its config hashes to {config.hash}, not to its hash {record['hash']}")
    for name in _NUMBERS:
        if record.get(name) is not None and not _number(record[name]):
            raise ValueError(f"{name} not a number")
    epoch_s = record.get("epoch_s")
    if epoch_s is not None and (
        not isinstance(epoch_s, list) or not all(s is None or _number(s) for s in epoch_s)
    ):
        raise ValueError("epoch_s is not a list of seconds")
    sittings = record.get("sittings")
    if sittings is not None and (
        not isinstance(sittings, list)
        or not all(
            isinstance(s, dict)
            and isinstance(s.get("from_epoch"), int)
            and not isinstance(s.get("from_epoch"), bool)
            and s["from_epoch"] >= 0
            and isinstance(s.get("device", 0), (str, type(None)))
            and "device" in s
            for s in sittings
        )
    ):
        raise ValueError("sittings are not a list of {from_epoch, device}")
    for name in _DIGESTS:
        value = record.get(name)
        if value is not None and not (isinstance(value, str) and len(value) == 64):
            raise ValueError(f"{name} is not a SHA-256 digest")
    return record


def read_result(path: Path) -> dict:
    """A run's ``result.json``; ``ValueError`` or ``OSError`` when it is not a readable result
    (truncated, not a result, a directory, missing)."""
    return parse_result(json.loads(Path(path).read_text()))


def check_record(name: str, config: RunConfig, result: dict) -> None:
    """``ValueError`` unless the run directory ``name``, its config and its result belong
    together: the folder is named by the config's hash (and the short data fingerprint the
    result records, where it records one), and the result records that hash."""
    if result.get("hash") != config.hash:
        raise ValueError(
            f"{name}: result.json belongs to run {result.get('hash')}, config.json to {config.hash}"
        )
    if name != config.name and not name.startswith(f"{config.name}-"):
        raise ValueError(f"{name}: its config hashes to {config.hash}, not to this folder")
    data = name[len(config.name) + 1 :]
    fingerprint = result.get("data_fingerprint")
    if (
        data
        and fingerprint is not None
        and (not isinstance(fingerprint, str) or not fingerprint.startswith(data))
    ):
        raise ValueError(
            f"{name}: its result was trained on data {fingerprint!r}, not on the "
            f"data {data} its folder names"
        )


def read_record(run_dir: Path, error: type[Exception] = ValueError) -> tuple[RunConfig, dict]:
    """(config, result) of a run directory, checked to belong together (:func:`check_record`);
    ``error`` with one line naming the directory when a file is missing or either is unreadable,
    so that each command raises its own kind of error with the same words."""
    try:
        config = read_config(run_dir / CONFIG)
        result = read_result(run_dir / RESULT)
        check_record(run_dir.name, config, result)
    except FileNotFoundError as missing:
        raise error(
            f"{run_dir} holds no finished run ({Path(missing.filename).name} is missing)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as damaged:
        raise error(f"{run_dir}: unreadable run record ({damaged})") from None
    return config, result


def write_model(path: Path, model: nn.Module) -> str:
    """Save the model's state dict; its SHA-256, which the run's ``result.json`` records."""
    atomic_torch_save(model.state_dict(), path)
    return file_digest(path)


def model_digest(result: dict | None) -> str | None:
    """The SHA-256 of ``model.pt`` that a result records; None for records from before."""
    return None if result is None else result.get("model_sha256")


def read_model(path: Path, result: dict | None = None) -> dict:
    """The state dict a finished run saved, checked against the digest its ``result`` records
    (``DigestError``, a ``ValueError``, when it is another file; ``OSError`` when missing;
    ``ValueError`` when it is not a state dict; another error when damaged)."""
    check_digest(path, model_digest(result), "model.pt")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"{path} is not a state dict (a dict of tensors)")
    return state


def seconds_per_epoch(wall_s, epochs):
    """An epoch's mean time (scalars or pandas columns alike): a record's or a checkpoint's
    ``wall_s`` over the epochs it covers. Wall time includes the per-epoch evaluation and any
    time the worker was stopped (SIGSTOP) while it trained."""
    return wall_s / epochs


def _timed_epochs(record: dict) -> list[float]:
    """The epochs a result or checkpoint timed (none in records from before epochs were)."""
    return [s for s in record.get("epoch_s") or [] if isinstance(s, (int, float))]


def median_epoch_seconds(record: dict) -> float | None:
    """A finished run's typical epoch: the median of its timed epochs, so the epochs its worker
    spent stopped (SIGSTOP, while the suite ran) do not count as the run's speed; None for
    records from before epochs were timed."""
    timed = _timed_epochs(record)
    return statistics.median(timed) if timed else None


RECENT_EPOCHS = 5


def _epochs_timed_on(record: dict, device: str) -> tuple[list[float], bool]:
    """The timed epochs of ``record`` that ran on ``device``, and whether all of its epochs
    did (a run resumed on another machine trained some epochs on each)."""
    sittings = record.get("sittings") or [{"from_epoch": 0, "device": record.get("device")}]
    epoch_s = record.get("epoch_s") or []
    ends = [s["from_epoch"] for s in sittings[1:]] + [len(epoch_s)]
    timed = [
        s
        for sitting, end in zip(sittings, ends)
        if sitting["device"] == device
        for s in epoch_s[sitting["from_epoch"] : end]
        if isinstance(s, (int, float))
    ]
    return timed, all(sitting["device"] == device for sitting in sittings)


def typical_seconds_per_epoch(record: dict, device: str | None = None) -> float | None:
    """What an epoch of this run takes now: the lower median of its latest timed epochs (a
    worker stopped for a while inflates one epoch, not the estimate; of two epochs, the
    shorter), else its mean (records from before epochs were timed); None without a time.
    With ``device`` (a device name), only the epochs trained on it count; None if none did.
    ``record``: a result or a checkpoint."""
    if device is None:
        timed, everywhere = _timed_epochs(record), True
    else:
        timed, everywhere = _epochs_timed_on(record, device)
    if timed:
        return statistics.median_low(timed[-RECENT_EPOCHS:])
    if not everywhere:
        return None
    wall_s = record.get("wall_s")
    epochs = record.get("epochs_run", record.get("epoch"))
    if isinstance(wall_s, (int, float)) and isinstance(epochs, int) and epochs > 0:
        return seconds_per_epoch(wall_s, epochs)
    return None


def sittings_device(sittings: list[dict], epochs: int) -> str | None:
    """A record's ``device``: the one device every sitting ran on, else each device with the
    epochs it trained, e.g. ``cpu: A (epochs 1-12); cpu: B (epochs 13-20)``, where a device
    not recorded reads ``device not recorded``; None without sittings."""
    spans: list[list] = []  # [device, first epoch, last epoch], consecutive sittings merged
    ends = [s["from_epoch"] for s in sittings[1:]] + [epochs]
    for sitting, end in zip(sittings, ends):
        if end <= sitting["from_epoch"]:
            continue
        if spans and spans[-1][0] == sitting["device"]:
            spans[-1][2] = end
        else:
            spans.append([sitting["device"], sitting["from_epoch"] + 1, end])
    if len(spans) == 1 and spans[0][0] is not None:
        return spans[0][0]
    return (
        "; ".join(
            f"{device or 'device not recorded'} (epochs {first}-{last})"
            for device, first, last in spans
        )
        or None
    )


_SPAN = r"(.+?) \(epochs \d+-\d+\)(?:; |$)"


def recorded_devices(device: str) -> list[str | None]:
    """The devices a record's ``device`` (see :func:`sittings_device`) names, in order; None
    for epochs whose device was not recorded."""
    if not re.fullmatch(f"(?:{_SPAN})+", device):  # one device, whose name may hold anything
        return [device]
    return [None if name == "device not recorded" else name for name in re.findall(_SPAN, device)]
