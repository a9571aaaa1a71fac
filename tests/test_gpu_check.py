"""``make gpu-check`` runs on a machine without CUDA: one line says what it skipped."""

import json

import torch

from supermask.training.gpu_check import main


def test_gpu_check_without_cuda_skips_the_gpu_parts_and_checks_the_stack(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    main(["--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "skipped: no CUDA device" in printed
    [path] = tmp_path.glob("*-gpu-check.json")
    report = json.loads(path.read_text())
    assert report["cuda"] is False and "timings" not in report
    [agreement] = report["agreement"]
    assert agreement["bits_differing_all_steps"] == 0 and agreement["mask_bits"] > 0
    assert agreement["max_relative_score_error"] < 1e-12


def test_a_measurement_that_fails_is_reported_and_the_others_stand():
    """On a GPU, one failing measurement (a capture gone wrong, memory) must not cost the
    report: it is recorded as an error and printed as one."""
    from supermask.training.gpu_check import _measured, format_report, graph_agreement

    failed = _measured(graph_agreement, "conv2", torch.device("cpu"))  # graphs need CUDA
    assert failed["error"].startswith("ValueError: CUDA graphs need a CUDA device")
    timing = {"step_s": 0.002, "images_per_s": 64000.0, "epoch_s": 0.8, "graph_captured": True}
    stack = {"stack_size": 4, "run_step_s": 0.0005, "epochs_per_s": 5.1}
    report = {
        "device": "cuda: a card",
        "check_s": 100.0,
        "path": "results/bench/x-gpu-check.json",
        "sync_free_epoch": {"sync_free": True},
        "timings": {
            "conv2-bf16": {
                "single": timing,
                "single_graphed": {"error": "RuntimeError: capture"},
                "stacks": [stack, {"stack_size": 10, "error": "OutOfMemoryError: CUDA"}],
            }
        },
        "agreement": [{"error": "RuntimeError: x"}],
        "graph_agreement": [failed],
    }
    printed = format_report(report)
    assert "single 2.00 ms/step, graphed error (RuntimeError: capture)" in printed
    assert "N=4: 0.50 ms/run-step (5.10 epochs/s), N=10: error (OutOfMemoryError" in printed
    assert "graphed vs eager: error (ValueError: CUDA graphs need a CUDA device" in printed
