"""Looking inside found subnetworks without training them (``notebooks/explore.ipynb``): the runs
of the store chosen by their fields, their committed masks, and plots of what each keeps, per
layer and per neuron, and of how two subnetworks of the same random network overlap."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from ..config import FIELDS, Profile, RunConfig
from ..masks import masked_layers
from ..names import METHOD_NAMES, model_name, run_name
from ..runs.grid import parse_only
from ..runs.records import CONFIG, RESULT, read_config, read_result
from ..runs.subnetwork import MASK, MaskError, Subnetwork, mask_shapes, read_mask
from ..training.loop import build

__all__ = [
    "chosen_runs",
    "config_of",
    "first_layer_filters",
    "frozen_weights_equal",
    "in_degrees",
    "kept_fractions",
    "load_masks",
    "overlaps",
    "plot_degrees",
    "plot_filters",
    "plot_kept",
    "plot_overlaps",
]


def _of_profile(config: RunConfig, profile: Profile) -> bool:
    return (
        config.epochs == profile.method_epochs(config.method)
        and config.train_subset == profile.train_subset
        and config.test_subset == profile.test_subset
        and config.precision == profile.precision
    )


def chosen_runs(
    results_dir: str | os.PathLike, profile: Profile, select: str | dict | None
) -> pd.DataFrame:
    """The finished masked runs of ``profile`` in the store whose fields ``select`` names
    (JSON like ``{"model": ["conv4"], "k": [0.5]}``), one row each with ``has_mask``; reads
    only. ``ValueError`` for a field RunConfig does not have."""
    chosen = parse_only(select, where="select") or {}
    rows = []
    for run_dir in sorted((Path(results_dir) / "runs").glob(f"*/{RESULT}")):
        run_dir = run_dir.parent
        try:
            config = read_config(run_dir / CONFIG)
            result = read_result(run_dir / RESULT)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if (
            result.get("status") != "finished"
            or config.method == "dense"
            or not _of_profile(config, profile)
            or any(getattr(config, name) not in values for name, values in chosen.items())
        ):
            continue
        rows.append(
            {
                **config.to_dict(),
                "config": config,
                "hash": config.hash,
                "run_dir": str(run_dir),
                "test_acc": result.get("test_acc"),
                "has_mask": (run_dir / MASK).is_file(),
                "result": result,
                "name": run_name(config.to_dict()),
            }
        )
    columns = [*FIELDS, "config", "hash", "run_dir", "test_acc", "has_mask", "result", "name"]
    runs = pd.DataFrame(rows, columns=columns)
    runs["name"] = _distinct_names(runs)
    return runs.sort_values(
        ["model", "method", "init", "k", "seed"], na_position="last"
    ).reset_index(drop=True)


def _distinct_names(runs: pd.DataFrame) -> pd.Series:
    """Each run's legend name, with its model and seed added where the chosen runs hold more
    than one (pairs, tables and plots are keyed by name), and its hash where that is not enough."""
    names = runs["name"].copy()
    for field, label in (("model", model_name), ("seed", "seed {}".format)):
        if runs[field].nunique() > 1:
            names = names + ", " + runs[field].map(label)
    clash = names.duplicated(keep=False)
    return names.where(~clash, names + " (" + runs["hash"] + ")")


def config_of(row: dict) -> RunConfig:
    """The RunConfig of a row of :func:`chosen_runs` (its own, not one of its NaN-filled
    columns)."""
    return row["config"]


def load_masks(runs: pd.DataFrame) -> tuple[dict[str, Subnetwork], dict[str, str]]:
    """({hash: subnetwork} of the runs with a mask that fits, {run: why not} of the others)."""
    masks, missing = {}, {}
    for row in runs.to_dict("records"):
        if not row["has_mask"]:
            missing[row["name"]] = "no mask.npz (trained before runs wrote their masks)"
            continue
        config = config_of(row)
        try:
            masks[row["hash"]] = read_mask(
                Path(row["run_dir"]) / MASK, config, mask_shapes(build(config))
            )
        except MaskError as error:
            missing[row["name"]] = str(error)
    return masks, missing


def _layer(path: str) -> str:
    return path.removesuffix(".weight")


def kept_fractions(runs: pd.DataFrame, masks: dict[str, Subnetwork]) -> pd.DataFrame:
    """One row per run and masked layer: the fraction of its weights the mask keeps."""
    rows = [
        {
            "name": row["name"],
            "hash": row["hash"],
            "layer": _layer(path),
            "kept": float(mask.mean()),
        }
        for row in runs.to_dict("records")
        if row["hash"] in masks
        for path, mask in masks[row["hash"]].masks.items()
    ]
    return pd.DataFrame(rows, columns=["name", "hash", "layer", "kept"])


def in_degrees(runs: pd.DataFrame, masks: dict[str, Subnetwork]) -> pd.DataFrame:
    """One row per run, layer and unit: ``in`` is the fraction of an output neuron's incoming
    weights kept; ``out`` the fraction of an input channel's (or input neuron's) outgoing
    weights kept, 0 for a unit the subnetwork disconnects from the next layer."""
    rows = []
    for row in runs.to_dict("records"):
        if row["hash"] not in masks:
            continue
        for path, mask in masks[row["hash"]].masks.items():
            per_output = mask.reshape(mask.shape[0], -1).mean(1)
            per_input = mask.swapaxes(0, 1).reshape(mask.shape[1], -1).mean(1)
            rows += [
                {
                    "name": row["name"],
                    "layer": _layer(path),
                    "side": "in",
                    "unit": i,
                    "kept": float(v),
                }
                for i, v in enumerate(per_output)
            ]
            rows += [
                {
                    "name": row["name"],
                    "layer": _layer(path),
                    "side": "out",
                    "unit": i,
                    "kept": float(v),
                }
                for i, v in enumerate(per_input)
            ]
    return pd.DataFrame(rows, columns=["name", "layer", "side", "unit", "kept"])


@torch.no_grad()
def frozen_weights_equal(a: RunConfig, b: RunConfig) -> bool:
    """Whether two runs mask the same random network: their masked weights, rebuilt from
    their seeds, are identical."""
    if (a.model, a.width) != (b.model, b.width):
        return False
    wa, wb = (
        dict(
            (name, layer.parametrizations.weight.original)
            for name, layer, _ in masked_layers(build(c))
        )
        for c in (a, b)
    )
    return wa.keys() == wb.keys() and all(torch.equal(wa[n], wb[n]) for n in wa)


def overlaps(runs: pd.DataFrame, masks: dict[str, Subnetwork]) -> tuple[pd.DataFrame, list]:
    """Per pair of runs with a mask and the same frozen weights, per layer: Jaccard index and
    its chance level (two independent masks of the same kept fractions), and the fraction of
    the smaller subnetwork's weights the larger keeps too (nested: 1; chance: the larger's
    kept fraction). Also the pairs of the same architecture whose weights differ."""
    rows, different = [], []
    with_mask = [r for r in runs.to_dict("records") if r["hash"] in masks]
    configs = {r["hash"]: config_of(r) for r in with_mask}
    for a, b in itertools.combinations(with_mask, 2):
        if (a["model"], a["width"]) != (b["model"], b["width"]):
            continue
        if not frozen_weights_equal(configs[a["hash"]], configs[b["hash"]]):
            different.append((a["name"], b["name"]))
            continue
        for path, ma in masks[a["hash"]].masks.items():
            mb = masks[b["hash"]].masks[path]
            p, q = ma.mean(), mb.mean()
            small, large = (ma, mb) if p <= q else (mb, ma)
            both = np.logical_and(ma, mb).sum()
            rows.append(
                {
                    "pair": f"{a['name']} / {b['name']}",
                    "kind": _kind(a, b),
                    "a": a["name"],
                    "b": b["name"],
                    "layer": _layer(path),
                    "jaccard": both / np.logical_or(ma, mb).sum(),
                    "jaccard_chance": p * q / (p + q - p * q),
                    "nested": np.logical_and(small, large).sum() / small.sum(),
                    "nested_chance": max(p, q),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "pair",
            "kind",
            "a",
            "b",
            "layer",
            "jaccard",
            "jaccard_chance",
            "nested",
            "nested_chance",
        ],
    ), different


def _kind(a: dict, b: dict) -> str:
    """What a pair compares: two subnetworks of one method, or two methods."""
    first, second = (METHOD_NAMES.get(r.get("method"), r.get("method")) for r in (a, b))
    return f"{first}: two subnetworks" if first == second else f"{first} against {second}"


def first_layer_filters(config: RunConfig, subnetwork: Subnetwork) -> np.ndarray:
    """The first layer's kept filters, (out, 3, 3, 3) as (out, 3, 3, RGB) in [0, 1]: the frozen
    weight times the mask, scaled by the largest magnitude, 0.5 for a removed weight."""
    model = build(config)
    name, layer, _ = next(masked_layers(model))
    path = f"{name}.weight" if name else "weight"
    weight = layer.parametrizations.weight.original.detach().numpy()
    if path in subnetwork.signs:
        weight = np.where(subnetwork.signs[path], -np.abs(weight), np.abs(weight))
    kept = weight * subnetwork.masks[path]
    scale = np.abs(kept).max() or 1.0
    return (0.5 + 0.5 * kept / scale).transpose(0, 2, 3, 1)


def _panels(layers: list[str], height: float = 3.0):
    columns = min(len(layers), 4)  # plot_degrees names the runs in each row's first panel
    rows = -(-len(layers) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, height * rows), squeeze=False)
    for ax in axes.flat[len(layers) :]:
        fig.delaxes(ax)  # not hidden: an empty panel would still carry a 0-1 scale
    return fig, list(axes.flat)[: len(layers)]


def plot_kept(kept: pd.DataFrame, title: str) -> plt.Figure:
    """Kept fraction (%) of each layer, one line per run."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * kept["layer"].nunique()), 4.0))
    sns.pointplot(
        kept.assign(kept=kept["kept"] * 100),
        x="layer",
        y="kept",
        hue="name",
        ax=ax,
        markersize=4,
        linewidth=1.2,
    )
    ax.set_ylabel("weights kept (%)")
    ax.set_xlabel("layer (input to output)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title, fontsize="medium")
    return fig


def plot_degrees(degrees: pd.DataFrame, side: str, title: str) -> plt.Figure:
    """One panel per layer: the distribution over units of the fraction of their incoming
    (``side="in"``) or outgoing (``"out"``) weights kept, one box per run."""
    sns.set_theme(style="whitegrid", context="notebook")
    here = degrees[degrees["side"] == side]
    layers = list(dict.fromkeys(here["layer"]))
    fig, axes = _panels(layers, height=3.2)
    for ax, layer in zip(axes, layers):
        data = here[here["layer"] == layer]
        sns.boxplot(
            data.assign(kept=data["kept"] * 100),
            x="kept",
            y="name",
            ax=ax,
            fliersize=1.5,
            linewidth=0.8,
        )
        disconnected = data.groupby("name", sort=False)["kept"].apply(lambda v: (v == 0).mean())
        ax.set_title(
            f"{layer}"
            + (
                f" (disconnected: up to {100 * disconnected.max():.0f}%)"
                if side == "out" and disconnected.max() > 0
                else ""
            ),
            fontsize="small",
        )
        ax.set_xlabel("kept (%)")
        ax.set_ylabel("")
        if axes.index(ax) % 4:  # the runs' names at the start of each row of panels
            ax.set_yticklabels([])
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    return fig


def plot_overlaps(pairs: pd.DataFrame, measure: str, title: str) -> plt.Figure:
    """``measure`` (``jaccard`` or ``nested``) per layer for each pair of runs, as a multiple of
    its chance level (two independent masks of the same kept fractions: 1, white), one heat map
    per kind of comparison (two subnetworks of one method; two methods), a row per pair: it
    stays readable however many runs a grid holds."""
    sns.set_theme(style="white", context="notebook")
    pairs = pairs.assign(ratio=pairs[measure] / pairs[f"{measure}_chance"])
    kinds = list(dict.fromkeys(pairs["kind"]))
    layers = list(dict.fromkeys(pairs["layer"]))
    rows = [pairs.loc[pairs["kind"] == kind, "pair"].nunique() for kind in kinds]
    longest = max(len(pair) for pair in pairs["pair"])
    fig, axes = plt.subplots(
        len(kinds),
        1,
        figsize=(
            0.075 * longest + 0.9 * len(layers) + 2.0,
            0.32 * sum(rows) + 1.1 * len(kinds) + 0.6,
        ),
        squeeze=False,
        gridspec_kw={"height_ratios": rows},
        layout="constrained",
    )
    top = max(2.0, float(pairs["ratio"].max()))
    label = {
        "jaccard": "Jaccard index / chance",
        "nested": "smaller inside larger / chance",
    }[measure]
    for ax, kind in zip(axes[:, 0], kinds):
        here = pairs[pairs["kind"] == kind]
        table = here.pivot(index="pair", columns="layer", values="ratio").reindex(
            index=list(dict.fromkeys(here["pair"])), columns=layers
        )
        sns.heatmap(
            table,
            ax=ax,
            cmap="vlag",
            center=1.0,
            vmin=0.0,
            vmax=top,
            annot=True,
            fmt=".1f",
            annot_kws={"fontsize": "x-small"},
            linewidths=0.5,
            cbar_kws={"label": f"{label} (1: chance)"},
        )
        ax.set_title(kind, fontsize="medium")
        ax.set_ylabel("")
        ax.set_xlabel("layer (input to output)" if ax is axes[-1, 0] else "")
        ax.tick_params(axis="both", labelsize="small")
    fig.suptitle(title, fontsize="medium")
    return fig


def plot_filters(filters: dict[str, np.ndarray], title: str) -> plt.Figure:
    """Each run's first-layer filters as 3x3 RGB images (grey: removed or zero)."""
    count = max(len(f) for f in filters.values())
    columns = min(count, 16)
    rows = -(-count // columns)
    fig, axes = plt.subplots(
        rows * len(filters),
        columns,
        figsize=(0.55 * columns, 0.62 * rows * len(filters) + 0.6),
        squeeze=False,
    )
    for block, (name, images) in enumerate(filters.items()):
        for i in range(rows * columns):
            ax = axes[block * rows + i // columns, i % columns]
            ax.axis("off")
            if i < len(images):
                ax.imshow(images[i], interpolation="nearest")
        axes[block * rows, 0].set_title(name, fontsize="small", loc="left")
    fig.suptitle(title, fontsize="medium")
    return fig
