"""Offloading runs to a lent machine: pack here, train there (here on the CPU), land here."""

import json
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from supermask.config import RunConfig
from supermask.data.cifar10 import cifar10_identity
from supermask.files import file_digest
from supermask.runs import offload
from supermask.runs.store import RunStore

RUNS = (
    'paper {"model": "conv2", "method": "edge-popup", "k": 0.5, "epochs": 1, '
    '"batch_size": 40}\n'
    "# a comment, then a blank line\n\n"
    'paper {"model": "conv2", "method": "dense", "optimizer": "adam", "epochs": 1, '
    '"batch_size": 40}\n'
)


@pytest.fixture
def runs_file(tmp_path) -> Path:
    path = tmp_path / "runs.txt"
    path.write_text(RUNS)
    return path


@pytest.fixture
def bundle(tmp_path, runs_file, tiny_data_dir, monkeypatch) -> Path:
    monkeypatch.setattr(offload, "_clean_commit", lambda repo: "c0ffee")
    offload.pack(runs_file, tmp_path / "bundle", tmp_path / "home", tiny_data_dir)
    return tmp_path / "bundle"


def test_runs_file_lines_are_profile_fields(runs_file, tmp_path):
    configs = offload.read_runs(runs_file)
    assert [c.method for c in configs] == ["edge-popup", "dense"]
    assert configs[0].epochs == 1 and configs[0].train_subset is None  # paper's, then the line's
    bad = tmp_path / "bad.txt"
    bad.write_text('paper {"model": "conv2"}\nfast {"model": "conv2"}\n')
    with pytest.raises(offload.OffloadError, match=r"bad.txt:2: unknown profile 'fast'"):
        offload.read_runs(bad)
    with pytest.raises(offload.OffloadError, match="does not exist"):
        offload.read_runs(tmp_path / "missing.txt")


def test_pack_trains_at_a_commit_whose_library_is_clean(tmp_path):
    """A library edited since HEAD would train code no commit holds; results may change."""
    repo = tmp_path / "repo"
    (repo / "lib").mkdir(parents=True)
    (repo / "lib" / "a.py").write_text("x = 1\n")
    (repo / "results.csv").write_text("a\n")

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    (repo / "results.csv").write_text("b\n")  # a campaign worker wrote a CSV: fine
    assert offload._clean_commit(repo) == git("rev-parse", "HEAD")
    (repo / "lib" / "a.py").write_text("x = 2\n")
    with pytest.raises(offload.OffloadError, match="commit first"):
        offload._clean_commit(repo)


def test_pack_leaves_out_runs_finished_here(bundle, runs_file, tiny_data_dir, tmp_path):
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["commit"] == "c0ffee" and len(manifest["runs"]) == 2
    assert manifest["data_fingerprint"] == cifar10_identity(tiny_data_dir).fingerprint
    root = tiny_data_dir / "cifar10"
    files = [
        p.relative_to(root)
        for split in ("train", "test")
        for p in sorted((root / split).rglob("*.png"))
    ]
    index = json.loads((bundle / "cifar10-index.json").read_text())
    assert [Path(name) for name, _ in index] == files  # every image, in ImageFolder's order

    store = RunStore(tmp_path / "home", cifar10_identity(tiny_data_dir))
    first = offload.read_runs(runs_file)[0]
    store.start(first)
    store.save_result(
        first,
        {
            "hash": first.hash,
            "config": first.to_dict(),
            "status": "finished",
            "test_acc": 0.5,
            "data_fingerprint": store.data.fingerprint,
        },
    )
    again = offload.pack(runs_file, tmp_path / "again", tmp_path / "home", tiny_data_dir)
    assert [RunConfig(**fields) for fields in again["runs"]] == offload.read_runs(runs_file)[1:]


def test_train_then_land_round_trip(bundle, runs_file, tiny_data_dir, tmp_path):
    """Two workers share the runs (each trained once), the archive holds both records with the
    packed commit, and landing makes them finished runs of the home store."""
    summary = offload.train(
        bundle,
        tmp_path / "out",
        device="cpu",
        workers=2,
        deadline_s=300,
        work_dir=tmp_path / "work",
        poll_s=1,
    )
    assert summary["finished"] == 2 and summary["commit"] == "c0ffee"
    with tarfile.open(tmp_path / "out" / "runs.tar.gz") as tar:
        names = sorted(Path(name).name for name in tar.getnames())
    # config.json and result.json of each run, and the edge-popup run's subnetwork
    assert names == ["config.json"] * 2 + ["mask.npz"] + ["result.json"] * 2
    landed = offload.land(tmp_path / "out" / "runs.tar.gz", tmp_path / "home")
    assert len(landed["added"]) == 2 and landed["kept"] == []
    store = RunStore(tmp_path / "home", cifar10_identity(tiny_data_dir))
    for config in offload.read_runs(runs_file):
        result = store.result(config)
        assert result is not None and result["status"] == "finished"
        assert result["git_commit"] == "c0ffee"
        assert len(result["trained_by"]) == 1
        mask = store.run_dir(config) / "mask.npz"
        assert mask.exists() == (config.method == "edge-popup")
        assert result.get("mask_sha256") == (file_digest(mask) if mask.exists() else None)
    again = offload.land(tmp_path / "out" / "runs.tar.gz", tmp_path / "home")
    assert again["added"] == [] and len(again["kept"]) == 2  # a run already home is kept


def test_data_that_decodes_otherwise_trains_nothing(bundle, tmp_path):
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["data_fingerprint"] = "0" * 64
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(offload.OffloadError, match="not 000000000000 as where it was packed"):
        offload.train(bundle, tmp_path / "out", device="cpu", workers=1, work_dir=tmp_path / "work")
    assert not (tmp_path / "out").exists()
    from supermask.runs import lease  # a lease still brings back its check, and says why not more

    summary = lease.lease(bundle, tmp_path / "lease", 300, device="cpu", check_s=0.5)
    assert "not 000000000000 as where it was packed" in summary["runs"]["skipped"]
    assert "runs: none trained (the data decodes" in lease.format_summary(summary)


def test_a_run_that_cannot_end_before_the_deadline_is_not_started(tmp_path):
    conv2 = RunConfig(model="conv2", epochs=10)
    assert offload._seconds_per_epoch(tmp_path, conv2) is None  # nothing measured: try it
    (tmp_path / "1.json").write_text(json.dumps({"conv2-edge-popup-x1": 2.0}))
    assert offload._seconds_per_epoch(tmp_path, conv2) == 2.0
    conv8 = RunConfig(model="conv8", epochs=10)
    assert offload._seconds_per_epoch(tmp_path, conv8) == pytest.approx(2.0 * 2.5)
    # a stack of 4 is bounded by four runs alone until a stack of 4 is timed
    assert offload._seconds_per_epoch(tmp_path, conv2, 4) == pytest.approx(8.0)
    (tmp_path / "2.json").write_text(json.dumps({"conv2-edge-popup-x4": 3.0}))
    assert offload._seconds_per_epoch(tmp_path, conv2, 4) == 3.0

    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"runs": [conv2.to_dict()]}))
    (tmp_path / "results" / "speed").mkdir(parents=True)
    (tmp_path / "results" / "speed" / "1.json").write_text(json.dumps({"conv2-edge-popup-x1": 60}))
    # 10 epochs of 60 s cannot end in 100 s: no data is even looked at (there is none here)
    offload._worker(
        str(manifest),
        str(tmp_path / "no-data"),
        str(tmp_path / "results"),
        "cpu",
        time.time() + 100,
    )
    assert not (tmp_path / "results" / "runs").exists()


def test_runs_that_differ_in_seed_train_as_one_stack_there(tmp_path, tiny_data_dir, monkeypatch):
    """One process, one stack: both records say so, and each lands with its subnetwork."""
    monkeypatch.setattr(offload, "_clean_commit", lambda repo: "c0ffee")
    runs = tmp_path / "seeds.txt"
    runs.write_text(
        "".join(
            f'paper {{"model": "conv2", "width": 0.125, "seed": {seed}, "epochs": 1, '
            '"batch_size": 40}\n'
            for seed in (0, 1)
        )
    )
    offload.pack(runs, tmp_path / "bundle", tmp_path / "home", tiny_data_dir)
    summary = offload.train(
        tmp_path / "bundle",
        tmp_path / "out",
        device="cpu",
        stack=2,
        deadline_s=300,
        work_dir=tmp_path / "work",
        poll_s=1,
    )
    assert summary["finished"] == 2 and summary["workers"] == 1 and summary["stack"] == 2
    assert len(offload.land(tmp_path / "out" / "runs.tar.gz", tmp_path / "home")["added"]) == 2
    store = RunStore(tmp_path / "home", cifar10_identity(tiny_data_dir))
    for config in offload.read_runs(runs):
        result = store.result(config)
        assert result["engine"] == "stacked" and result["stack_size"] == 2
        assert file_digest(store.run_dir(config) / "mask.npz") == result["mask_sha256"]
    with pytest.raises(offload.OffloadError, match="--stack must be a whole number of runs >= 1"):
        offload.train(tmp_path / "bundle", tmp_path / "out2", device="cpu", stack=0)


def test_land_refuses_a_mask_its_record_does_not_name(tmp_path):
    config = RunConfig(model="conv2")
    record = {"hash": config.hash, "config": config.to_dict()}
    name = f"{config.name}-x"
    folder = tmp_path / "archive" / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(record))
    result = {**record, "status": "finished", "mask_sha256": "0" * 64}
    (folder / "result.json").write_text(json.dumps(result))
    (folder / "mask.npz").write_bytes(b"another subnetwork")
    path = tmp_path / "runs.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=name)
    with pytest.raises(offload.OffloadError, match="its record names 000000000000; nothing landed"):
        offload.land(path, tmp_path / "home")
    assert not (tmp_path / "home").exists()


def _archive_with(tmp_path, name: str, config_json: dict, result: dict) -> Path:
    folder = tmp_path / "archive" / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config_json))
    (folder / "result.json").write_text(json.dumps(result))
    path = tmp_path / "runs.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=name)
    return path


def test_land_refuses_records_that_are_not_whole(tmp_path):
    config = RunConfig(model="conv2")
    good = {"hash": config.hash, "config": config.to_dict()}
    wrong_folder = _archive_with(
        tmp_path / "a", f"conv4-edge-popup-{config.hash}-x", good, {**good, "status": "finished"}
    )
    with pytest.raises(
        offload.OffloadError, match="does not hash to its folder .*; nothing landed"
    ):
        offload.land(wrong_folder, tmp_path / "home")
    no_result = tmp_path / "b" / "runs.tar.gz"
    (tmp_path / "b" / "r").mkdir(parents=True)
    (tmp_path / "b" / "r" / "config.json").write_text(json.dumps(good))
    with tarfile.open(no_result, "w:gz") as tar:
        tar.add(tmp_path / "b" / "r", arcname=f"{config.name}-x")
    with pytest.raises(offload.OffloadError, match="is not a whole record"):
        offload.land(no_result, tmp_path / "home")
    assert not (tmp_path / "home").exists()


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "junk.tar.gz").write_text("not an archive")
    assert (
        offload.main(["land", str(tmp_path / "junk.tar.gz"), "--results", str(tmp_path / "home")])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("offload: ") and "is not a readable runs archive" in err
    assert err.count("\n") == 1
    assert (
        offload.main(["train", str(tmp_path), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    )
    assert "--workers 0" in capsys.readouterr().err
    assert not (tmp_path / "home").exists() and not (tmp_path / "o").exists()


def test_a_lease_checks_then_trains_and_a_check_that_overruns_costs_the_runs_nothing(
    bundle, tmp_path, capsys
):
    """One command spends a lent GPU: the check in a process of its own (stopped here at a
    limit it cannot meet), then the bundle's runs, and a summary last. A wrong bundle is
    refused before the check spends any of the lease."""
    from supermask.runs import lease

    summary = lease.lease(bundle, tmp_path / "out", deadline_s=300, device="cpu", check_s=0.5)
    assert summary["check"]["ended"] == "stopped at its limit of 0.5 s"
    assert summary["runs"]["finished"] == 2
    assert (tmp_path / "out" / "runs.tar.gz").exists()
    assert json.loads((tmp_path / "out" / "lease.json").read_text())["runs"]["finished"] == 2
    printed = lease.format_summary(summary)
    assert printed.startswith("gpu check: stopped at its limit of 0.5 s after ")
    assert "runs: 2 of 2 finished" in printed
    assert lease.main([str(tmp_path / "nothing"), "--out", str(tmp_path / "out2")]) == 2
    assert "nothing/manifest.json does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()
