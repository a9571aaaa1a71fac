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
