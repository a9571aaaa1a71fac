"""The ImageNet path on a tiny generated ImageFolder: models, data checks, torchrun + DDP (gloo)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from supermask.config import RunConfig
from supermask.data.cifar10 import DataNotFoundError
from supermask.data.imagenet import find_imagenet, make_synthetic_imagenet
from supermask.masks import apply_edge_popup, masked_layers
from supermask.models import build_model
from supermask.models.sizes import kept_weights
from supermask.runs.imagenet import imagenet_command


@pytest.fixture(scope="module")
def imagenet_dir(tmp_path_factory) -> Path:
    return make_synthetic_imagenet(tmp_path_factory.mktemp("imagenet"))


@pytest.mark.parametrize(
    "model, table2", [("resnet50", 7.6e6), ("resnet101", 13e6), ("wide_resnet50_2", 20.6e6)]
)
def test_kept_weights_at_k_0_3_match_table_2(model, table2):
    assert kept_weights(model, 1.0, 0.3) == pytest.approx(table2, rel=0.03)


def test_torchvision_resnet50_converts_like_every_model():
    model = apply_edge_popup(build_model("resnet50"), 0.3)
    assert len(list(masked_layers(model))) == 54  # 49 convs + 4 downsample convs + fc
    assert model.fc.out_features == 1000 and model.fc.bias is None
    assert not any(m.affine for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with pytest.raises(ValueError, match="torchvision's width only"):
        build_model("resnet50", width=0.5)
    with pytest.raises(ValueError, match="is for imagenet, not cifar10"):
        RunConfig(model="resnet50")


def test_imagenet_recipe_defaults():
    config = RunConfig(model="resnet50", dataset="imagenet", k=0.3, batch_size=1024)
    assert config.lr == pytest.approx(1.024) and config.momentum == 0.875
    assert (config.warmup_epochs, config.label_smoothing) == (5, 0.1)
    assert config.weight_decay == pytest.approx(3.0517578125e-05)
    with pytest.raises(ValueError, match="imagenet runs only"):
        RunConfig(model="conv4", label_smoothing=0.1)


def test_imagenet_root_is_checked(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        find_imagenet(tmp_path / "none")
    (tmp_path / "train" / "n01").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="has no val/ folder"):
        find_imagenet(tmp_path)
    (tmp_path / "val" / "n02").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="different class folders"):
        find_imagenet(tmp_path)


def _config(**fields) -> RunConfig:
    return RunConfig(
        **{
            "model": "resnet50",
            "dataset": "imagenet",
            "k": 0.3,
            "epochs": 1,
            "batch_size": 8,
            **fields,
        }
    )


def _imagenet_cli(imagenet_dir, results, *extra, torchrun=0, **fields):
    """The notebook's own launcher, with the whole RunConfig on its command line."""
    args = imagenet_command(
        _config(**fields),
        imagenet_dir,
        results,
        max(1, torchrun),
        1,
        "cpu",
        "--no-progress",
        *extra,
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _scores(result) -> dict:
    state = torch.load(Path(result["run_dir"]) / "model.pt", weights_only=True)
    return {k: v for k, v in state.items() if k.endswith("scores")}


def test_torchrun_two_processes_equal_one_process_accumulating_two(imagenet_dir, tmp_path):
    two = _imagenet_cli(imagenet_dir, tmp_path / "ddp", torchrun=2)
    one = _imagenet_cli(imagenet_dir, tmp_path / "single", "--accumulate", "2")
    stored = json.loads((Path(two["run_dir"]) / "result.json").read_text())
    assert stored["processes"] == 2 and stored["replicas_identical"]
    assert stored["status"] == "finished"
    # Both jobs trained the same model: they must measure the same accuracy on the same images.
    assert stored["test_acc"] == one["test_acc"]
    a, b = _scores(two), _scores(one)
    assert a.keys() == b.keys() and len(a) == 54
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    assert two["hash"] == one["hash"]  # the process layout is not part of the run's identity


_LEAVES_NO_GROUP = """
import sys
import torch.distributed as dist
from supermask.config import RunConfig
from supermask.runs.imagenet import train_imagenet

config = RunConfig(model="resnet50", dataset="imagenet", k=0.3, epochs=1, batch_size=8)
train_imagenet(config, sys.argv[1], sys.argv[2], "cpu", workers=1, progress=False)
assert not dist.is_initialized(), "train_imagenet left its process group to the finaliser"
"""


def test_each_torchrun_process_destroys_the_group_it_created(imagenet_dir, tmp_path):
    """A gloo group left to the interpreter's finaliser can abort the process at exit
    (SIGABRT, 'terminate called without an active exception') after the run has landed."""
    _imagenet_cli(imagenet_dir, tmp_path)
    script = tmp_path / "leaves_no_group.py"
    script.write_text(_LEAVES_NO_GROUP)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        + [str(script), str(imagenet_dir), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_bad_imagenet_input_exits_2_and_writes_nothing(tmp_path, capsys):
    from supermask.cli import main

    (tmp_path / "in" / "train" / "n01").mkdir(parents=True)
    for bad, message in (
        (["--imagenet-dir", str(tmp_path / "in")], "has no val/ folder"),
        (["--imagenet-dir", str(tmp_path), "--k", "2"], "must be in (0, 1]"),
        (["--imagenet-dir", str(tmp_path), "--model", "conv4"], "invalid choice"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["imagenet", "--results", str(tmp_path / "results"), *bad])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def _kill_every_process_mentioning(text: str) -> None:
    """SIGKILL the launcher, its workers and their loaders, and wait until every one is gone.

    A loader process forked just before the kill holds the run's claim (an inherited ``flock``)
    until it dies too, so the resume must not start before then.
    """
    import signal
    import time

    deadline = time.monotonic() + 60
    while True:
        alive = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and int(proc.name) != os.getpid():
                try:
                    if text.encode() in (proc / "cmdline").read_bytes():  # empty once a zombie
                        os.kill(int(proc.name), signal.SIGKILL)
                        alive.append(proc.name)
                except (OSError, ProcessLookupError):
                    pass
        if not alive:
            return
        assert time.monotonic() < deadline, f"processes {alive} outlived SIGKILL"
        time.sleep(0.05)


def test_killed_torchrun_job_resumes_from_the_last_epoch(imagenet_dir, tmp_path):
    import time

    fields = {"epochs": 3, "batch_size": 4}
    whole = _imagenet_cli(imagenet_dir, tmp_path / "whole", torchrun=2, **fields)
    launcher = imagenet_command(
        _config(**fields), imagenet_dir, tmp_path / "cut", 2, 1, "cpu", "--no-progress"
    )
    job = subprocess.Popen(
        launcher,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = tmp_path / "cut" / "runs" / whole["run_dir"].rsplit("/", 1)[1] / "checkpoint.pt"
    deadline = time.monotonic() + 600
    while not checkpoint.exists():
        assert job.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    _kill_every_process_mentioning(str(tmp_path / "cut"))  # as when the node dies
    job.wait()
    assert not (checkpoint.parent / "result.json").exists(), "killed too late"

    resumed = _imagenet_cli(imagenet_dir, tmp_path / "cut", torchrun=2, **fields)
    stored = json.loads((Path(resumed["run_dir"]) / "result.json").read_text())
    assert stored["resumed_from_epoch"] >= 1 and stored["epochs_run"] == 3
    a, b = _scores(whole), _scores(resumed)
    assert all(torch.equal(a[key], b[key]) for key in a)
