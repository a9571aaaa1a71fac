"""PaB (pruning at init + Bop sign flips), IteRand, edge-popup with extras, CIFAR ResNet-18."""

import dataclasses

import pytest
import torch
from torch import nn

from supermask.bop import Bop
from supermask.config import RunConfig
from supermask.data.cifar10 import load_cifar10
from supermask.masks import FixedMask, apply_edge_popup, kept_count, masked_layers
from supermask.models import build_model
from supermask.pruning import prunable_layers, random_masks, synflow_masks
from supermask.training.cifar10 import train
from supermask.training.loop import build
from supermask.training.methods import get_method


def test_cifar_resnet18_is_torchvisions_with_a_cifar_stem():
    model = build_model("resnet18")
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(11.17e6, rel=0.01)
    half = build_model("resnet18", width=0.5)
    assert half.conv1.out_channels == 32 and half.fc.in_features == 256
    assert half(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_resnet18_converts_to_edge_popup():
    model = apply_edge_popup(build_model("resnet18", width=0.25), 0.3)
    layers = list(masked_layers(model))
    assert len(layers) == 21  # 17 3x3 convs (stem included), 3 shortcut convs, fc
    assert all(not m.affine for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert model.fc.bias is None
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert all(mask.scores.grad is not None for _, _, mask in layers)


def test_bop_flips_exactly_the_weights_meeting_the_rule():
    w = nn.Parameter(torch.tensor([0.5, -0.5, 0.5, -0.5, 0.5, -0.5]))
    optimizer = Bop([w], gamma=0.5, tau=0.1)
    # Step 1 starts the average from the gradient, m = 1.5 g (a zero start, m = 0.5 g, would
    # leave the last two below tau): flip where |m| >= 0.1 and sign(m) == sign(w).
    w.grad = torch.tensor([1.0, -1.0, -1.0, 1.0, 0.1, -0.1])
    optimizer.step()
    assert torch.equal(w.detach(), torch.tensor([-0.5, 0.5, 0.5, -0.5, -0.5, 0.5]))
    assert optimizer.param_groups[0]["flips"] == 4
    assert torch.equal(w.detach().abs(), torch.full((6,), 0.5))  # magnitudes never change


def test_bop_averages_from_the_first_gradient_as_pab_s_authors_do():
    w = nn.Parameter(torch.tensor([0.5]))
    optimizer = Bop([w], gamma=0.5, tau=0.1)
    w.grad = torch.tensor([-1.0])  # m = -1.5: points away from w, no flip
    optimizer.step()
    w.grad = torch.tensor([1.6])  # m = 0.5 * -1.5 + 0.5 * 1.6 = 0.05 < tau: still no flip
    optimizer.step()
    assert torch.allclose(optimizer.state[w]["momentum"], torch.tensor([0.05]))
    assert torch.equal(w.detach(), torch.tensor([0.5]))  # from a zero start m = 0.55 would flip


def test_bop_never_flips_pruned_weights():
    torch.manual_seed(0)
    layer = nn.Linear(20, 10, bias=False)
    kept = torch.rand(10, 20) < 0.3
    torch.nn.utils.parametrize.register_parametrization(layer, "weight", FixedMask(kept))
    original = layer.parametrizations.weight.original
    before = original.detach().clone()
    optimizer = Bop([original], gamma=0.5, tau=0.0)
    for _ in range(5):
        optimizer.zero_grad()
        (layer(torch.randn(8, 20)) ** 2).sum().backward()
        optimizer.step()
    after = original.detach()
    assert torch.equal(after[~kept], before[~kept])
    assert torch.equal(after.abs(), before.abs())
    assert (after[kept] != before[kept]).any()


def test_synflow_keeps_k_globally_and_needs_no_data():
    torch.manual_seed(0)
    model = build_model("conv4", width=0.25)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    masks = synflow_masks(model, 0.1, iterations=20)
    n = sum(layer.weight.numel() for layer in prunable_layers(model).values())
    assert sum(int(m.sum()) for m in masks.values()) == kept_count(0.1, n)
    assert set(masks) == set(prunable_layers(model)) and "classifier.5" not in masks
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    again = synflow_masks(model, 0.1, iterations=20)  # no data: the same mask every time
    assert all(torch.equal(masks[k], again[k]) for k in masks)
    fractions = [float(m.float().mean()) for m in masks.values()]
    assert min(fractions) > 0 and max(fractions) != min(fractions)  # global: layers differ


def test_random_keeps_k_per_layer():
    torch.manual_seed(0)
    model = build_model("conv2", width=0.25)
    for name, mask in random_masks(model, 0.2, torch.Generator().manual_seed(0)).items():
        assert int(mask.sum()) == kept_count(0.2, mask.numel()), name


def test_iterand_redraws_only_pruned_weights_about_r_of_them():
    config = RunConfig(
        model="conv4", method="iterand", k=0.5, rerandomize_every=2, rerandomize_fraction=0.25
    )
    model = build(config)
    method = get_method("iterand")
    before = {
        n: layer.parametrizations.weight.original.clone() for n, layer, _ in masked_layers(model)
    }
    method.after_step(model, config, 1)  # not a multiple of 2: nothing happens
    assert all(
        torch.equal(before[n], layer.parametrizations.weight.original)
        for n, layer, _ in masked_layers(model)
    )
    method.after_step(model, config, 2)
    changed = pruned = 0
    for name, layer, mask in masked_layers(model):
        diff = layer.parametrizations.weight.original != before[name]
        assert not diff[mask.mask() == 1].any()  # kept weights are never redrawn
        changed += int(diff.sum())
        pruned += int((mask.mask() == 0).sum())
    # signed constants redraw to the same value half the time: about r/2 of the pruned change
    assert changed / pruned == pytest.approx(0.25 / 2, abs=0.01)


def test_pab_trains_signs_classifier_and_batchnorm_only(tiny_data_dir):
    train_data, test_data = load_cifar10(tiny_data_dir)
    config = RunConfig(
        model="resnet18",
        width=0.125,
        method="pab",
        k=0.3,
        epochs=2,
        batch_size=32,
        flip_threshold=0.0,
    )
    initial = build(config).state_dict()
    outcome = train(config, train_data, test_data, "cpu", progress=False)
    final = outcome.model.state_dict()
    flipped = 0
    for key in final:
        if key.endswith(".original"):
            kept = final[key.replace("original", "0.kept")]
            assert torch.equal(final[key].abs(), initial[key].abs())
            assert torch.equal(final[key][~kept], initial[key][~kept])
            flipped += int((final[key] != initial[key]).sum())
    assert flipped > 0
    assert sum(epoch["flips"] for epoch in outcome.history) >= flipped
    assert not torch.equal(final["fc.weight"], initial["fc.weight"])
    assert not torch.equal(final["bn1.weight"], initial["bn1.weight"])
    n = sum(v.numel() for k, v in final.items() if k.endswith(".original"))
    assert outcome.kept_per_layer["fc"][0] == outcome.kept_per_layer["fc"][1]  # dense classifier
    convs = sum(kept for name, (kept, _) in outcome.kept_per_layer.items() if name != "fc")
    assert convs == kept_count(0.3, n)


def test_pab_draws_the_convolutions_only_as_its_authors_do():
    """PaB's authors redraw convolutions from the chosen distribution and leave the classifier
    at PyTorch's default init: a classifier drawn as a signed constant has two values."""
    torch.manual_seed(0)
    model = build(
        RunConfig(model="resnet18", width=0.125, method="pab", k=0.3, init="signed_constant")
    )
    state = model.state_dict()
    conv = state["conv1.parametrizations.weight.original"]
    assert conv.abs().unique().numel() == 1  # signed Kaiming constant
    fc = state["fc.weight"]
    assert fc.abs().unique().numel() > 100
    bound = 1 / fc.shape[1] ** 0.5  # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert float(fc.abs().max()) <= bound


def test_edge_popup_extras_trains_classifier_and_batchnorm(tiny_data_dir):
    train_data, test_data = load_cifar10(tiny_data_dir)
    config = RunConfig(
        model="resnet18", width=0.125, method="edge-popup-extras", epochs=1, batch_size=32
    )
    initial = build(config).state_dict()
    final = train(config, train_data, test_data, "cpu", progress=False).model.state_dict()
    assert all(torch.equal(final[k], initial[k]) for k in final if k.endswith(".original"))
    assert not torch.equal(final["fc.weight"], initial["fc.weight"])
    assert not torch.equal(final["layer1.0.bn1.bias"], initial["layer1.0.bn1.bias"])


def test_method_settings_belong_to_their_method():
    with pytest.raises(ValueError, match="setting of pab only"):
        RunConfig(method="edge-popup", prune="synflow")
    with pytest.raises(ValueError, match="setting of iterand only"):
        RunConfig(method="pab", rerandomize_every=10)
    with pytest.raises(ValueError, match="unknown pruner"):
        RunConfig(method="pab", prune="magnitude")
    with pytest.raises(ValueError, match="trains with Bop and SGD"):
        RunConfig(method="pab", optimizer="adam")
    assert RunConfig(method="iterand").rerandomize_every == 300
    assert "prune" not in RunConfig(method="edge-popup").canonical()


def test_pab_trains_its_authors_180_epochs_and_a_shorter_profile_scales_them():
    """PaB's README schedule: 180 epochs, SGD x0.1 at epochs 80 and 120, Bop's gamma x0.15 every
    45. A PaB config falling back to the paper's 100 epochs, a profile not scaling it, or
    milestones not following the schedule fails here."""
    from supermask.config import get_profile

    assert RunConfig(model="resnet18", method="pab").epochs == 180
    assert RunConfig(model="resnet18", method="edge-popup").epochs == 100
    assert get_profile("paper").apply(model="resnet18", method="pab").epochs == 180
    assert get_profile("short").apply(model="resnet18", method="pab").epochs == 36
    assert get_profile("short").apply(model="resnet18", method="iterand").epochs == 20
    assert get_profile("smoke").apply(model="resnet18", method="pab").epochs == 1
    assert get_profile("short").apply(model="resnet18", method="pab", epochs=3).epochs == 3

    config = RunConfig(model="resnet18", width=0.125, method="pab")
    model = build(config)
    steps = 391
    (bop, bop_schedule), (sgd, sgd_schedule) = get_method("pab").optimizers(
        model, config, total_steps=config.epochs * steps
    )
    assert sgd_schedule.milestones == {80 * steps: 1, 120 * steps: 1}
    assert bop_schedule.step_size == 45 * steps and bop_schedule.gamma == 0.15


def test_psg_quantizes_as_pab_s_authors_round():
    """Unsigned 8 bits over [0, 1): 0.5 stays, the top clamps to 255/256, negatives to 0, zero
    stays zero; signed 2 bits over [-1, 1) has steps of 0.5."""
    from supermask.psg import quantize

    one = torch.tensor(1.0)
    x = torch.tensor([0.5, 1.0, 2.0, -0.3, 0.0, 0.2011])
    assert quantize(x, 8, one, signed=False).tolist() == pytest.approx(
        [0.5, 255 / 256, 255 / 256, 0.0, 0.0, 51 / 256]
    )
    assert quantize(torch.tensor([0.1, -0.6, 0.9]), 2, one, signed=True).tolist() == [
        0.0,
        -0.5,
        0.5,
    ]


def test_psg_keeps_the_forward_and_input_gradient_exact_and_quantizes_the_weight_gradient():
    """Against a plain convolution with the same weights: the output and the input's gradient
    are the same; the weight gradient's relative error is ~4e-5 at 16 bits, ~4e-3 at 8, ~0.24
    at 2. A PSG that quantized the forward, the input gradient, or nothing, fails here."""
    from supermask.psg import use_psg

    torch.manual_seed(0)
    x = torch.relu(torch.randn(16, 8, 10, 10))
    x = x / x.flatten(1).amax(1).view(-1, 1, 1, 1)  # one scale fits all: no sample clamped
    reference = nn.Conv2d(8, 4, 3, padding=1, bias=False)
    out = reference(x.requires_grad_())
    grad_out = torch.randn_like(out)
    exact_x, exact_w = torch.autograd.grad(out, (x, reference.weight), grad_out)
    errors = {}
    for bits in (16, 8, 2):
        conv = nn.Conv2d(8, 4, 3, padding=1, bias=False)
        conv.load_state_dict(reference.state_dict())
        use_psg(conv, bits)
        conv.psg_signed_input = False  # its input is a ReLU's output
        psg_out = conv(x)
        assert torch.allclose(psg_out, out, atol=1e-6)
        grad_x, grad_w = torch.autograd.grad(psg_out, (x, conv.weight), grad_out)
        assert torch.allclose(grad_x, exact_x, atol=1e-6)
        errors[bits] = float((grad_w - exact_w).norm() / exact_w.norm())
    assert errors[16] < 2e-4 < errors[8] < 0.02 < 0.1 < errors[2]


def test_pab_with_psg_prunes_with_exact_gradients_and_trains_the_signs_with_psg():
    """The authors prune a non-PSG copy: SynFlow's masks are the same with and without PSG;
    every convolution computes PSG, the first (the image's) with a signed input; a bf16 step
    runs and leaves fp32 gradients on the signs."""
    from supermask.psg import PSGConv2d

    config = RunConfig(model="resnet18", width=0.125, method="pab", k=0.3)
    plain = build(config)
    torch.manual_seed(0)
    psg = build(dataclasses.replace(config, psg_bits=8))
    masks = {name: mask.mask() for name, _, mask in masked_layers(plain)}
    assert all(torch.equal(mask.mask(), masks[name]) for name, _, mask in masked_layers(psg))
    convs = [m for m in psg.modules() if isinstance(m, nn.Conv2d)]
    assert all(isinstance(m, PSGConv2d) and m.psg_bits == 8 for m in convs)
    assert [m.psg_signed_input for m in convs] == [True] + [False] * (len(convs) - 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = psg(torch.randn(4, 3, 32, 32)).logsumexp(1).mean()
    loss.backward()
    sign = psg.conv1.parametrizations.weight.original
    assert sign.grad is not None and sign.grad.dtype == torch.float32
