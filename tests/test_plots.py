import pandas as pd
import pytest

from supermask.figures import plots


def _runs() -> pd.DataFrame:
    rows = [
        {"model": m, "init": i, "k": k, "status": "finished", "test_acc": 0.1 + k / 2}
        for m in ("conv2", "conv4")
        for i in ("signed_constant", "kaiming_normal")
        for k in (0.1, 0.5, 0.9)
    ]
    rows.append(
        {
            "model": "conv6",
            "init": "signed_constant",
            "k": 0.5,
            "status": "missing",
            "test_acc": None,
        }
    )
    return pd.DataFrame(rows)


def test_same_data_gives_byte_identical_figures(tmp_path):
    """Catches a timestamp or version in the files, which would make `make plots` dirty git."""
    files = []
    for name in ("a", "b"):
        fig = plots.accuracy_curves(
            _runs(), x="k", hue="init", panel="model", title="t", xlabel="k"
        )
        files.append(plots.save_figure(fig, tmp_path / name))
    for first, second in zip(*files):
        assert first.read_bytes() == second.read_bytes(), first.suffix


def test_a_title_too_wide_for_its_figure_breaks_before_its_protocol():
    """Catches the title wrapped mid-phrase ("... 1 / seed, bf16)"), as Figure 4's was, and a
    title that fits broken needlessly."""
    protocol = "(profile short: 20 epochs, all train / all test images, 1 seed, bf16)"
    head = "Figure 4: varying the width of the parent network, edge-popup at k = 0.5, " * 2
    long = f"{head} {protocol}"
    fig = plots.accuracy_curves(_runs(), x="k", hue="init", panel="model", title=long, xlabel="k")
    assert fig._suptitle.get_text() == f"{head}\n{protocol}"
    fig = plots.accuracy_curves(
        _runs(), x="k", hue="init", panel="model", title="t (p)", xlabel="k"
    )
    assert fig._suptitle.get_text() == "t (p)"


def test_learning_curves_one_line_per_run():
    curves = pd.DataFrame(
        [
            {
                "method": "edge-popup",
                "init": "signed_constant",
                "k": k,
                "optimizer": "sgd",
                "width": 1.0,
                "model": "conv2",
                "hash": f"h{k}",
                "epoch": e,
                "test_acc": 0.1 * e,
            }
            for k in (0.1, 0.5)
            for e in (1, 2, 3)
        ]
    )
    fig = plots.learning_curves(curves, "curves", panel="model")
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and list(lines[0].get_xdata()) == [1, 2, 3]
    assert plots.learning_curves(None, "none") is None
    assert plots.learning_curves(curves.assign(test_acc=None), "no accuracy") is None


def test_learning_curve_panels_keep_the_papers_order_whichever_run_lands_first():
    """Panels ordered by the data moved when a Conv2 U_x run landed before any N_k one."""
    curves = pd.DataFrame(
        [
            {
                "method": "edge-popup",
                "init": init,
                "k": 0.5,
                "optimizer": "sgd",
                "width": 1.0,
                "model": model,
                "hash": f"{model}{init}",
                "epoch": e,
                "test_acc": 0.5,
            }
            for model, init in (
                ("conv4", "signed_xavier_constant"),
                ("conv2", "kaiming_normal"),
                ("conv2", "signed_constant"),
            )
            for e in (1, 2)
        ]
    )
    fig = plots.learning_curves(curves, "order", panel="model", columns="init")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith("Conv2, signed Kaiming constant") and "Conv4" in titles[-1]
    assert [t.split(", ")[1].split(" $")[0] for t in titles[:3]] == [
        "signed Kaiming constant",
        "Kaiming normal",
        "signed Xavier constant",
    ]
    empty = [
        ax.get_title() for ax in fig.axes if [t.get_text() for t in ax.texts] == ["not run yet"]
    ]
    assert len(empty) == 3 and "Conv2, signed Xavier constant" in empty[0], empty  # no curve yet


def test_learning_curves_give_every_method_its_own_line():
    """Catches a dense or Zhou et al. curve drawn like an edge-popup one (the colorblind
    palette once gave them near colours in the paper's Conv2 curves)."""
    curves = pd.DataFrame(
        [
            {
                "method": method,
                "init": "signed_constant",
                "k": 0.5,
                "optimizer": optimizer,
                "width": 1.0,
                "model": "conv2",
                "hash": method,
                "epoch": e,
                "test_acc": 0.1 * e,
            }
            for method, optimizer in (("edge-popup", "sgd"), ("dense", "adam"), ("zhou", "sgd"))
            for e in (1, 2, 3)
        ]
    )
    fig = plots.learning_curves(curves, "curves", panel="model")
    styles = {line.get_label(): line.get_linestyle() for line in fig.axes[0].get_lines()}
    assert styles == {
        "edge-popup $U_k$ k=0.5": "-",
        "dense (Adam)": ":",
        "Zhou et al. $U_k$": "--",
    }, styles
    assert plots.figure_problems(fig) == []


def test_a_figure_with_no_finished_run_says_so():
    """Catches a plot that crashes before the first run of a campaign has finished."""
    runs = _runs().assign(status="missing", test_acc=None)
    fig = plots.accuracy_curves(runs, x="k", hue="init", panel="model", title="t", xlabel="k")
    assert len(fig.axes) == 3 and not fig.legends
    assert all("not run yet" in [t.get_text() for t in ax.texts] for ax in fig.axes)


def test_a_panel_counts_its_missing_dense_baselines_among_the_runs_not_run_yet():
    """Catches Conv8's "5 of 10 runs not run yet" while its two dense lines were also missing."""
    runs = pd.DataFrame(
        [
            {
                "model": "conv8",
                "init": "signed_constant",
                "k": k,
                "status": "finished",
                "test_acc": 0.7,
            }
            for k in (0.1, 0.5, 0.9)
        ]
        + [
            {
                "model": "conv8",
                "init": "kaiming_normal",
                "k": 0.5,
                "status": "missing",
                "test_acc": None,
            }
        ]
    )
    dense = pd.DataFrame(
        [
            {
                "model": "conv8",
                "method": "dense",
                "optimizer": o,
                "k": 1.0,
                "init": "kaiming_normal",
                "status": s,
                "test_acc": a,
            }
            for o, s, a in (("sgd", "finished", 0.8), ("adam", "missing", None))
        ]
    )
    fig = plots.accuracy_curves(
        runs, x="k", hue="init", panel="model", title="t", xlabel="k", baselines=dense
    )
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "2 of 6 runs not run yet" in texts, texts


def test_note_of_runs_not_run_yet_covers_no_point():
    """Catches the note drawn over the lowest point of a partly run panel (the paper campaign's
    Conv2 panel, whose k=0.9 point sat in the bottom right corner)."""
    from matplotlib.transforms import Bbox

    runs = pd.DataFrame(
        [
            {
                "model": "conv2",
                "init": "signed_constant",
                "k": k,
                "status": "finished",
                "test_acc": acc,
            }
            for k, acc in ((0.1, 0.618), (0.5, 0.766), (0.9, 0.617))
        ]
        + [
            {
                "model": "conv2",
                "init": "kaiming_normal",
                "k": k,
                "status": "missing",
                "test_acc": None,
            }
            for k in (0.1, 0.5, 0.9)
        ]
    )
    fig = plots.accuracy_curves(
        runs, x="k", hue="init", panel="model", title="t", xlabel="k", x_percent=True
    )
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
    levels = {
        ax.get_title(): [
            line.get_ydata()[0] for line in ax.get_lines() if line.get_label() == "published"
        ]
        for ax in fig.axes
    }
    assert levels == {"Conv2": [], "Conv4": [72.5], "Conv6": []}  # panels named as in the paper
    assert "published" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert "published 72.5" in [t.get_text() for t in fig.axes[1].texts]  # and on the line


def test_a_single_x_value_gets_its_own_tick():
    """Catches a smoke plot whose x axis read 0.945-1.050 around its one width."""
    runs = pd.DataFrame(
        [
            {
                "model": "conv4",
                "init": "signed_constant",
                "width": 1.0,
                "status": "finished",
                "test_acc": 0.3,
            }
        ]
    )
    fig = plots.accuracy_curves(
        runs, x="width", hue="init", panel="model", title="t", xlabel="width"
    )
    assert list(fig.axes[0].get_xticks()) == [1.0]
    assert fig.axes[0].get_xlim() == (0.5, 1.5)


def test_widths_on_a_ratio_axis_are_evenly_spaced_and_read_as_plain_numbers():
    """Catches Figure 4's width axis crowding 0.25 and 0.5 (a linear axis), or labelling its
    ticks 2^-2 (matplotlib's default on a log axis)."""
    runs = pd.DataFrame(
        [
            {
                "model": "conv4",
                "init": "signed_constant",
                "width": w,
                "status": "finished",
                "test_acc": 0.5 + w / 10,
            }
            for w in (0.25, 0.5, 1.0, 2.0)
        ]
    )
    fig = plots.accuracy_curves(
        runs, x="width", hue="init", panel="model", title="t", xlabel="width", x_log=True
    )
    ax = fig.axes[0]
    fig.canvas.draw()
    assert ax.get_xscale() == "log"
    assert [label.get_text() for label in ax.get_xticklabels()] == ["0.25", "0.5", "1", "2"]
    left, right = ax.get_xlim()
    assert right / 2.0 == pytest.approx(0.25 / left)  # the same room on both sides
    pixels = ax.transData.transform([(w, 0.6) for w in (0.25, 0.5, 1.0, 2.0)])[:, 0]
    assert max(pixels[1:] - pixels[:-1]) - min(pixels[1:] - pixels[:-1]) < 1e-6


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
    result = {
        "config": {"model": "conv8", "k": 0.1},
        "status": "finished",
        "history": [{"epoch": e + 1, "loss": loss} for e, loss in enumerate(stuck)],
    }
    row = tables.results_frame([result], "fig3", "short").iloc[0]
    assert row["did_not_leave_chance"]
    runs = _runs().assign(did_not_leave_chance=lambda r: (r["k"] == 0.1) & (r["model"] == "conv4"))
    fig = plots.accuracy_curves(runs, x="k", hue="init", panel="model", title="t", xlabel="k")
    open_points = [
        line
        for ax in fig.axes
        for line in ax.get_lines()
        if line.get_markerfacecolor() == "white" and len(line.get_xdata())
    ]
    assert sorted(float(x) for line in open_points for x in line.get_xdata()) == [0.1, 0.1]
    assert "did not leave chance" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert plots.figure_problems(fig) == []
    plt.close(fig)


def _start_and_step(markevery) -> tuple[int, None, int]:
    start, step = markevery if isinstance(markevery, tuple) else (0, markevery)
    return start, None, step


def test_curves_lying_on_one_another_each_show_their_markers():
    """Catches the deep low-k figure's Conv8 U_k curve hidden under another run at chance: both
    at ln 10 every epoch, their markers on the same epochs, only one curve to be seen."""
    import matplotlib.pyplot as plt

    curves = pd.DataFrame(
        [
            {
                "method": "edge-popup",
                "init": init,
                "k": 0.1,
                "optimizer": "sgd",
                "width": 1.0,
                "model": "conv8",
                "hash": init,
                "epoch": e,
                "loss": 2.3026,
                "test_acc": 0.1,
            }
            for init in ("signed_constant", "kaiming_normal")
            for e in range(1, 21)
        ]
    )
    for fig in (
        plots.loss_and_accuracy_curves(curves, "at chance"),
        plots.learning_curves(curves, "at chance", panel="model"),
    ):
        for ax in fig.axes:
            marked = [
                frozenset(line.get_xdata()[slice(*_start_and_step(line.get_markevery()))])
                for line in ax.get_lines()
                if len(line.get_xdata()) == 20
            ]
            if marked:
                assert len(marked) == 2 and not marked[0] & marked[1], marked
        plt.close(fig)


def _problems_of(fig, kind: str) -> list[str]:
    return [p for p in plots.figure_problems(fig) if kind in p]


def test_figure_problems_finds_a_scale_with_nothing_drawn_on_it():
    """Catches an empty panel whose axis read 0-1 under "test accuracy (%)"; accuracy_curves
    now gives an empty figure the accuracy's 0-100 scale."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_ylabel("test accuracy (%)")
    ax.text(0.5, 0.5, "not run yet", transform=ax.transAxes)
    assert _problems_of(fig, "a scale nothing drawn on it has"), plots.figure_problems(fig)
    runs = _runs().assign(status="missing", test_acc=None)
    fig = plots.accuracy_curves(runs, x="k", hue="init", panel="model", title="t", xlabel="k")
    assert fig.axes[0].get_ylim() == (0, 100)
    assert plots.figure_problems(fig) == []
    plt.close("all")


def test_figure_problems_finds_a_series_drawn_in_two_looks():
    """Catches the budget study's curves, where Zhou et al. (k empty) had a colour per panel
    under one legend entry; learning_curves now gives it one look in every panel."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2)
    left.plot([1, 2], [40, 50], color="#de8f05", label="Zhou et al. $N_k$")
    right.plot([1, 2], [40, 50], color="#8a5a00", label="Zhou et al. $N_k$")
    assert _problems_of(fig, "drawn in 2 looks"), plots.figure_problems(fig)
    curves = pd.DataFrame(
        [
            {
                "method": m,
                "init": i,
                "k": k,
                "optimizer": "sgd",
                "width": 1.0,
                "model": "conv2",
                "epochs": n,
                "schedule": f"{n} epochs",
                "hash": f"{m}{k}{n}",
                "epoch": e,
                "test_acc": 0.1 * e,
            }
            for n in (5, 10)
            for m, i, k in (
                ("zhou", "kaiming_normal", None),
                ("edge-popup", "signed_constant", 0.1),
                ("edge-popup", "signed_constant", 0.5),
            )
            for e in (1, 2, 3)
        ]
    )
    fig = plots.learning_curves(curves, "curves", panel="schedule")
    assert plots.figure_problems(fig) == []
    plt.close("all")


def test_figure_problems_finds_a_level_on_the_panel_frame():
    """Catches Figure 6's published Conv6 level (76.5 %) drawn on the top of its frame;
    reference_lines now widens the axis to hold it inside, with its label."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([10, 50, 90], [61.7, 76.6, 61.7])
    ax.set_ylim(60, 76.5)
    ax.axhline(76.5, linestyle="-.", label="published")
    assert _problems_of(fig, "on or past the panel's frame"), plots.figure_problems(fig)
    runs = _runs().assign(test_acc=lambda r: 0.6 + r["k"] / 6)  # 61.7 to 75 %
    fig = plots.accuracy_curves(runs, x="k", hue="init", panel="model", title="t", xlabel="k")
    plots.reference_lines(fig, {"conv2": 66.0, "conv4": 72.5, "conv6": 76.5}, "published")
    assert plots.figure_problems(fig) == []
    plt.close("all")


def test_figure_problems_finds_a_canvas_that_shrinks_its_text_or_its_panels():
    """Catches the budget study's five learning-curve panels in a row (3725 px: its text a
    third of its size when shown) and pab_accuracy's one small panel on a canvas widened by its
    title (2441 px); learning_curves now wraps panels, and titles wrap to the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(25, 4))
    for ax in axes:
        ax.plot([1, 2], [40, 50])
        ax.set_title("20 epochs")
    fig.tight_layout()  # as learning_curves laid them out: 25 inches of panels
    assert _problems_of(fig, "px tall"), plots.figure_problems(fig)
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.plot([0.1, 0.5], [40, 50])
    fig.suptitle(
        "PaB vs edge-popup (profile short: 20 epochs, all train / all test images, "
        "1 seed, bf16, ResNet-18 width 1, IteRand every 300 steps, PaB 36 epochs)"
    )
    assert _problems_of(fig, "of the canvas' width"), plots.figure_problems(fig)
    curves = pd.DataFrame(
        [
            {
                "method": "edge-popup",
                "init": "signed_constant",
                "k": 0.5,
                "model": "conv2",
                "schedule": f"{n} epochs",
                "hash": str(n),
                "epoch": e,
                "test_acc": 0.1 * e,
            }
            for n in (5, 10, 20, 40, 100)
            for e in (1, 2, 3)
        ]
    )
    fig = plots.learning_curves(curves, "curves", panel="schedule")
    assert plots.figure_problems(fig) == []
    runs = _runs()[lambda r: r["model"] == "conv2"]
    fig = plots.accuracy_curves(
        runs,
        x="k",
        hue="init",
        panel="model",
        xlabel="k",
        title="PaB vs edge-popup (profile short: 20 epochs, all train / "
        "all test images, 1 seed, bf16, ResNet-18 width 1, IteRand "
        "every 300 steps, PaB 36 epochs)",
    )
    assert plots.figure_problems(fig) == []
    plt.close("all")


def test_points_far_below_the_others_sit_on_the_bottom_edge_with_their_accuracy():
    """Catches Figure 3's axis running 5-85 % for two Conv8 runs at chance, which squashed the
    50-80 % band where the series differ; and x ticks between the grid's k values."""
    runs = _runs().assign(test_acc=lambda r: 0.55 + r["k"] / 4)
    runs.loc[(runs["model"] == "conv4") & (runs["k"] == 0.1), "test_acc"] = 0.102
    fig = plots.accuracy_curves(
        runs, x="k", hue="init", panel="model", title="t", xlabel="k", x_percent=True
    )
    low, high = fig.axes[0].get_ylim()
    assert 40 < low < 55 and high < 85, (low, high)
    printed = [t.get_text() for t in fig.axes[1].texts]
    assert printed.count("\u219310.2") == 2, printed
    assert list(fig.axes[0].get_xticks()) == [10, 50, 90]
    assert plots.figure_problems(fig) == []


def test_a_point_at_chance_cut_to_the_bottom_edge_stays_open_there():
    """Catches Figure 7's Conv4 N_x k = 0.1 (12.6 %, did not leave chance) drawn as a filled
    marker on the bottom edge, while its open marker sat out of view at its true accuracy."""
    import matplotlib.pyplot as plt

    runs = _runs().assign(test_acc=lambda r: 0.55 + r["k"] / 4)
    stuck = (runs["model"] == "conv4") & (runs["k"] == 0.1)
    runs.loc[stuck, "test_acc"] = 0.102
    runs["did_not_leave_chance"] = stuck & (runs["init"] == "kaiming_normal")
    fig = plots.accuracy_curves(runs, x="k", hue="init", panel="model", title="t", xlabel="k")
    on_edge = [line for line in fig.axes[1].get_lines() if not line.get_clip_on()]
    assert len(on_edge) == 2, on_edge
    faces = sorted(line.get_markerfacecolor() == "white" for line in on_edge)
    assert faces == [False, True], faces  # the run at chance open, the other filled
    plt.close(fig)


@pytest.mark.parametrize(
    "lowest, cut", [(14.0, False), (5.0, True)], ids=["held-by-the-room", "below-it"]
)
def test_a_point_is_cut_to_the_bottom_edge_only_when_it_lies_below_the_axis(lowest, cut):
    """Catches Figure 6's Conv6 N_k k = 0.1 (13.7 %) drawn twice, once in place and once on
    the bottom edge as '13.7 below the axis', because the room made below the others for cut
    points held it: a point is cut only if the axis drawn does not reach it."""
    import matplotlib.pyplot as plt

    runs = _runs()
    finished = runs["status"] == "finished"
    values = [lowest, 25, 45, 53, 54, 60, 66, 72, 74, 76, 78, 79]
    runs.loc[finished, "test_acc"] = [v / 100 for v in values]
    fig = plots.accuracy_curves(runs, x="k", hue="init", panel="model", title="t", xlabel="k")
    bottom = fig.axes[0].get_ylim()[0]
    printed = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_text()[:1] == "\u2193"]
    assert printed == ([f"\u2193{lowest:.1f}"] if cut else []), printed
    assert (lowest < bottom) == cut, (lowest, bottom)
    assert bottom < 25  # the next point up is always in place
    plt.close("all")


def test_a_straggler_twelve_points_under_a_tight_cluster_is_drawn_in_place():
    """Catches Figure 4's Conv4 width 0.25 (63.4 %, under a cluster at 73-82 %) cut to the
    bottom edge, its curve leaving the panel: a point is an outlier 20 points under the lower
    quartile, as a run at chance is."""
    import matplotlib.pyplot as plt

    runs = _runs()
    finished = runs["status"] == "finished"
    values = [63, 73, 75, 75, 77, 78, 79, 80, 80, 81, 81, 82]
    runs.loc[finished, "test_acc"] = [v / 100 for v in values]
    fig = plots.accuracy_curves(runs, x="k", hue="init", panel="model", title="t", xlabel="k")
    printed = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_text()[:1] == "\u2193"]
    assert printed == [] and fig.axes[0].get_ylim()[0] < 63, printed
    plt.close("all")


def test_a_long_title_and_legend_leave_every_panel_its_minimum_height():
    """Figure 6's one row of panels under a long title and a three-row legend came out 1.2
    inches tall, flattening the differences between series; the figure grows instead. Catches
    a layout that gives the panels whatever the text leaves."""
    runs = pd.concat([_runs().assign(init=f"init {n}") for n in range(6)], ignore_index=True)
    fig = plots.accuracy_curves(
        runs, x="k", hue="init", panel="model", title="a long title " * 12, xlabel="k"
    )
    heights = [ax.get_position().height * fig.get_figheight() for ax in fig.axes]
    assert min(heights) >= plots._MIN_PANEL_HEIGHT - 1e-6, heights
