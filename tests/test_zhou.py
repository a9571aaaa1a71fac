import pytest
import torch
from torch import nn

from supermask.config import PROFILES, RunConfig
from supermask.data.cifar10 import load_cifar10
from supermask.init import initialize
from supermask.masks import ZhouMask, apply_zhou, masked_layers, sampled_masks
from supermask.models import conv4
from supermask.runs.sweep import run
from supermask.training.methods import Zhou

from conftest import whole_and_resumed


def test_samples_follow_the_probabilities():
    layer = nn.Linear(1000, 100, bias=False)
    apply_zhou(layer)
    mask = layer.parametrizations.weight[0]
    with torch.no_grad():
        mask.scores.copy_(torch.linspace(-3, 3, 100).unsqueeze(1).expand(100, 1000))
    weight = layer.parametrizations.weight.original
    kept = (layer.weight != 0).float().mean(1)  # signed-free weights are never exactly 0
    assert torch.allclose(kept, torch.sigmoid(mask.scores[:, 0].detach()), atol=0.06)
    assert not torch.equal(layer.weight != 0, layer.weight != 0)  # a new mask every forward
    with sampled_masks(layer, False):
        assert torch.equal(layer.weight, weight * (mask.scores > 0))
    assert mask.sample  # restored after the block
    assert mask.expected_kept() == pytest.approx(float(torch.sigmoid(mask.scores.detach()).sum()))


def test_gradient_is_straight_through_the_sigmoid():
    torch.manual_seed(0)
    layer = nn.Linear(5, 3, bias=False)
    apply_zhou(layer)
    x, upstream = torch.randn(4, 5), torch.randn(4, 3)
    (layer(x) * upstream).sum().backward()
    scores = layer.parametrizations.weight[0].scores
    w = layer.parametrizations.weight.original
    p = torch.sigmoid(scores.detach())
    assert torch.allclose(scores.grad, (upstream.T @ x) * w * p * (1 - p), atol=1e-6)


def test_weights_frozen_scores_learn():
    torch.manual_seed(0)
    model = apply_zhou(initialize(conv4(), "signed_constant"))
    before = {
        n: layer.parametrizations.weight.original.clone() for n, layer, _ in masked_layers(model)
    }
    scores = [m.scores.detach().clone() for _, _, m in masked_layers(model)]
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=200, momentum=0.9
    )
    nn.functional.cross_entropy(
        model(torch.randn(8, 3, 32, 32)), torch.randint(0, 10, (8,))
    ).backward()
    optimizer.step()
    for (name, layer, mask), old in zip(masked_layers(model), scores):
        assert isinstance(mask, ZhouMask)
        assert torch.equal(layer.parametrizations.weight.original, before[name])
        assert not torch.equal(mask.scores.detach(), old)


def test_config_defaults_and_refusals():
    config = RunConfig(model="conv4", method="zhou")
    assert (config.k, config.lr, config.weight_decay, config.momentum) == (None, 200.0, 0.0, 0.9)
    assert RunConfig(model="conv8", method="zhou").lr == 800.0
    with pytest.raises(ValueError, match="learns its kept fraction"):
        RunConfig(method="zhou", k=0.5)
    with pytest.raises(ValueError, match="divides by sqrt"):
        RunConfig(method="zhou", init="scaled_signed_constant")
    assert config.eval_samples == 10
    with pytest.raises(ValueError, match="eval_samples is a setting of zhou only"):
        RunConfig(method="edge-popup", eval_samples=5)
    with pytest.raises(ValueError, match="eval_samples must be >= 1"):
        RunConfig(method="zhou", eval_samples=0)


def test_profiles_set_evaluation_samples_of_sampled_masks_only():
    assert PROFILES["smoke"].apply(method="zhou").eval_samples == 2
    assert PROFILES["paper"].apply(method="zhou").eval_samples == 10
    popup = PROFILES["smoke"].apply(method="edge-popup")
    assert popup.eval_samples is None and "eval_samples" not in popup.canonical()


@pytest.mark.parametrize("eval_samples", [None, 3])
def test_run_records_both_evaluations_and_kept_fractions(tiny_data_dir, tmp_path, eval_samples):
    config = RunConfig(
        model="conv2", width=0.25, method="zhou", epochs=1, batch_size=32, eval_samples=eval_samples
    )
    result = run(config, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)
    n = eval_samples or 10
    assert len(result["test_acc_sampled"]) == n
    assert result["test_acc"] == pytest.approx(sum(result["test_acc_sampled"]) / n)
    # Accuracies over the 40 test images: whole counts of images, and the sampled masks differ.
    for acc in (result["test_acc_deterministic"], *result["test_acc_sampled"]):
        assert 0 <= acc <= 1 and acc * 40 == pytest.approx(round(acc * 40), abs=1e-9)
    assert 0 < result["expected_kept_fraction"] < 1
    assert set(result["expected_kept_fraction_per_layer"]) == set(result["kept_per_layer"])
    assert 0 < result["kept_fraction"] < 1


def test_zhou_resume_equals_uninterrupted(tiny_data_dir, tmp_path):
    """Mask sampling draws from the global RNG, which the checkpoint carries."""
    train_data, test_data = load_cifar10(tiny_data_dir)
    config = RunConfig(model="conv2", width=0.25, method="zhou", epochs=2, batch_size=32)
    whole, resumed = whole_and_resumed(config, train_data, test_data, tmp_path)
    assert resumed.history == whole.history
    assert resumed.extra["test_acc_sampled"] == whole.extra["test_acc_sampled"]


def test_nan_scores_end_the_run_as_diverged(tiny_data_dir, tmp_path, monkeypatch):
    prepare = Zhou.prepare

    def poisoned(self, model, config):
        model = prepare(self, model, config)
        with torch.no_grad():
            next(masked_layers(model))[2].scores[0].fill_(float("nan"))
        return model

    monkeypatch.setattr(Zhou, "prepare", poisoned)
    config = RunConfig(model="conv2", width=0.25, method="zhou", epochs=3, batch_size=32)
    result = run(config, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False)
    assert result["status"] == "diverged"
    assert result["test_acc"] is None and result["epochs_run"] == 1
