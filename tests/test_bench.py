import pytest

from supermask.training.bench import report_name, run_benchmark


def test_benchmark_reports_every_ratio(tmp_path):
    """Runs the real benchmark on a tiny batch; asserts what it reports, not how fast it is."""
    report = run_benchmark(
        batch_size=4, repeats=1, warmup=1, device="cpu", out_dir=tmp_path, precisions=("fp32",)
    )
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
    assert [p.name for p in tmp_path.glob("*.json")] == [f"{report_name(report)}.json"]


@pytest.mark.parametrize(
    "sets, kind",
    [
        (None, "cuda"),
        ({"torch_capability": "AVX2", "avx512_bf16": False, "amx_bf16": False}, "avx2"),
        ({"torch_capability": "AVX512", "avx512_bf16": True, "amx_bf16": False}, "avx512-bf16"),
        ({"torch_capability": "AVX512", "avx512_bf16": True, "amx_bf16": True}, "amx-bf16"),
    ],
)
def test_each_kind_of_processor_keeps_its_own_report(sets, kind):
    """Every machine of this project is called "vm": a report named by host alone was
    overwritten by the next machine's."""
    report = {"host": "vm"} if sets is None else {"host": "vm", "cpu_instruction_sets": sets}
    assert report_name(report) == f"vm-{kind}"


def test_benchmark_times_bf16_beside_fp32_and_checks_the_targets(tmp_path):
    report = run_benchmark(
        variants=("dense", "edge-popup"),
        batch_size=4,
        repeats=1,
        warmup=1,
        device="cpu",
        out_dir=tmp_path,
    )
    conv4 = report["models"]["conv4"]
    assert set(conv4["variants"]) == set(conv4["variants_bf16"]) == {"dense", "edge-popup"}
    assert set(conv4["bf16_over_fp32"]) == {"dense", "edge-popup"}
    assert report["bf16_over_fp32"] == conv4["bf16_over_fp32"]["edge-popup"] > 0
    assert report["popup_over_dense_bf16"] == conv4["edge-popup_over_dense_bf16"] > 0
    assert report["matmul_gflops_bf16"] > 0 and report["matmul_gflops"] > 0
    assert isinstance(report["cpu_instruction_sets"]["avx512_bf16"], bool)
    targets = report["targets"]
    assert set(targets) == {"bf16_over_fp32", "popup_over_dense_bf16"}
    assert targets["bf16_over_fp32"]["met"] == (report["bf16_over_fp32"] >= 1.7)
