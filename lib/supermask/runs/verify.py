"""Check a committed subnetwork without training: rebuild the run's network from its config and
seed, apply its ``mask.npz``, and measure its test accuracy again in the run's precision.

Training is deterministic, so on the machine kind that trained the run the recomputed accuracy
is the recorded one, image for image; another kind may round bf16 differently and move a few
predictions. The record keeps the accuracy, not each prediction, so the images counted as
differing are the difference of the correct counts (a lower bound on the predictions that
changed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import RunConfig
from ..data.cifar10 import ImageTensors, balanced_subset
from ..masks import kept_counts
from ..provenance import device_name
from ..training.device import autocast, check_precision, set_matmul_precision
from ..training.evaluate import accuracy
from .records import read_record
from .subnetwork import MaskError, rebuild

__all__ = ["Verification", "read_run", "recorded_accuracy", "verify_run"]


@dataclass(frozen=True)
class Verification:
    """One run's check: accuracies as fractions, counts in images."""

    run: str
    images: int
    recorded: float
    recomputed: float
    kept_recorded: int
    kept_mask: int
    trained_on: str
    device: str

    @property
    def differ(self) -> int:
        """Test images whose prediction differs, at least: the change in the correct count."""
        return abs(round(self.recorded * self.images) - round(self.recomputed * self.images))

    def passes(self, tolerance: int = 0) -> bool:
        return self.differ <= tolerance and self.kept_mask == self.kept_recorded


def read_run(run_dir: str | Path) -> tuple[RunConfig, dict]:
    """(config, result) of a finished run directory; :class:`MaskError` with one line if it is
    not one."""
    run_dir = Path(run_dir)
    config, result = read_record(run_dir, MaskError)
    if result.get("status") != "finished":
        raise MaskError(f"{run_dir}: the run {result.get('status')}; it has no subnetwork")
    return config, result


def recorded_accuracy(result: dict) -> float:
    """The accuracy the mask alone reproduces: Zhou et al.'s deterministic mask, else the
    run's test accuracy."""
    return result.get("test_acc_deterministic", result["test_acc"])


def test_set(config: RunConfig, test_data: ImageTensors) -> ImageTensors:
    """The test images the run was evaluated on (its class-balanced subset, if it had one)."""
    if config.test_subset is None:
        return test_data
    return test_data.subset(balanced_subset(test_data.labels, config.test_subset))


def verify_run(
    run_dir: str | Path,
    test_data: ImageTensors,
    device: torch.device,
    data_fingerprint: str | None = None,
) -> Verification:
    """Rebuild the run's subnetwork from its committed mask and measure it on ``test_data``
    (the whole CIFAR-10 test split); :class:`MaskError` when the mask does not fit the run or
    ``data_fingerprint`` is not the data the run was trained on."""
    run_dir = Path(run_dir)
    config, result = read_run(run_dir)
    trained_on = result.get("data_fingerprint")
    if data_fingerprint is not None and trained_on not in (None, data_fingerprint):
        raise MaskError(
            f"{run_dir.name} was trained on data {trained_on[:12]}, not on the data "
            f"given ({data_fingerprint[:12]})"
        )
    model = rebuild(run_dir, config, result)
    check_precision(config.precision, device)
    set_matmul_precision(device)
    model = model.to(device=device, memory_format=torch.channels_last)  # as it trained
    test = test_set(config, test_data).to(device)
    with autocast(device, config.precision):
        recomputed = accuracy(model, test, device)
    counts = kept_counts(model)
    masked = [name for name in counts if name in result.get("kept_per_layer", {})]
    return Verification(
        run=run_dir.name,
        images=len(test),
        recorded=recorded_accuracy(result),
        recomputed=recomputed,
        kept_recorded=sum(result["kept_per_layer"][name][0] for name in masked),
        kept_mask=sum(counts[name][0] for name in masked),
        trained_on=result.get("device") or "device not recorded",
        device=device_name(device),
    )
