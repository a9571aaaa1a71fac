import dataclasses

import pytest

from supermask.config import PROFILES, RunConfig, get_profile
from supermask.training.methods import METHODS

from conftest import REPO


def test_defaults_follow_the_reference_protocol():
    popup = RunConfig(model="conv4", method="edge-popup")
    assert (
        popup.k,
        popup.init,
        popup.optimizer,
        popup.lr,
        popup.momentum,
        popup.weight_decay,
        popup.batch_size,
    ) == (0.5, "signed_constant", "sgd", 0.1, 0.9, 1e-4, 128)
    dense = RunConfig(model="conv4", method="dense")
    assert (dense.k, dense.init, dense.lr) == (1.0, "kaiming_normal", 0.01)
    adam = RunConfig(model="conv2", method="dense", optimizer="adam")
    assert (adam.lr, adam.batch_size, adam.weight_decay) == (2e-4, 60, 0.0)
    assert RunConfig(model="conv6", method="dense", optimizer="adam").lr == 3e-4


def test_hash_identifies_the_run():
    a = RunConfig(model="conv4", k=0.5, epochs=2)
    assert a.hash == RunConfig(model="conv4", k=0.5, epochs=2, lr=0.1).hash  # default made explicit
    assert a.hash != RunConfig(model="conv4", k=0.5, epochs=2, seed=1).hash
    assert a.hash != RunConfig(model="conv4", k=0.3, epochs=2).hash
    assert RunConfig.from_dict(a.to_dict()) == a
    assert "test_subset" not in a.canonical()  # None fields stay out: adding fields keeps hashes
    assert a.name.startswith("conv4-edge-popup-") and a.name.endswith(a.hash)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"k": 0.0}, "k is the fraction of weights kept"),
        ({"k": 1.2}, "k is the fraction of weights kept"),
        ({"width": 0}, "the smallest width it allows is 0.015625"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"model": "mlp"}, "unknown model 'mlp'; valid: conv2"),
        ({"method": "magic"}, "unknown method 'magic'; valid: edge-popup"),
        ({"init": "ones"}, "unknown weight distribution 'ones'; valid:"),
        ({"optimizer": "lbfgs"}, "unknown optimizer"),
        ({"method": "dense", "k": 0.5}, "k must be 1"),
        ({"train_subset": 5}, "train_subset must be >= 10"),
    ],
)
def test_bad_configs_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**fields)


def test_a_period_in_steps_is_kept_per_epoch_of_data():
    """IteRand's 300 steps of the full set: 300 at full data, 2 on smoke's 300 images."""
    assert get_profile("paper").scaled_steps(300) == 300
    assert get_profile("short").scaled_steps(300) == 300
    assert get_profile("smoke").scaled_steps(300) == 2
    assert get_profile("smoke").scaled_steps(10) == 1


def test_profiles():
    assert set(PROFILES) == {"smoke", "short", "paper"}
    paper = get_profile("paper").apply(model="conv6", k=0.3)
    assert (paper.epochs, paper.train_subset, paper.test_subset) == (100, None, None)
    assert len(get_profile("paper").seeds) == 5
    with pytest.raises(ValueError, match="unknown profile"):
        get_profile("fast")


def test_a_title_says_how_many_seeds_have_run():
    """Catches "seed none of 1 so far" in the title of a figure none of whose runs finished."""
    short, paper = get_profile("short"), get_profile("paper")
    assert "1 seed, no run finished yet," in short.describe([])
    assert "5 seeds, no run finished yet," in paper.describe([])
    assert "seed 0 of 5 so far," in paper.describe([0, 0])
    assert ", 1 seed," in short.describe([0]) and "so far" not in short.describe([0])
    assert "none" not in short.describe([])


# Hashes name run directories, committed run records included: none may change, except where a
# default is corrected to the authors' value and no committed record has the hash (ResNet-18
# edge-popup and IteRand: weight decay 1e-4 -> 5e-4; PaB's default schedule 100 -> its authors'
# 180 epochs, the old meaning pinned with its epochs; issue "Faithful where the paper is silent").
PINNED_HASHES = [
    ({}, "203ddb8dadc304db"),
    ({"model": "conv2", "k": 0.5, "epochs": 100}, "56117d4d5006f049"),
    ({"model": "conv2", "method": "dense", "optimizer": "adam"}, "f8acb0d585e9c87f"),
    ({"model": "conv2", "method": "zhou", "init": "kaiming_normal"}, "6fbe481bc4c88b8c"),
    ({"model": "conv6", "method": "dense"}, "310e29a473ec6389"),
    (
        {"model": "resnet18", "method": "pab", "width": 0.5, "k": 0.3, "epochs": 100},
        "51c00453c16d10b9",
    ),
    ({"model": "resnet18", "method": "pab", "width": 0.5, "k": 0.3}, "923e59775b0cbf00"),
    ({"model": "resnet18", "method": "iterand", "k": 0.5}, "0f1024b9994020b2"),
    ({"model": "resnet18", "method": "edge-popup-extras", "k": 0.1}, "b11a4d5dfc5f7bf2"),
    ({"model": "resnet50", "dataset": "imagenet", "k": 0.3}, "8db22803eac0f4ce"),
    (
        {"model": "conv4", "width": 2.0, "k": 0.7, "init": "kaiming_normal", "seed": 3},
        "232e5933de0deb6f",
    ),
    (
        {"model": "conv8", "method": "zhou", "eval_samples": 5, "epochs": 2, "train_subset": 5000},
        "2cb050c6e07621e4",
    ),
    ({"model": "wide_resnet50_2", "dataset": "imagenet", "method": "dense"}, "5eee1e18d0965b53"),
]


@pytest.mark.parametrize("fields, digest", PINNED_HASHES)
def test_run_config_hashes_never_change(fields, digest):
    assert RunConfig(**fields).hash == digest


def test_edge_popup_and_iterand_take_their_authors_resnet_weight_decay():
    for method in ("edge-popup", "iterand", "edge-popup-extras"):
        assert RunConfig(model="resnet18", method=method).weight_decay == 5e-4
        assert RunConfig(model="conv6", method=method).weight_decay == 1e-4


def test_protocol_md_carries_the_protocol_table_as_the_code_has_it():
    from supermask.protocol import markdown_table

    assert markdown_table() in (REPO / "PROTOCOL.md").read_text()


def test_every_hyperparameter_of_the_table_is_a_runconfig_field_and_unset_until_resolved():
    from supermask.protocol import PROTOCOL

    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    for name, hyperparameter in PROTOCOL.items():
        assert fields[name].default is None, name
        assert fields[name].metadata["help"] == hyperparameter.describe()
        for method in hyperparameter.methods or ():
            assert method in METHODS


def test_each_field_has_the_type_the_table_gives_it_and_every_method_a_class():
    """The fields only some methods have are declared from the table: a row with the wrong type
    would let a run take psg_bits=8.5, and a name in the table without a class would be a
    method RunConfig accepts and nothing trains."""
    from supermask.config import FLOAT_FIELDS, INT_FIELDS
    from supermask.protocol import METHOD_NAMES, PROTOCOL

    annotations = {f.name: str(f.type) for f in dataclasses.fields(RunConfig)}
    for name, hyperparameter in PROTOCOL.items():
        assert annotations[name] == f"{hyperparameter.type.__name__} | None", name
    assert {"psg_bits", "rerandomize_every", "warmup_epochs"} <= set(INT_FIELDS)
    assert {"flip_rate", "rerandomize_fraction", "label_smoothing"} <= set(FLOAT_FIELDS)
    with pytest.raises(ValueError, match="psg_bits must be an integer, got 8.5"):
        RunConfig(method="pab", psg_bits=8.5)
    assert tuple(METHODS) == METHOD_NAMES
    assert all(METHODS[name].name == name for name in METHODS)


def test_fixed_and_refused_fields_are_refused_by_the_table():
    with pytest.raises(
        ValueError, match="method 'pab' trains with Bop and SGD: optimizer must be sgd, got adam"
    ):
        RunConfig(method="pab", optimizer="adam")
    with pytest.raises(
        ValueError, match="method 'dense' trains every weight: k must be 1, got 0.5"
    ):
        RunConfig(method="dense", k=0.5)
    with pytest.raises(ValueError, match="method 'zhou' learns its kept fraction: leave k unset"):
        RunConfig(method="zhou", k=0.5)
    assert RunConfig(method="dense", k=1.0) == RunConfig(method="dense")  # the fixed value: fine
    assert RunConfig(method="pab", optimizer="sgd") == RunConfig(method="pab")
