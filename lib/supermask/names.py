"""How each method, distribution, optimiser and run is named in tables, legends, claims and
campaign logs: as in the papers, with the paper's symbol (U_k, N_x...) where it has one."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .registry import METHODS

__all__ = [
    "DISTRIBUTION_NAMES",
    "METHOD_NAMES",
    "MODEL_NAMES",
    "OPTIMIZER_NAMES",
    "SYMBOLS",
    "math_names",
    "model_name",
    "percent",
    "plain_text",
    "run_name",
    "series_name",
    "value_name",
    "value_of",
]


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
SYMBOLS = {
    "signed_constant": "U_k",
    "kaiming_normal": "N_k",
    "signed_xavier_constant": "U_x",
    "xavier_normal": "N_x",
}
METHOD_NAMES = {name: method.title for name, method in METHODS.items()}
OPTIMIZER_NAMES = {"sgd": "SGD", "adam": "Adam"}
MODEL_NAMES = {
    "conv2": "Conv2",
    "conv4": "Conv4",
    "conv6": "Conv6",
    "conv8": "Conv8",
    "resnet18": "ResNet-18",
    "resnet34": "ResNet-34",
    "resnet50": "ResNet-50",
    "resnet101": "ResNet-101",
    "wide_resnet50_2": "Wide ResNet-50-2",
}


def model_name(model: str) -> str:
    """E.g. "Wide ResNet-50-2" for wide_resnet50_2: the architecture as the papers write it."""
    return MODEL_NAMES.get(model, model)


def value_name(field: str, value) -> str:
    """A field's value as a reader knows it (a panel title, a table's row): models, methods,
    distributions and optimisers by their papers' names, anything else as it is."""
    named = {
        "model": MODEL_NAMES,
        "method": METHOD_NAMES,
        "init": DISTRIBUTION_NAMES,
        "optimizer": OPTIMIZER_NAMES,
    }.get(field, {})
    return named.get(value, str(value)) if isinstance(value, str) else str(value)


def value_of(row: Mapping, key: str):
    value = row.get(key)
    return None if value is None or value != value else value  # NaN: absent


def series_name(row: Mapping) -> str:
    """E.g. "edge-popup, signed Kaiming constant $U_k$", "Zhou et al., Kaiming normal $N_k$",
    "dense (Adam)": the method and distribution of ``row`` (a run's config, a CSV row)."""
    method = value_of(row, "method") or "edge-popup"
    if method == "dense":
        optimizer = value_of(row, "optimizer") or "sgd"
        return f"dense ({OPTIMIZER_NAMES.get(optimizer, optimizer)})"
    name = METHOD_NAMES.get(method, method)
    if method == "pab" and value_of(row, "prune") == "random":
        name = "PaB, random mask"
    if method == "pab" and value_of(row, "psg_bits") is not None:
        name = f"{name} + PSG ({value_of(row, 'psg_bits'):g}-bit)"
    init = value_of(row, "init")
    return f"{name}, {DISTRIBUTION_NAMES.get(init, init)}" if init else name


def run_name(row: Mapping) -> str:
    """A run's name in a legend or table: method, distribution symbol, k (dense: optimiser),
    width if not 1."""
    width = value_of(row, "width")
    suffix = f", width {width:g}" if width not in (None, 1.0) else ""
    method = value_of(row, "method") or "edge-popup"
    if method == "dense":
        return series_name(row) + suffix
    init = value_of(row, "init")
    # The paper's symbol where it has one, else the distribution's name (never its key).
    symbol = f"${SYMBOLS[init]}$" if init in SYMBOLS else DISTRIBUTION_NAMES.get(init, init or "")
    name = METHOD_NAMES.get(method, method)
    if method == "zhou":
        return f"{name} {symbol}{suffix}"
    if method == "pab" and value_of(row, "psg_bits") is not None:
        name += " + PSG"
    k = value_of(row, "k")
    return f"{name} {symbol}" + (f" k={k:g}" if k is not None else "") + suffix


def math_names(text: str) -> str:
    """Distribution symbols such as U_k and N_x typeset as in the paper ($U_k$, $N_x$)."""
    return re.sub(r"(?<!\$)\b([NU]_[kx])\b(?!\$)", r"$\1$", text)


def plain_text(name: str) -> str:
    """A name for a plain-text table: its math as written text ("$U_k$" -> "U_k",
    "$1/\\sqrt{1-k}$" -> "1/sqrt(1-k)")."""
    return re.sub(r"\\sqrt\{([^}]*)\}", r"sqrt(\1)", name).replace("$", "")
