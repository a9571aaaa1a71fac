"""The one visual language of every figure: the colour, line and marker of each series (how each
is named is :mod:`supermask.names`).

A series is a method with its weight distribution (or a dense baseline with its optimiser).
Its colour says the distribution, its line and marker say the method, so a series looks the
same in every figure and no two series share a look. Runs of one series that differ in k (or
width, or size) are shades of the series' colour, lightest for the smallest value, each with a
marker of its own.
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from matplotlib import colors as mcolors

from ..names import value_of
from ..registry import METHODS

__all__ = ["Style", "run_styles", "series_style"]


# Seaborn's colour-blind palette, one colour per distribution.
DISTRIBUTION_COLOURS = {
    "signed_constant": "#0173b2",
    "kaiming_normal": "#de8f05",
    "signed_xavier_constant": "#029e73",
    "xavier_normal": "#cc78bc",
    "scaled_signed_constant": "#56b4e9",
    "scaled_kaiming_normal": "#d55e00",
    "released_scaled_signed_constant": "#8c564b",
    "released_scaled_kaiming_normal": "#fbafe4",
    "kaiming_uniform": "#ca9161",
}
METHOD_LINES = {name: (method.line, method.marker) for name, method in METHODS.items()}
DENSE_STYLES = {"sgd": ("#000000", "--", "x"), "adam": ("#666666", ":", "+")}
PAB_RANDOM_MASK = "#949494"  # PaB with a random mask instead of SynFlow's: its own grey
PAB_PSG = ("#6a3d9a", "v")  # PaB trained with PSG's gradients: its own colour and marker
VARIANT_MARKERS = ["v", "<", "o", ">", "^", "p", "h", "*"]
K_MARKERS = {
    0.1: "v",
    0.2: "1",
    0.3: "<",
    0.4: "2",
    0.5: "o",
    0.6: "3",
    0.7: ">",
    0.8: "4",
    0.9: "^",
}


@dataclass(frozen=True)
class Style:
    colour: str
    linestyle: str | tuple
    marker: str

    def line(self) -> dict:
        """Keyword arguments of ``Axes.plot``."""
        return {"color": self.colour, "linestyle": self.linestyle, "marker": self.marker}

    @property
    def look(self) -> tuple:
        """What a reader tells series apart by (colour to two hex digits, line, marker)."""
        return (mcolors.to_hex(self.colour), str(self.linestyle), self.marker)


def series_style(row: Mapping) -> Style:
    """The series' look: colour from the distribution, line and marker from the method."""
    method = value_of(row, "method") or "edge-popup"
    if method == "dense":
        colour, line, marker = DENSE_STYLES.get(
            value_of(row, "optimizer") or "sgd", DENSE_STYLES["sgd"]
        )
        return Style(colour, line, marker)
    line, marker = METHOD_LINES.get(method, METHOD_LINES["edge-popup"])
    colour = DISTRIBUTION_COLOURS.get(value_of(row, "init"), "#333333")
    if method == "pab" and value_of(row, "prune") == "random":
        colour = PAB_RANDOM_MASK
    if method == "pab" and value_of(row, "psg_bits") is not None:
        colour, marker = PAB_PSG
    return Style(colour, line, marker)


def _shade(colour: str, position: float) -> str:
    """``colour`` lighter (position 0) to darker (position 1), the colour itself at 0.5."""
    h, lightness, s = colorsys.rgb_to_hls(*mcolors.to_rgb(colour))
    lightness = min(0.85, max(0.15, lightness + (0.5 - position) * 0.45))
    return mcolors.to_hex(colorsys.hls_to_rgb(h, lightness, s))


def run_styles(rows: Sequence[Mapping], vary: str | Sequence[str]) -> list[Style]:
    """One look per row (runs of one figure): its series' look, or, where several rows of a
    series differ in ``vary`` (k, width, size), shades of the series' colour in ``vary`` order
    with a marker each (for k, the same shade and marker in every figure). Rows equal in series
    and ``vary`` share a look (seeds of one run)."""
    if not isinstance(vary, str):  # several fields: their values together tell runs apart
        fields = list(vary)
        rows = [{**row, "_vary": tuple(value_of(row, f) for f in fields)} for row in rows]
        vary = "_vary"
    base = [series_style(row) for row in rows]
    # A CSV's empty cell is NaN, and NaN differs from every NaN: read as None, so the runs of
    # a series without the field (Zhou et al.'s k) share its one look.
    varied = [value_of(row, vary) for row in rows]
    values: dict[Style, list] = {}
    for style, value in zip(base, varied):
        values.setdefault(style, [])
        if value not in values[style]:
            values[style].append(value)
    styles = []
    for style, value in zip(base, varied):
        present = sorted(values[style], key=lambda v: (v is None, v))
        if len(present) == 1:
            styles.append(style)
            continue
        if vary == "k" and isinstance(value, float) and 0 < value < 1:
            # k keeps its look in every figure: its shade is k itself, its marker k's own.
            position, marker = value, K_MARKERS.get(round(value, 1), "o")
        else:
            i = present.index(value)
            position, marker = i / (len(present) - 1), VARIANT_MARKERS[i % len(VARIANT_MARKERS)]
        styles.append(Style(_shade(style.colour, position), style.linestyle, marker))
    return styles
