import pandas as pd

from supermask.figures import plots


def _runs() -> pd.DataFrame:
    rows = [{"model": m, "init": i, "k": k, "status": "finished", "test_acc": 0.1 + k / 2}
            for m in ("conv2", "conv4") for i in ("signed_constant", "kaiming_normal")
            for k in (0.1, 0.5, 0.9)]
    rows.append({"model": "conv6", "init": "signed_constant", "k": 0.5, "status": "missing",
                 "test_acc": None})
    return pd.DataFrame(rows)


def test_same_data_gives_byte_identical_figures(tmp_path):
    """Catches a timestamp or version in the files, which would make `make plots` dirty git."""
    files = []
    for name in ("a", "b"):
        fig = plots.accuracy_curves(_runs(), x="k", hue="init", panel="model", title="t",
                                    xlabel="k")
        files.append(plots.save_figure(fig, tmp_path / name))
    for first, second in zip(*files):
        assert first.read_bytes() == second.read_bytes(), first.suffix


def test_learning_curves_one_line_per_run():
    curves = pd.DataFrame([{"method": "edge-popup", "init": "signed_constant", "k": k,
                            "optimizer": "sgd", "width": 1.0, "model": "conv2", "hash": f"h{k}",
                            "epoch": e, "test_acc": 0.1 * e} for k in (0.1, 0.5)
                           for e in (1, 2, 3)])
    fig = plots.learning_curves(curves, "curves", panel="model")
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and list(lines[0].get_xdata()) == [1, 2, 3]
    assert plots.learning_curves(None, "none") is None
    assert plots.learning_curves(curves.assign(test_acc=None), "no accuracy") is None


def test_learning_curves_give_every_method_its_own_line():
    """Catches a dense or Zhou et al. curve drawn like an edge-popup one (the colorblind
    palette once gave them near colours in the paper's Conv2 curves)."""
    curves = pd.DataFrame([{"method": method, "init": "signed_constant", "k": 0.5,
                            "optimizer": optimizer, "width": 1.0, "model": "conv2",
                            "hash": method, "epoch": e, "test_acc": 0.1 * e}
                           for method, optimizer in (("edge-popup", "sgd"), ("dense", "adam"),
                                                     ("zhou", "sgd"))
                           for e in (1, 2, 3)])
    fig = plots.learning_curves(curves, "curves", panel="model")
    styles = {line.get_label(): line.get_linestyle() for line in fig.axes[0].get_lines()}
    assert styles == {"edge-popup $U_k$ k=0.5": "-", "dense (Adam)": ":",
                      "Zhou et al. $U_k$": "--"}, styles
    assert plots.figure_problems(fig) == []


def test_a_figure_with_no_finished_run_says_so():
    """Catches a plot that crashes before the first run of a campaign has finished."""
    runs = _runs().assign(status="missing", test_acc=None)
    fig = plots.accuracy_curves(runs, x="k", hue="init", panel="model", title="t", xlabel="k")
    assert len(fig.axes) == 3 and not fig.legends
    assert all("not run yet" in [t.get_text() for t in ax.texts] for ax in fig.axes)


def test_a_panel_counts_its_missing_dense_baselines_among_the_runs_not_run_yet():
    """Catches Conv8's "5 of 10 runs not run yet" while its two dense lines were also missing."""
    runs = pd.DataFrame([{"model": "conv8", "init": "signed_constant", "k": k,
                          "status": "finished", "test_acc": 0.7} for k in (0.1, 0.5, 0.9)]
                        + [{"model": "conv8", "init": "kaiming_normal", "k": 0.5,
                            "status": "missing", "test_acc": None}])
    dense = pd.DataFrame([{"model": "conv8", "method": "dense", "optimizer": o, "k": 1.0,
                           "init": "kaiming_normal", "status": s, "test_acc": a}
                          for o, s, a in (("sgd", "finished", 0.8), ("adam", "missing", None))])
    fig = plots.accuracy_curves(runs, x="k", hue="init", panel="model", title="t", xlabel="k",
                                baselines=dense)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "2 of 6 runs not run yet" in texts, texts


def test_note_of_runs_not_run_yet_covers_no_point():
    """Catches the note drawn over the lowest point of a partly run panel (the paper campaign's
    Conv2 panel, whose k=0.9 point sat in the bottom right corner)."""
    from matplotlib.transforms import Bbox

    runs = pd.DataFrame(
        [{"model": "conv2", "init": "signed_constant", "k": k, "status": "finished",
          "test_acc": acc} for k, acc in ((0.1, 0.618), (0.5, 0.766), (0.9, 0.617))]
        + [{"model": "conv2", "init": "kaiming_normal", "k": k, "status": "missing",
            "test_acc": None} for k in (0.1, 0.5, 0.9)])
    fig = plots.accuracy_curves(runs, x="k", hue="init", panel="model", title="t", xlabel="k",
                                x_percent=True)
    fig.canvas.draw()
    ax = fig.axes[0]
    note = next(t for t in ax.texts if "not run yet" in t.get_text())
    box = note.get_window_extent()
    for line in ax.get_lines():
        radius = line.get_markersize() / 72 * fig.dpi / 2
        for x, y in ax.transData.transform(line.get_xydata()):
            marker = Bbox.from_extents(x - radius, y - radius, x + radius, y + radius)
            assert not box.overlaps(marker), (x, y)


def test_figure_problems_finds_overlapping_text_and_series_that_look_alike():
    """The check the strict figure tests rely on: it must fire on both faults."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], color="#0173b2", marker="o", label="one")
    ax.plot([0, 1], [1, 0], color="#0173b2", marker="o", label="two")
    ax.legend()
    ax.text(0.5, 0.5, "a long note here", transform=ax.transAxes)
    ax.text(0.52, 0.5, "another note", transform=ax.transAxes)
    problems = plots.figure_problems(fig)
    assert any("'a long note here' and 'another note' overlap" in p for p in problems), problems
    assert any("'one' and 'two' look the same" in p for p in problems), problems


def test_strict_save_refuses_a_figure_with_problems(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    import pytest

    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "x x x", transform=ax.transAxes)
    ax.text(0.5, 0.5, "y y y", transform=ax.transAxes)
    monkeypatch.setenv(plots.STRICT, "1")
    with pytest.raises(ValueError, match="'x x x' and 'y y y' overlap"):
        plots.save_figure(fig, tmp_path / "bad")
    assert not list(tmp_path.iterdir())


def test_published_levels_go_on_their_panels_only():
    runs = _runs()
    fig = plots.accuracy_curves(runs, x="k", hue="init", panel="model", title="t", xlabel="k")
    plots.reference_lines(fig, {"conv4": 72.5}, "published")
    levels = {ax.get_title(): [line.get_ydata()[0] for line in ax.get_lines()
                               if line.get_label() == "published"] for ax in fig.axes}
    assert levels == {"conv2": [], "conv4": [72.5], "conv6": []}
    assert "published" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_a_single_x_value_gets_its_own_tick():
    """Catches a smoke plot whose x axis read 0.945-1.050 around its one width."""
    runs = pd.DataFrame([{"model": "conv4", "init": "signed_constant", "width": 1.0,
                          "status": "finished", "test_acc": 0.3}])
    fig = plots.accuracy_curves(runs, x="width", hue="init", panel="model", title="t",
                                xlabel="width")
    assert list(fig.axes[0].get_xticks()) == [1.0]
    assert fig.axes[0].get_xlim() == (0.5, 1.5)


def test_a_point_whose_run_did_not_leave_chance_has_an_open_marker():
    """Catches a chance-level run drawn like any other point, and the CSV column computed from
    anything but the run's per-epoch loss (within 0.01 of ln 10 for more than half its
    epochs)."""
    import math

    import matplotlib.pyplot as plt

    from supermask.runs import tables

    stuck = [math.log(10) + 0.005] * 3 + [2.0] * 2
    assert tables.did_not_leave_chance(stuck) is True
    assert tables.did_not_leave_chance(stuck[1:] + [2.0]) is False  # half the epochs: it left
    assert tables.did_not_leave_chance([]) is None
    result = {"config": {"model": "conv8", "k": 0.1}, "status": "finished",
              "history": [{"epoch": e + 1, "loss": loss} for e, loss in enumerate(stuck)]}
    row = tables.results_frame([result], "fig3", "short").iloc[0]
    assert row["did_not_leave_chance"]
    runs = _runs().assign(did_not_leave_chance=lambda r: (r["k"] == 0.1) & (r["model"] == "conv4"))
    fig = plots.accuracy_curves(runs, x="k", hue="init", panel="model", title="t", xlabel="k")
    open_points = [line for ax in fig.axes for line in ax.get_lines()
                   if line.get_markerfacecolor() == "white" and len(line.get_xdata())]
    assert sorted(float(x) for line in open_points for x in line.get_xdata()) == [0.1, 0.1]
    assert "did not leave chance" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert plots.figure_problems(fig) == []
    plt.close(fig)
