"""Damaged or foreign files the store, status and campaigns read: named, never a traceback, never
trusted; what a killed worker half-wrote is cleaned up by the next holder of the run."""

import json
import subprocess
import sys

import pytest

from supermask.campaign import figure_targets, read_campaign
from supermask.cli import main
from supermask.config import RunConfig
from supermask.store import RunStore

from conftest import REPO

CONFIG = RunConfig(model="conv2", width=0.25, k=0.5, epochs=2, batch_size=32)


def _finished_record(store: RunStore, config: RunConfig, **overrides) -> None:
    run_dir = store.start(config)
    record = {"hash": config.hash, "config": config.to_dict(), "status": "finished",
              "test_acc": 0.5, "epochs_run": config.epochs, **overrides}
    (run_dir / "result.json").write_text(json.dumps(record))


def test_the_next_holder_removes_what_a_killed_writer_left(tmp_path):
    store = RunStore(tmp_path)
    run_dir = store.start(CONFIG)
    left = [run_dir / ".checkpoint.pt.abc123.tmp", run_dir / ".result.json.x.tmp"]
    for path in left:
        path.write_bytes(b"half a file")
    (run_dir / "checkpoint.pt").write_bytes(b"kept")
    with store.claim(CONFIG) as taken:
        assert taken
    assert not any(path.exists() for path in left)
    assert (run_dir / "checkpoint.pt").read_bytes() == b"kept"


def test_temporaries_of_a_live_holder_are_left_alone(tmp_path):
    store = RunStore(tmp_path)
    run_dir = store.start(CONFIG)
    with store.claim(CONFIG) as taken:
        assert taken
        in_flight = run_dir / ".checkpoint.pt.live.tmp"
        in_flight.write_bytes(b"being written")
        with store.claim(CONFIG) as second:  # another worker tries the same run
            assert not second
        assert in_flight.exists()


@pytest.mark.parametrize("field, value, note", [
    ("test_acc", "abc", "result.json: test_acc not a number"),
    ("epochs_run", [3], "result.json: epoch not a number"),
    ("test_acc", True, "result.json: test_acc not a number"),
])
def test_status_names_a_damaged_result_instead_of_crashing(tmp_path, capsys, field, value, note):
    store = RunStore(tmp_path)
    _finished_record(store, CONFIG, **{field: value})
    assert main(["status", "--results", str(tmp_path)]) == 0
    line = capsys.readouterr().out.strip()
    assert "damaged" in line and note in line


def test_status_names_a_config_with_mistyped_epochs(tmp_path, capsys):
    store = RunStore(tmp_path)
    run_dir = store.start(CONFIG)
    config = json.loads((run_dir / "config.json").read_text())
    config["config"]["epochs"] = "x"
    (run_dir / "config.json").write_text(json.dumps(config))
    assert main(["status", "--results", str(tmp_path)]) == 0
    line = capsys.readouterr().out.strip()
    assert "damaged" in line and "config.json: epochs not a number" in line


def test_a_binary_campaign_file_is_named(tmp_path):
    path = tmp_path / "campaign.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match=f"campaign file {path} is not text"):
        read_campaign(path)
    done = subprocess.run([sys.executable, "-m", "supermask", "campaign", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and str(path) in done.stderr
    assert done.stderr.count("\n") <= 3 and "Traceback" not in done.stderr


@pytest.mark.parametrize("figure", ["fig33", "notebooks/fig3_vary_k.ipynb", "../fig3"])
def test_the_campaign_table_refuses_an_unknown_figure_as_make_campaign_does(tmp_path, figure):
    path = tmp_path / "campaign.txt"
    path.write_text(f'fig3 {{"k": [0.5]}}\n{figure} {{"k": [0.5]}}\n')
    with pytest.raises(ValueError, match=f"{path}:2: unknown figure '{figure}'; valid: fig3"):
        read_campaign(path)


def test_the_figures_a_campaign_accepts_are_the_make_targets():
    targets = figure_targets()
    assert targets[0] == "fig3" and "budget" in targets and "pab" in targets
    makefile_view = subprocess.run(["make", "-s", "-p", "-n", "setup"], cwd=REPO,
                                   capture_output=True, text=True).stdout
    line = next(line for line in makefile_view.splitlines()
                if line.startswith("FIGURE_TARGETS :="))
    assert line.split(":=", 1)[1].split() == targets


def _bad_data_dir(tmp_path, kind):
    if kind == "empty":
        return ""
    if kind == "file":
        (tmp_path / "afile").write_text("not a tree")
        return str(tmp_path / "afile")
    if kind == "device":
        return "/dev/null"
    if kind == "loop":
        (tmp_path / "a").symlink_to(tmp_path / "b")
        (tmp_path / "b").symlink_to(tmp_path / "a")
        return str(tmp_path / "a")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    return str(tmp_path / "dangling")


@pytest.mark.parametrize("kind, message", [
    ("empty", "data directory '' is empty"),
    ("file", "is not a directory (a file or a device)"),
    ("device", "data directory /dev/null is not a directory"),
    ("loop", "is a symbolic link to nothing (or a loop of links)"),
    ("dangling", "is a symbolic link to nothing"),
])
def test_a_data_dir_that_is_no_directory_gets_one_line_naming_it(tmp_path, kind, message):
    data_dir = _bad_data_dir(tmp_path, kind)
    done = subprocess.run([sys.executable, "-m", "supermask", "train", "--model", "conv2",
                           "--epochs", "1", "--no-progress", "--data-dir", data_dir,
                           "--results", str(tmp_path / "results")],
                          capture_output=True, text=True)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2 and message in last and "does not exist" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3  # argparse's usage, then one line
    assert not (tmp_path / "results").exists()


def test_imagenet_refuses_results_that_are_a_file(tmp_path):
    results = tmp_path / "results"
    results.write_text("a file")
    done = subprocess.run([sys.executable, "-m", "supermask", "imagenet", "--imagenet-dir",
                           str(tmp_path), "--results", str(results)],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert f"--results {results} is a file, not a directory" in done.stderr
