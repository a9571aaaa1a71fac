import json
from pathlib import Path

import pytest
import torch

from supermask.cli import main
from supermask.config import RunConfig

from conftest import supermask

ARGS = [
    "train",
    "--model",
    "conv2",
    "--width",
    "0.25",
    "--k",
    "0.5",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--seed",
    "0",
    "--no-progress",
]


def test_json_result_then_found_not_rerun(tiny_data_dir, tmp_path, capsys):
    argv = ARGS + ["--data-dir", str(tiny_data_dir), "--results", str(tmp_path), "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out.strip())
    for key in ("test_acc", "train_acc", "kept", "total", "wall_s", "run_dir"):
        assert key in first
    # The reported accuracy is the stored model's, recomputed here on the 40 test images.
    from supermask.data.cifar10 import load_cifar10
    from supermask.training.evaluate import accuracy
    from supermask.training.loop import build

    model = build(RunConfig.from_dict(first["config"]))
    model.load_state_dict(torch.load(f"{first['run_dir']}/model.pt", weights_only=True))
    assert first["test_acc"] == accuracy(model, load_cifar10(tiny_data_dir)[1], torch.device("cpu"))
    assert first["kept"] / first["total"] == pytest.approx(0.5, abs=0.01)
    result_file = tmp_path / "runs" / first["run_dir"].rsplit("/", 1)[1] / "result.json"
    stored = json.loads(result_file.read_text())
    for key in ("config", "git_commit", "versions", "device", "wall_s", "kept", "train_acc"):
        assert key in stored
    assert not (result_file.parent / "checkpoint.pt").exists()
    assert (result_file.parent / "model.pt").exists()
    mtime = result_file.stat().st_mtime_ns

    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out.strip())
    assert second == first  # the finished run was found, not trained again
    assert result_file.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    "make_dir, message",
    [
        ("missing", "does not exist"),
        ("empty", "CIFAR-10 was not found"),
        ("wrong classes", "must hold exactly the 10 CIFAR-10 class folders"),
    ],
)
def test_missing_data_exits_2_with_instructions(make_dir, message, tmp_path, capsys):
    data_dir = tmp_path / "data"
    if make_dir == "empty":
        data_dir.mkdir()
    if make_dir == "wrong classes":
        for split in ("train", "test"):
            (data_dir / "cifar10" / split / "cats").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        main(ARGS + ["--data-dir", str(data_dir), "--results", str(tmp_path / "results")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    if make_dir != "wrong classes":
        assert "DATA_DIR" in err
    assert not (tmp_path / "results").exists()


def test_help_documents_every_option():
    """Every RunConfig field of a CIFAR run is an option, with its help text."""
    import dataclasses

    from supermask.config import RunConfig

    out = supermask("train", "--help", check=True).stdout
    imagenet_only = {"dataset", "warmup_epochs", "label_smoothing"}
    fields = [f for f in dataclasses.fields(RunConfig) if f.name not in imagenet_only]
    assert len(fields) == 22
    for field in fields:
        assert f"--{field.name.replace('_', '-')}" in out, field.name
        assert field.metadata["help"][:25] in " ".join(out.split()), field.name
    for option in ("--data-dir", "--download", "--results", "--device", "--json", "--no-progress"):
        assert option in out


def test_every_config_field_reaches_the_run(tiny_data_dir, tmp_path, capsys):
    """PaB's and IteRand's fields set on the command line land in the stored config."""
    base = [
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
        "--json",
        "--data-dir",
        str(tiny_data_dir),
        "--results",
        str(tmp_path),
    ]
    assert (
        main(
            base
            + ["--method", "iterand", "--rerandomize-every", "2", "--rerandomize-fraction", "0.2"]
        )
        == 0
    )
    config = json.loads(capsys.readouterr().out)["config"]
    assert (config["rerandomize_every"], config["rerandomize_fraction"]) == (2, 0.2)
    assert (
        main(
            base
            + [
                "--method",
                "pab",
                "--prune",
                "random",
                "--flip-rate",
                "0.01",
                "--flip-threshold",
                "0",
                "--psg-bits",
                "8",
            ]
        )
        == 0
    )
    config = json.loads(capsys.readouterr().out)["config"]
    assert (config["prune"], config["flip_rate"], config["flip_threshold"], config["psg_bits"]) == (
        "random",
        0.01,
        0,
        8,
    )


def test_the_default_data_is_where_make_looks(tmp_path, monkeypatch):
    """$DATA_DIR, else shared/data beside the checkout, else ./data. Catches a CLI or notebook
    that, run without --data-dir, misses the copy that make finds beside the checkout."""
    from supermask import provenance
    from supermask.runs.sweep import default_data_dir

    checkout = tmp_path / "checkout"
    monkeypatch.setattr(provenance, "REPO_DIR", checkout)
    monkeypatch.delenv("DATA_DIR", raising=False)
    assert default_data_dir() == Path("data")
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert default_data_dir() == tmp_path / "shared" / "data"
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "mine"))
    assert default_data_dir() == tmp_path / "mine"
