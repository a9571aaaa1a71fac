"""Masks on frozen weights, expressed as ``torch.nn.utils.parametrize`` parametrizations.

A masked layer keeps its random weight as ``parametrizations.weight.original`` (frozen) and the
learnable mask state (scores) inside the parametrization, so ``layer.weight`` is always the
effective ``weight * mask`` and any model (our ConvNets, torchvision ResNets) works unchanged.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.nn.utils import parametrize

__all__ = [
    "EdgePopupMask",
    "FixedMask",
    "ZhouMask",
    "apply_zhou",
    "sampled_masks",
    "WeightMask",
    "apply_edge_popup",
    "classifier_name",
    "kept_count",
    "kth_largest",
    "threshold_by_counts",
    "kept_counts",
    "mask_model",
    "masked_layers",
    "nonaffine_batchnorm_",
    "topk_mask",
]

# Above this size the k-th value is found inside a narrow band estimated from a sample, which is
# several times cheaper than a full selection over the tensor (see kth_largest).
_SELECT_DIRECTLY_BELOW = 1 << 16
_SAMPLE_SIZE = 1 << 14


def kept_count(k: float, n: int) -> int:
    """Number of weights a layer of ``n`` keeps at fraction ``k``: round half up, at least one."""
    return max(1, min(n, math.floor(k * n + 0.5)))


def _sample_bracket(flat: torch.Tensor, j: int) -> tuple[torch.Tensor, int, int]:
    """(sample, lo_rank, hi_rank): a strided sample of ``flat`` and the ranks in it (1-based,
    ascending, possibly outside 1..len) whose values bracket the j-th largest of ``flat``.

    The margin is six standard deviations of a sample quantile plus two ranks for rounding, so
    a miss is vanishingly rare; callers check and fall back when it happens.
    """
    n = flat.numel()
    sample = flat[:: (n // _SAMPLE_SIZE) | 1]
    m = sample.numel()
    below = (n - j + 0.5) / n
    margin = 6.0 * math.sqrt(below * (1.0 - below) / m) + 2.0 / m
    return sample, math.floor((below - margin) * m), math.ceil((below + margin) * m)


def kth_largest(flat: torch.Tensor, j: int) -> tuple[torch.Tensor, int]:
    """(v, c): the exact j-th largest value of a 1-D tensor and the count of elements >= v.

    No sort: for large tensors a strided sample gives a band [lo, hi] that almost surely holds v,
    and the exact selection runs on the band only; if the band misses, it runs on everything.
    """
    n = flat.numel()
    if n >= _SELECT_DIRECTLY_BELOW:
        sample, lo_rank, hi_rank = _sample_bracket(flat, j)
        m = sample.numel()
        lo = sample.kthvalue(lo_rank).values if lo_rank >= 1 else flat.new_tensor(-math.inf)
        hi = sample.kthvalue(hi_rank).values if hi_rank <= m else flat.new_tensor(math.inf)
        # Comparisons written into a float tensor are several times faster than into a bool one.
        above = int(torch.gt(flat, hi, out=torch.empty_like(flat)).sum())
        band = flat[(flat > lo) & (flat <= hi)]
        need = j - above
        if 1 <= need <= band.numel():
            v = band.kthvalue(band.numel() - need + 1).values
            return v, above + int((band >= v).sum())
    v = flat.kthvalue(n - j + 1).values
    return v, int((flat >= v).sum())


def threshold_by_counts(
    flat: torch.Tensor, j: int, hint: torch.Tensor | None = None, tries: int = 16
) -> torch.Tensor | None:
    """A value t with exactly ``j`` elements of ``flat`` above it, or None (then
    :func:`kth_largest` decides).

    Counting the elements above a value is one cheap pass. A strided sample brackets the
    answer, as in :func:`kth_largest`, or, given the ``hint`` of a nearby threshold (the last
    step's: scores move little per step), a bracket is grown from it; Illinois regula falsi on
    the counts then closes the bracket in a few passes, with no band to extract. None when the
    bracket misses, or when ties straddle the j-th value, so that no value has exactly ``j``
    above it.
    """
    sample, lo_rank, hi_rank = _sample_bracket(flat, j)
    m = sample.numel()
    scratch = torch.empty_like(flat)  # comparisons into floats are cheaper than into bools

    def above(t: torch.Tensor) -> int:
        return int(torch.gt(flat, t, out=scratch).sum())

    if hint is not None:
        bracket = _bracket_from(
            hint, above, j, sample, max(lo_rank, 1), min(hi_rank, m), flat.numel()
        )
    elif lo_rank < 1 or hi_rank > m:
        return None
    else:
        lo, hi = sample.kthvalue(lo_rank).values, sample.kthvalue(hi_rank).values
        bracket = lo, hi, above(lo), above(hi)
    if bracket is None:
        return None
    lo, hi, above_lo, above_hi = bracket
    if not above_hi <= j <= above_lo:
        return None
    if above_lo == j or above_hi == j:
        return lo if above_lo == j else hi
    excess_lo, excess_hi, moved = float(above_lo - j), float(above_hi - j), 0
    for _ in range(tries):
        t = lo + (hi - lo) * (excess_lo / (excess_lo - excess_hi))
        if not lo < t < hi:
            t = lo + (hi - lo) / 2
            if not lo < t < hi:  # the bracket is one float wide: ties straddle
                return None
        count = above(t)
        if count == j:
            return t
        if count > j:
            lo, excess_lo = t, float(count - j)
            excess_hi = excess_hi / 2 if moved == 1 else excess_hi
            moved = 1
        else:
            hi, excess_hi = t, float(count - j)
            excess_lo = excess_lo / 2 if moved == -1 else excess_lo
            moved = -1
    return None


def _bracket_from(
    hint: torch.Tensor,
    above: Callable[[torch.Tensor], int],
    j: int,
    sample: torch.Tensor,
    lo_rank: int,
    hi_rank: int,
    n: int,
    grow: int = 6,
) -> tuple[torch.Tensor, torch.Tensor, int, int] | None:
    """(lo, hi, above(lo), above(hi)) around the value with ``j`` above it, starting at
    ``hint``: a step sized by the sample's spacing of values near the j-th one, four times
    longer until the count crosses ``j``."""
    count = above(hint)
    if count == j:
        return hint, hint, j, j
    spacing = (
        (sample.kthvalue(hi_rank).values - sample.kthvalue(lo_rank).values)
        / max(1, hi_rank - lo_rank)
        * sample.numel()
        / n
    )  # value per element near the j-th
    step = 1.5 * (count - j) * spacing
    if not step:  # the sample's values tie near the j-th: no step would move
        return None
    t, c = hint, count
    for _ in range(grow):
        t_next = t + step
        c_next = above(t_next)
        if (c_next - j) * (c - j) <= 0:
            return (t, t_next, c, c_next) if t < t_next else (t_next, t, c_next, c)
        t, c, step = t_next, c_next, 4 * step
    return None


def in_memory_order(scores: torch.Tensor, flat_mask) -> torch.Tensor:
    """Apply ``flat_mask`` (1-D scores -> 1-D mask) to ``scores`` in the order they lie in memory.

    Which weights are kept does not depend on their order, and staying in memory order keeps a
    channels_last weight's mask channels_last: no copy, and no layout mismatch downstream.
    """
    if (
        scores.dim() == 4
        and not scores.is_contiguous()
        and scores.is_contiguous(memory_format=torch.channels_last)
    ):
        nhwc = scores.permute(0, 2, 3, 1)
        return flat_mask(nhwc.reshape(-1)).view(nhwc.shape).permute(0, 3, 1, 2)
    return flat_mask(scores.reshape(-1)).view(scores.shape)


def _topk_flat(
    flat: torch.Tensor, k: float, by_threshold: bool | None = None, memo: dict | None = None
) -> torch.Tensor:
    """The mask of the ``kept_count`` largest of ``flat``.

    On a CPU a threshold is cheapest (found by counting, else as the k-th value); ``memo`` keeps
    the last one found, where the next search starts. On a GPU its counts would stall the device
    queue several times a layer, so ``topk``'s indices mark the kept weights without waiting
    (the same set, ties aside)."""
    j = kept_count(k, flat.numel())
    if j == flat.numel():
        return torch.ones_like(flat)
    if not (by_threshold if by_threshold is not None else flat.device.type == "cpu"):
        return torch.zeros_like(flat).index_fill_(0, flat.topk(j, sorted=False).indices, 1)
    if flat.numel() >= _SELECT_DIRECTLY_BELOW:
        memo = {} if memo is None else memo
        threshold = threshold_by_counts(flat, j, hint=memo.get("threshold"))
        memo["threshold"] = threshold
        if threshold is not None:
            return torch.gt(flat, threshold, out=torch.empty_like(flat))
    threshold, at_or_above = kth_largest(flat, j)
    if at_or_above == j:
        return torch.ge(flat, threshold, out=torch.empty_like(flat))
    return torch.zeros_like(flat).index_fill_(0, flat.topk(j, sorted=False).indices, 1)


@torch.no_grad()
def topk_mask(scores: torch.Tensor, k: float, memo: dict | None = None) -> torch.Tensor:
    """0/1 mask (dtype and layout of ``scores``) keeping exactly ``kept_count(k, n)`` of the
    largest scores.

    Uses a k-th value threshold instead of a sort. When several scores tie at the threshold,
    ``topk`` breaks the tie so the kept count is still exact. ``memo`` (a dict the caller keeps
    between calls on one layer) lets the search start from the last threshold: the same mask,
    found in fewer passes.
    """
    return in_memory_order(scores, lambda flat: _topk_flat(flat, k, memo=memo))


class _StraightThroughTopK(torch.autograd.Function):
    """Forward: the top-k mask. Backward: the identity, so pruned weights' scores still learn.

    Written in the ``torch.func`` style (``setup_context``, a generated vmap rule) so a stack of
    runs (:mod:`supermask.training.stacked`) can map it over its run dimension; there
    ``by_threshold`` is False, since the CPU's threshold search counts on the host and has no
    batching rule, while ``topk`` has one."""

    generate_vmap_rule = True

    @staticmethod
    def forward(
        scores: torch.Tensor, k: float, memo: dict | None, by_threshold: bool | None
    ) -> torch.Tensor:
        if by_threshold is False:
            flat = scores.reshape(-1)
            return _topk_flat(flat, k, by_threshold=False).view(scores.shape)
        return topk_mask(scores, k, memo)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        pass

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        return grad, None, None, None


class WeightMask(nn.Module):
    """Base of every mask parametrization: ``forward(weight) -> weight * mask``."""

    def mask(self) -> torch.Tensor:
        """The current binary mask (no gradient), for counting and export."""
        raise NotImplementedError


class EdgePopupMask(WeightMask):
    """edge-popup (Ramanujan et al.): keep the top-k fraction of |score| in this layer.

    Scores start as PyTorch's default conv init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as in the
    authors' code. The gradient reaching a score is dL/d(w*m) * w * sign(score).
    """

    def __init__(self, weight: torch.Tensor, k: float):
        super().__init__()
        if not 0.0 < k <= 1.0:
            raise ValueError(f"k (fraction kept) must be in (0, 1], got {k}")
        self.k = k
        self.scores = nn.Parameter(torch.empty_like(weight))
        nn.init.kaiming_uniform_(self.scores, a=math.sqrt(5))
        self.search = {}  # the last threshold, where the next step's search starts (not state)
        self.by_threshold = None  # None: as the device prefers; False: topk (vmap-able)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * _StraightThroughTopK.apply(
            self.scores.abs(), self.k, self.search, self.by_threshold
        )

    def mask(self) -> torch.Tensor:
        return topk_mask(self.scores.detach().abs(), self.k)

    def extra_repr(self) -> str:
        return f"k={self.k}"


class _StraightThroughBernoulli(torch.autograd.Function):
    """Forward: a 0/1 sample with P(1) = p. Backward: the identity, straight to p.

    Drawn as uniform < p rather than ``torch.bernoulli``, which raises on a NaN probability: a
    diverged run must end as "diverged" (the trainer checks the scores), not as a crash.
    """

    @staticmethod
    def forward(ctx, probabilities: torch.Tensor) -> torch.Tensor:
        return (torch.rand_like(probabilities) < probabilities).to(probabilities.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


class ZhouMask(WeightMask):
    """Zhou et al. (2019): keep each weight with probability sigmoid(score), resampled per forward.

    The kept fraction is not chosen but learned. ``sample`` switches between a fresh Bernoulli
    mask on every forward (training, and Zhou et al.'s evaluation) and the deterministic mask
    sigmoid(score) > 0.5, i.e. score > 0.
    """

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.sample = True
        self.scores = nn.Parameter(torch.empty_like(weight))
        nn.init.kaiming_uniform_(self.scores, a=math.sqrt(5))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.sample:
            return weight * _StraightThroughBernoulli.apply(torch.sigmoid(self.scores))
        # score > 0 rather than sigmoid(score) > 0.5, which rounds to 0.5 for tiny scores
        return weight * (self.scores.detach() > 0).to(weight.dtype)

    def mask(self) -> torch.Tensor:
        return (self.scores.detach() > 0).to(self.scores.dtype)

    def expected_kept(self) -> float:
        """The mean number of weights a sampled mask keeps: the sum of the probabilities."""
        return float(torch.sigmoid(self.scores.detach()).sum())


class FixedMask(WeightMask):
    """A binary mask chosen before training and never changed (pruning at initialisation, as in
    PaB's first stage); what trains is the weight itself, e.g. its signs."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("kept", mask.to(torch.bool))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.kept.to(weight.dtype)

    def mask(self) -> torch.Tensor:
        return self.kept.to(torch.float32)


@contextlib.contextmanager
def sampled_masks(model: nn.Module, sample: bool):
    """Within the block, every :class:`ZhouMask` of ``model`` samples (True) or thresholds."""
    masks = [m for _, _, m in masked_layers(model) if isinstance(m, ZhouMask)]
    before = [m.sample for m in masks]
    for m in masks:
        m.sample = sample
    try:
        yield
    finally:
        for m, value in zip(masks, before):
            m.sample = value


def nonaffine_batchnorm_(model: nn.Module) -> nn.Module:
    """Replace every batch norm by one without learnable scale and shift (running stats kept)."""
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            parent_name, _, child = name.rpartition(".")
            replacement = type(module)(
                module.num_features,
                eps=module.eps,
                momentum=module.momentum,
                affine=False,
                track_running_stats=module.track_running_stats,
            )
            setattr(model.get_submodule(parent_name), child, replacement)
    return model


def classifier_name(model: nn.Module) -> str:
    """The name of the model's last Linear layer: its classifier."""
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no Linear classifier")
    return names[-1]


def mask_model(
    model: nn.Module,
    make_mask: Callable[[torch.Tensor], WeightMask],
    *,
    mask_classifier: bool = True,
    affine_batchnorm: bool = False,
    freeze: bool = True,
) -> nn.Module:
    """Turn ``model`` into a supermask model in place.

    Every Conv2d and Linear weight is masked by ``make_mask(weight)`` and (``freeze``) frozen,
    and its bias removed (the reference models have none); batch norm becomes non-affine, so the
    mask state is the only thing left to learn. ``mask_classifier=False`` leaves the last Linear
    as it is and ``affine_batchnorm=True`` keeps batch norm's scale and shift, for methods that
    train those (PaB, and edge-popup given the same extras).
    """
    skip = None if mask_classifier else classifier_name(model)
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and name != skip:
            module.weight.requires_grad_(not freeze)
            if module.bias is not None:
                module.register_parameter("bias", None)
            parametrize.register_parametrization(module, "weight", make_mask(module.weight))
    return model if affine_batchnorm else nonaffine_batchnorm_(model)


def apply_edge_popup(model: nn.Module, k: float, **options) -> nn.Module:
    """Mask every Conv2d and Linear of ``model`` with an :class:`EdgePopupMask` keeping ``k``
    (``options`` as in :func:`mask_model`)."""
    return mask_model(model, lambda weight: EdgePopupMask(weight, k), **options)


def apply_zhou(model: nn.Module) -> nn.Module:
    """Mask every Conv2d and Linear of ``model`` with a :class:`ZhouMask`."""
    return mask_model(model, ZhouMask)


def masked_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module, WeightMask]]:
    """(name, layer, mask) for every layer whose weight carries a :class:`WeightMask`."""
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight"):
            for p in module.parametrizations.weight:
                if isinstance(p, WeightMask):
                    yield name, module, p


def kept_counts(model: nn.Module) -> dict[str, tuple[int, int]]:
    """{layer name: (kept, total)} for every Conv2d and Linear; an unmasked layer keeps all."""
    counts = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            total = module.weight.numel()
            kept = total
            if parametrize.is_parametrized(module, "weight"):
                for p in module.parametrizations.weight:
                    if isinstance(p, WeightMask):
                        kept = int(p.mask().sum())
            counts[name] = (kept, total)
    return counts
