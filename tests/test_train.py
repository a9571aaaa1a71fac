import torch

from supermask.config import RunConfig
from supermask.data.cifar10 import load_cifar10
from supermask.masks import masked_layers
from supermask.training.cifar10 import train
from supermask.training.loop import build

from conftest import whole_and_resumed


def small(**fields):
    return RunConfig(**{"model": "conv2", "width": 0.25, "epochs": 3, "batch_size": 32, **fields})


def test_resume_equals_uninterrupted(tiny_data_dir, tmp_path):
    train_data, test_data = load_cifar10(tiny_data_dir)
    config = small(k=0.5)
    first_sitting = {}
    whole, resumed = whole_and_resumed(
        config,
        train_data,
        test_data,
        tmp_path,
        between=lambda path: first_sitting.update(torch.load(path, weights_only=True)),
    )
    assert first_sitting["epoch"] == 1 and len(first_sitting["epoch_s"]) == 1
    assert resumed.test_acc == whole.test_acc
    assert resumed.history == whole.history
    # Each epoch's time, the first sitting's kept: what status estimates the time left from.
    assert len(whole.epoch_s) == len(resumed.epoch_s) == 3
    assert all(s > 0 for s in whole.epoch_s + resumed.epoch_s)
    assert resumed.epoch_s[0] == first_sitting["epoch_s"][0]
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_same_seed_same_masks(tiny_data_dir):
    train_data, test_data = load_cifar10(tiny_data_dir)
    config = small(k=0.3, epochs=1)
    one = train(config, train_data, test_data, "cpu", progress=False)
    two = train(config, train_data, test_data, "cpu", progress=False)
    assert one.test_acc == two.test_acc
    for (_, _, m1), (_, _, m2) in zip(masked_layers(one.model), masked_layers(two.model)):
        assert torch.equal(m1.mask(), m2.mask())
    other = train(small(k=0.3, epochs=1, seed=1), train_data, test_data, "cpu", progress=False)
    assert not torch.equal(
        next(masked_layers(other.model))[2].mask(), next(masked_layers(one.model))[2].mask()
    )


def test_edge_popup_learns_masks_not_weights(tiny_data_dir):
    train_data, test_data = load_cifar10(tiny_data_dir)
    config = small(k=0.5, epochs=2)
    initial = build(config).state_dict()
    outcome = train(config, train_data, test_data, "cpu", progress=False)
    final = outcome.model.state_dict()
    originals = [key for key in final if key.endswith(".original")]
    assert originals and all(torch.equal(final[key], initial[key]) for key in originals)
    assert any(not torch.equal(final[key], initial[key]) for key in final if key.endswith("scores"))
    assert outcome.kept == sum(kept for kept, _ in outcome.kept_per_layer.values())
    assert 0.49 < outcome.kept / outcome.total < 0.51


def test_dense_baseline_trains_every_weight(tiny_data_dir):
    train_data, test_data = load_cifar10(tiny_data_dir)
    config = small(method="dense", epochs=2)
    initial = build(config).state_dict()
    outcome = train(config, train_data, test_data, "cpu", progress=False)
    final = outcome.model.state_dict()
    assert all(not torch.equal(final[key], initial[key]) for key in final)
    assert outcome.kept == outcome.total
    assert outcome.test_acc > 0.3  # the tiny classes differ in colour: learnable


def test_divergence_is_recorded(tiny_data_dir):
    train_data, test_data = load_cifar10(tiny_data_dir)
    outcome = train(
        small(method="dense", lr=1e6, epochs=3), train_data, test_data, "cpu", progress=False
    )
    assert outcome.status == "diverged"
    assert outcome.test_acc is None and outcome.train_acc is None and outcome.epochs_run < 3


def test_per_epoch_evaluation_never_changes_training(tiny_data_dir):
    """Catches an evaluation that draws from the training RNG or leaves the model changed."""
    train_data, test_data = load_cifar10(tiny_data_dir)
    for config in (small(k=0.5), small(method="zhou", eval_samples=2)):
        measured = train(config, train_data, test_data, "cpu", progress=False)
        silent = train(config, train_data, test_data, "cpu", progress=False, eval_every_epoch=False)
        assert [e["test_acc"] for e in measured.history] and all(
            0.0 <= e["test_acc"] <= 1.0 for e in measured.history
        )
        assert all("test_acc" not in e for e in silent.history)
        assert [
            {k: v for k, v in e.items() if k != "test_acc"} for e in measured.history
        ] == silent.history
        assert measured.test_acc == silent.test_acc
        a, b = measured.model.state_dict(), silent.model.state_dict()
        assert all(torch.equal(a[key], b[key]) for key in a)


def test_learning_curve_ends_at_the_final_accuracy(tiny_data_dir):
    """The last epoch's curve point is the final (deterministic-mask) test accuracy."""
    train_data, test_data = load_cifar10(tiny_data_dir)
    outcome = train(small(k=0.5), train_data, test_data, "cpu", progress=False)
    assert len(outcome.history) == 3
    assert outcome.history[-1]["test_acc"] == outcome.test_acc
    assert outcome.eval_s > 0
