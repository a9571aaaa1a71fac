import pytest
import torch
from torch import nn

from supermask.models import build_model

FLAT = {"conv2": 16384, "conv4": 8192, "conv6": 4096, "conv8": 2048}
CONVS = {"conv2": 2, "conv4": 4, "conv6": 6, "conv8": 8}


@pytest.mark.parametrize("name", list(CONVS))
def test_reference_architecture(name):
    model = build_model(name)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) == CONVS[name]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (FLAT[name], 256),
        (256, 256),
        (256, 10),
    ]
    assert all(m.bias is None for m in convs + linears)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_width_scales_hidden_units_only():
    model = build_model("conv4", width=0.5)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64]
    assert convs[0].in_channels == 3
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (4096, 128),
        (128, 128),
        (128, 10),
    ]
    assert build_model("conv2", width=1.3).features[0].out_channels == int(64 * 1.3)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="valid: conv2, conv4, conv6, conv8, resnet18"):
        build_model("vgg19")


@pytest.mark.parametrize("memory_format", [torch.channels_last, torch.contiguous_format])
def test_flatten_matches_nn_flatten_and_returns_the_gradient_in_the_input_layout(memory_format):
    """The ConvNets' flatten must give nn.Flatten's features in nn.Flatten's (NCHW) order and the
    same gradient, handed back in the layout of its input (channels_last stays channels_last,
    which keeps the max-pool's backward on its fast path)."""
    from supermask.models.conv import LayoutKeepingFlatten

    x = torch.randn(4, 8, 3, 5).contiguous(memory_format=memory_format).requires_grad_()
    reference = x.detach().clone().contiguous(memory_format=memory_format).requires_grad_()
    out, expected = LayoutKeepingFlatten()(x), nn.Flatten()(reference)
    assert torch.equal(out, expected)
    upstream = torch.randn_like(expected)
    out.backward(upstream)
    expected.backward(upstream)
    assert torch.equal(x.grad, reference.grad)
    assert x.grad.is_contiguous(memory_format=memory_format)
    assert isinstance(build_model("conv2").classifier[0], LayoutKeepingFlatten)
