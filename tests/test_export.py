import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from supermask.cli import main
from supermask.config import RunConfig
from supermask.data.cifar10 import load_cifar10
from supermask.masks import masked_layers, sampled_masks
from supermask.models import build_model
from supermask.runs.sweep import run, store_for
from supermask.training.evaluate import accuracy
from supermask.training.loop import build

# Conv2 at width 0.25, written with torch alone, as a user without this package would.
_PLAIN_CONV2 = """
import sys
sys.modules["supermask"] = None  # importing the package would fail
import torch
from torch import nn
exported = torch.load(sys.argv[1], weights_only=True)
model = nn.Module()
model.features = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.ReLU(),
                               nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.ReLU(),
                               nn.MaxPool2d(2))
model.classifier = nn.Sequential(nn.Flatten(), nn.Linear(4096, 64, bias=False), nn.ReLU(),
                                 nn.Linear(64, 64, bias=False), nn.ReLU(),
                                 nn.Linear(64, 10, bias=False))
model.load_state_dict(exported["state_dict"])
x, expected = torch.load(sys.argv[2], weights_only=True)
logits = model.classifier(model.features(x))
assert torch.allclose(logits, expected, atol=1e-5), (logits - expected).abs().max()
print(exported["format"], exported["kept"])
"""


def _finished(config, tiny_data_dir, tmp_path) -> dict:
    return run(config, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)


def _masked_model(result) -> nn.Module:
    config = RunConfig.from_dict(result["config"])
    model = build(config)
    model.load_state_dict(torch.load(f"{result['run_dir']}/model.pt", weights_only=True))
    return model.eval()


@pytest.mark.parametrize(
    "fields",
    [
        {"method": "edge-popup", "k": 0.3},
        {"method": "zhou"},
        {"method": "dense", "init": "kaiming_normal"},
        {"method": "pab", "k": 0.3, "prune": "random"},
    ],
)
def test_exported_model_equals_the_masked_one(fields, tiny_data_dir, tmp_path, capsys):
    config = RunConfig(model="conv2", width=0.25, epochs=1, batch_size=32, **fields)
    result = _finished(config, tiny_data_dir, tmp_path)
    out = tmp_path / "subnetwork.pt"
    assert main(["export", result["run_dir"], str(out)]) == 0
    assert "weights kept" in capsys.readouterr().out

    exported = torch.load(out, weights_only=True)
    plain = build_model("conv2", width=0.25)
    plain.load_state_dict(exported["state_dict"])  # strict: every key, every shape
    _, test_data = load_cifar10(tiny_data_dir)
    expected = result.get("test_acc_deterministic", result["test_acc"])
    assert accuracy(plain, test_data, torch.device("cpu")) == expected == exported["test_acc"]
    nonzero = sum(
        int((m.weight != 0).sum()) for m in plain.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
    )
    assert nonzero == exported["kept"]
    if fields["method"] != "zhou":
        assert exported["kept"] == result["kept"]
    if fields["method"] == "edge-popup":
        assert exported["kept"] / exported["total"] == pytest.approx(0.3, abs=0.01)
    if fields["method"] == "pab":  # the flipped signs are exported, on the kept weights only
        masked = _masked_model(result)
        for name, layer, mask in masked_layers(masked):
            weight = exported["state_dict"][f"{name}.weight"]
            original = layer.parametrizations.weight.original.detach()
            assert torch.equal(weight, original * mask.mask())

    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad(), sampled_masks(masked := _masked_model(result), False):
        torch.save((x, masked(x)), tmp_path / "probe.pt")
    check = subprocess.run(
        [sys.executable, "-c", _PLAIN_CONV2, str(out), str(tmp_path / "probe.pt")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.split() == ["supermask-export/1", str(exported["kept"])]


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing", "is not a run directory"),
        ("not a run", "is not a run directory (one with a config.json"),
        ("unfinished", "holds no finished run"),
        ("corrupted", "is not the file its record names"),
    ],
)
def test_export_refuses_what_is_not_a_finished_run(
    damage, message, tiny_data_dir, tmp_path, capsys
):
    config = RunConfig(model="conv2", width=0.25, epochs=1, batch_size=32)
    run_dir = store_for(tmp_path, tiny_data_dir).run_dir(config)
    if damage == "unfinished":
        store_for(tmp_path, tiny_data_dir).start(config)
    elif damage == "not a run":
        run_dir.mkdir(parents=True)
        (run_dir / "notes.txt").write_text("a directory, but no run")
    elif damage == "corrupted":
        _finished(config, tiny_data_dir, tmp_path)
        model_file = run_dir / "model.pt"
        model_file.write_bytes(model_file.read_bytes()[:100])
    out = tmp_path / "out.pt"
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(run_dir), str(out)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("link_to", ["nowhere.pt", "existing.pt"])
def test_export_never_replaces_a_symbolic_link(link_to, tiny_data_dir, tmp_path, capsys):
    config = RunConfig(model="conv2", width=0.25, epochs=1, batch_size=32)
    result = _finished(config, tiny_data_dir, tmp_path)
    if link_to == "existing.pt":
        (tmp_path / link_to).write_bytes(b"someone's file")
    out = tmp_path / "out.pt"
    out.symlink_to(tmp_path / link_to)
    with pytest.raises(SystemExit) as exit_info:
        main(["export", result["run_dir"], str(out), "--force"])
    assert exit_info.value.code == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert out.is_symlink() and os.readlink(out) == str(tmp_path / link_to)
    if link_to == "existing.pt":
        assert (tmp_path / link_to).read_bytes() == b"someone's file"
