import pandas as pd

from supermask import plots


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


def test_learning_curves_dash_every_method_but_edge_popup():
    """Catches a dense or Zhou et al. curve drawn like an edge-popup one, which the colorblind
    palette gives a near colour (orange beside vermilion in the paper's Conv2 curves)."""
    curves = pd.DataFrame([{"method": method, "init": "signed_constant", "k": 0.5,
                            "optimizer": optimizer, "width": 1.0, "model": "conv2",
                            "hash": method, "epoch": e, "test_acc": 0.1 * e}
                           for method, optimizer in (("edge-popup", "sgd"), ("dense", "adam"),
                                                     ("zhou", "sgd"))
                           for e in (1, 2, 3)])
    fig = plots.learning_curves(curves, "curves", panel="model")
    styles = {line.get_label(): line.get_linestyle() for line in fig.axes[0].get_lines()}
    assert sorted(styles.values()) == ["-", "--", "--"], styles


def test_a_figure_with_no_finished_run_says_so():
    """Catches a plot that crashes before the first run of a campaign has finished."""
    runs = _runs().assign(status="missing", test_acc=None)
    fig = plots.accuracy_curves(runs, x="k", hue="init", panel="model", title="t", xlabel="k")
    assert len(fig.axes) == 3 and not fig.legends
    assert all("not run yet" in [t.get_text() for t in ax.texts] for ax in fig.axes)


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
