import json
from pathlib import Path

import torch

from supermask.config import RunConfig
from supermask.data.cifar10 import cifar10_identity, load_cifar10
from supermask.runs.store import RunStore
from supermask.runs.sweep import run, store_for, sweep
from supermask.training.cifar10 import train

CONFIG = RunConfig(model="conv2", width=0.25, k=0.5, epochs=2, batch_size=32)


def test_run_directory_is_named_by_the_config_hash_and_the_data(tmp_path, tiny_data_dir):
    assert (
        RunStore(tmp_path).run_dir(CONFIG) == tmp_path / "runs" / f"conv2-edge-popup-{CONFIG.hash}"
    )
    identity = cifar10_identity(tiny_data_dir)
    store = RunStore(tmp_path, identity)
    assert store.run_dir(CONFIG) == (
        tmp_path / "runs" / f"conv2-edge-popup-{CONFIG.hash}-{identity.fingerprint[:12]}"
    )
    store.start(CONFIG)
    recorded = json.loads((store.run_dir(CONFIG) / "config.json").read_text())
    assert RunConfig.from_dict(recorded["config"]) == CONFIG


def test_half_finished_run_resumes_from_its_checkpoint(tiny_data_dir, tmp_path):
    uninterrupted = run(
        CONFIG, results_dir=tmp_path / "a", data_dir=tiny_data_dir, device="cpu", progress=False
    )

    store = store_for(tmp_path / "b", tiny_data_dir)
    store.start(CONFIG)
    train_data, test_data = load_cifar10(tiny_data_dir)
    train(
        CONFIG,
        train_data,
        test_data,
        "cpu",
        checkpoint=store.checkpoint_path(CONFIG),
        progress=False,
        stop_after_epoch=1,
    )
    assert store.result(CONFIG) is None and store.checkpoint_path(CONFIG).exists()
    resumed = run(
        CONFIG, results_dir=tmp_path / "b", data_dir=tiny_data_dir, device="cpu", progress=False
    )

    assert resumed["test_acc"] == uninterrupted["test_acc"]
    assert resumed["history"] == uninterrupted["history"]
    a = torch.load(store_for(tmp_path / "a", tiny_data_dir).model_path(CONFIG), weights_only=True)
    b = torch.load(store.model_path(CONFIG), weights_only=True)
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert not store.checkpoint_path(CONFIG).exists()


def test_unreadable_result_is_redone(tiny_data_dir, tmp_path, caplog):
    first = run(CONFIG, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)
    result_file = store_for(tmp_path, tiny_data_dir).run_dir(CONFIG) / "result.json"
    result_file.write_text(result_file.read_text()[:50])
    again = run(CONFIG, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)
    assert "unreadable result" in caplog.text
    assert again["test_acc"] == first["test_acc"]
    assert json.loads(result_file.read_text())["hash"] == CONFIG.hash


def test_sweep_skips_finished_runs(tiny_data_dir, tmp_path):
    configs = [
        CONFIG,
        RunConfig(model="conv2", width=0.25, method="dense", epochs=1, batch_size=32),
    ]
    first = sweep(
        configs, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False
    )
    mtimes = [
        (store_for(tmp_path, tiny_data_dir).run_dir(c) / "result.json").stat().st_mtime_ns
        for c in configs
    ]
    second = sweep(
        configs, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False
    )
    assert [r["test_acc"] for r in first] == [r["test_acc"] for r in second]
    assert mtimes == [
        (store_for(tmp_path, tiny_data_dir).run_dir(c) / "result.json").stat().st_mtime_ns
        for c in configs
    ]
    assert len(store_for(tmp_path, tiny_data_dir).finished()) == 2


def test_corrupted_checkpoint_starts_over(tiny_data_dir, tmp_path, caplog):
    clean = run(
        CONFIG, results_dir=tmp_path / "a", data_dir=tiny_data_dir, device="cpu", progress=False
    )
    store = store_for(tmp_path / "b", tiny_data_dir)
    store.start(CONFIG)
    store.checkpoint_path(CONFIG).write_bytes(b"not a checkpoint")
    redone = run(
        CONFIG, results_dir=tmp_path / "b", data_dir=tiny_data_dir, device="cpu", progress=False
    )
    assert "unreadable checkpoint" in caplog.text
    assert redone["test_acc"] == clean["test_acc"] and redone["history"] == clean["history"]


def test_result_trained_on_other_data_is_never_served(tiny_data_dir, tmp_path):
    """Catches a store that finds runs by config alone: other data, other run."""
    from conftest import make_image_folder

    first = run(CONFIG, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)
    other = make_image_folder(tmp_path / "other" / "cifar10", 12, 5).parent
    second = run(CONFIG, results_dir=tmp_path, data_dir=other, device="cpu", progress=False)
    assert first["run_dir"] != second["run_dir"]
    assert first["data_fingerprint"] != second["data_fingerprint"]
    assert second["data_source"] == "imagefolder"
    # A result copied over from other data is refused, not served.
    (Path(second["run_dir"]) / "result.json").write_text(
        (Path(first["run_dir"]) / "result.json").read_text()
    )
    assert store_for(tmp_path, other).result(CONFIG) is None


def test_status_shows_finished_and_unfinished_runs(tiny_data_dir, tmp_path, capsys):
    """What a campaign's owner reads: which runs finished, how far the others got."""
    from supermask.cli import main

    run(CONFIG, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)
    half = RunConfig(model="conv2", width=0.25, k=0.3, epochs=3, batch_size=32)
    store = store_for(tmp_path, tiny_data_dir)
    store.start(half)
    train_data, test_data = load_cifar10(tiny_data_dir)
    train(
        half,
        train_data,
        test_data,
        "cpu",
        checkpoint=store.checkpoint_path(half),
        progress=False,
        stop_after_epoch=2,
    )
    assert main(["status", "--results", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    finished = [line for line in lines if CONFIG.hash in line]
    unfinished = [line for line in lines if half.hash in line]
    assert "finished" in finished[0] and "epoch 2/2" in finished[0]
    assert "unfinished" in unfinished[0] and "epoch 2/3" in unfinished[0]
    assert "trained now" not in unfinished[0]  # nobody holds its claim
    state = torch.load(store.checkpoint_path(half), weights_only=True)
    assert len(state["epoch_s"]) == 2
    assert f"h left at {min(state['epoch_s']):.0f} s/epoch" in unfinished[0]  # of two
    assert "left" not in finished[0]
    assert main(["status", "--results", str(tmp_path), "--only-unfinished"]) == 0
    assert capsys.readouterr().out.count("\n") == 1


def test_status_estimates_the_time_left_from_the_latest_epochs(tmp_path, capsys):
    """A worker stopped for an hour (SIGSTOP while the suite runs) makes one epoch slow, not
    the estimate; a checkpoint from before epochs were timed keeps its mean."""
    from supermask.cli import main

    config = RunConfig(model="conv2", width=0.25, k=0.3, epochs=10, batch_size=32)
    store = RunStore(tmp_path)
    store.start(config)
    state = {
        "epoch": 4,
        "wall_s": 3660.0,
        "epoch_s": [20.0, 3600.0, 20.0, 20.0],
        "history": [{"epoch": e, "test_acc": 0.5} for e in range(1, 5)],
    }
    torch.save(state, store.checkpoint_path(config))
    assert main(["status", "--results", str(tmp_path)]) == 0
    assert "~0.0 h left at 20 s/epoch" in capsys.readouterr().out  # 6 epochs of 20 s
    torch.save({**state, "epoch_s": [20.0, 3600.0]}, store.checkpoint_path(config))
    assert main(["status", "--results", str(tmp_path)]) == 0
    assert "left at 20 s/epoch" in capsys.readouterr().out  # of two epochs, the shorter
    torch.save({**state, "epoch_s": [None, None, 20.0, 30.0]}, store.checkpoint_path(config))
    assert main(["status", "--results", str(tmp_path)]) == 0
    assert "left at 20 s/epoch" in capsys.readouterr().out  # untimed epochs are skipped
    del state["epoch_s"]
    torch.save(state, store.checkpoint_path(config))
    assert main(["status", "--results", str(tmp_path)]) == 0
    assert "~1.5 h left at 915 s/epoch" in capsys.readouterr().out  # 3660 s over 4 epochs


def test_a_run_resumed_on_another_machine_records_each_machine_with_its_epochs(
    tiny_data_dir, tmp_path, monkeypatch
):
    """A stashed checkpoint may go on on another machine: a record naming only the last one
    would claim epochs (and a speed) it did not train there."""
    import supermask.training.loop as loop

    config = RunConfig(model="conv2", width=0.25, k=0.5, epochs=3, batch_size=32)
    store = store_for(tmp_path, tiny_data_dir)
    store.start(config)
    train_data, test_data = load_cifar10(tiny_data_dir)
    monkeypatch.setattr(loop, "device_name", lambda device: "cpu: machine A")
    train(
        config,
        train_data,
        test_data,
        "cpu",
        checkpoint=store.checkpoint_path(config),
        progress=False,
        stop_after_epoch=1,
    )
    assert store.checkpoint_progress(config, "cpu: machine A")[1] is not None
    assert store.checkpoint_progress(config, "cpu: machine B") == (1, None)  # not B's speed
    monkeypatch.setattr(loop, "device_name", lambda device: "cpu: machine B")
    result = run(config, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)
    assert result["device"] == "cpu: machine A (epochs 1-1); cpu: machine B (epochs 2-3)"
    assert [{k: v for k, v in s.items() if k != "commit"} for s in result["sittings"]] == [
        {"from_epoch": 0, "device": "cpu: machine A"},
        {"from_epoch": 1, "device": "cpu: machine B"},
    ]
    assert result["sittings"][1]["commit"] == result["git_commit"]
