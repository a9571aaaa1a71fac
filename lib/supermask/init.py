"""Weight distributions for the frozen random weights (PROTOCOL.md, "Weight distributions").

Every distribution is an in-place initialiser ``f(weight, k)`` in the style of ``torch.nn.init``;
``k`` is the fraction of weights KEPT and only matters to the ``scaled_`` variants, whose std is
divided by sqrt(k) so a layer's output keeps its scale after pruning. The ``released_scaled_``
variants are what the authors' released code computes instead, sqrt(1 - k) for sqrt(k)
(hidden-networks issue #9): Figure 7 shows both, labelled.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "DISTRIBUTIONS",
    "SHORT_NAMES",
    "fans",
    "initialize",
    "kaiming_normal_",
    "kaiming_uniform_",
    "released_scaled_kaiming_normal_",
    "released_scaled_signed_constant_",
    "scaled_kaiming_normal_",
    "scaled_signed_constant_",
    "signed_constant_",
    "signed_xavier_constant_",
    "xavier_normal_",
]


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a Linear or Conv weight: in/out channels times the kernel size."""
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


@torch.no_grad()
def _random_signs_(weight: torch.Tensor, magnitude: float) -> torch.Tensor:
    return weight.bernoulli_(0.5).mul_(2 * magnitude).sub_(magnitude)


def kaiming_normal_(weight: torch.Tensor, k: float = 1.0) -> torch.Tensor:
    """N(0, 2/fan_in)."""
    return nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu")


def scaled_kaiming_normal_(weight: torch.Tensor, k: float = 1.0) -> torch.Tensor:
    """N(0, 2/(fan_in*k))."""
    return kaiming_normal_(weight).div_(math.sqrt(k))


def _released_scale(k: float) -> float:
    """The released code's fan factor, (1 - k): its scaling reads the kept fraction as pruned."""
    if not 0.0 < k < 1.0:
        raise ValueError(
            f"the released scaled distributions divide by sqrt(1 - k): k must be in "
            f"(0, 1), got {k:g}"
        )
    return 1.0 - k


def released_scaled_kaiming_normal_(weight: torch.Tensor, k: float = 0.5) -> torch.Tensor:
    """N(0, 2/(fan_in*(1-k))), as the released code draws its scaled Kaiming normal."""
    return kaiming_normal_(weight).div_(math.sqrt(_released_scale(k)))


def signed_constant_(weight: torch.Tensor, k: float = 1.0) -> torch.Tensor:
    """+-sqrt(2/fan_in) with a fair random sign."""
    return _random_signs_(weight, math.sqrt(2.0 / fans(weight)[0]))


def scaled_signed_constant_(weight: torch.Tensor, k: float = 1.0) -> torch.Tensor:
    """+-sqrt(2/(fan_in*k))."""
    return _random_signs_(weight, math.sqrt(2.0 / (fans(weight)[0] * k)))


def released_scaled_signed_constant_(weight: torch.Tensor, k: float = 0.5) -> torch.Tensor:
    """+-sqrt(2/(fan_in*(1-k))), as the released code draws its scaled signed constant."""
    return _random_signs_(weight, math.sqrt(2.0 / (fans(weight)[0] * _released_scale(k))))


def xavier_normal_(weight: torch.Tensor, k: float = 1.0) -> torch.Tensor:
    """N(0, 2/(fan_in+fan_out))."""
    return nn.init.xavier_normal_(weight)


def signed_xavier_constant_(weight: torch.Tensor, k: float = 1.0) -> torch.Tensor:
    """+-sqrt(2/(fan_in+fan_out))."""
    return _random_signs_(weight, math.sqrt(2.0 / sum(fans(weight))))


def kaiming_uniform_(weight: torch.Tensor, k: float = 1.0) -> torch.Tensor:
    """U(-sqrt(6/fan_in), sqrt(6/fan_in))."""
    return nn.init.kaiming_uniform_(weight, a=0.0, mode="fan_in", nonlinearity="relu")


DISTRIBUTIONS: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "kaiming_normal": kaiming_normal_,
    "signed_constant": signed_constant_,
    "scaled_kaiming_normal": scaled_kaiming_normal_,
    "scaled_signed_constant": scaled_signed_constant_,
    "released_scaled_kaiming_normal": released_scaled_kaiming_normal_,
    "released_scaled_signed_constant": released_scaled_signed_constant_,
    "xavier_normal": xavier_normal_,
    "signed_xavier_constant": signed_xavier_constant_,
    "kaiming_uniform": kaiming_uniform_,
}


# Short names the paper uses in its legends, for tables, legends and claim evidence.
SHORT_NAMES = {
    "kaiming_normal": "N_k",
    "signed_constant": "U_k",
    "xavier_normal": "N_x",
    "signed_xavier_constant": "U_x",
}


def get_distribution(name: str) -> Callable[[torch.Tensor, float], torch.Tensor]:
    try:
        return DISTRIBUTIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown weight distribution {name!r}; valid: {', '.join(DISTRIBUTIONS)}"
        ) from None


@torch.no_grad()
def initialize(
    model: nn.Module,
    name: str,
    k: float = 1.0,
    kinds: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear),
) -> nn.Module:
    """Draw the weight of every module of ``kinds`` (Conv2d and Linear) in ``model`` from the
    named distribution."""
    init_ = get_distribution(name)
    for module in model.modules():
        if isinstance(module, kinds):
            init_(module.weight, k)
    return model
