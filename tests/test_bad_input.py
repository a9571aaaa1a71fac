"""Bad input and damaged files, as a new user meets them: each case must end in a one-line error
that names the bad value (exit status 2 on the command line), with nothing written and nothing
lost; a damaged run store heals itself instead of crashing."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
import torch

from supermask.cli import main
from supermask.config import RunConfig
from supermask.data import cifar10
from supermask.runs.parameters import check_figure_parameters, check_imagenet_parameters
from supermask.runs.sweep import run, store_for, sweep

from conftest import make_image_folder

TRAIN = [
    "train",
    "--model",
    "conv2",
    "--width",
    "0.25",
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--no-progress",
]


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a directory")
    return path


# (extra arguments, text the error must contain); {file} is a plain file in the temp directory.
CLI_CASES = [
    (["--lr", "nan"], "lr must be a finite number, got nan"),
    (["--lr", "inf"], "lr must be a finite number, got inf"),
    (["--lr", "-1"], "lr must be > 0, got -1"),
    (["--momentum", "nan"], "momentum must be a finite number, got nan"),
    (["--momentum", "-1"], "momentum must be in [0, 1), got -1"),
    (["--momentum", "1"], "momentum must be in [0, 1), got 1"),
    (["--weight-decay", "nan"], "weight_decay must be a finite number, got nan"),
    (["--weight-decay", "-1"], "weight_decay must be in [0, 1) (the papers use 0 to 5e-4), got -1"),
    (
        ["--weight-decay", "1e308"],
        "weight_decay must be in [0, 1) (the papers use 0 to 5e-4), got 1e+308",
    ),
    (["--width", "inf"], "width must be a finite number, got inf"),
    (["--width", "0.001"], "width 0.001 leaves a layer of conv2 with no units; the smallest"),
    (["--width", "1e300"], "width must be at most 16 (the papers use up to 2; a wider conv2 "),
    (["--seed", "18446744073709551616"], "seed must be in [0, 4294967295], got 1844674407"),
    (["--seed", "-1"], "seed must be in [0, 4294967295], got -1"),
    (["--k", "nan"], "k must be a finite number, got nan"),
    (["--k", "0"], "k is the fraction of weights kept and must be in (0, 1], got 0"),
    (["--k", "1.5"], "k is the fraction of weights kept and must be in (0, 1], got 1.5"),
    (
        ["--k", "1", "--init", "released_scaled_signed_constant"],
        "released_scaled_signed_constant divides by sqrt(1 - k): k must be below 1, got 1",
    ),
    (
        ["--method", "dense", "--init", "released_scaled_kaiming_normal"],
        "released_scaled_kaiming_normal divides by sqrt(1 - k): k must be below 1, got 1",
    ),
    (["--k", "half"], "argument --k: invalid float value: 'half'"),
    (["--method", "dense", "--k", "0.5"], "method 'dense' trains every weight: k must be 1"),
    (["--method", "magic"], "argument --method: invalid choice: 'magic'"),
    (["--init", "zeros"], "argument --init: invalid choice: 'zeros'"),
    (["--eval-samples", "3"], "eval_samples is a setting of zhou only, not of method 'edge-po"),
    (["--epochs", "0"], "epochs must be >= 1, got 0"),
    (["--batch-size", "0"], "batch_size must be >= 1, got 0"),
    (["--train-subset", "100000"], "train_subset=100000 asks for more images than the data set"),
    (["--test-subset", "20000"], "test_subset=20000 asks for more images than the data set"),
    (["--train-subset", "5"], "train_subset must be >= 10"),
    (["--method", "pab", "--flip-rate", "2"], "flip_rate (Bop's gamma) must be in (0, 1], got 2"),
    (["--method", "pab", "--flip-threshold", "-1"], "flip_threshold (Bop's tau) must be >= 0"),
    (["--method", "iterand", "--rerandomize-every", "0"], "rerandomize_every must be >= 1, got 0"),
    (["--method", "iterand", "--rerandomize-fraction", "0"], "rerandomize_fraction must be in"),
    (["--prune", "random"], "prune is a setting of pab only"),
    (["--method", "zhou", "--eval-samples", "0"], "eval_samples must be >= 1, got 0"),
    (["--method", "zhou", "--k", "0.5"], "method 'zhou' learns its kept fraction: leave k unset"),
    (["--model", "resnet1000"], "argument --model: invalid choice: 'resnet1000'"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--results", "{file}"], "--results {file} is a file, not a directory"),
    (["--results", "{file}/results"], "--results {file}/results is not writable"),
]


@pytest.mark.parametrize("extra, message", CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_bad_cli_option_exits_2_and_writes_nothing(extra, message, tiny_data_dir, tmp_path, capsys):
    extra = [a.replace("{file}", str(_file(tmp_path))) for a in extra]
    message = message.replace("{file}", str(tmp_path / "a-file"))
    results = tmp_path / "results"
    argv = [*TRAIN, "--data-dir", str(tiny_data_dir), "--results", str(results), *extra]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err.strip().splitlines()[-1] and message in err.strip().splitlines()[-1]
    assert not results.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) in (["a-file"], ["a-file", "cache"])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--repeats", "0"], "--repeats must be >= 1, got 0"),
        (["--batch-size", "-4"], "--batch-size must be >= 1, got -4"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--out", "{file}"], "--out {file} is a file, not a directory"),
    ],
)
def test_bad_bench_option_exits_2(extra, message, tmp_path, capsys):
    file = _file(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "bench",
                "--out",
                str(tmp_path / "bench"),
                *[a.replace("{file}", str(file)) for a in extra],
            ]
        )
    assert exit_info.value.code == 2
    assert message.replace("{file}", str(file)) in capsys.readouterr().err
    assert not (tmp_path / "bench").exists()


def _tree(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "data" / "cifar10", 2, 1).parent


def _first_image(data_dir: Path) -> Path:
    return sorted((data_dir / "cifar10" / "train" / "airplane").iterdir())[0]


def _empty_class(data_dir: Path) -> None:
    for image in (data_dir / "cifar10" / "test" / "cat").iterdir():
        image.unlink()


def _half_populated(data_dir: Path) -> None:
    for name in ("dog", "frog", "horse"):
        shutil.rmtree(data_dir / "cifar10" / "test" / name)


def _zero_byte(data_dir: Path) -> None:
    _first_image(data_dir).write_bytes(b"")


def _truncated(data_dir: Path) -> None:
    image = _first_image(data_dir)
    image.write_bytes(image.read_bytes()[:60])


def _corrupt(data_dir: Path) -> None:
    _first_image(data_dir).write_bytes(os.urandom(500))


def _mixed_sizes(data_dir: Path) -> None:
    from PIL import Image

    Image.new("RGB", (64, 48)).save(_first_image(data_dir))


def _junk_pickles(data_dir: Path) -> None:
    shutil.rmtree(data_dir / "cifar10")
    (data_dir / "cifar-10-batches-py").mkdir()
    (data_dir / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"junk")


DATA_CASES = {
    "empty class folder": (_empty_class, "class folders without images: cat"),
    "half-populated tree": (_half_populated, "must hold exactly the 10 CIFAR-10 class folders"),
    "zero-byte image": (_zero_byte, "airplane/0000.png: not a readable image"),
    "truncated image": (_truncated, "airplane/0000.png: not a readable image"),
    "corrupt image": (_corrupt, "airplane/0000.png: not a readable image"),
    "mixed image sizes": (_mixed_sizes, "airplane/0000.png: image is 64x48"),
    "junk cifar-10-batches-py": (_junk_pickles, "could not read CIFAR-10 in torchvision's format"),
}


@pytest.mark.parametrize("case", DATA_CASES)
def test_bad_data_tree_exits_2_naming_the_problem(case, tmp_path, capsys):
    damage, message = DATA_CASES[case]
    data_dir = _tree(tmp_path)
    damage(data_dir)
    results = tmp_path / "results"
    with pytest.raises(SystemExit) as exit_info:
        main([*TRAIN, "--data-dir", str(data_dir), "--results", str(results)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not results.exists()
    # The notebooks' parameter check refuses the same tree, before anything is written.
    cifar10._IN_MEMORY.clear()
    with pytest.raises(
        cifar10.DataNotFoundError, match="|".join([message.replace("(", r"\(").replace(")", r"\)")])
    ):
        check_figure_parameters(
            "smoke", None, data_dir, "cpu", True, True, results, tmp_path / "figures"
        )
    assert not results.exists() and not (tmp_path / "figures").exists()


def test_download_without_network_exits_2(tmp_path, capsys, monkeypatch):
    from torchvision.datasets import CIFAR10

    def offline(self, *args, **kwargs):
        raise OSError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(CIFAR10, "download", offline)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                *TRAIN,
                "--data-dir",
                str(tmp_path / "data"),
                "--download",
                "--results",
                str(tmp_path / "results"),
            ]
        )
    assert exit_info.value.code == 2
    assert "could not download CIFAR-10" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


NOTEBOOK_CASES = [
    ({"seeds": [2**64]}, "seeds must be a list of integers in [0, 4294967295]"),
    ({"seeds": {1: 2}}, "seeds must be a list of integers"),
    ({"seeds": [1, 1]}, "seeds must be distinct, got [1, 1]"),
    ({"seeds": "0"}, "seeds must be a list of integers"),
    ({"seeds": []}, "seeds must be a list of integers"),
    ({"results_dir": "{file}"}, "results_dir {file} is a file, not a directory"),
    ({"figures_dir": "{file}"}, "figures_dir {file} is a file, not a directory"),
    ({"figures_dir": "{file}/figures"}, "figures_dir {file}/figures is not writable"),
    ({"train": "yes"}, "train must be True or False, got 'yes'"),
    ({"wait": 0}, "wait must be True or False, got 0"),
    ({"stack": 0}, "stack must be a whole number of runs >= 1 (1: each alone) or None, got 0"),
    ({"stack": True}, "stack must be a whole number of runs >= 1"),
    ({"profile": "fast"}, "unknown profile 'fast'; valid: smoke, short, paper"),
    ({"device": "cuda:7"}, "device 'cuda:7'"),
]


@pytest.mark.parametrize("bad, message", NOTEBOOK_CASES, ids=[str(c[0]) for c in NOTEBOOK_CASES])
def test_bad_notebook_parameter_is_refused(bad, message, tiny_data_dir, tmp_path):
    file = _file(tmp_path)
    bad = {k: v.replace("{file}", str(file)) if isinstance(v, str) else v for k, v in bad.items()}
    parameters = {
        "profile": "smoke",
        "seeds": None,
        "data_dir": tiny_data_dir,
        "device": "cpu",
        "train": True,
        "wait": True,
        "results_dir": tmp_path / "results",
        "figures_dir": tmp_path / "figures",
        **bad,
    }
    with pytest.raises(ValueError) as error:
        check_figure_parameters(**parameters)
    assert message.replace("{file}", str(file)) in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) in (["a-file"], ["a-file", "cache"])


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            {"workers": -1},
            "workers (DataLoader workers per process) must be an integer >= 0, got -1",
        ),
        ({"nproc": 0}, "nproc (processes for torchrun) must be an integer >= 1, got 0"),
        ({"seeds": [3, 3]}, "seeds must be distinct"),
    ],
)
def test_bad_imagenet_parameter_is_refused(bad, message, tmp_path):
    parameters = {
        "profile": "smoke",
        "seeds": None,
        "imagenet_dir": None,
        "nproc": 1,
        "device": "cpu",
        "train": True,
        "synthetic_dir": tmp_path / "synthetic",
        "workers": 0,
        **bad,
    }
    with pytest.raises(ValueError) as error:
        check_imagenet_parameters(**parameters)
    assert message in str(error.value)
    assert not (tmp_path / "synthetic").exists()


CONFIG = RunConfig(model="conv2", width=0.25, k=0.5, epochs=2, batch_size=32)


@pytest.mark.parametrize("content", ["[]", "null", '{"hash": "%s"}', "{}", "7"])
def test_result_that_is_not_a_result_is_redone(content, tiny_data_dir, tmp_path, caplog):
    first = run(CONFIG, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)
    store = store_for(tmp_path, tiny_data_dir)
    result_file = Path(first["run_dir"]) / "result.json"
    result_file.write_text(content.replace("%s", CONFIG.hash))
    assert store.result(CONFIG) is None
    assert store.finished() == []  # reported, never raised
    again = run(CONFIG, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)
    assert "not a run result" in caplog.text
    assert again["test_acc"] == first["test_acc"]
    assert json.loads(result_file.read_text())["status"] == "finished"


def test_result_that_is_a_directory_is_moved_aside_and_redone(tiny_data_dir, tmp_path):
    store = store_for(tmp_path, tiny_data_dir)
    store.start(CONFIG)
    (store.run_dir(CONFIG) / "result.json").mkdir()
    (store.run_dir(CONFIG) / "result.json" / "note.txt").write_text("keep me")
    assert store.finished() == [] and store.result(CONFIG) is None
    result = run(CONFIG, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)
    assert result["status"] == "finished"
    aside = list(store.run_dir(CONFIG).glob("result.json.unreadable-*"))
    assert len(aside) == 1 and (aside[0] / "note.txt").read_text() == "keep me"


def _checkpoint_damages():
    def empty(state):
        return {}

    def wrong_keys(state):
        return {"weights": state["model"]}

    def wrong_shapes(state):
        state["model"] = {k: torch.zeros(3) for k in state["model"]}
        return state

    def beyond(state):
        state["epoch"] = 7
        return state

    def not_a_dict(state):
        return [1, 2, 3]

    return {
        "empty dict": empty,
        "wrong keys": wrong_keys,
        "wrong tensor shapes": wrong_shapes,
        "epoch beyond the config's": beyond,
        "a list": not_a_dict,
    }


@pytest.mark.parametrize("damage", _checkpoint_damages())
def test_checkpoint_that_does_not_fit_restarts_the_run(damage, tiny_data_dir, tmp_path, caplog):
    """Catches a resume that trusts any loadable checkpoint and then crashes on every retry."""
    from supermask.training.cifar10 import train

    clean = run(
        CONFIG, results_dir=tmp_path / "clean", data_dir=tiny_data_dir, device="cpu", progress=False
    )
    store = store_for(tmp_path / "b", tiny_data_dir)
    store.start(CONFIG)
    train_data, test_data = cifar10.load_cifar10(tiny_data_dir)
    train(
        CONFIG,
        train_data,
        test_data,
        "cpu",
        checkpoint=store.checkpoint_path(CONFIG),
        progress=False,
        stop_after_epoch=1,
    )
    state = torch.load(store.checkpoint_path(CONFIG), weights_only=True)
    torch.save(_checkpoint_damages()[damage](state), store.checkpoint_path(CONFIG))
    redone = run(
        CONFIG, results_dir=tmp_path / "b", data_dir=tiny_data_dir, device="cpu", progress=False
    )
    assert "does not fit this run" in caplog.text
    assert redone["resumed_from_epoch"] == 0
    assert redone["test_acc"] == clean["test_acc"] and redone["history"] == clean["history"]


def _finished_run(tiny_data_dir, tmp_path) -> Path:
    return Path(
        run(
            CONFIG,
            results_dir=tmp_path / "results",
            data_dir=tiny_data_dir,
            device="cpu",
            progress=False,
        )["run_dir"]
    )


EXPORT_CASES = {
    "existing file": (lambda run_dir, tmp: _file(tmp), "already exists; pass --force"),
    "the run's model.pt": (lambda run_dir, tmp: run_dir / "model.pt", "inside the run store"),
    "the run's result.json": (lambda run_dir, tmp: run_dir / "result.json", "inside the run store"),
    "a new file in the store": (
        lambda run_dir, tmp: run_dir.parent / "x.pt",
        "inside the run store",
    ),
    "a directory": (lambda run_dir, tmp: tmp, "is a directory"),
    "under a file": (lambda run_dir, tmp: _file(tmp) / "x.pt", "cannot be written"),
}


@pytest.mark.parametrize("case", EXPORT_CASES)
def test_export_never_destroys_anything(case, tiny_data_dir, tmp_path, capsys):
    run_dir = _finished_run(tiny_data_dir, tmp_path)
    target_of, message = EXPORT_CASES[case]
    target = target_of(run_dir, tmp_path)
    before = {p: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    existing = target.read_bytes() if target.is_file() else None
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(run_dir), str(target)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert {p: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before
    assert (target.read_bytes() if target.is_file() else None) == existing


def test_export_force_replaces_an_existing_file(tiny_data_dir, tmp_path):
    run_dir = _finished_run(tiny_data_dir, tmp_path)
    target = _file(tmp_path)
    assert main(["export", str(run_dir), str(target), "--force"]) == 0
    assert torch.load(target, weights_only=True)["format"]


def test_export_of_a_committed_record_says_how_to_recreate_the_model(
    tiny_data_dir, tmp_path, capsys
):
    """A record committed before runs wrote their masks: neither model.pt nor mask.npz."""
    run_dir = _finished_run(tiny_data_dir, tmp_path)
    (run_dir / "model.pt").unlink()
    (run_dir / "mask.npz").unlink()
    with pytest.raises(SystemExit):
        main(["export", str(run_dir), str(tmp_path / "out.pt")])
    err = capsys.readouterr().err
    assert "has no model.pt" in err and "move result.json out of the run directory" in err


def test_failing_config_is_recorded_and_the_sweep_goes_on(tiny_data_dir, tmp_path, monkeypatch):
    from supermask.training import methods

    broken = RunConfig(model="conv2", width=0.25, method="iterand", k=0.5, epochs=1, batch_size=32)
    fine = RunConfig(model="conv2", width=0.25, k=0.5, epochs=1, batch_size=32)

    def explode(self, model, config, step):
        raise RuntimeError("boom at step %d" % step)

    monkeypatch.setattr(methods.IteRand, "after_step", explode)
    results = sweep(
        [broken, fine], results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False
    )
    assert (
        results[0]["status"] == "failed" and "RuntimeError: boom at step 1" in results[0]["error"]
    )
    assert results[1]["status"] == "finished"
    store = store_for(tmp_path, tiny_data_dir)
    assert store.result(broken) is None  # not stored: the next sweep tries again
    from supermask.runs import tables

    frame = tables.results_frame(results, "t", "smoke")
    assert list(frame["status"]) == ["failed", "finished"]
    assert "boom" in frame["error"][0]


def test_misspelt_sweep_option_is_refused_before_anything_runs(tiny_data_dir, tmp_path):
    """A misspelt ``results_dir`` once sent the runs silently to the default results folder."""
    config = RunConfig(model="conv2", width=0.25, k=0.5, epochs=1, batch_size=32)
    with pytest.raises(TypeError, match="result_dir"):
        sweep([config], result_dir=tmp_path, data_dir=tiny_data_dir, progress=False)
    assert not any(tmp_path.iterdir())


def test_store_files_follow_the_umask(tiny_data_dir, tmp_path):
    """Two users sharing a results directory can read each other's runs."""
    old = os.umask(0o022)
    try:
        run_dir = _finished_run(tiny_data_dir, tmp_path)
    finally:
        os.umask(old)
    for name in ("config.json", "result.json", "model.pt", "mask.npz"):
        mode = stat.S_IMODE((run_dir / name).stat().st_mode)
        assert mode == 0o644, (name, oct(mode))


def test_export_of_a_directory_that_is_not_a_run_says_so_first(tmp_path, capsys):
    """Whatever the target, the first thing wrong is that there is no run to export (it used to
    be refused for where the output would go)."""
    (tmp_path / "store" / "not-a-run").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(tmp_path / "store" / "not-a-run"), str(tmp_path / "store" / "o.pt")])
    assert exit_info.value.code == 2
    assert "not-a-run is not a run directory" in capsys.readouterr().err
    assert not (tmp_path / "store" / "o.pt").exists()
