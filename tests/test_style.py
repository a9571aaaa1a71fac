"""One visual language (supermask.figures.style, supermask.names): every series has its own look
and name, the same everywhere."""

from supermask import names
from supermask.figures import style

METHODS = ["edge-popup", "edge-popup-extras", "zhou", "pab", "iterand"]


def every_series():
    rows = [{"method": m, "init": i} for m in METHODS for i in style.DISTRIBUTION_COLOURS]
    rows += [{"method": "pab", "init": "signed_constant", "prune": "random"}]
    rows += [{"method": "pab", "init": "kaiming_normal", "prune": "synflow", "psg_bits": 8}]
    rows += [{"method": "dense", "optimizer": o} for o in ("sgd", "adam")]
    return rows


def test_no_two_series_share_a_look_or_a_name():
    rows = every_series()
    looks = [style.series_style(row).look for row in rows]
    labels = [names.series_name(row) for row in rows]
    assert len(set(looks)) == len(rows)
    assert len(set(labels)) == len(rows)


def test_colour_says_the_distribution_and_line_says_the_method():
    popup = style.series_style({"method": "edge-popup", "init": "signed_constant"})
    zhou = style.series_style({"method": "zhou", "init": "signed_constant"})
    other = style.series_style({"method": "edge-popup", "init": "kaiming_normal"})
    assert popup.colour == zhou.colour != other.colour
    assert popup.linestyle == other.linestyle != zhou.linestyle


def test_one_name_for_one_thing():
    """Catches "dense learned (Adam)" beside "dense (adam)" (issue 23)."""
    assert names.series_name({"method": "dense", "optimizer": "adam"}) == "dense (Adam)"
    assert names.run_name({"method": "dense", "optimizer": "adam", "width": 1.0}) == "dense (Adam)"
    assert (
        names.series_name({"method": "iterand", "init": "signed_constant"})
        == "IteRand, signed Kaiming constant $U_k$"
    )
    assert (
        names.run_name({"method": "edge-popup", "init": "signed_constant", "k": 0.5, "width": 2.0})
        == "edge-popup $U_k$ k=0.5, width 2"
    )
    released = {"method": "edge-popup", "init": "released_scaled_signed_constant", "k": 0.1}
    assert (  # a table in plain text: no TeX left over
        names.plain_text(names.run_name(released))
        == "edge-popup scaled signed Kaiming constant, released code's 1/sqrt(1-k) k=0.1"
    )


def test_runs_of_one_series_get_shades_that_keep_their_look_across_figures():
    rows = [
        {"method": "edge-popup", "init": "signed_constant", "k": k}
        for k in (0.1, 0.3, 0.5, 0.7, 0.9)
    ]
    looks = [s.look for s in style.run_styles(rows, vary="k")]
    assert len(set(looks)) == 5
    fewer = [s.look for s in style.run_styles([rows[0], rows[2], rows[4]], vary="k")]
    assert fewer == [looks[0], looks[2], looks[4]]  # k=0.5 looks the same in both figures
    seeds = style.run_styles([rows[2], dict(rows[2], seed=1)], vary="k")
    assert seeds[0] == seeds[1] == style.series_style(rows[2])  # one k: the series' own look


def test_math_names_typesets_symbols_once():
    assert names.math_names("edge-popup U_k k=0.5") == "edge-popup $U_k$ k=0.5"
    assert names.math_names("edge-popup $U_k$") == "edge-popup $U_k$"


def test_runs_that_differ_in_two_fields_get_a_look_each():
    """Figure 5's curves: sizes c1-c3 at each width (caught by the strict smoke redraw)."""
    rows = [
        {"method": "edge-popup", "init": "signed_constant", "size": size, "width": width}
        for size in ("c1", "c2", "c3")
        for width in (1.0, 2.0)
    ]
    looks = [s.look for s in style.run_styles(rows, vary=["size", "width"])]
    assert len(set(looks)) == 6


def test_runs_of_a_series_without_the_varied_field_share_its_look():
    """Catches Zhou et al.'s runs (k empty, NaN in a CSV) drawn in a shade each, as in the budget
    study's learning curves, where each schedule's Zhou et al. run had its own colour."""
    rows = [
        {"method": "zhou", "init": "kaiming_normal", "k": float("nan"), "epochs": e}
        for e in (5, 10, 20)
    ]
    rows += [{"method": "edge-popup", "init": "signed_constant", "k": k} for k in (0.1, 0.5)]
    looks = style.run_styles(rows, vary="k")
    assert looks[0] == looks[1] == looks[2] == style.series_style(rows[0])
    assert looks[3] != looks[4]
