"""A short real run on CIFAR-10 (the shared copy, or $DATA_DIR)."""

import pytest

from supermask.config import RunConfig
from supermask.runs.sweep import run

pytestmark = pytest.mark.cifar


def test_conv2_edge_popup_learns_cifar10(cifar_dir, real_data_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERMASK_CACHE", real_data_cache)
    config = RunConfig(
        model="conv2",
        method="edge-popup",
        k=0.5,
        init="signed_constant",
        epochs=2,
        train_subset=4000,
        seed=0,
    )
    result = run(config, results_dir=tmp_path, data_dir=cifar_dir, device="cpu", progress=False)
    assert result["status"] == "finished"
    assert result["test_acc"] > 0.25  # chance is 0.10
    assert result["kept"] == pytest.approx(0.5 * result["total"], rel=1e-3)
