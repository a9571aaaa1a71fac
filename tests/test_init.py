import math

import pytest
import torch

from supermask.init import DISTRIBUTIONS, get_distribution, initialize
from supermask.models import conv2

FAN_IN, FAN_OUT = 256 * 9, 512 * 9
SHAPE = (512, 256, 3, 3)
K = 0.3


def expected_std(name: str) -> float:
    kaiming = math.sqrt(2 / FAN_IN)
    return {
        "kaiming_normal": kaiming,
        "signed_constant": kaiming,
        "scaled_kaiming_normal": kaiming / math.sqrt(K),
        "scaled_signed_constant": kaiming / math.sqrt(K),
        "released_scaled_kaiming_normal": kaiming / math.sqrt(1 - K),
        "released_scaled_signed_constant": kaiming / math.sqrt(1 - K),
        "xavier_normal": math.sqrt(2 / (FAN_IN + FAN_OUT)),
        "signed_xavier_constant": math.sqrt(2 / (FAN_IN + FAN_OUT)),
        "kaiming_uniform": math.sqrt(6 / FAN_IN) / math.sqrt(3),
    }[name]


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_std_matches_reference(name):
    torch.manual_seed(0)
    weight = get_distribution(name)(torch.empty(SHAPE), K)
    assert weight.std().item() == pytest.approx(expected_std(name), rel=0.01)
    assert weight.mean().item() == pytest.approx(0.0, abs=0.01 * expected_std(name))


@pytest.mark.parametrize("name", [n for n in DISTRIBUTIONS if "constant" in n])
def test_signed_constants_take_two_values(name):
    torch.manual_seed(0)
    weight = get_distribution(name)(torch.empty(SHAPE), K)
    values = weight.unique()
    assert len(values) == 2
    assert values[1].item() == pytest.approx(expected_std(name), rel=1e-6)
    assert values[0].item() == pytest.approx(-expected_std(name), rel=1e-6)
    assert (weight > 0).float().mean().item() == pytest.approx(0.5, abs=0.01)


def test_kaiming_uniform_bounds():
    torch.manual_seed(0)
    weight = get_distribution("kaiming_uniform")(torch.empty(SHAPE), K)
    bound = math.sqrt(6 / FAN_IN)
    assert weight.abs().max().item() <= bound
    assert weight.abs().max().item() > 0.99 * bound


def test_unknown_distribution_lists_valid_names():
    with pytest.raises(ValueError, match="valid: kaiming_normal, signed_constant"):
        get_distribution("gaussian")


def test_initialize_uses_fan_in_of_each_layer():
    torch.manual_seed(0)
    model = initialize(conv2(), "signed_constant")
    first_fc = model.classifier[1]
    assert first_fc.weight.abs().unique().item() == pytest.approx(math.sqrt(2 / 16384))


@pytest.mark.parametrize(
    "name", ["released_scaled_kaiming_normal", "released_scaled_signed_constant"]
)
def test_the_released_scaling_is_undefined_for_a_dense_layer(name):
    with pytest.raises(ValueError, match=r"sqrt\(1 - k\): k must be in \(0, 1\), got 1"):
        get_distribution(name)(torch.empty(SHAPE), 1.0)
