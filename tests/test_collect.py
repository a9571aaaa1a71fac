import math

import pandas as pd

from supermask.runs.tables import milestones


def test_milestones_read_each_run_at_the_given_epochs():
    """One row per run, accuracy in % after each asked epoch, empty where the run is not there."""
    curves = pd.DataFrame([{"model": "conv2", "method": "edge-popup", "init": "signed_constant",
                            "k": k, "optimizer": "sgd", "epoch": e, "test_acc": k / 10 + e / 100}
                           for k in (0.5, 0.9) for e in range(1, 4 if k == 0.9 else 61)])
    table = milestones(curves, epochs=(2, 50, 100))
    assert list(table.columns) == ["epoch 2", "epoch 50", "epoch 100"]
    assert len(table) == 2
    half = table.loc[("conv2", "edge-popup", "signed_constant", 0.5, "sgd")]
    assert (half["epoch 2"], half["epoch 50"]) == (7.0, 55.0) and math.isnan(half["epoch 100"])
    nine = table.loc[("conv2", "edge-popup", "signed_constant", 0.9, "sgd")]
    assert nine["epoch 2"] == 11.0 and math.isnan(nine["epoch 50"])
