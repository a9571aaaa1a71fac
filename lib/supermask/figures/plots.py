"""The figure kinds every notebook draws: accuracy curves with seed bands, dense baselines,
learning curves, the budget plot, cost scatter, grouped bars; every look comes from
:mod:`.style`. :func:`figure_problems` finds overlapping text and series that share a look."""

from __future__ import annotations

import math
import os
import weakref
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker

from ..names import (
    DISTRIBUTION_NAMES,
    METHOD_NAMES,
    MODEL_NAMES,
    run_name,
    series_name,
    value_name,
)
from .style import run_styles, series_style

__all__ = [
    "accuracy_curves",
    "budget_curves",
    "cost_scatter",
    "figure_problems",
    "grouped_bars",
    "learning_curves",
    "loss_and_accuracy_curves",
    "reference_lines",
    "save_figure",
]

STRICT = "SUPERMASK_STRICT_FIGURES"  # set: save_figure refuses a figure with problems


def accuracy_curves(
    runs: pd.DataFrame,
    x: str,
    hue: str,
    panel: str,
    title: str,
    xlabel: str,
    baselines: pd.DataFrame | None = None,
    label=series_name,
    x_percent: bool = False,
    xticks=None,
    x_log: bool = False,
) -> plt.Figure:
    """One panel per value of ``panel``; test accuracy (%) against ``x``, one line per ``hue``
    value, named ``label(row)`` and styled by :mod:`.style` (a series' own look; shades of it
    where several ``hue`` values share a series, e.g. subnetwork sizes).

    Lines are the mean over seeds with a +-1 std band; a point with a run that did not leave
    chance (the CSV's did_not_leave_chance) has an open marker; diverged or failed runs are drawn
    as red crosses on the x axis; ``baselines`` (dense runs) become horizontal lines, one per
    optimiser. The accuracy axis spans the points and baselines, except points far below all
    the others (runs stuck near chance), which would squash the band where the series differ:
    those sit on the axis' bottom edge with their accuracy printed. Ticks mark ``xticks``, by
    default the grid's x values where it has few. ``x_log`` spaces x by ratio (base 2), for
    multipliers such as widths 0.25-2 whose small values would crowd on a linear axis. Runs of
    status ``missing`` are not drawn; a panel with no finished run says it was not run.
    """
    sns.set_theme(style="whitegrid", context="notebook")
    panels = list(dict.fromkeys(runs[panel]))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(max(7.0, 4.2 * len(panels)), 3.8), squeeze=False, sharey=True
    )
    first = runs.drop_duplicates(hue)
    looks = dict(zip(first[hue], run_styles(first.to_dict("records"), vary=hue)))
    names = {row[hue]: label(row) for row in first.to_dict("records")}
    scale = 100 if x_percent else 1
    finished = runs[runs["status"] == "finished"]
    dense = (
        baselines[baselines["status"] == "finished"]
        if baselines is not None
        else pd.DataFrame(columns=[panel, "optimizer", "test_acc"])
    )
    means = finished.groupby([panel, hue, x], sort=False)["test_acc"].mean() * 100
    levels = dense.groupby([panel, "optimizer"])["test_acc"].mean() * 100
    floor, limits = _accuracy_axis(pd.concat([means, levels]))
    noted = False  # a "runs not run yet" note sits at the bottom of some panel
    at_chance = False  # some point's runs did not leave chance (drawn open)
    below = False  # some point sits on the bottom edge, below the axis' range
    span = runs[x].dropna() * scale  # the grid's whole x range, however few runs are finished
    margin = 0.05 * (span.max() - span.min())
    for ax, name in zip(axes[0], panels):
        ax.set_gid(str(name))  # the panel's value, for reference_lines
        here = runs[runs[panel] == name]
        done = here[here["status"] == "finished"]
        edge: dict[float, int] = {}  # points on the bottom edge at each x, for stacking
        for value, group in done.groupby(hue, sort=False):
            stats = group.groupby(x)["test_acc"].agg(["mean", "std", "count"]).reset_index()
            xs = stats[x] * scale
            # The mean over seeds, and a band of one standard deviation where there are several.
            sns.lineplot(
                x=group[x] * scale,
                y=group["test_acc"] * 100,
                errorbar="sd",
                err_kws={"alpha": 0.2, "linewidth": 0},
                ax=ax,
                label=names[value],
                legend=False,
                markeredgecolor=looks[value].colour,  # as plt.plot draws markers, not seaborn's
                markeredgewidth=plt.rcParams["lines.markeredgewidth"],
                **looks[value].line(),
            )
            chance = np.zeros(len(stats), dtype=bool)
            if "did_not_leave_chance" in group:
                chance = (
                    group.assign(
                        _chance=group["did_not_leave_chance"]
                        .astype("boolean")
                        .fillna(False)
                        .astype(bool)
                    )
                    .groupby(x)["_chance"]
                    .any()
                    .reindex(stats[x])
                    .to_numpy()
                )
                if chance.any():
                    ax.plot(
                        xs[chance],
                        stats["mean"][chance] * 100,
                        linestyle="none",
                        marker=looks[value].marker,
                        markerfacecolor="white",
                        markeredgecolor=looks[value].colour,
                        zorder=4,
                    )
                    at_chance = True
            if floor is not None:
                for at, accuracy, stuck in zip(xs, stats["mean"] * 100, chance):
                    if accuracy < floor:
                        _on_bottom_edge(ax, at, accuracy, looks[value], edge.get(at, 0), stuck)
                        edge[at] = edge.get(at, 0) + 1
                        below = True
        diverged = here[~here["status"].isin(["finished", "missing"])]
        if len(diverged):
            ax.scatter(
                diverged[x] * scale,
                [0] * len(diverged),
                marker="x",
                color="red",
                transform=ax.get_xaxis_transform(),
                clip_on=False,
                zorder=5,
                label="diverged",
            )
        dense_here = baselines[baselines[panel] == name] if baselines is not None else here.iloc[:0]
        for _, group in dense[dense[panel] == name].groupby("optimizer"):
            row = group.iloc[0].to_dict()
            look = series_style(row)
            ax.axhline(
                group["test_acc"].mean() * 100,
                color=look.colour,
                linestyle=look.linestyle,
                linewidth=1.2,
                label=series_name(row),
            )
        if margin > 0:
            if x_log:
                ax.set_xscale("log", base=2)
                ratio = (span.max() / span.min()) ** 0.05
                ax.set_xlim(span.min() / ratio, span.max() * ratio)
                ax.xaxis.set_minor_locator(ticker.NullLocator())
                ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
            else:
                ax.set_xlim(span.min() - margin, span.max() + margin)
            ticks = xticks if xticks is not None else sorted(runs[x].dropna().unique())
            if len(ticks) <= 9:
                ax.set_xticks([tick * scale for tick in ticks])
        elif len(span):  # one x value (a smoke grid): centred, its own tick, no odd decimals
            value = float(span.iloc[0])
            ax.set_xlim(value - (0.5 * abs(value) or 0.5), value + (0.5 * abs(value) or 0.5))
            ax.set_xticks([value])
        if done.empty and len(diverged) == 0:
            _not_run_yet(ax)
        else:
            # the panel's dense baselines count too: a missing one is a missing line
            missing = sum((part["status"] == "missing").sum() for part in (here, dense_here))
            if missing:
                ax.text(
                    0.98,
                    0.02,
                    f"{missing} of {len(here) + len(dense_here)} runs not run yet",
                    transform=ax.transAxes,
                    ha="right",
                    va="bottom",
                    color="grey",
                    fontsize=9,
                )
                noted = True
        ax.set_title(value_name(panel, name))
        ax.set_xlabel(xlabel)
    axes[0][0].set_ylim(*limits)
    if at_chance:  # one legend entry says what an open marker means
        axes[0][0].plot(
            [],
            [],
            linestyle="none",
            marker="o",
            markerfacecolor="white",
            markeredgecolor="grey",
            label="did not leave chance",
        )
    if below:
        axes[0][0].plot(
            [],
            [],
            linestyle="none",
            marker=r"$\downarrow$",
            color="grey",
            markersize=10,
            label="below the axis (accuracy printed)",
        )
    if noted:  # room below the lowest point, so the note never covers a run (the y axis is shared)
        low, high = axes[0][0].get_ylim()
        axes[0][0].set_ylim(low - 0.1 * (high - low), high)
    return _finish(fig, axes[0], title, columns=4)


def _not_run_yet(ax: plt.Axes) -> None:
    """A panel with nothing to draw says so, rather than looking like a drawing fault."""
    ax.text(
        0.5,
        0.5,
        "not run yet",
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="grey",
        fontsize=12,
    )


def _low_outlier_fence(accuracies: pd.Series) -> float | None:
    """The accuracy (%) below which a point is far from all the others: Tukey's lower fence
    (the lower quartile less 1.5 interquartile ranges), and at least 20 points below that
    quartile, so a tight cluster never makes its own stragglers outliers (a narrow network 12
    points under the rest of Figure 4 is its curve, not an outlier; a run at chance, 40 to 70
    points under, is one). None for fewer than four values."""
    accuracies = accuracies.dropna()
    if len(accuracies) < 4:
        return None
    low, high = accuracies.quantile([0.25, 0.75])
    return low - max(1.5 * (high - low), 20.0)


def _accuracy_axis(accuracies: pd.Series) -> tuple[float | None, tuple[float, float]]:
    """(floor, limits) of the accuracy axis (%): the limits span the points with room around
    them, and below them where points far below the others (:func:`_low_outlier_fence`) are
    cut to the bottom edge; the floor is that edge, below which a point is cut (None: none
    is). A point the room below would hold is drawn in place, not cut; 0-100 where nothing is
    drawn, the scale an accuracy has, rather than matplotlib's 0-1."""
    values = accuracies.dropna().to_numpy()
    if not len(values):
        return None, (0.0, 100.0)
    fence = _low_outlier_fence(accuracies)
    cut = values < fence if fence is not None else values < -math.inf
    while True:  # uncut the points the room left below the others holds, until none is left
        low, high = values[~cut].min(), values[~cut].max()
        pad = max(0.08 * (high - low), 1.0)
        bottom = low - pad - (0.2 * (high - low) if cut.any() else 0.0)
        still = cut & (values < bottom)
        if (still == cut).all():
            return (bottom if cut.any() else None), (bottom, high + pad)
        cut = still


def _on_bottom_edge(
    ax: plt.Axes, x: float, accuracy: float, look, stacked: int, at_chance: bool
) -> None:
    """A point below the axis' range: its marker on the bottom edge (nudged sideways where
    another one sits at the same x; open where its runs did not leave chance), its accuracy
    printed beside it, both in its look."""
    from matplotlib.transforms import offset_copy

    edge = offset_copy(ax.get_xaxis_transform(), fig=ax.figure, x=5 * stacked, units="points")
    ax.plot(
        [x],
        [0],
        transform=edge,
        linestyle="none",
        marker=look.marker,
        color=look.colour,
        markerfacecolor="white" if at_chance else look.colour,
        markersize=7,
        clip_on=False,
        zorder=5,
    )
    ax.annotate(
        f"\u2193{accuracy:.1f}",
        (x, 0),
        xycoords=ax.get_xaxis_transform(),
        xytext=(9, 3 + 13 * stacked),
        textcoords="offset points",
        fontsize=9,
        color=look.colour,
        ha="left",
        va="bottom",
        zorder=6,
        bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"},
    )


def _suptitle(fig: plt.Figure, title: str) -> None:
    """The figure's title; one too wide for the figure breaks before its protocol (the last
    parenthesis) rather than mid-phrase, and wraps to the figure's width from there."""
    text = fig.suptitle(title)
    too_wide = text.get_window_extent(fig.canvas.get_renderer()).width > fig.bbox.width
    if too_wide and "\n" not in title and " (" in title:
        head, _, protocol = title.rpartition(" (")
        text.set_text(f"{head}\n({protocol}")
    text.set_wrap(True)


def _finish(fig: plt.Figure, axes, title: str, columns: int) -> plt.Figure:
    """Accuracy axis label on each row's first panel, one legend of every panel's labels below
    the panels, the title wrapped to the figure's width (a longer one would widen the saved
    canvas around small panels)."""
    for ax in axes:
        if ax.get_subplotspec() is None or ax.get_subplotspec().is_first_col():
            ax.set_ylabel("test accuracy (%)")
    _suptitle(fig, title)
    _legend(fig, axes, columns)
    return fig


_MIN_PANEL_HEIGHT = 2.2  # inches: a lower panel flattens the differences a reader compares
_LEGEND_ROOM = 1.0  # inches below the panels that every figure's size leaves for its legend
_BASE_HEIGHT: weakref.WeakKeyDictionary[plt.Figure, float] = weakref.WeakKeyDictionary()


def _legend(fig: plt.Figure, axes, columns: int) -> None:
    """One legend of every panel's labels below the panels (each label once), and the panels
    laid out above it."""
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    for legend in list(fig.legends):
        legend.remove()
    # Fewer columns, and rows with room for them, where long labels (Figure 7's released
    # scalings) would run past the figure's edge.
    widest = max((len(label.replace("$", "")) for label in handles), default=0)
    columns = max(1, min(columns, int(2.0 * fig.get_figwidth() / (0.075 * widest + 0.6))))
    rows = -(-len(handles) // columns)
    needed = 0.05 + 0.26 * rows  # inches of legend
    # A legend of more rows than the figure left room for makes the figure taller, so that it
    # does not squeeze the panels (a one-row figure of twenty runs' curves).
    base = _BASE_HEIGHT.setdefault(fig, fig.get_figheight())  # a second legend replaces the first
    fig.set_figheight(base + max(0.0, needed - _LEGEND_ROOM))
    if handles:  # none while no run of the figure has finished
        fig.legend(
            handles.values(),
            handles.keys(),
            loc="lower center",
            ncol=min(columns, len(handles)),
            frameon=False,
            bbox_to_anchor=(0.5, -0.02),
        )
    fig.tight_layout(rect=(0, min(0.5, needed / fig.get_figheight()), 1, 1))
    # The title, panel titles, tick labels and legend come out of a fixed height: where they
    # leave the panels squat, the figure grows by what the panels lack.
    panel = min(ax.get_position().height for ax in axes) * fig.get_figheight()
    if panel < _MIN_PANEL_HEIGHT:
        fig.set_figheight(fig.get_figheight() + _MIN_PANEL_HEIGHT - panel)
        fig.tight_layout(rect=(0, min(0.5, needed / fig.get_figheight()), 1, 1))


_ORDERS = {
    "model": list(MODEL_NAMES),
    "method": list(METHOD_NAMES),
    "init": list(DISTRIBUTION_NAMES),
}


def _in_order(values: pd.Series, field: str) -> list:
    """``field``'s values in the papers' order (models by depth, distributions as Figure 7),
    others as they come: a panel keeps its place whichever run lands first."""
    known, seen = _ORDERS.get(field, []), list(dict.fromkeys(values))
    return sorted(seen, key=lambda v: (known.index(v) if v in known else len(known), seen.index(v)))


def learning_curves(
    curves: pd.DataFrame | None,
    title: str,
    label=run_name,
    panel: str | None = None,
    vary: str | list[str] = "k",
    columns: str | None = None,
    baselines: bool = True,
    wrap: int = 3,
) -> plt.Figure | None:
    """Test accuracy (%) after every epoch, one line per run (named by ``label(row)``); None
    when no run measured a learning curve. A run has its series' look from :mod:`.style`; runs
    of one series that differ in ``vary`` are shades of it with a marker each, the same in
    every panel.

    One panel per ``panel`` value, ``wrap`` to a row; with ``columns`` (a subnetwork's field:
    its distribution, its method), a row of panels per ``panel`` value, one per ``columns``
    value, so that a panel holds a few series rather than all of them. Dense runs have no
    such field: with ``baselines`` they are drawn in each panel of their row, else in panels of
    their own, one per optimiser."""
    if curves is None:
        return None
    curves = curves.dropna(subset=["test_acc"])
    if curves.empty:
        return None
    sns.set_theme(style="whitegrid", context="notebook")
    rows = _in_order(curves[panel], panel) if panel else [None]
    if columns:
        dense = curves["method"] == "dense"
        own = [series_name(row) for row in curves[dense].to_dict("records")]
        curves = curves.assign(_column=curves[columns].astype(object).where(~dense))
        if not baselines:
            curves.loc[dense, "_column"] = own
        split = _in_order(curves["_column"].dropna(), columns) or [None]
        cells = [(row, column) for row in rows for column in split]
        width = len(split)
    else:
        cells = [(row, None) for row in rows]
        width = min(wrap, len(cells))
    height = -(-len(cells) // width)
    fig, grid = plt.subplots(
        height,
        width,
        figsize=(max(9.0, 4.6 * width), 3.0 * height + 1.4),
        squeeze=False,
        sharey=True,
        sharex=bool(columns),
    )
    axes = list(grid.flat)
    for ax in axes[len(cells) :]:  # a wrapped last row's empty places
        ax.remove()
    axes = axes[: len(cells)]
    runs = curves.drop_duplicates("hash").to_dict("records")
    looks = dict(zip((row["hash"] for row in runs), run_styles(runs, vary=vary)))
    for ax, (row, column) in zip(axes, cells):
        here = curves if row is None else curves[curves[panel] == row]
        if column is not None:
            here = here[here["_column"].isna() | (here["_column"] == column)]
        groups = list(here.groupby("hash", sort=False))
        for i, (run_hash, run) in enumerate(groups):
            run = run.sort_values("epoch")
            ax.plot(
                run["epoch"],
                run["test_acc"] * 100,
                **looks[run_hash].line(),
                markevery=_markevery(i, len(groups), len(run)),
                markersize=4,
                label=label(run.iloc[0].to_dict()),
            )
        if here.empty:  # a cell of the grid whose runs are still to come
            _not_run_yet(ax)
        if not columns or ax.get_subplotspec().is_last_row():
            ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        names = [
            value_name(panel, row) if row is not None else None,
            value_name(columns, column) if column is not None else None,
        ]
        ax.set_title(", ".join(str(n) for n in names if n is not None))
    return _finish(fig, axes, title, columns=3)


def _markevery(i: int, runs: int, epochs: int) -> tuple[int, int]:
    """About eight markers on a curve of ``epochs`` points, the ``runs`` curves of a panel
    starting at staggered epochs: curves that lie on one another (runs at chance) still show
    each one's markers."""
    step = max(1, epochs // 8)
    return (i * step) // max(runs, 1) % step, step


def loss_and_accuracy_curves(
    curves: pd.DataFrame | None, title: str, label=series_name, vary: str | list[str] = "init"
) -> plt.Figure | None:
    """Training loss (log axis: a scaled initialisation starts far above chance) and test
    accuracy (%) after every epoch, side by side, one line per run named by ``label`` and its
    epochs, with chance marked in both (ln 10 and 10 %): where a run sits at chance and when it
    leaves. None when no run recorded a curve."""
    if curves is None or curves.dropna(subset=["loss"]).empty:
        return None
    sns.set_theme(style="whitegrid", context="notebook")
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(12.0, 4.4))
    runs = curves.drop_duplicates("hash").to_dict("records")
    looks = dict(zip((row["hash"] for row in runs), run_styles(runs, vary=vary)))
    groups = list(curves.groupby("hash", sort=False))
    for i, (run_hash, run) in enumerate(groups):
        run = run.sort_values("epoch")
        look = {
            **looks[run_hash].line(),
            "markevery": _markevery(i, len(groups), len(run)),
            "markersize": 4,
        }
        name = f"{label(run.iloc[0].to_dict())}, {int(run['epoch'].max())} epochs"
        loss_ax.plot(run["epoch"], run["loss"], label=name, **look)
        acc_ax.plot(run["epoch"], run["test_acc"] * 100, **look)
    loss_ax.axhline(math.log(10), color="grey", linestyle=":", linewidth=1)
    loss_ax.annotate(
        "ln 10 (chance)",
        (0.01, math.log(10)),
        xycoords=("axes fraction", "data"),
        textcoords="offset points",
        xytext=(0, 4),
        fontsize=9,
        color="grey",
    )
    acc_ax.axhline(10.0, color="grey", linestyle=":", linewidth=1)
    loss_ax.set_yscale("log")
    loss_ax.yaxis.set_major_formatter(ticker.FuncFormatter(_plain_number))
    loss_ax.yaxis.set_minor_formatter(ticker.FuncFormatter(_plain_number))
    loss_ax.set_ylabel("training loss")
    acc_ax.set_ylabel("test accuracy (%)")
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    handles, labels = loss_ax.get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.02)
    )
    _suptitle(fig, title)
    fig.tight_layout(rect=(0, 0.06 * ((len(labels) + 1) // 2 + 1), 1, 1))
    return fig


def budget_curves(
    runs: pd.DataFrame, title: str, series: str = "configuration", reference: int | None = None
) -> plt.Figure:
    """Final test accuracy (%) against the schedule length (log axis), one line per ``series``
    value, the ``reference`` schedule marked; schedules not run yet are simply absent."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(8.0, 4.8))
    done = runs[runs["status"] == "finished"]
    names = list(dict.fromkeys(runs[series]))
    first = runs.drop_duplicates(series).to_dict("records")
    looks = dict(zip(names, run_styles(first, vary="k")))
    for i, row in enumerate(first):
        name = row[series]
        line = done[done[series] == name].groupby("epochs")["test_acc"].mean().sort_index()
        if len(line):
            # Dodged sideways by a few percent (a log axis) so equal accuracies stay visible.
            dodge = 1.0 + 0.025 * (i - (len(names) - 1) / 2)
            ax.plot(
                line.index * dodge,
                line.values * 100,
                **looks[name].line(),
                markersize=7,
                label=run_name(row),
            )
    epochs = sorted(runs["epochs"].unique())
    ax.set_xscale("log")
    ax.set_xticks(epochs)
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(_plain_number))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    if reference is not None:
        ax.axvline(reference, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("epochs of training (cosine schedule over the run; points dodged sideways)")
    if done.empty:
        _not_run_yet(ax)
        ax.set_ylim(0, 100)
    return _finish(fig, [ax], title, columns=3)


def cost_scatter(
    runs: pd.DataFrame, hue: str, costs: dict[str, str], title: str, size_by: str = "k"
) -> plt.Figure:
    """Test accuracy (%) against each cost column of ``costs`` ({column: axis label}), one panel
    per cost; each ``hue`` value in its series' look, its points joined in ``size_by`` order and
    sized by ``size_by`` (small k, small marker: no text labels, which pile up)."""
    sns.set_theme(style="whitegrid", context="notebook")
    finished = runs[runs["status"] == "finished"]
    fig, axes = plt.subplots(
        1, len(costs), figsize=(5.6 * len(costs), 4.4), squeeze=False, sharey=True
    )
    first = runs.drop_duplicates(hue)
    looks = dict(zip(first[hue], run_styles(first.to_dict("records"), vary=hue)))
    names = {row[hue]: series_name(row) for row in first.to_dict("records")}
    values = sorted(finished[size_by].dropna().unique())
    sizes = {v: 30 + 70 * i / max(1, len(values) - 1) for i, v in enumerate(values)}
    for ax, (column, label) in zip(axes[0], costs.items()):
        for value, group in finished.groupby(hue, sort=False):
            group = group.sort_values(size_by)
            look = looks[value]
            ax.plot(
                group[column],
                group["test_acc"] * 100,
                color=look.colour,
                linestyle=look.linestyle,
                alpha=0.5,
                linewidth=1,
                zorder=1,
            )
            ax.scatter(
                group[column],
                group["test_acc"] * 100,
                color=look.colour,
                marker=look.marker,
                s=[sizes.get(v, 50) for v in group[size_by]],
                edgecolor="white",
                linewidth=0.6,
                zorder=2,
            )
        _cost_axis(ax, finished[column])
        ax.set_xlabel(label)
    axes[0][0].set_ylabel("test accuracy (%)")
    handles = [
        plt.Line2D([], [], **looks[v].line(), label=names[v]) for v in dict.fromkeys(finished[hue])
    ]
    handles += [
        plt.Line2D(
            [],
            [],
            color="grey",
            marker="o",
            linestyle="",
            markersize=(sizes[v] ** 0.5),
            label=f"{size_by}={v:g}",
        )
        for v in values
    ]
    if finished.empty:  # the accuracy's own scale; no cost axis has one before a run
        for ax in axes[0]:
            _not_run_yet(ax)
            ax.set_ylim(0, 100)
            ax.xaxis.set_major_locator(ticker.NullLocator())
    else:
        fig.legend(
            handles=handles,
            loc="lower center",
            ncol=min(4, len(handles)),
            frameon=False,
            bbox_to_anchor=(0.5, -0.02),
        )
    _suptitle(fig, title)
    fig.tight_layout(rect=(0, 0.08 + 0.05 * ((len(handles) - 1) // 4), 1, 1))
    return fig


def grouped_bars(
    table: pd.DataFrame,
    group: list[str],
    series: str,
    value: str,
    title: str,
    ylabel: str,
    group_label=lambda key: "\n".join(map(str, key)),
) -> plt.Figure:
    """One group of bars per distinct ``group`` key, one bar per ``series`` value in each (a
    missing combination leaves a gap): e.g. published against measured accuracy per model.
    The first ``series`` value (the published one) is grey, the others in colour."""
    sns.set_theme(style="whitegrid", context="notebook")
    keys = list(dict.fromkeys(zip(*(table[c] for c in group))))
    sources = list(dict.fromkeys(table[series]))
    fig, ax = plt.subplots(figsize=(max(7.0, 2.0 * len(keys)), 4.4))
    width = 0.8 / len(sources)
    colours = ["#7f7f7f", *sns.color_palette("colorblind")]
    for j, source in enumerate(sources):
        rows = table[table[series] == source].set_index(group)[value]
        values = [rows.get(key, float("nan")) for key in keys]
        bars = ax.bar(
            [i + j * width for i in range(len(keys))],
            values,
            width=width,
            label=source,
            color=colours[j],
        )
        ax.bar_label(bars, fmt="%.1f", padding=2, fontsize=9)
    ax.set_xticks(
        [i + width * (len(sources) - 1) / 2 for i in range(len(keys))],
        [group_label(key) for key in keys],
        fontsize=8,
    )
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title, wrap=True, fontsize=11)
    fig.tight_layout()
    return fig


def reference_lines(
    fig: plt.Figure, values: dict[str, float], label: str, tag: str = "published"
) -> None:
    """A published accuracy (%) as a thin black dash-dot line across each panel of ``fig``
    made for a key of ``values`` (its panel value, e.g. a model), named once in the legend and
    on the line (``tag`` and the value). For numbers a paper prints without an x (a kept
    fraction it does not report): the level, never an invented point. The accuracy axis grows
    to hold every level inside the panel, never on its frame."""
    drawn = [ax for ax in fig.axes if ax.get_gid() in values]
    for ax in drawn:
        level = values[ax.get_gid()]
        ax.axhline(level, color="black", linestyle="-.", linewidth=0.9, label=label, zorder=1)
        ax.annotate(
            f"{tag} {level:.1f}",
            (0.02, level),
            xycoords=ax.get_yaxis_transform(),
            xytext=(0, 2),
            textcoords="offset points",
            fontsize=9,
            va="bottom",
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"},
        )
    for ax in drawn:  # shared or not, each panel holds every level, and its label above it
        levels = [values[other.get_gid()] for other in drawn]
        low, high = ax.get_ylim()
        span = max(high, *levels) - min(low, *levels)
        ax.set_ylim(min(low, min(levels) - 0.08 * span), max(high, max(levels) + 0.15 * span))
    _legend(fig, fig.axes, columns=4)


def figure_problems(fig: plt.Figure) -> list[str]:
    """What a reader would trip over: two visible texts that overlap, two legend entries that
    look the same (colour, line and marker), one series drawn in two looks in different panels,
    an axis with a scale that nothing drawn on it has (matplotlib's 0-1 on an empty panel, an
    accuracy in % that ends at 1), a level line (a published or dense accuracy) on or past its
    panel's frame, where it vanishes, and a canvas that shrinks its text or its panels when
    shown: see :func:`_canvas_problems`. (Text past the figure's bottom is no problem: the
    legend goes there, and ``save_figure`` writes the tight bounding box.)"""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    hidden = set()  # labels of ticks outside the view, which matplotlib does not draw
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            span = (high - low) * 1e-6
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                if not low - span <= tick.get_loc() <= high + span:
                    hidden.update({id(tick.label1), id(tick.label2)})
    texts = []
    for text in fig.findobj(plt.Text):
        if id(text) in hidden:
            continue
        if not text.get_visible() or not text.get_text().strip():
            continue
        if text.axes is not None and not text.axes.get_visible():
            continue
        texts.append((text, text.get_window_extent(renderer)))
    problems = []
    for i, (a, box_a) in enumerate(texts):
        for b, box_b in texts[i + 1 :]:
            overlap_w = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            overlap_h = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if overlap_w > 1 and overlap_h > 1:
                problems.append(f"texts {a.get_text()!r} and {b.get_text()!r} overlap")
    for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
        if legend is None:
            continue
        seen = {}
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            look = _look(handle)
            if look is not None and look in seen:
                problems.append(
                    f"legend entries {seen[look]!r} and {text.get_text()!r} look the same"
                )
            seen.setdefault(look, text.get_text())
    problems += _looks_across_panels(fig)
    problems += _scales_without_data(fig)
    problems += _levels_on_the_frame(fig)
    problems += _canvas_problems(fig, renderer, [text for text, _ in texts])
    return problems


def _looks_across_panels(fig: plt.Figure) -> list[str]:
    """A label drawn in more than one look: the legend shows one of them, so the others read
    as a series it does not name."""
    looks: dict[str, set] = {}
    for ax in fig.axes:
        for artist in [*ax.get_lines(), *ax.collections]:
            label = artist.get_label()
            look = _look(artist)
            if label and not label.startswith("_") and look is not None:
                looks.setdefault(label, set()).add(look)
    return [
        f"series {label!r} is drawn in {len(seen)} looks across the panels"
        for label, seen in looks.items()
        if len(seen) > 1
    ]


def _scales_without_data(fig: plt.Figure) -> list[str]:
    """Axes whose tick labels show a scale no drawn thing has: matplotlib's 0-1 on an axis that
    neither its panel nor a panel sharing it draws on, or an accuracy (%) that ends at 1."""
    problems = []
    for ax in fig.axes:
        for name, axis, shared in (
            ("x", ax.xaxis, ax.get_shared_x_axes()),
            ("y", ax.yaxis, ax.get_shared_y_axes()),
        ):
            if not any(t.get_visible() and t.get_text() for t in axis.get_ticklabels()):
                continue
            siblings = shared.get_siblings(ax)
            labels = [(s.xaxis if name == "x" else s.yaxis).get_label_text() for s in siblings]
            label = next((text for text in labels if text), "")
            low, high = sorted(axis.get_view_interval())
            empty = not any(s.has_data() for s in siblings)
            if ("%" in label and high <= 1) or (empty and (low, high) == (0.0, 1.0)):
                problems.append(
                    f"panel {ax.get_title()!r}: its {name} axis ({label!r}) reads "
                    f"{low:g}-{high:g}, a scale nothing drawn on it has"
                )
    return problems


def _levels_on_the_frame(fig: plt.Figure) -> list[str]:
    """Level lines (``axhline``, ``axvline``: a dense baseline, a published accuracy, a
    reference schedule) that lie on their panel's frame or outside it, where they cannot be
    seen. Lines of data points may leave the panel (a point below the axis' range)."""
    problems = []
    for ax in fig.axes:
        box = ax.get_window_extent()
        for line in ax.get_lines():
            along_x, along_y = line.get_transform().contains_branch_seperately(ax.transData)
            if along_x == along_y or len(line.get_xydata()) < 2:
                continue  # a line of data points, or a marker
            points = line.get_transform().transform(line.get_xydata())
            where = points[:, 1] if along_y else points[:, 0]
            low, high = (box.y0, box.y1) if along_y else (box.x0, box.x1)
            if (where <= low + 2).any() or (where >= high - 2).any():
                level = line.get_ydata()[0] if along_y else line.get_xdata()[0]
                problems.append(
                    f"panel {ax.get_title()!r}: level {line.get_label()!r} at "
                    f"{level:g} lies on or past the panel's frame"
                )
    return problems


SAVE_DPI = 150  # the resolution save_figure writes PNGs at
SHOWN_PX = 1280  # the widest a figure is shown: a notebook's or a web page's column
MIN_TEXT_PX = 9  # the smallest text that reads without zooming
MIN_PANEL_SHARE = 0.5  # the panels' share of the saved canvas' width


def _canvas_problems(fig: plt.Figure, renderer, texts) -> list[str]:
    """A canvas too wide for its text: shown at most SHOWN_PX wide, a PNG wider than that is
    scaled down, and its smallest text must stay MIN_TEXT_PX tall (five panels in a row at
    25 inches did not). And panels that fill less than MIN_PANEL_SHARE of the canvas' width:
    a title or legend wider than the figure widens the saved canvas (bbox_inches="tight")
    around small panels."""
    problems = []
    box = fig.get_tightbbox(renderer)  # what save_figure writes, in inches, less its padding
    width = box.width + 0.2
    shown = min(SAVE_DPI, SHOWN_PX / width)  # pixels an inch of the figure gets when shown
    if texts:
        smallest = min(text.get_fontsize() for text in texts)
        if smallest / 72 * shown < MIN_TEXT_PX:
            problems.append(
                f"the canvas is {width * SAVE_DPI:.0f} px wide: shown {SHOWN_PX} px "
                f"wide, its {smallest:g}-pt text is {smallest / 72 * shown:.1f} px "
                f"tall (at least {MIN_TEXT_PX} px reads)"
            )
    panels = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]
    if panels:
        span = (max(p.x1 for p in panels) - min(p.x0 for p in panels)) / fig.dpi
        if span < MIN_PANEL_SHARE * width:
            problems.append(
                f"the panels fill {span / width:.0%} of the canvas' width: "
                "text past the figure's sides widens the saved canvas"
            )
    return problems


def _look(handle) -> tuple | None:
    """(colour, line style, marker) of a legend handle; None for handles without one."""
    from matplotlib import colors as mcolors
    from matplotlib.collections import PathCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if isinstance(handle, Line2D):  # the dash pattern itself: custom dashes all read "--"
        dashes = getattr(handle, "_unscaled_dash_pattern", handle.get_linestyle())
        return (
            mcolors.to_hex(handle.get_color()),
            str(dashes),
            str(handle.get_marker()),
            handle.get_markersize(),
        )
    if isinstance(handle, Patch):
        return (mcolors.to_hex(handle.get_facecolor()), "patch")
    if isinstance(handle, PathCollection):
        if not len(handle.get_facecolor()) or not handle.get_paths():
            return None
        return (
            mcolors.to_hex(handle.get_facecolor()[0]),
            "points",
            handle.get_paths()[0].vertices.round(3).tobytes(),
        )
    return None


def _cost_axis(ax: plt.Axes, values: pd.Series) -> None:
    """Plain numbers on the axis; a log scale only where the costs span more than tenfold."""
    if values.min() > 0 and values.max() / values.min() > 10:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    else:  # few ticks, so wide numbers never run into each other
        ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=4))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(_plain_number))


def _plain_number(value: float, _position=None) -> str:
    """1,500 / 80k / 2M / 0.5: readable cost ticks without scientific notation."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:g}"


# No software version or creation date in the files: the same CSV redraws byte-identical
# figures, so `make plots` on a clean checkout leaves git clean.
_REPRODUCIBLE = {
    ".png": {"Software": None},
    ".pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}


def save_figure(fig: plt.Figure, path_without_suffix: str | os.PathLike) -> list[Path]:
    """Write ``<path>.png`` and ``<path>.pdf``, the same bytes for the same figure. With
    ``$SUPERMASK_STRICT_FIGURES`` set (the tests), a figure with :func:`figure_problems` is
    refused."""
    if os.environ.get(STRICT):
        problems = figure_problems(fig)
        if problems:
            raise ValueError(f"{Path(path_without_suffix).name}: " + "; ".join(problems))
    base = Path(path_without_suffix)
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_suffix(".png"), base.with_suffix(".pdf")]
    for path in paths:
        fig.savefig(path, dpi=SAVE_DPI, bbox_inches="tight", metadata=_REPRODUCIBLE[path.suffix])
    return paths
