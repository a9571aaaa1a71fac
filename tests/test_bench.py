import pytest

from supermask.bench import run_benchmark


def test_benchmark_reports_every_ratio(tmp_path):
    """Runs the real benchmark on a tiny batch; asserts what it reports, not how fast it is."""
    report = run_benchmark(batch_size=4, repeats=1, warmup=1, device="cpu", out_dir=tmp_path)
    # Wide but real bounds: a mask step costs about a dense one (not 10x), a full sort more than
    # nothing, no step beats the machine's peak, and feeding data is cheaper than training on it.
    assert 0.3 < report["popup_over_dense"] < 10
    assert 0.2 < report["sort_over_popup"] < 20
    assert 0 < report["peak_fraction"] <= 1.5
    assert report["data_over_train"] > 1
    rows = report["models"]["conv4"]["variants"]
    assert set(rows) == {"dense", "edge-popup", "full-sort", "zhou"}
    # forward + backward of Conv4 is about 3 x 2 x 96 MFLOP-MACs per image
    assert report["models"]["conv4"]["step_gflop"] == pytest.approx(4 * 0.58, rel=0.1)
    assert list(tmp_path.glob("*.json"))
