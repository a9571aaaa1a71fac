"""Shared figure styling: accuracy curves with seed bands, dense baselines, the profile in the title."""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib import ticker

from .collect import METHOD_NAMES, run_label

__all__ = ["DISTRIBUTION_LABELS", "METHOD_NAMES", "accuracy_curves", "budget_curves",
           "cost_scatter", "grouped_bars", "learning_curves", "math_names", "run_label",
           "save_figure"]

DISTRIBUTION_LABELS = {
    "kaiming_normal": "Kaiming normal $N_k$",
    "signed_constant": "signed Kaiming constant $U_k$",
    "scaled_kaiming_normal": "scaled $N_k$",
    "scaled_signed_constant": "scaled $U_k$",
    "xavier_normal": "Xavier normal $N_x$",
    "signed_xavier_constant": "signed Xavier constant $U_x$",
    "kaiming_uniform": "Kaiming uniform",
}
_BASELINE_STYLE = {"sgd": ("--", "dense learned (SGD)"), "adam": (":", "dense learned (Adam)")}


def accuracy_curves(
    runs: pd.DataFrame,
    x: str,
    hue: str,
    panel: str,
    title: str,
    xlabel: str,
    baselines: pd.DataFrame | None = None,
    hue_labels: dict[str, str] | None = None,
    x_percent: bool = False,
) -> plt.Figure:
    """One panel per value of ``panel``; test accuracy (%) against ``x``, one line per ``hue``.

    Lines are the mean over seeds with a +-1 std band; diverged or failed runs are drawn as red
    crosses on the x axis; ``baselines`` (dense runs) become horizontal lines, one per optimiser.
    Runs of status ``missing`` are not drawn; a panel with no finished run says it was not run.
    """
    sns.set_theme(style="whitegrid", context="notebook")
    panels = list(dict.fromkeys(runs[panel]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False,
                             sharey=True)
    palette = dict(zip(dict.fromkeys(runs[hue]), sns.color_palette("colorblind")))
    scale = 100 if x_percent else 1
    noted = False  # a "runs not run yet" note sits at the bottom of some panel
    span = runs[x].dropna() * scale  # the grid's whole x range, however few runs are finished
    margin = 0.05 * (span.max() - span.min())
    for ax, name in zip(axes[0], panels):
        here = runs[runs[panel] == name]
        finished = here[here["status"] == "finished"]
        for value, group in finished.groupby(hue, sort=False):
            stats = group.groupby(x)["test_acc"].agg(["mean", "std", "count"]).reset_index()
            xs = stats[x] * scale
            label = (hue_labels or {}).get(value, value)
            ax.plot(xs, stats["mean"] * 100, marker="o", color=palette[value], label=label)
            if (stats["count"] > 1).any():
                std = stats["std"].fillna(0) * 100
                ax.fill_between(xs, (stats["mean"] * 100) - std, (stats["mean"] * 100) + std,
                                color=palette[value], alpha=0.2)
        diverged = here[~here["status"].isin(["finished", "missing"])]
        if len(diverged):
            ax.scatter(diverged[x] * scale, [0] * len(diverged), marker="x", color="red",
                       clip_on=False, zorder=5, label="diverged")
        if baselines is not None and len(baselines):
            dense = baselines[(baselines[panel] == name) & (baselines["status"] == "finished")]
            for optimizer, group in dense.groupby("optimizer"):
                style, label = _BASELINE_STYLE.get(optimizer, ("-.", f"dense ({optimizer})"))
                ax.axhline(group["test_acc"].mean() * 100, color="black", linestyle=style,
                           linewidth=1.2, label=label)
        if margin > 0:
            ax.set_xlim(span.min() - margin, span.max() + margin)
        if finished.empty and len(diverged) == 0:
            ax.text(0.5, 0.5, "not run yet", transform=ax.transAxes, ha="center", va="center",
                    color="grey", fontsize=12)
        else:
            missing = (here["status"] == "missing").sum()
            if missing:
                ax.text(0.98, 0.02, f"{missing} of {len(here)} runs not run yet",
                        transform=ax.transAxes, ha="right", va="bottom", color="grey", fontsize=8)
                noted = True
        ax.set_title(str(name))
        ax.set_xlabel(xlabel)
    if noted:  # room below the lowest point, so the note never covers a run (the y axis is shared)
        low, high = axes[0][0].get_ylim()
        axes[0][0].set_ylim(low - 0.1 * (high - low), high)
    return _finish(fig, axes[0], title, columns=4)


def _finish(fig: plt.Figure, axes, title: str, columns: int) -> plt.Figure:
    """Accuracy axis label, one legend of every panel's labels below the panels, the title."""
    axes[0].set_ylabel("test accuracy (%)")
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:  # none while no run of the figure has finished
        fig.legend(handles.values(), handles.keys(), loc="lower center",
                   ncol=min(columns, len(handles)), frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08 + 0.05 * ((max(len(handles), 1) - 1) // columns), 1, 1))
    return fig


def learning_curves(curves: pd.DataFrame | None, title: str, label=run_label,
                    panel: str | None = None, label_order: list[str] | None = None
                    ) -> plt.Figure | None:
    """Test accuracy (%) after every epoch, one line per run (named by ``label(row)``), one
    panel per ``panel`` value; None when no run measured a learning curve. Runs of any method
    but edge-popup (dense, Zhou et al., PaB, IteRand) are dashed, so a baseline stays apart from
    an edge-popup run of a similar colour. ``label_order`` fixes which label gets which colour
    (default: the order they appear in)."""
    if curves is None:
        return None
    curves = curves.dropna(subset=["test_acc"])
    if curves.empty:
        return None
    hue = "_label"
    curves = curves.assign(_label=[label(row) for _, row in curves.iterrows()])
    sns.set_theme(style="whitegrid", context="notebook")
    panels = list(dict.fromkeys(curves[panel])) if panel else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(max(9.0, 5.0 * len(panels)), 4.2),
                             squeeze=False, sharey=True)
    names = list(dict.fromkeys([*(label_order or []), *curves[hue]]))
    colours = (sns.color_palette("colorblind", len(names)) if len(names) <= 10
               else sns.color_palette("tab20", 20) + sns.color_palette("husl", len(names)))
    palette = dict(zip(names, colours))  # a colour of its own for every run, up to 20 and beyond
    for ax, name in zip(axes[0], panels):
        here = curves if name is None else curves[curves[panel] == name]
        for (value, _), run in here.groupby([hue, "hash"], sort=False):
            run = run.sort_values("epoch")
            ax.plot(run["epoch"], run["test_acc"] * 100, color=palette[value],
                    linestyle="-" if run["method"].iloc[0] == "edge-popup" else "--",
                    marker="o" if len(run) < 10 else None, markersize=3, label=value)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        if name is not None:
            ax.set_title(str(name))
    return _finish(fig, axes[0], title, columns=3)


def math_names(text: str) -> str:
    """Distribution names such as U_k and N_x typeset as in the paper ($U_k$, $N_x$)."""
    return re.sub(r"\b([NU]_[kx])\b", r"$\1$", text)


def budget_curves(runs: pd.DataFrame, title: str, series: str = "configuration",
                  reference: int | None = None) -> plt.Figure:
    """Final test accuracy (%) against the schedule length (log axis), one line per ``series``
    value, the ``reference`` schedule marked; schedules not run yet are simply absent."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(8.0, 4.8))
    done = runs[runs["status"] == "finished"]
    names = list(dict.fromkeys(runs[series]))
    palette = dict(zip(names, sns.color_palette("colorblind", len(names))))
    markers = dict(zip(names, "osD^v<>"))
    for i, name in enumerate(names):
        line = done[done[series] == name].groupby("epochs")["test_acc"].mean().sort_index()
        if len(line):
            # Dodged sideways by a few percent (a log axis) so equal accuracies stay visible.
            dodge = 1.0 + 0.025 * (i - (len(names) - 1) / 2)
            ax.plot(line.index * dodge, line.values * 100, color=palette[name],
                    marker=markers[name], markersize=7,
                    linestyle="-" if name.startswith("edge-popup") else "--",
                    label=math_names(name))
    epochs = sorted(runs["epochs"].unique())
    ax.set_xscale("log")
    ax.set_xticks(epochs)
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(_plain_number))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    if reference is not None:
        ax.axvline(reference, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("epochs of training (cosine schedule over the run; points dodged sideways)")
    if done.empty:
        ax.text(0.5, 0.5, "not run yet", transform=ax.transAxes, ha="center", va="center",
                color="grey")
    return _finish(fig, [ax], title, columns=3)


def cost_scatter(runs: pd.DataFrame, hue: str, costs: dict[str, str], title: str,
                 marker_by: str = "k") -> plt.Figure:
    """Test accuracy (%) against each cost column of ``costs`` ({column: axis label}), one panel
    per cost, one colour per ``hue``, one marker shape per ``marker_by`` value (no text labels,
    which pile up where points crowd); points of one ``hue`` are joined in ``marker_by`` order."""
    sns.set_theme(style="whitegrid", context="notebook")
    finished = runs[runs["status"] == "finished"]
    fig, axes = plt.subplots(1, len(costs), figsize=(5.6 * len(costs), 4.4), squeeze=False,
                             sharey=True)
    palette = dict(zip(dict.fromkeys(runs[hue]), sns.color_palette("colorblind")))
    values = sorted(finished[marker_by].dropna().unique())
    markers = dict(zip(values, ["o", "s", "^", "D", "v", "P", "X", "*"]))
    for ax, (column, label) in zip(axes[0], costs.items()):
        for value, group in finished.groupby(hue, sort=False):
            group = group.sort_values(marker_by)
            ax.plot(group[column], group["test_acc"] * 100, color=palette[value], alpha=0.4,
                    linewidth=1, zorder=1)
            for shape_value, point in group.groupby(marker_by):
                ax.scatter(point[column], point["test_acc"] * 100, color=palette[value],
                           marker=markers[shape_value], s=55, edgecolor="white", linewidth=0.6,
                           zorder=2)
        _cost_axis(ax, finished[column])
        ax.set_xlabel(label)
    axes[0][0].set_ylabel("test accuracy (%)")
    colour_handles = [plt.Line2D([], [], color=palette[v], marker="o", linestyle="", label=v)
                      for v in dict.fromkeys(finished[hue])]
    shape_handles = [plt.Line2D([], [], color="grey", marker=m, linestyle="",
                                label=f"{marker_by}={v:g}") for v, m in markers.items()]
    handles = colour_handles + shape_handles
    fig.legend(handles=handles, loc="lower center", ncol=min(5, len(handles)), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(title, wrap=True)
    fig.tight_layout(rect=(0, 0.08 + 0.05 * ((len(handles) - 1) // 5), 1, 1))
    return fig


def grouped_bars(table: pd.DataFrame, group: list[str], series: str, value: str, title: str,
                 ylabel: str, group_label=lambda key: "\n".join(map(str, key))) -> plt.Figure:
    """One group of bars per distinct ``group`` key, one bar per ``series`` value in each (a
    missing combination leaves a gap): e.g. published against measured accuracy per model."""
    sns.set_theme(style="whitegrid", context="notebook")
    keys = list(dict.fromkeys(zip(*(table[c] for c in group))))
    sources = list(dict.fromkeys(table[series]))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(keys)), 4))
    width = 0.8 / len(sources)
    for j, source in enumerate(sources):
        rows = table[table[series] == source].set_index(group)[value]
        values = [rows.get(key, float("nan")) for key in keys]
        ax.bar([i + j * width for i in range(len(keys))], values, width=width, label=source)
    ax.set_xticks([i + width * (len(sources) - 1) / 2 for i in range(len(keys))],
                  [group_label(key) for key in keys], fontsize=7)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title)
    return fig


def _cost_axis(ax: plt.Axes, values: pd.Series) -> None:
    """Plain numbers on the axis; a log scale only where the costs span more than tenfold."""
    if values.min() > 0 and values.max() / values.min() > 10:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(_plain_number))


def _plain_number(value: float, _position=None) -> str:
    """1,500 / 2M / 0.5: readable cost ticks without scientific notation."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:g}"


# No software version or creation date in the files: the same CSV redraws byte-identical
# figures, so `make plots` on a clean checkout leaves git clean.
_REPRODUCIBLE = {".png": {"Software": None}, ".pdf": {"Creator": None, "Producer": None,
                                                      "CreationDate": None}}


def save_figure(fig: plt.Figure, path_without_suffix: str | os.PathLike) -> list[Path]:
    """Write ``<path>.png`` and ``<path>.pdf``, the same bytes for the same figure."""
    base = Path(path_without_suffix)
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_suffix(".png"), base.with_suffix(".pdf")]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata=_REPRODUCIBLE[path.suffix])
    return paths
