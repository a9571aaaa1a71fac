import json

import torch

from supermask.config import RunConfig
from supermask.data import load_cifar10
from supermask.store import RunStore
from supermask.sweep import run, sweep
from supermask.train import train

CONFIG = RunConfig(model="conv2", width=0.25, k=0.5, epochs=2, batch_size=32)


def test_run_directory_is_named_by_the_config_hash(tmp_path):
    store = RunStore(tmp_path)
    assert store.run_dir(CONFIG) == tmp_path / "runs" / f"conv2-edge-popup-{CONFIG.hash}"
    store.start(CONFIG)
    recorded = json.loads((store.run_dir(CONFIG) / "config.json").read_text())
    assert RunConfig.from_dict(recorded["config"]) == CONFIG


def test_half_finished_run_resumes_from_its_checkpoint(tiny_data_dir, tmp_path):
    uninterrupted = run(CONFIG, results_dir=tmp_path / "a", data_dir=tiny_data_dir, device="cpu",
                        progress=False)

    store = RunStore(tmp_path / "b")
    store.start(CONFIG)
    train_data, test_data = load_cifar10(tiny_data_dir)
    train(CONFIG, train_data, test_data, "cpu", checkpoint=store.checkpoint_path(CONFIG),
          progress=False, stop_after_epoch=1)
    assert store.result(CONFIG) is None and store.checkpoint_path(CONFIG).exists()
    resumed = run(CONFIG, results_dir=tmp_path / "b", data_dir=tiny_data_dir, device="cpu",
                  progress=False)

    assert resumed["test_acc"] == uninterrupted["test_acc"]
    assert resumed["history"] == uninterrupted["history"]
    a = torch.load(tmp_path / "a" / "runs" / CONFIG.name / "model.pt", weights_only=True)
    b = torch.load(store.model_path(CONFIG), weights_only=True)
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert not store.checkpoint_path(CONFIG).exists()


def test_unreadable_result_is_redone(tiny_data_dir, tmp_path, caplog):
    first = run(CONFIG, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)
    result_file = RunStore(tmp_path).run_dir(CONFIG) / "result.json"
    result_file.write_text(result_file.read_text()[:50])
    again = run(CONFIG, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)
    assert "unreadable result" in caplog.text
    assert again["test_acc"] == first["test_acc"]
    assert json.loads(result_file.read_text())["hash"] == CONFIG.hash


def test_sweep_skips_finished_runs(tiny_data_dir, tmp_path):
    configs = [CONFIG, RunConfig(model="conv2", width=0.25, method="dense", epochs=1,
                                 batch_size=32)]
    first = sweep(configs, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu",
                  progress=False)
    mtimes = [(RunStore(tmp_path).run_dir(c) / "result.json").stat().st_mtime_ns for c in configs]
    second = sweep(configs, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu",
                   progress=False)
    assert [r["test_acc"] for r in first] == [r["test_acc"] for r in second]
    assert mtimes == [(RunStore(tmp_path).run_dir(c) / "result.json").stat().st_mtime_ns
                      for c in configs]
    assert len(RunStore(tmp_path).finished()) == 2


def test_corrupted_checkpoint_starts_over(tiny_data_dir, tmp_path, caplog):
    clean = run(CONFIG, results_dir=tmp_path / "a", data_dir=tiny_data_dir, device="cpu",
                progress=False)
    store = RunStore(tmp_path / "b")
    store.start(CONFIG)
    store.checkpoint_path(CONFIG).write_bytes(b"not a checkpoint")
    redone = run(CONFIG, results_dir=tmp_path / "b", data_dir=tiny_data_dir, device="cpu",
                 progress=False)
    assert "unreadable checkpoint" in caplog.text
    assert redone["test_acc"] == clean["test_acc"] and redone["history"] == clean["history"]
