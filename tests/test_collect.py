import math

import pandas as pd

from supermask.runs.tables import milestones


def test_milestones_read_each_run_at_the_given_epochs():
    """One row per run, accuracy in % after each asked epoch, empty where the run is not there;
    runs named as in the papers (catches a dense run labelled "kaiming_normal, k 1.0")."""
    curves = pd.DataFrame(
        [
            {
                "model": "conv2",
                "method": "edge-popup",
                "init": "signed_constant",
                "k": k,
                "optimizer": "sgd",
                "epoch": e,
                "test_acc": k / 10 + e / 100,
            }
            for k in (0.5, 0.9)
            for e in range(1, 4 if k == 0.9 else 61)
        ]
        + [
            {
                "model": "conv2",
                "method": "dense",
                "init": "kaiming_normal",
                "k": 1.0,
                "optimizer": "adam",
                "epoch": e,
                "test_acc": 0.5,
            }
            for e in (1, 2)
        ]
    )
    table = milestones(curves, epochs=(2, 50, 100))
    assert list(table.columns) == ["epoch 2", "epoch 50", "epoch 100"]
    assert list(table.index) == [
        ("Conv2", "edge-popup U_k k=0.5"),
        ("Conv2", "edge-popup U_k k=0.9"),
        ("Conv2", "dense (Adam)"),
    ]
    half = table.loc[("Conv2", "edge-popup U_k k=0.5")]
    assert (half["epoch 2"], half["epoch 50"]) == (7.0, 55.0) and math.isnan(half["epoch 100"])
    nine = table.loc[("Conv2", "edge-popup U_k k=0.9")]
    assert nine["epoch 2"] == 11.0 and math.isnan(nine["epoch 50"])


def test_a_redraw_collects_every_run_the_store_holds_without_the_data(tmp_path, tiny_data_dir):
    """`make plots` (train=False) draws what `make figN` would: runs trained since the CSV was
    written are collected from the store, and no data set is needed to find them."""
    from supermask.config import get_profile
    from supermask.runs.grid import figure_runs
    from supermask.runs.sweep import sweep

    profile = get_profile("smoke")
    configs = [
        profile.apply(model="conv2", width=0.125, k=k, train_subset=40, test_subset=20)
        for k in (0.3, 0.5)
    ]
    grid = [({}, config) for config in configs]
    figure_runs("fig", profile, grid[:1], tmp_path, tiny_data_dir)  # the CSV: one run
    sweep(configs[1:], results_dir=tmp_path, data_dir=tiny_data_dir, progress=False)
    redrawn = figure_runs("fig", profile, grid, tmp_path, tmp_path / "no-data", train=False)
    assert list(redrawn["status"]) == ["finished", "finished"]
    curves = pd.read_csv(tmp_path / "smoke" / "fig_curves.csv")
    assert set(curves["hash"]) == {config.hash for config in configs}
