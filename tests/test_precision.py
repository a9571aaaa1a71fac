"""bf16 is part of a run: its own identity, autocast where it belongs, fp32 everywhere else."""

import json

import pytest
import torch

from supermask.config import PROFILES, RunConfig
from supermask.data.cifar10 import load_cifar10
from supermask.masks import kept_count, masked_layers
from supermask.provenance import cpu_instruction_sets
from supermask.training.cifar10 import train
from supermask.training.device import autocast
from supermask.training.loop import build

from conftest import REPO, supermask, whole_and_resumed


def small(**fields):
    return RunConfig(
        **{"model": "conv2", "width": 0.25, "epochs": 2, "batch_size": 32, "k": 0.5, **fields}
    )


def test_fp32_is_the_implicit_precision_and_bf16_a_run_of_its_own():
    fp32, implicit, bf16 = small(precision="fp32"), small(), small(precision="bf16")
    assert implicit.precision == "fp32"
    assert fp32.hash == implicit.hash and "precision" not in fp32.canonical()
    assert bf16.hash != fp32.hash and '"precision":"bf16"' in bf16.canonical()
    assert RunConfig.from_dict(bf16.to_dict()) == bf16


def test_profiles_name_their_precision():
    assert all(profile.precision in ("fp32", "bf16") for profile in PROFILES.values())
    paper = PROFILES["paper"]
    assert paper.apply(model="conv2").precision == paper.precision
    assert paper.precision in paper.describe()


def test_an_unknown_precision_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown precision 'fp16'; valid: fp32, bf16"):
        RunConfig(precision="fp16")
    done = supermask("train", "--precision", "fp16")
    assert done.returncode == 2 and "fp16" in done.stderr and "bf16" in done.stderr


def _conv_output_dtypes(model: torch.nn.Module, precision: str) -> set:
    seen = set()
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    with autocast(torch.device("cpu"), precision):
        model(torch.randn(2, 3, 32, 32))
    for hook in hooks:
        hook.remove()
    return seen


def test_bf16_lowers_the_convolutions_only_inside_its_autocast():
    model = build(small(precision="bf16"))
    assert _conv_output_dtypes(model, "bf16") == {torch.bfloat16}
    assert _conv_output_dtypes(model, "fp32") == {torch.float32}


def test_bf16_trains_with_fp32_state_exact_masks_and_frozen_weights(tiny_data_dir):
    train_data, test_data = load_cifar10(tiny_data_dir)
    config = small(precision="bf16")
    initial = build(config).state_dict()
    outcome = train(config, train_data, test_data, "cpu", progress=False)
    assert outcome.status == "finished" and 0.0 <= outcome.test_acc <= 1.0
    final = outcome.model.state_dict()
    assert all(value.dtype in (torch.float32, torch.int64) for value in final.values())
    originals = [key for key in final if key.endswith(".original")]
    assert originals and all(torch.equal(final[key], initial[key]) for key in originals)
    assert any(not torch.equal(final[key], initial[key]) for key in final if key.endswith("scores"))
    for _, _, mask in masked_layers(outcome.model):
        assert int(mask.mask().sum()) == kept_count(0.5, mask.scores.numel())


def test_bf16_resume_equals_uninterrupted(tiny_data_dir, tmp_path):
    train_data, test_data = load_cifar10(tiny_data_dir)
    config = small(precision="bf16")
    whole, resumed = whole_and_resumed(config, train_data, test_data, tmp_path)
    assert resumed.history == whole.history and resumed.test_acc == whole.test_acc
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_bf16_and_fp32_runs_differ_and_land_in_their_own_run_directories(tiny_data_dir, tmp_path):
    from supermask.runs.sweep import run

    results = {
        p: run(small(precision=p, epochs=1), tmp_path, tiny_data_dir, device="cpu", progress=False)
        for p in ("fp32", "bf16")
    }
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(folders) == 2
    assert {r["config"]["precision"] for r in results.values()} == {"fp32", "bf16"}
    assert results["fp32"]["hash"] != results["bf16"]["hash"]
    # the trainer really computes in bf16: the same seed and data give another loss
    assert results["fp32"]["history"][0]["loss"] != results["bf16"]["history"][0]["loss"]


def test_the_cpu_instruction_sets_are_read_from_the_machine():
    sets = cpu_instruction_sets()
    assert {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "torch_capability"} <= sets.keys()
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "")
    assert sets["avx512_bf16"] == (" avx512_bf16" in flags)
    assert sets["avx2"] == (" avx2" in flags)


def test_records_made_before_the_field_existed_read_as_fp32():
    from supermask.runs import tables

    records = [
        json.loads(path.read_text())
        for path in sorted((REPO / "results" / "runs").glob("*/result.json"))
    ]
    record = next(r for r in records if "precision" not in r["config"])  # committed before it
    row = tables.results_frame([record], "fig", "paper").iloc[0]
    assert row["precision"] == "fp32"
    curves = tables.curves_frame([record], "fig", "paper")
    assert (curves["precision"] == "fp32").all()
