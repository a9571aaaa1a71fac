"""A found subnetwork as its mask: ``mask.npz`` beside a finished run's ``result.json``.

The frozen weights of a run are a function of its seed (rebuilt bit-identically by
:func:`supermask.training.loop.build`), so for edge-popup and Zhou et al. (its deterministic
mask, score > 0) on the ConvNets the mask is the whole subnetwork, one bit per weight: a few
hundred KB that a clone can carry where ``model.pt`` (scores in fp32) cannot.

Format (``numpy.savez_compressed``): for every masked layer an entry named by the parameter
path of its weight (``features.0.weight``) holding ``numpy.packbits`` of the flattened mask, in
the weight's own (row-major) order; for PaB, whose training flips the signs of the kept
weights, a second entry ``signs/<parameter path>`` with the packed sign bits (1: negative);
``shapes``, the JSON text of each layer's weight shape; and ``hash``, the run's config hash.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import RunConfig
from ..files import DigestError, atomic_write_bytes, check_digest
from ..masks import FixedMask, WeightMask, masked_layers
from ..registry import METHODS
from .records import MODEL, read_model

__all__ = [
    "MASK",
    "MaskError",
    "Subnetwork",
    "apply_subnetwork",
    "mask_shapes",
    "not_rebuildable",
    "read_mask",
    "rebuild",
    "subnetwork_of",
    "write_mask",
    "write_run_mask",
]

MASK = "mask.npz"
SIGNS = "signs/"
SHAPES, HASH = "shapes", "hash"
# Methods whose training changes the signs of the kept weights (their magnitudes stay).
SIGNED_METHODS = tuple(name for name, method in METHODS.items() if method.signed_mask)


class MaskError(ValueError):
    """A mask file that does not belong to its run (another run, another width, damaged)."""


@dataclass(frozen=True)
class Subnetwork:
    """A run's masks (bool arrays of each weight's shape, keyed by parameter path) and, for
    PaB, the sign bits of its weights (True: negative)."""

    hash: str
    masks: dict[str, np.ndarray]
    signs: dict[str, np.ndarray]

    @property
    def kept(self) -> int:
        return sum(int(m.sum()) for m in self.masks.values())

    @property
    def total(self) -> int:
        return sum(m.size for m in self.masks.values())


def _parameter_path(name: str) -> str:
    return f"{name}.weight" if name else "weight"


def mask_shapes(model: nn.Module) -> dict[str, list[int]]:
    """{parameter path: weight shape} of every masked layer of ``model``, in module order."""
    return {
        _parameter_path(name): list(layer.parametrizations.weight.original.shape)
        for name, layer, _ in masked_layers(model)
    }


@torch.no_grad()
def subnetwork_of(model: nn.Module, config: RunConfig) -> Subnetwork:
    """The subnetwork a trained ``model`` of ``config`` holds (Zhou et al.: its deterministic
    mask)."""
    masks, signs = {}, {}
    for name, layer, mask in masked_layers(model):
        path = _parameter_path(name)
        masks[path] = mask.mask().detach().cpu().bool().numpy()
        if config.method in SIGNED_METHODS:
            signs[path] = torch.signbit(layer.parametrizations.weight.original).cpu().numpy()
    return Subnetwork(config.hash, masks, signs)


def write_mask(path: str | Path, subnetwork: Subnetwork) -> Path:
    """Write ``subnetwork`` to ``path`` whole or not at all."""
    entries = {path_: np.packbits(mask.reshape(-1)) for path_, mask in subnetwork.masks.items()}
    entries |= {
        SIGNS + path_: np.packbits(sign.reshape(-1)) for path_, sign in subnetwork.signs.items()
    }
    shapes = {path_: list(mask.shape) for path_, mask in subnetwork.masks.items()}
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, **entries, **{SHAPES: np.array(json.dumps(shapes)), HASH: np.array(subnetwork.hash)}
    )
    atomic_write_bytes(buffer.getvalue(), path)
    return Path(path)


def write_run_mask(run_dir: str | Path, model: nn.Module, config: RunConfig) -> Path | None:
    """Write the mask of a trained ``model`` into its run directory; None for a method without
    masks (dense)."""
    if next(masked_layers(model), None) is None:
        return None
    return write_mask(Path(run_dir) / MASK, subnetwork_of(model, config))


def read_mask(
    path: str | Path,
    config: RunConfig,
    shapes: dict[str, list[int]],
    recorded_digest: str | None = None,
) -> Subnetwork:
    """The subnetwork in ``path``, checked against its run: the digest its result records
    (``mask_sha256``, None for records from before), its ``config`` (the hash) and the
    ``shapes`` of the run's masked layers (:func:`mask_shapes` of the rebuilt model). Raises
    :class:`MaskError` with one line when the file is another run's, another width's, a link,
    or damaged."""
    path = Path(path)
    try:
        check_digest(path, recorded_digest, "mask")
    except DigestError as error:
        raise MaskError(str(error)) from None
    except FileNotFoundError:
        pass  # named below
    try:
        with np.load(path, allow_pickle=False) as archive:
            entries = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise MaskError(f"{path} does not exist: the run has no committed mask") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as error:
        raise MaskError(
            f"{path} is unreadable (truncated or not a numpy .npz: "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from None
    except Exception as error:  # a damaged member: zlib.error, struct.error, ...
        raise MaskError(f"{path} is unreadable ({type(error).__name__}: {error})") from None
    for key in (HASH, SHAPES):
        if key not in entries:
            raise MaskError(f"{path} has no {key!r} entry: not a mask file")
    recorded = str(entries.pop(HASH))
    if recorded != config.hash:
        raise MaskError(f"{path} is the mask of run {recorded}, not of this run {config.hash}")
    try:
        stored = json.loads(str(entries.pop(SHAPES)))
    except ValueError as error:
        raise MaskError(f"{path}: its 'shapes' entry is not JSON ({error})") from None
    if stored != shapes:
        raise MaskError(
            f"{path} does not fit the run's layers: {_shape_difference(stored, shapes)}"
        )
    masks = {
        name: _unpack(path, name, entries.pop(name, None), shape) for name, shape in shapes.items()
    }
    signs = {}
    if config.method in SIGNED_METHODS:
        signs = {
            name: _unpack(path, SIGNS + name, entries.pop(SIGNS + name, None), shape)
            for name, shape in shapes.items()
        }
    if entries:
        raise MaskError(f"{path} holds entries its run has no layer for: {', '.join(entries)}")
    return Subnetwork(recorded, masks, signs)


def _shape_difference(stored: object, expected: dict[str, list[int]]) -> str:
    if not isinstance(stored, dict):
        return f"its shapes are {stored!r}, not a mapping of layers"
    for name, shape in expected.items():
        if name not in stored:
            return f"layer {name} is missing"
        if stored[name] != shape:
            return (
                f"layer {name} has shape {stored[name]} in the mask and {shape} in the run "
                "(another width or model?)"
            )
    return f"layers the run does not have: {', '.join(sorted(set(stored) - set(expected)))}"


def _unpack(path: Path, name: str, packed: np.ndarray | None, shape: list[int]) -> np.ndarray:
    n = math.prod(shape)
    if packed is None:
        raise MaskError(f"{path} has no entry for layer {name}")
    if packed.dtype != np.uint8 or packed.ndim != 1 or packed.size != (n + 7) // 8:
        raise MaskError(
            f"{path}: entry {name} holds {packed.size * 8} bits ({packed.dtype}), "
            f"where its weight of shape {shape} needs {n} bits in {(n + 7) // 8} "
            "bytes"
        )
    return np.unpackbits(packed, count=n).astype(bool).reshape(shape)


def not_rebuildable(config: RunConfig, model: nn.Module) -> str | None:
    """Why a ``model`` of ``config`` built from its seed plus its mask is not the trained
    subnetwork (state that training changed and the mask does not hold), or None when it is."""
    if config.method == "iterand":
        return "IteRand redraws pruned weights while it trains, so its weights are not its seed's"
    masked = {id(p) for _, _, mask in masked_layers(model) for p in mask.parameters()}
    if config.method in SIGNED_METHODS:  # the signs are in the mask
        masked |= {
            id(layer.parametrizations.weight.original) for _, layer, _ in masked_layers(model)
        }
    trained = [
        name for name, p in model.named_parameters() if p.requires_grad and id(p) not in masked
    ]
    if trained:
        return f"training also changes {_few(trained)}, which the mask does not hold"
    statistics = [name for name, _ in model.named_buffers() if "running_" in name]
    if statistics:
        return f"its batch norm's running statistics ({_few(statistics)}) come from training"
    return None


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


@torch.no_grad()
def apply_subnetwork(model: nn.Module, subnetwork: Subnetwork) -> nn.Module:
    """Give every masked layer of ``model`` the fixed mask of ``subnetwork`` (and PaB's signs);
    the layers compute ``weight * mask`` as the trained method's did."""
    for name, layer, _ in list(masked_layers(model)):
        path = _parameter_path(name)
        parametrizations = layer.parametrizations.weight
        original = parametrizations.original
        mask = torch.from_numpy(subnetwork.masks[path]).to(original.device)
        index = next(i for i, p in enumerate(parametrizations) if isinstance(p, WeightMask))
        parametrizations[index] = FixedMask(mask)
        if path in subnetwork.signs:
            negative = torch.from_numpy(subnetwork.signs[path]).to(original.device)
            original.copy_(torch.where(negative, -original.abs(), original.abs()))
    return model


def rebuild(run_dir: str | Path, config: RunConfig, result: dict | None = None) -> nn.Module:
    """The run's subnetwork as a model: built from its seed with the committed mask applied, or
    from ``model.pt`` with the committed mask applied where the seed alone does not give the
    trained state, each checked against the digest ``result`` records. :class:`MaskError` when
    the mask does not fit or is not its record's, or when neither is enough."""
    from ..training.loop import build

    run_dir = Path(run_dir)
    model = build(config)
    subnetwork = read_mask(
        run_dir / MASK,
        config,
        mask_shapes(model),
        None if result is None else result.get("mask_sha256"),
    )
    why = not_rebuildable(config, model)
    if why is not None:
        if not (run_dir / MODEL).is_file():
            raise MaskError(
                f"{run_dir.name}: the mask alone does not give this run's network "
                f"({why}) and model.pt is absent"
            )
        try:
            model.load_state_dict(read_model(run_dir / MODEL, result))
        except DigestError as error:
            raise MaskError(str(error)) from None
    return apply_subnetwork(model, subnetwork)
