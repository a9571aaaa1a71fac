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


def test_the_readme_quotes_the_newest_cuda_check_and_what_figure_3_would_take(tmp_path):
    """The README's GPU paragraph is generated: from the newest check that ran on CUDA (a CPU
    check says nothing of a GPU), Figure 3's paper grid costed at the stacked run-step time."""
    from supermask.config import RunConfig
    from supermask.training.gpu_check import latest_cuda_report, readme_paragraph

    assert "No GPU has measured this code yet" in readme_paragraph(None, [])
    timing = {"step_s": 0.002, "images_per_s": 64000.0, "epoch_s": 0.8}
    stacks = [
        {"stack_size": 4, "run_step_s": 0.001, "images_per_s": 128000.0},
        {"stack_size": 10, "run_step_s": 0.0005, "images_per_s": 256000.0},
    ]
    report = {
        "device": "NVIDIA H100",
        "git_commit": "abcdef0123",
        "measured_at": "2026-12-08T10:00:00+0000",
        "cuda": True,
        "timings": {
            "conv4-bf16": {"single": timing, "single_graphed": timing, "stacks": stacks},
        },
    }
    (tmp_path / "old-gpu-check.json").write_text(
        json.dumps({**report, "measured_at": "2026-12-01T00:00:00+0000", "device": "older"})
    )
    (tmp_path / "vm-gpu-check.json").write_text(json.dumps({"cuda": False, "device": "cpu"}))
    (tmp_path / "new-gpu-check.json").write_text(json.dumps(report))
    assert latest_cuda_report(tmp_path)["device"] == "NVIDIA H100"
    conv4 = [RunConfig(model="conv4", seed=s, epochs=100, precision="bf16") for s in range(100)]
    text = readme_paragraph(report, conv4)
    assert "on NVIDIA H100 (commit abcdef0, 2026-12-08)" in text
    assert "2.00 ms alone, 2.00 ms replayed from a CUDA graph" in text
    assert "0.50 ms per run in a stack of 10 (256,000 images/s)" in text
    # 100 runs x 100 epochs x 391 steps x 0.5 ms = 1955 s
    assert "(100 runs of 100 epochs) would take about 0.5 GPU-hours" in text
    assert "scaled from Conv4" not in text
    assert "evaluation not counted" in text
    conv6 = RunConfig(model="conv6", epochs=100, precision="bf16")
    assert "Conv6 and Conv8 scaled from Conv4" in readme_paragraph(report, [*conv4, conv6])
    report["timings"]["conv4-bf16"]["single"] = {**timing, "eval_s": 1.0}
    # and 100 runs x 100 epochs x 1 s of evaluation: 11,955 s in all
    assert "about 3.3 GPU-hours" in readme_paragraph(report, conv4)
    assert "evaluation included" in readme_paragraph(report, conv4)
