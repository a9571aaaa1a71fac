"""Damaged or foreign files the store, status and campaigns read: named, never a traceback, never
trusted; what a killed worker half-wrote is cleaned up by the next holder of the run."""

import json
import subprocess

import pytest

from supermask.cli import main
from supermask.config import RunConfig
from supermask.runs.campaign import figure_targets, read_campaign
from supermask.runs.store import RunStore

from conftest import REPO, one_epoch, supermask

CONFIG = RunConfig(model="conv2", width=0.25, k=0.5, epochs=2, batch_size=32)


def _finished_record(store: RunStore, config: RunConfig, **overrides) -> None:
    run_dir = store.start(config)
    record = {
        "hash": config.hash,
        "config": config.to_dict(),
        "status": "finished",
        "test_acc": 0.5,
        "epochs_run": config.epochs,
        **overrides,
    }
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


@pytest.mark.parametrize(
    "field, value, note",
    [
        ("test_acc", "abc", "result.json: test_acc not a number"),
        ("epochs_run", [3], "result.json: epochs_run not a number"),
        ("test_acc", True, "result.json: test_acc not a number"),
    ],
)
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
    done = supermask("campaign", path)
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
    makefile_view = subprocess.run(
        ["make", "-s", "-p", "-n", "setup"], cwd=REPO, capture_output=True, text=True
    ).stdout
    line = next(line for line in makefile_view.splitlines() if line.startswith("FIGURE_TARGETS :="))
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


@pytest.mark.parametrize(
    "kind, message",
    [
        ("empty", "data directory '' is empty"),
        ("file", "is not a directory (a file or a device)"),
        ("device", "data directory /dev/null is not a directory"),
        ("loop", "is a symbolic link to nothing (or a loop of links)"),
        ("dangling", "is a symbolic link to nothing"),
    ],
)
def test_a_data_dir_that_is_no_directory_gets_one_line_naming_it(tmp_path, kind, message):
    data_dir = _bad_data_dir(tmp_path, kind)
    done = supermask(*one_epoch(data_dir, tmp_path / "results"))
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2 and message in last and "does not exist" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3  # argparse's usage, then one line
    assert not (tmp_path / "results").exists()


def test_imagenet_refuses_results_that_are_a_file(tmp_path):
    results = tmp_path / "results"
    results.write_text("a file")
    done = supermask("imagenet", "--imagenet-dir", tmp_path, "--results", results)
    assert done.returncode == 2
    assert f"--results {results} is a file, not a directory" in done.stderr


def _train_cli(tmp_path, data_dir):
    return supermask(
        *one_epoch(data_dir, tmp_path / "results", "--width", 0.25, "--batch-size", 32)
    )


def _store_and_config(tmp_path, data_dir):
    from supermask.runs.sweep import store_for

    config = RunConfig(model="conv2", width=0.25, epochs=1, batch_size=32)
    return store_for(tmp_path / "results", data_dir), config


@pytest.mark.parametrize("where", ["claim", "checkpoint.pt", "model.pt", "run dir", "runs"])
def test_a_path_the_run_cannot_write_is_found_before_any_epoch(tmp_path, tiny_data_dir, where):
    store, config = _store_and_config(tmp_path, tiny_data_dir)
    run_dir = store.run_dir(config)
    if where == "runs":
        store.root.mkdir(parents=True)
        store.runs.write_text("a file")
        blocked = store.runs
    elif where == "run dir":
        store.runs.mkdir(parents=True)
        run_dir.write_text("a file")
        blocked = run_dir
    else:
        (run_dir / where).mkdir(parents=True)
        blocked = run_dir / where
    done = _train_cli(tmp_path, tiny_data_dir)
    assert done.returncode == 2, done.stderr
    assert str(blocked) in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
    if run_dir.is_dir():
        assert not (run_dir / "checkpoint.pt").is_file()  # no epoch was trained
        assert not (run_dir / "result.json").exists()


def test_a_foreign_result_is_moved_aside_not_overwritten(tmp_path, tiny_data_dir):
    from supermask.runs.sweep import run

    store, config = _store_and_config(tmp_path, tiny_data_dir)
    other = RunConfig(model="conv2", width=0.25, epochs=1, batch_size=32, seed=1)
    foreign = run(other, tmp_path / "results", tiny_data_dir, device="cpu", progress=False)
    copied = (store.run_dir(other) / "result.json").read_text()
    store.start(config)
    (store.run_dir(config) / "result.json").write_text(copied)
    mine = run(config, tmp_path / "results", tiny_data_dir, device="cpu", progress=False)
    assert mine["hash"] == config.hash != foreign["hash"]
    aside = list(store.run_dir(config).glob("result.json.unreadable-*"))
    assert len(aside) == 1 and aside[0].read_text() == copied


@pytest.mark.parametrize("option", ["--results", "--data-dir"])
def test_a_name_longer_than_the_file_system_allows_is_one_line(tmp_path, option):
    """Caught by the OS only as "File name too long", after an empty parent was created."""
    too_long = tmp_path / "parent" / ("r" * 300)
    paths = {"--results": str(tmp_path / "results"), "--data-dir": str(tmp_path / "data")}
    paths[option] = str(too_long)
    done = supermask(*one_epoch(paths["--data-dir"], paths["--results"]))
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2, done.stderr
    assert "has 300 bytes, more than the 255 this file system allows" in last, last
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_figure_parameters_refuse_an_over_long_directory_name(tmp_path):
    from supermask.runs.parameters import check_figure_parameters

    with pytest.raises(ValueError, match="figures_dir .* has 300 bytes"):
        check_figure_parameters(
            "smoke",
            None,
            None,
            "cpu",
            train=False,
            results_dir=tmp_path,
            figures_dir=tmp_path / ("f" * 300),
        )


def test_16_bit_grey_images_are_scaled_not_clipped(tmp_path):
    """PIL's convert("RGB") turned 16-bit grey 0-65535 into 209-255 (issue 25)."""
    import numpy as np
    from PIL import Image

    from supermask.data.cifar10 import load_cifar10

    from conftest import make_image_folder

    root = make_image_folder(tmp_path / "cifar10")
    grey = np.full((32, 32), 200 * 257, dtype=np.uint16)
    grey[0, 0] = 0
    target = root / "train" / "airplane" / "0000.png"
    Image.fromarray(grey).save(target)  # mode I;16 (or I, as Pillow reads 16-bit PNGs back)
    train, _ = load_cifar10(tmp_path)
    flat = train.images.flatten(1)
    assert ((flat == 200).sum(1) == 3 * 32 * 32 - 3).any()  # all 200 but the one black pixel
    assert int(train.images.max()) <= 255


def test_floating_point_images_are_refused_by_name(tmp_path):
    import numpy as np
    from PIL import Image

    from supermask.data.cifar10 import DataNotFoundError, load_cifar10

    from conftest import make_image_folder

    root = make_image_folder(tmp_path / "cifar10")
    target = root / "test" / "cat" / "0001.tiff"
    (root / "test" / "cat" / "0001.png").unlink()
    Image.fromarray(np.full((32, 32), 0.5, dtype=np.float32)).save(target)
    with pytest.raises(DataNotFoundError, match=r"0001.tiff: floating-point image \(mode F\)"):
        load_cifar10(tmp_path)


def test_a_subset_larger_than_a_class_allows_is_refused_before_training(tmp_path):
    """It trained on 185 images and recorded 200 (issue 25)."""
    from conftest import make_image_folder

    root = make_image_folder(tmp_path / "data" / "cifar10", train_per_class=20)
    for path in sorted((root / "train" / "cat").iterdir())[5:]:
        path.unlink()  # cat keeps 5 of 20
    done = supermask(
        *one_epoch(tmp_path / "data", tmp_path / "results", "--width", 0.25, "--train-subset", 100)
    )
    assert done.returncode == 2, done.stderr
    assert (
        "train_subset=100: a balanced subset of 100 needs 10 images of class 3, which has "
        "5; valid: at most 50"
    ) in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("edit", ["epochs", "garbage"])
def test_a_config_json_that_is_not_this_runs_is_moved_aside_when_the_run_starts(tmp_path, edit):
    """A hand-edited config.json was ignored by resume and later blocked export (issue 25)."""
    store = RunStore(tmp_path)
    config = RunConfig(model="conv2", width=0.25, epochs=2, batch_size=32)
    run_dir = store.start(config)
    path = run_dir / "config.json"
    if edit == "epochs":
        record = json.loads(path.read_text())
        record["config"]["epochs"] = 7
        path.write_text(json.dumps(record))
    else:
        path.write_text("{not json")
    edited = path.read_text()
    store.start(config)
    assert json.loads(path.read_text()) == {"hash": config.hash, "config": config.to_dict()}
    [aside] = run_dir.glob("config.json.unreadable-*")
    assert aside.read_text() == edited
    store.start(config)  # this run's own config.json stays as it is
    assert len(list(run_dir.glob("config.json.unreadable-*"))) == 1
