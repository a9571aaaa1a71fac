"""Export a found subnetwork as a plain PyTorch model.

The exported file holds the state dict of the *unmasked* architecture (``build_model(model,
width)``, or the same network written anywhere else) with every mask multiplied into its weight;
a removed bias becomes zeros and a non-affine batch norm gets scale 1 and shift 0, which is what
it computed. Only tensors and plain Python values are stored, so the file loads with
``torch.load(path, weights_only=True)`` without this package. Zhou et al.'s sampled mask is
exported as its deterministic mask (keep-probability > 0.5). Without ``model.pt`` the network
is rebuilt from the run's seed and its committed ``mask.npz``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..config import RunConfig
from ..files import DigestError, atomic_torch_save, check_real_dir
from ..masks import kept_counts, masked_layers, sampled_masks
from ..models import DATASET_OF, NUM_CLASSES, build_model
from .records import CONFIG, MODEL, RESULT, read_model, read_record
from .subnetwork import MASK, MaskError, rebuild

__all__ = ["EXPORT_FORMAT", "ExportError", "export_run", "plain_state_dict"]

EXPORT_FORMAT = "supermask-export/1"


class ExportError(ValueError):
    """The run directory cannot be exported (missing, unfinished or damaged)."""


@torch.no_grad()
def plain_state_dict(masked: nn.Module, plain: nn.Module) -> dict[str, torch.Tensor]:
    """``masked``'s function as a state dict for ``plain``, its unmasked architecture."""
    folded = {}
    with sampled_masks(masked, False):
        for name, layer, _ in masked_layers(masked):
            folded[f"{name}.weight" if name else "weight"] = layer.weight.detach().clone()
    state = {}
    for key, value in masked.state_dict().items():
        if ".parametrizations." not in key:
            state[key] = value.detach().clone()
    state.update(folded)
    out = {}
    for key, reference in plain.state_dict().items():
        if key in state:
            if state[key].shape != reference.shape:
                raise ExportError(
                    f"{key}: shape {tuple(state[key].shape)} does not fit the plain "
                    f"architecture's {tuple(reference.shape)}"
                )
            out[key] = state.pop(key).contiguous()
        elif key.endswith(".bias"):  # a bias removed by masking, or a non-affine batch norm
            out[key] = torch.zeros_like(reference)
        elif key.endswith(".weight") and _is_batchnorm(plain, key):
            out[key] = torch.ones_like(reference)
        else:
            raise ExportError(f"{key} of the plain architecture has no value in the run")
    if state:
        raise ExportError(f"values the plain architecture has no place for: {', '.join(state)}")
    return out


def _is_batchnorm(model: nn.Module, key: str) -> bool:
    module = model.get_submodule(key.rsplit(".", 1)[0])
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def _read_run(run_dir: Path) -> tuple[RunConfig, dict, dict | None]:
    """(config, result, model.pt's state); None for the state when model.pt is absent but the
    run's committed mask is there."""
    try:
        check_real_dir(run_dir, "run directory")
    except DigestError as error:
        raise ExportError(str(error)) from None
    if not run_dir.is_dir() or not (run_dir / CONFIG).is_file():
        raise ExportError(
            f"{run_dir} is not a run directory (one with a config.json, "
            "results/runs/<model>-<method>-<hash>-<data>)"
        )
    config, result = read_record(run_dir, ExportError)
    if result.get("status") != "finished":
        raise ExportError(f"{run_dir}: the run {result.get('status')}; there is nothing to export")
    try:
        weights = read_model(run_dir / MODEL, result)
    except DigestError as error:
        raise ExportError(f"{error}; it is not exported as this run") from None
    except FileNotFoundError:
        if (run_dir / MASK).is_file():
            return config, result, None
        raise ExportError(
            f"{run_dir} has no model.pt and no mask.npz: its record (result.json) came without "
            "the trained model or its mask, as run records committed before masks were do. To "
            "re-create them, move result.json out of the run directory and run the same config "
            "again (the figure notebook, or `python -m supermask train` with the fields of "
            "config.json): it trains from scratch with the same seed and writes both"
        ) from None
    except Exception as error:  # truncated or corrupted
        raise ExportError(f"{run_dir}/model.pt is unreadable ({error})") from None
    return config, result, weights


def _check_target(run_dir: Path, out: Path, force: bool) -> None:
    """Refuse a target that would destroy something: a file already there (unless ``force``),
    anything inside the run store, a directory, or a place this user cannot write."""
    if out.is_symlink():
        raise ExportError(
            f"{out} is a symbolic link (to {os.readlink(out)}); give a plain file "
            "name, so that no link is replaced"
        )
    target = out.resolve()
    runs = run_dir.resolve().parent
    if target == runs or runs in target.parents:
        raise ExportError(
            f"{out} lies inside the run store {runs}: export writes outside it, "
            "never over a run's own files"
        )
    if target.is_dir():
        raise ExportError(f"{out} is a directory; give a file name, e.g. {out}/subnetwork.pt")
    if target.exists() and not target.is_file():
        raise ExportError(
            f"{out} is not a regular file (a device, a FIFO or a socket); give "
            "the name of a file to write"
        )
    store = next(
        (
            p
            for p in target.parents
            if (p / CONFIG).is_file()
            or (p / RESULT).is_file()
            or (p.name == "runs" and _holds_runs(p))
        ),
        None,
    )
    if store is not None:
        raise ExportError(
            f"{out} lies inside a run store ({store}): export writes outside "
            "every store, never among runs' own files"
        )
    if target.exists() and not force:
        raise ExportError(f"{out} already exists; pass --force to replace it")
    parent = next(p for p in target.parents if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{out} cannot be written ({parent} is not a writable directory)")


def _holds_runs(folder: Path) -> bool:
    """Whether ``folder`` holds a run directory (one with a config.json)."""
    try:
        return any((child / CONFIG).is_file() for child in folder.iterdir())
    except OSError:
        return False


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike, force: bool = False) -> dict:
    """Write the run's subnetwork to ``out``; returns what was written, without the weights.
    An existing ``out`` is replaced only with ``force``; nothing inside the run store is ever
    written."""
    from ..training.loop import build

    config, result, weights = _read_run(Path(run_dir))  # first: is there anything to export?
    _check_target(Path(run_dir), Path(out), force)
    if weights is None:
        try:
            masked = rebuild(run_dir, config, result)
        except MaskError as error:
            raise ExportError(str(error)) from None
    else:
        masked = build(config)
        try:
            masked.load_state_dict(weights)
        except RuntimeError as error:
            raise ExportError(f"{run_dir}/model.pt does not fit its config ({error})") from None
    counts = kept_counts(masked)  # Zhou et al.: of the deterministic mask
    plain = build_model(config.model, width=config.width)
    exported = {
        "format": EXPORT_FORMAT,
        "architecture": {
            "model": config.model,
            "width": config.width,
            "num_classes": NUM_CLASSES[DATASET_OF[config.model]],
        },
        "config": config.to_dict(),
        "test_acc": result.get("test_acc_deterministic", result.get("test_acc")),
        "kept": sum(kept for kept, _ in counts.values()),
        "total": sum(total for _, total in counts.values()),
    }
    atomic_torch_save({**exported, "state_dict": plain_state_dict(masked, plain)}, out)
    return exported
