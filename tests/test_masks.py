import math

import pytest
import torch
import torchvision
from torch import nn
from torch.nn.utils import parametrize

from supermask.init import initialize
from supermask.masks import (
    EdgePopupMask,
    apply_edge_popup,
    kept_count,
    kept_counts,
    masked_layers,
    topk_mask,
)
from supermask.models import conv4

KS = (0.1, 0.3, 0.5, 0.7, 0.9)


def sorted_mask(scores: torch.Tensor, k: float) -> torch.Tensor:
    flat = scores.reshape(-1)
    keep = math.floor(k * flat.numel() + 0.5)
    mask = torch.zeros_like(flat)
    mask[flat.argsort(descending=True, stable=True)[:keep]] = 1
    return mask.view_as(scores)


@pytest.mark.parametrize("k", KS)
def test_conv4_keeps_round_k_n_in_every_layer(k):
    torch.manual_seed(0)
    model = apply_edge_popup(initialize(conv4(), "signed_constant"), k)
    layers = list(masked_layers(model))
    assert len(layers) == 7  # 4 convs + 3 linear, first and last included
    for name, layer, mask in layers:
        n = layer.parametrizations.weight.original.numel()
        expected = math.floor(k * n + 0.5)
        assert int(mask.mask().sum()) == expected, name
        assert int((layer.weight != 0).sum()) == expected, name  # signed constant has no zeros


@pytest.mark.parametrize("n", [1000, 1728, 65_537, 300_000, 2_097_152])
@pytest.mark.parametrize("k", KS)
def test_topk_threshold_equals_full_sort(n, k):
    scores = torch.randn(n, generator=torch.Generator().manual_seed(n)).abs()
    assert torch.equal(topk_mask(scores, k), sorted_mask(scores, k))


def test_sample_band_miss_still_exact():
    """Scores whose strided sample is unrepresentative force the exact fallback."""
    n = 1 << 18
    scores = torch.rand(n)
    stride = (n // (1 << 14)) | 1
    scores[::stride] += 10.0  # every sampled element is far above all the others
    for k in KS:
        assert torch.equal(topk_mask(scores, k), sorted_mask(scores, k))


@pytest.mark.parametrize("shape", ["uniform", "half-normal", "two scales"])
def test_counting_finds_the_threshold_of_smooth_scores(shape):
    """The CPU's fast path: counts alone find a value with exactly round(k n) above it, and the
    mask it gives is the full sort's. A counting search that never converges (always falling back)
    or that stops one count off fails here."""
    from supermask.masks import threshold_by_counts

    g = torch.Generator().manual_seed(3)
    n = 1 << 20
    scores = {
        "uniform": lambda: torch.rand(n, generator=g),
        "half-normal": lambda: torch.randn(n, generator=g).abs(),
        "two scales": lambda: torch.cat(
            [torch.randn(n // 2, generator=g).abs() * 0.01, torch.randn(n // 2, generator=g).abs()]
        ),
    }[shape]()
    for k in KS:
        j = kept_count(k, n)
        threshold = threshold_by_counts(scores, j)
        assert threshold is not None and int((scores > threshold).sum()) == j
        assert torch.equal(topk_mask(scores, k), sorted_mask(scores, k))
    tied = torch.randint(0, 3, (n,), generator=g).float()  # no value has exactly j above it
    assert threshold_by_counts(tied, kept_count(0.5, n)) is None


@pytest.mark.parametrize("n", [100, 100_000])
def test_ties_keep_exactly_round_k_n(n):
    scores = torch.randint(0, 3, (n,)).float()  # massive ties at every threshold
    for k in KS:
        mask = topk_mask(scores, k)
        assert int(mask.sum()) == kept_count(k, n)
        # nothing kept is below anything dropped
        assert scores[mask.bool()].min() >= scores[~mask.bool()].max()


def test_the_search_started_from_the_last_threshold_keeps_exactly_the_top_k():
    """A training step moves the scores a little, and the search starts from the threshold the
    last step found. It must still stop at a value with exactly round(k n) above: a search that
    returned its start unchecked, or grew its bracket the wrong way, keeps the wrong weights."""
    from supermask.masks import threshold_by_counts

    g = torch.Generator().manual_seed(5)
    n = 1 << 19
    scores = torch.randn(n, generator=g).abs()
    for k in KS:
        j = kept_count(k, n)
        start = threshold_by_counts(scores, j)
        moved = scores + 1e-3 * torch.randn(n, generator=g)
        for hint in (start, start * 0.9, start * 1.1, moved.max(), torch.tensor(0.0)):
            found = threshold_by_counts(moved, j, hint=hint)
            assert found is None or int((moved > found).sum()) == j, (k, float(hint))
        assert threshold_by_counts(moved, j, hint=start) is not None
        memo = {"threshold": start}
        assert torch.equal(topk_mask(moved, k, memo), sorted_mask(moved, k))
        assert int((moved > memo["threshold"]).sum()) == j  # kept for the next step
    tied = torch.randint(0, 3, (n,), generator=g).float()  # no value has exactly j above it
    j = kept_count(0.5, n)
    assert threshold_by_counts(tied, j, hint=torch.tensor(1.0)) is None
    assert torch.equal(
        topk_mask(tied, 0.5, {"threshold": torch.tensor(1.0)}).sum(), torch.tensor(float(j))
    )


def test_each_masked_layer_starts_its_search_where_its_last_step_ended():
    torch.manual_seed(0)
    layer = nn.Linear(512, 256, bias=False)  # 131,072 scores: the counting search
    mask = EdgePopupMask(layer.weight, 0.3)
    parametrize.register_parametrization(layer, "weight", mask)
    optimizer = torch.optim.SGD([mask.scores], lr=0.1)
    for _ in range(3):
        layer(torch.randn(8, 512)).square().sum().backward()
        optimizer.step()
        optimizer.zero_grad()
        kept = (layer.weight != 0).float()
        assert torch.equal(kept, sorted_mask(mask.scores.detach().abs(), 0.3))
        assert "threshold" in mask.search
    assert "search" not in str(list(mask.state_dict()))  # not part of a checkpoint


@pytest.mark.parametrize("n", [1000, 300_000])
def test_the_gpus_topk_path_keeps_the_same_weights(n):
    """The path a GPU takes (topk's indices, no threshold) keeps the same set, exactly
    round(k n) even among ties; forced here on the CPU."""
    from supermask.masks import _topk_flat

    scores = torch.randn(n, generator=torch.Generator().manual_seed(n)).abs()
    tied = torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(1)).float()
    for k in KS:
        assert torch.equal(_topk_flat(scores, k, by_threshold=False), sorted_mask(scores, k))
        mask = _topk_flat(tied, k, by_threshold=False)
        assert int(mask.sum()) == kept_count(k, n)
        assert tied[mask.bool()].min() >= tied[~mask.bool()].max()


def test_kept_count_rounds_half_up_and_keeps_one():
    assert kept_count(0.5, 3) == 2
    assert kept_count(0.3, 1728) == 518
    assert kept_count(0.01, 10) == 1
    assert kept_count(1.0, 7) == 7


def test_k_outside_unit_interval_rejected():
    for k in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="fraction kept"):
            EdgePopupMask(torch.zeros(4, 4), k)


def test_training_step_changes_scores_only():
    torch.manual_seed(0)
    model = apply_edge_popup(initialize(conv4(), "signed_constant"), 0.5)
    weights = {
        n: layer.parametrizations.weight.original.clone() for n, layer, _ in masked_layers(model)
    }
    scores = {n: m.scores.detach().clone() for n, _, m in masked_layers(model)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(trainable) == 7 and all(
        p.shape == s.shape for p, s in zip(trainable, scores.values())
    )
    optimizer = torch.optim.SGD(trainable, lr=0.1, momentum=0.9, weight_decay=1e-4)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    nn.functional.cross_entropy(model(x), y).backward()
    for name, layer, mask in masked_layers(model):
        pruned = mask.mask() == 0
        grad = mask.scores.grad
        assert grad is not None
        # straight-through: the scores of pruned weights get a gradient too
        assert grad[pruned].abs().sum() > 0, name
        assert layer.parametrizations.weight.original.grad is None
    optimizer.step()
    for name, layer, mask in masked_layers(model):
        assert torch.equal(layer.parametrizations.weight.original, weights[name]), name
        assert not torch.equal(mask.scores.detach(), scores[name]), name


def test_straight_through_gradient_formula():
    torch.manual_seed(0)
    layer = nn.Linear(6, 4, bias=False)
    apply_edge_popup(layer, 0.5)
    x = torch.randn(3, 6)
    upstream = torch.randn(3, 4)
    (layer(x) * upstream).sum().backward()
    w = layer.parametrizations.weight.original
    scores = layer.parametrizations.weight[0].scores
    grad_effective = upstream.T @ x  # dL/d(w * m)
    assert torch.allclose(scores.grad, grad_effective * w * scores.detach().sign(), atol=1e-6)


def test_converts_torchvision_resnet():
    model = torchvision.models.resnet18(num_classes=10)
    apply_edge_popup(model, 0.3)
    convs_and_linears = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert all(parametrize.is_parametrized(m, "weight") for m in convs_and_linears)
    assert model.fc.bias is None
    batchnorms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert batchnorms and all(not bn.affine and bn.track_running_stats for bn in batchnorms)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith(".scores") for n in trainable)
    counts = kept_counts(model)
    assert all(kept == kept_count(0.3, total) for kept, total in counts.values())
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_channels_last_mask_keeps_layout_and_set():
    scores = torch.randn(64, 32, 3, 3)
    mask = topk_mask(scores, 0.3)
    mask_cl = topk_mask(scores.contiguous(memory_format=torch.channels_last), 0.3)
    assert mask_cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(mask, mask_cl)
