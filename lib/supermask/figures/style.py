"""The one visual language of every figure: how each method, distribution and run is named, and
the colour, line and marker of each series.

A series is a method with its weight distribution (or a dense baseline with its optimiser).
Its colour says the distribution, its line and marker say the method, so a series looks the
same in every figure and no two series share a look. Runs of one series that differ in k (or
width, or size) are shades of the series' colour, lightest for the smallest value, each with a
marker of its own.
"""

from __future__ import annotations

import colorsys
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from matplotlib import colors as mcolors

__all__ = ["DISTRIBUTION_NAMES", "METHOD_NAMES", "Style", "math_names", "percent", "run_name",
           "run_styles", "series_name", "series_style"]


def percent(fraction: float | None, unit: str = "%") -> str:
    """An accuracy as people read it, 0.7663 -> "76.6%"; "" where there is none (None, NaN)."""
    if fraction is None or fraction != fraction:
        return ""
    return f"{100 * fraction:.1f}{unit}"

# Named as in the papers; the symbol in the paper's notation after the name.
DISTRIBUTION_NAMES = {
    "signed_constant": "signed Kaiming constant $U_k$",
    "kaiming_normal": "Kaiming normal $N_k$",
    "signed_xavier_constant": "signed Xavier constant $U_x$",
    "xavier_normal": "Xavier normal $N_x$",
    "scaled_signed_constant": "scaled signed Kaiming constant",
    "scaled_kaiming_normal": "scaled Kaiming normal",
    "released_scaled_signed_constant": "scaled signed Kaiming constant, released code's "
                                       "$1/\\sqrt{1-k}$",
    "released_scaled_kaiming_normal": "scaled Kaiming normal, released code's $1/\\sqrt{1-k}$",
    "kaiming_uniform": "Kaiming uniform",
}
SYMBOLS = {"signed_constant": "U_k", "kaiming_normal": "N_k", "signed_xavier_constant": "U_x",
           "xavier_normal": "N_x"}
METHOD_NAMES = {"edge-popup": "edge-popup", "edge-popup-extras": "edge-popup + PaB's extras",
                "zhou": "Zhou et al.", "pab": "PaB", "iterand": "IteRand", "dense": "dense"}
OPTIMIZER_NAMES = {"sgd": "SGD", "adam": "Adam"}

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
METHOD_LINES = {  # (line style, marker)
    "edge-popup": ("-", "o"),
    "edge-popup-extras": ((0, (5, 1)), "P"),
    "zhou": ("--", "s"),
    "pab": ("-.", "^"),
    "iterand": ((0, (3, 1, 1, 1, 1, 1)), "D"),
}
DENSE_STYLES = {"sgd": ("#000000", "--", "x"), "adam": ("#666666", ":", "+")}
PAB_RANDOM_MASK = "#949494"  # PaB with a random mask instead of SynFlow's: its own grey
PAB_PSG = ("#6a3d9a", "v")  # PaB trained with PSG's gradients: its own colour and marker
VARIANT_MARKERS = ["v", "<", "o", ">", "^", "p", "h", "*"]
K_MARKERS = {0.1: "v", 0.2: "1", 0.3: "<", 0.4: "2", 0.5: "o", 0.6: "3", 0.7: ">", 0.8: "4",
             0.9: "^"}


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


def _value(row: Mapping, key: str):
    value = row.get(key)
    return None if value is None or value != value else value  # NaN: absent


def series_name(row: Mapping) -> str:
    """E.g. "edge-popup, signed Kaiming constant $U_k$", "Zhou et al., Kaiming normal $N_k$",
    "dense (Adam)": the method and distribution of ``row`` (a run's config, a CSV row)."""
    method = _value(row, "method") or "edge-popup"
    if method == "dense":
        optimizer = _value(row, "optimizer") or "sgd"
        return f"dense ({OPTIMIZER_NAMES.get(optimizer, optimizer)})"
    name = METHOD_NAMES.get(method, method)
    if method == "pab" and _value(row, "prune") == "random":
        name = "PaB, random mask"
    if method == "pab" and _value(row, "psg_bits") is not None:
        name = f"{name} + PSG ({_value(row, 'psg_bits'):g}-bit)"
    init = _value(row, "init")
    return f"{name}, {DISTRIBUTION_NAMES.get(init, init)}" if init else name


def series_style(row: Mapping) -> Style:
    """The series' look: colour from the distribution, line and marker from the method."""
    method = _value(row, "method") or "edge-popup"
    if method == "dense":
        colour, line, marker = DENSE_STYLES.get(_value(row, "optimizer") or "sgd",
                                                DENSE_STYLES["sgd"])
        return Style(colour, line, marker)
    line, marker = METHOD_LINES.get(method, METHOD_LINES["edge-popup"])
    colour = DISTRIBUTION_COLOURS.get(_value(row, "init"), "#333333")
    if method == "pab" and _value(row, "prune") == "random":
        colour = PAB_RANDOM_MASK
    if method == "pab" and _value(row, "psg_bits") is not None:
        colour, marker = PAB_PSG
    return Style(colour, line, marker)


def run_name(row: Mapping) -> str:
    """A run's name in a legend or table: method, distribution symbol, k (dense: optimiser),
    width if not 1."""
    width = _value(row, "width")
    suffix = f", width {width:g}" if width not in (None, 1.0) else ""
    method = _value(row, "method") or "edge-popup"
    if method == "dense":
        return series_name(row) + suffix
    init = _value(row, "init")
    symbol = f"${SYMBOLS[init]}$" if init in SYMBOLS else (init or "")
    name = METHOD_NAMES.get(method, method)
    if method == "zhou":
        return f"{name} {symbol}{suffix}"
    if method == "pab" and _value(row, "psg_bits") is not None:
        name += " + PSG"
    k = _value(row, "k")
    return f"{name} {symbol}" + (f" k={k:g}" if k is not None else "") + suffix


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
        rows = [{**row, "_vary": tuple(row.get(f) for f in fields)} for row in rows]
        vary = "_vary"
    base = [series_style(row) for row in rows]
    values: dict[Style, list] = {}
    for style, row in zip(base, rows):
        values.setdefault(style, [])
        if row.get(vary) not in values[style]:
            values[style].append(row.get(vary))
    styles = []
    for style, row in zip(base, rows):
        present = sorted(values[style], key=lambda v: (v is None, v))
        if len(present) == 1:
            styles.append(style)
            continue
        value = row.get(vary)
        if vary == "k" and isinstance(value, float) and 0 < value < 1:
            # k keeps its look in every figure: its shade is k itself, its marker k's own.
            position, marker = value, K_MARKERS.get(round(value, 1), "o")
        else:
            i = present.index(value)
            position, marker = i / (len(present) - 1), VARIANT_MARKERS[i % len(VARIANT_MARKERS)]
        styles.append(Style(_shade(style.colour, position), style.linestyle, marker))
    return styles


def math_names(text: str) -> str:
    """Distribution symbols such as U_k and N_x typeset as in the paper ($U_k$, $N_x$)."""
    return re.sub(r"(?<!\$)\b([NU]_[kx])\b(?!\$)", r"$\1$", text)
