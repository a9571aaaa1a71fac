import pytest

from supermask.config import RunConfig
from supermask.masks import kept_counts
from supermask.models.sizes import k_for_kept, kept_weights, layer_sizes
from supermask.training.loop import build


def test_layer_sizes_match_a_built_model():
    counts = kept_counts(build(RunConfig(model="conv4", width=1.5, k=0.3)))
    assert layer_sizes("conv4", 1.5) == [total for _, total in counts.values()]
    assert kept_weights("conv4", 1.5, 0.3) == sum(kept for kept, _ in counts.values())


@pytest.mark.parametrize("k_at_width_1", [0.3, 0.5, 0.7])
def test_fixed_size_across_widths(k_at_width_1):
    target = kept_weights("conv4", 1.0, k_at_width_1)
    for width in (1.0, 1.25, 1.5, 2.0):
        k = k_for_kept("conv4", width, target)
        assert abs(kept_weights("conv4", width, k) - target) <= 0.01 * target
        if width > 1:
            assert k < k_at_width_1


def test_too_narrow_is_refused():
    with pytest.raises(ValueError, match="fewer than"):
        k_for_kept("conv4", 0.25, kept_weights("conv4", 1.0, 0.7))
