"""A run's mask.npz: written when it finishes, read back bit-exactly, refused when it is not the
run's, and checked by ``verify`` against the recorded accuracy."""

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from supermask.cli import main
from supermask.config import PROFILES, RunConfig
from supermask.data.cifar10 import load_cifar10
from supermask.figures import subnetworks
from supermask.runs.records import read_model
from supermask.runs.subnetwork import (
    MASK,
    MaskError,
    Subnetwork,
    mask_shapes,
    read_mask,
    rebuild,
    subnetwork_of,
    write_mask,
)
from supermask.runs.sweep import run
from supermask.training.evaluate import accuracy
from supermask.training.loop import build

from conftest import REPO

EDGE_POPUP = RunConfig(model="conv2", width=0.25, k=0.5, epochs=3, batch_size=32)
ZHOU = RunConfig(model="conv2", width=0.25, method="zhou", epochs=1, batch_size=32, eval_samples=2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_data_dir) -> dict[str, Path]:
    """Two tiny finished runs (edge-popup, Zhou et al.) and a dense one, trained once."""
    results = tmp_path_factory.mktemp("results")
    dense = RunConfig(model="conv2", width=0.25, method="dense", epochs=1, batch_size=32)
    return {
        config.method: Path(
            run(config, results_dir=results, data_dir=tiny_data_dir, device="cpu", progress=False)[
                "run_dir"
            ]
        )
        for config in (EDGE_POPUP, ZHOU, dense)
    }


@pytest.fixture
def edge_popup(runs, tmp_path) -> Path:
    """A copy of the edge-popup run to damage."""
    return Path(shutil.copytree(runs["edge-popup"], tmp_path / "runs" / runs["edge-popup"].name))


def _trained(run_dir: Path, config: RunConfig):
    model = build(config)
    model.load_state_dict(read_model(run_dir / "model.pt"))
    return model


@pytest.mark.parametrize("method", ["edge-popup", "zhou"])
def test_a_finished_run_writes_its_mask_and_it_reads_back_bit_exactly(runs, method):
    config = {"edge-popup": EDGE_POPUP, "zhou": ZHOU}[method]
    expected = subnetwork_of(_trained(runs[method], config), config)
    with np.load(runs[method] / MASK) as archive:  # the format, as a user without us reads it
        shapes = json.loads(str(archive["shapes"]))
        assert str(archive["hash"]) == config.hash
        assert set(archive.files) == {"hash", "shapes", *shapes}
        first = np.unpackbits(archive["features.0.weight"], count=16 * 3 * 9)
    assert shapes["features.0.weight"] == [16, 3, 3, 3]
    assert np.array_equal(first, expected.masks["features.0.weight"].reshape(-1))
    read = read_mask(runs[method] / MASK, config, mask_shapes(build(config)))
    assert read.masks.keys() == expected.masks.keys() and not read.signs
    for name, mask in expected.masks.items():
        assert np.array_equal(read.masks[name], mask), name
    result = json.loads((runs[method] / "result.json").read_text())
    assert read.kept == sum(kept for name, (kept, _) in result["kept_per_layer"].items())


def test_the_dense_baseline_writes_no_mask(runs):
    assert not (runs["dense"] / MASK).exists()


def test_pab_keeps_its_signs(tmp_path):
    """PaB's training flips signs: they travel as a second entry per layer."""
    config = RunConfig(model="conv2", width=0.25, method="pab", epochs=1, batch_size=32)
    model = build(config)
    layer = model.features[0].parametrizations.weight.original
    with torch.no_grad():
        layer[0].neg_()  # as Bop flips them
    written = subnetwork_of(model, config)
    write_mask(tmp_path / MASK, written)
    read = read_mask(tmp_path / MASK, config, mask_shapes(build(config)))
    assert read.signs.keys() == read.masks.keys()
    assert np.array_equal(read.signs["features.0.weight"], layer.detach().numpy() < 0)
    rebuilt = build(config)
    from supermask.runs.subnetwork import apply_subnetwork

    apply_subnetwork(rebuilt, read)
    assert torch.equal(rebuilt.features[0].parametrizations.weight.original, layer)


def test_the_network_rebuilt_from_the_mask_computes_what_the_trained_one_did(runs, tiny_data_dir):
    _, test = load_cifar10(tiny_data_dir, progress=False)
    for method, config in (("edge-popup", EDGE_POPUP), ("zhou", ZHOU)):
        trained = _trained(runs[method], config)
        from supermask.masks import sampled_masks

        with sampled_masks(trained, False), torch.no_grad():
            expected = trained(test.images[:8].float())
        rebuilt = rebuild(runs[method], config)
        with torch.no_grad():
            assert torch.equal(rebuilt(test.images[:8].float()), expected)


def _refused(run_dir: Path, tiny_data_dir, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", str(run_dir), "--data-dir", str(tiny_data_dir), "--device", "cpu"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert "recorded" not in captured.out  # nothing was evaluated
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 or lines[-1].startswith("python -m supermask: error:"), captured.err
    return lines[-1]


def _as_recorded_before_digests(run_dir: Path) -> None:
    """The run's record without its mask digest, as records written before digests are: the
    mask's own checks (run hash, shapes, bit counts, accuracy) are then what refuses it."""
    record = json.loads((run_dir / "result.json").read_text())
    record.pop("mask_sha256", None)
    (run_dir / "result.json").write_text(json.dumps(record))


def test_a_replaced_mask_is_refused_by_its_recorded_digest(runs, edge_popup, tiny_data_dir, capsys):
    shutil.copy(runs["zhou"] / MASK, edge_popup / MASK)
    assert "is not the file its record names" in _refused(edge_popup, tiny_data_dir, capsys)


def test_a_mask_of_another_run_is_refused(runs, edge_popup, tiny_data_dir, capsys):
    _as_recorded_before_digests(edge_popup)
    shutil.copy(runs["zhou"] / MASK, edge_popup / MASK)
    error = _refused(edge_popup, tiny_data_dir, capsys)
    assert f"is the mask of run {ZHOU.hash}, not of this run {EDGE_POPUP.hash}" in error


def test_a_mask_of_another_width_is_refused(edge_popup, tiny_data_dir, capsys):
    _as_recorded_before_digests(edge_popup)
    wider = RunConfig(**{**EDGE_POPUP.to_dict(), "width": 0.5})
    found = subnetwork_of(build(wider), wider)
    write_mask(edge_popup / MASK, Subnetwork(EDGE_POPUP.hash, found.masks, {}))  # its hash
    error = _refused(edge_popup, tiny_data_dir, capsys)
    assert (
        "layer features.0.weight has shape [32, 3, 3, 3] in the mask and [16, 3, 3, 3] in the run"
    ) in error


def test_a_truncated_mask_is_refused(edge_popup, tiny_data_dir, capsys):
    _as_recorded_before_digests(edge_popup)
    data = (edge_popup / MASK).read_bytes()
    (edge_popup / MASK).write_bytes(data[: len(data) // 2])
    assert "mask.npz is unreadable (truncated" in _refused(edge_popup, tiny_data_dir, capsys)


def test_a_mask_with_too_few_bits_is_refused(edge_popup, tiny_data_dir, capsys):
    _as_recorded_before_digests(edge_popup)
    with np.load(edge_popup / MASK) as archive:
        entries = {name: archive[name] for name in archive.files}
    entries["classifier.5.weight"] = entries["classifier.5.weight"][:-1]
    np.savez_compressed(edge_popup / MASK, **entries)
    error = _refused(edge_popup, tiny_data_dir, capsys)
    assert "entry classifier.5.weight holds 632 bits" in error and "needs 640 bits" in error


def test_verify_reproduces_the_recorded_accuracy(runs, tiny_data_dir, capsys):
    assert (
        main(
            [
                "verify",
                str(runs["edge-popup"]),
                str(runs["zhou"]),
                "--data-dir",
                str(tiny_data_dir),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    rows = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(rows) == 2 and all(row.split()[3] == "0" and row.split()[4] == "ok" for row in rows)


def _prediction_changing_swap(run_dir: Path, tiny_data_dir) -> Subnetwork:
    """The run's mask with one kept weight of the classifier dropped and one dropped weight
    kept instead (the kept count stays), chosen so that the correct count changes."""
    config = EDGE_POPUP
    model = build(config)
    found = read_mask(run_dir / MASK, config, mask_shapes(model))
    _, test = load_cifar10(tiny_data_dir, progress=False)
    from supermask.runs.subnetwork import apply_subnetwork

    correct = round(
        accuracy(apply_subnetwork(build(config), found), test, torch.device("cpu")) * len(test)
    )
    mask = found.masks["classifier.5.weight"]
    kept, dropped = np.flatnonzero(mask), np.flatnonzero(~mask)
    for on, off in zip(kept, dropped):
        swapped = mask.reshape(-1).copy()
        swapped[on], swapped[off] = False, True
        candidate = Subnetwork(
            found.hash, {**found.masks, "classifier.5.weight": swapped.reshape(mask.shape)}, {}
        )
        changed = accuracy(apply_subnetwork(build(config), candidate), test, torch.device("cpu"))
        if round(changed * len(test)) != correct:
            return candidate
    pytest.fail("no swap in the classifier changes a prediction")


def test_verify_catches_a_mask_that_changes_a_prediction(edge_popup, tiny_data_dir, capsys):
    """Two bits swapped in the classifier: the kept count is the record's, so only the
    recomputed accuracy can tell, and it must."""
    _as_recorded_before_digests(edge_popup)
    write_mask(edge_popup / MASK, _prediction_changing_swap(edge_popup, tiny_data_dir))
    assert (
        main(["verify", str(edge_popup), "--data-dir", str(tiny_data_dir), "--device", "cpu"]) == 1
    )
    captured = capsys.readouterr()
    row = captured.out.strip().splitlines()[1].split()
    assert int(row[3]) > 0 and row[4] == "ok"  # images differ; the kept count does not
    assert "1 of 1 runs differ from their record" in captured.err


def test_verify_catches_one_flipped_bit_by_its_kept_count(edge_popup, tiny_data_dir, capsys):
    _as_recorded_before_digests(edge_popup)
    found = read_mask(edge_popup / MASK, EDGE_POPUP, mask_shapes(build(EDGE_POPUP)))
    flipped = found.masks["features.0.weight"].copy()
    flipped.flat[0] = not flipped.flat[0]
    write_mask(
        edge_popup / MASK, Subnetwork(found.hash, {**found.masks, "features.0.weight": flipped}, {})
    )
    assert (
        main(["verify", str(edge_popup), "--data-dir", str(tiny_data_dir), "--device", "cpu"]) == 1
    )
    assert capsys.readouterr().out.strip().splitlines()[1].split()[4] in ("+1", "-1")


def test_masks_are_written_for_runs_trained_before_runs_wrote_them(edge_popup, capsys):
    before = (edge_popup / MASK).read_bytes()
    (edge_popup / MASK).unlink()
    assert main(["masks", str(edge_popup)]) == 0
    config = EDGE_POPUP
    with np.load(edge_popup / MASK) as again, np.load(__import__("io").BytesIO(before)) as first:
        assert sorted(again.files) == sorted(first.files)
        assert all(np.array_equal(again[name], first[name]) for name in first.files)
    assert main(["masks", str(edge_popup)]) == 0  # a valid mask is left as it is
    assert "0 masks written, 1 already there" in capsys.readouterr().err
    assert read_mask(edge_popup / MASK, config, mask_shapes(build(config))).hash == config.hash


def test_export_works_from_the_mask_when_model_pt_is_absent(edge_popup, tmp_path):
    assert main(["export", str(edge_popup), str(tmp_path / "a.pt")]) == 0
    (edge_popup / "model.pt").unlink()
    assert main(["export", str(edge_popup), str(tmp_path / "b.pt")]) == 0
    a = torch.load(tmp_path / "a.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_a_mask_does_not_stand_for_state_it_does_not_hold(edge_popup):
    """IteRand redraws weights while it trains: its mask needs model.pt."""
    config = RunConfig(model="conv2", width=0.25, method="iterand", k=0.5, epochs=1, batch_size=32)
    write_mask(edge_popup / MASK, subnetwork_of(build(config), config))
    (edge_popup / "model.pt").unlink()
    with pytest.raises(MaskError, match="IteRand redraws pruned weights"):
        rebuild(edge_popup, config)


def _as_recorded_before_masks(run_dir: Path) -> bytes:
    """The run as committed before runs wrote masks: no model.pt, no mask, no digests."""
    mask = (run_dir / MASK).read_bytes()
    (run_dir / MASK).unlink()
    (run_dir / "model.pt").unlink()
    record = json.loads((run_dir / "result.json").read_text())
    record.pop("mask_sha256", None)
    record.pop("model_sha256", None)
    (run_dir / "result.json").write_text(json.dumps(record))
    return mask


def test_retraining_a_run_without_model_pt_writes_the_committed_subnetworks_mask(
    edge_popup, tiny_data_dir, tmp_path, capsys
):
    original = _as_recorded_before_masks(edge_popup)
    argv = ["masks", str(edge_popup), "--data-dir", str(tiny_data_dir)]
    with pytest.raises(SystemExit):  # without --retrain it says how to get the mask
        main(["masks", "--retrain"])
    assert main(argv) == 0 and not (edge_popup / MASK).exists()
    assert "--retrain gets their masks" in capsys.readouterr().err
    assert main([*argv, "--retrain", "--scratch", str(tmp_path / "scratch")]) == 0
    assert "all 3 epochs equal" in capsys.readouterr().err
    with np.load(edge_popup / MASK) as written, np.load(io.BytesIO(original)) as trained:
        assert written.files == trained.files
        assert all(np.array_equal(written[name], trained[name]) for name in written.files)


def test_a_retrained_run_that_differs_from_its_record_gets_no_mask(
    edge_popup, tiny_data_dir, tmp_path, capsys
):
    """A retrain that does not reproduce the record is another subnetwork than the one whose
    accuracy is committed: catches a retrain that writes its mask regardless."""
    _as_recorded_before_masks(edge_popup)
    record = json.loads((edge_popup / "result.json").read_text())
    record["history"][1]["loss"] += 1e-6
    (edge_popup / "result.json").write_text(json.dumps(record))
    argv = ["masks", str(edge_popup), "--retrain", "--scratch", str(tmp_path / "scratch")]
    assert main([*argv, "--data-dir", str(tiny_data_dir)]) == 0
    assert "epoch 2 differs" in capsys.readouterr().err and not (edge_popup / MASK).exists()


def test_a_run_another_kind_of_device_trained_is_left_for_one_like_it(
    edge_popup, tiny_data_dir, tmp_path, capsys
):
    """Training does not repeat across devices (in bf16 it differs from the first epoch), so a
    retrain here would spend hours and write no mask: it is not started unless asked for."""
    _as_recorded_before_masks(edge_popup)
    record = json.loads((edge_popup / "result.json").read_text())
    record["device"] = "cpu: Another CPU (avx512-bf16, 1 thread)"
    (edge_popup / "result.json").write_text(json.dumps(record))
    argv = ["masks", str(edge_popup), "--retrain", "--scratch", str(tmp_path / "scratch")]
    argv += ["--data-dir", str(tiny_data_dir)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "trained on cpu: Another CPU (avx512-bf16, 1 thread), this is cpu: " in err
    assert "--any-device" in err and not (tmp_path / "scratch").exists()
    assert main([*argv, "--any-device"]) == 0  # the same machine under another name: it repeats
    assert "all 3 epochs equal" in capsys.readouterr().err and (edge_popup / MASK).exists()


def test_explore_tells_apart_runs_that_differ_only_in_seed(tmp_path, tiny_data_dir):
    """Two seeds of the same two k: each seed's pair of subnetworks is its own row of the
    overlap plot (the runs' legend names alone are equal across seeds)."""
    from dataclasses import replace

    import matplotlib.pyplot as plt

    for seed in (0, 1):
        for k in (0.3, 0.5):
            config = replace(EDGE_POPUP, k=k, seed=seed, epochs=1)
            run(config, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)
    profile = replace(PROFILES["smoke"], train_subset=None, test_subset=None)
    runs = subnetworks.chosen_runs(tmp_path, profile, {"model": ["conv2"]})
    assert len(runs) == 4 and runs["name"].is_unique
    assert "edge-popup $U_k$ k=0.3, width 0.25, seed 1" in set(runs["name"])
    masks, missing = subnetworks.load_masks(runs)
    assert not missing
    pairs, different = subnetworks.overlaps(runs, masks)
    assert pairs["pair"].nunique() == 2 and len(different) == 4  # seeds differ: weights differ
    plt.close(subnetworks.plot_overlaps(pairs, "jaccard", "two seeds"))


@pytest.mark.parametrize("profile", ["short", "paper"])
def test_every_committed_run_explore_can_choose_has_a_name_of_its_own(profile):
    """The exploration notebook keys its tables and plots by name: on the committed store, any
    selection (one model, or all) must name each run once, seeds of one configuration included."""
    everything = subnetworks.chosen_runs(REPO / "results", PROFILES[profile], None)
    assert len(everything) and everything["name"].is_unique
    for model in everything["model"].unique():
        chosen = subnetworks.chosen_runs(REPO / "results", PROFILES[profile], {"model": [model]})
        assert chosen["name"].is_unique, chosen["name"][chosen["name"].duplicated()].tolist()
