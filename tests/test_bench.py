import pytest

from supermask.bench import run_benchmark


def test_benchmark_reports_every_ratio(tmp_path):
    """Runs the real benchmark on a tiny batch; asserts what it reports, not how fast it is."""
    report = run_benchmark(batch_size=4, repeats=1, warmup=1, device="cpu", out_dir=tmp_path)
    for key in ("popup_over_dense", "sort_over_popup", "peak_fraction", "data_over_train"):
        assert report[key] > 0
    rows = report["models"]["conv4"]["variants"]
    assert set(rows) == {"dense", "edge-popup", "full-sort", "zhou"}
    # forward + backward of Conv4 is about 3 x 2 x 96 MFLOP-MACs per image
    assert report["models"]["conv4"]["step_gflop"] == pytest.approx(4 * 0.58, rel=0.1)
    assert list(tmp_path.glob("*.json"))
