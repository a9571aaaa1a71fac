"""PSG (Predictive Sign Gradient, Wang et al. 2020's E2-Train), as PaB's authors train with it.

PaB's "computationally light" claim rests on computing the convolutions' weight gradients from a
low-precision copy. In the authors' CIFAR-10 setting (VITA-Group/Peek-a-Boo, README: ``--msb-bits
8 --msb-bits-weight 8 --msb-bits-grad 16 --psg-threshold 1e-7 --psg-no-take-sign --psg-sparsify``
with ``models/masked_psg_resnet.py``, ``models/masked_psg_conv.py``, ``models/predictive.py``):

- the forward pass and the gradient to the input are exact (the q-branch is full precision);
- the weight gradient is taken from the input quantized to ``bits`` (unsigned after a ReLU,
  signed for the image; one scale per batch: the mean over samples of each sample's largest
  magnitude) and the output gradient quantized to 16 bits (one scale: its largest magnitude);
  the quantized weight copy does not enter it, the convolution being linear in the weight;
- entries below 1e-7 of the largest weight gradient are set to zero; no sign is taken.

This module emulates that arithmetic in floating point ("fake quantisation"): it reproduces
what PSG does to the gradients, not a low-precision kernel, so it costs time here, not saves it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["GRADIENT_BITS", "PSGConv2d", "quantize", "use_psg"]

GRADIENT_BITS = 16  # the output gradient's bits (PaB's --msb-bits-grad)
SPARSIFY = 1e-7  # weight gradients below this fraction of the largest are zeroed


def quantize(x: torch.Tensor, bits: int, scale: torch.Tensor, signed: bool) -> torch.Tensor:
    """``x`` on ``2**bits`` levels over [-scale, scale) (signed) or [0, scale) (unsigned), the
    authors' rounding (clamp to the top level, then round), zeros kept zero."""
    low = -scale if signed else torch.zeros_like(scale)
    step = (scale - low) / 2**bits
    levels = ((x - low) / step).clamp(0, 2**bits - 1).round()
    return torch.where(x == 0, torch.zeros_like(x), levels * step + low)


class _PredictiveConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, weight, conv: PSGConv2d):
        ctx.save_for_backward(input, weight)
        ctx.conv = conv
        return F.conv2d(input, weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        conv = ctx.conv
        arguments = (None, conv.stride, conv.padding, conv.dilation, False, [0, 0], conv.groups)
        grad_input = None
        if ctx.needs_input_grad[0]:
            grad_input = torch.ops.aten.convolution_backward(
                grad_output, input, weight, *arguments, [True, False, False]
            )[0]
        grad_weight = None
        if ctx.needs_input_grad[1]:
            per_sample = input.detach().abs().flatten(1).amax(1)
            q_input = quantize(input, conv.psg_bits, per_sample.mean(), conv.psg_signed_input)
            q_grad = quantize(grad_output, GRADIENT_BITS, grad_output.abs().amax(), signed=True)
            grad_weight = torch.ops.aten.convolution_backward(
                q_grad, q_input, weight, *arguments, [False, True, False]
            )[1]
            grad_weight = torch.where(
                grad_weight.abs() >= SPARSIFY * grad_weight.abs().amax(),
                grad_weight,
                torch.zeros_like(grad_weight),
            )
        return grad_input, grad_weight, None


class PSGConv2d(nn.Conv2d):
    """A bias-free ``nn.Conv2d`` whose weight gradient PSG computes (``psg_bits``: the input's
    bits; ``psg_signed_input``: True where the input is not a ReLU's output, i.e. the image)."""

    psg_bits: int = 8
    psg_signed_input: bool = False

    def _conv_forward(self, input, weight, bias):
        if bias is not None or self.padding_mode != "zeros":
            raise ValueError("PSG is defined for bias-free, zero-padded convolutions")
        if torch.is_autocast_enabled(input.device.type):  # one dtype in both passes
            dtype = torch.get_autocast_dtype(input.device.type)
            input, weight = input.to(dtype), weight.to(dtype)
            with torch.autocast(input.device.type, enabled=False):
                return _PredictiveConv.apply(input, weight, self)
        return _PredictiveConv.apply(input, weight, self)


def use_psg(model: nn.Module, bits: int) -> nn.Module:
    """Turn every plain ``nn.Conv2d`` of ``model`` into a :class:`PSGConv2d` in place (before
    any parametrization is registered on it); the first one takes the image, signed."""
    convs = [m for m in model.modules() if type(m) is nn.Conv2d]
    if any(m.bias is not None for m in convs):
        raise ValueError("PSG is defined for bias-free convolutions")
    for i, conv in enumerate(convs):
        conv.__class__ = PSGConv2d
        conv.psg_bits = bits
        conv.psg_signed_input = i == 0
    return model
