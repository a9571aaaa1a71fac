"""Methods: what is learned on top of a freshly initialised model, registered by name.

A method prepares the built model (masks, frozen weights), owns its optimisers and their
schedules, may act after every training step (IteRand), and evaluates the trained model.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..bop import Bop
from ..config import RunConfig
from ..init import get_distribution, initialize
from ..masks import FixedMask, ZhouMask, apply_edge_popup, apply_zhou, masked_layers, sampled_masks
from ..pruning import PRUNERS
from ..psg import use_psg
from .evaluate import Batches, Reduce, accuracy

__all__ = [
    "METHODS",
    "Dense",
    "EdgePopup",
    "EdgePopupExtras",
    "IteRand",
    "Method",
    "PaB",
    "Zhou",
    "get_method",
]

Schedule = torch.optim.lr_scheduler.LRScheduler


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> Schedule:
    """Linear warm-up to the full rate over ``warmup_steps``, then cosine decay to zero at
    ``total_steps``; stepped every step."""
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, total_steps - warmup_steps)
    )
    if warmup_steps == 0:
        return cosine
    warmup = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=1 / warmup_steps, total_iters=warmup_steps
    )
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine], [warmup_steps])


@dataclass(frozen=True)
class Method:
    """A training method. ``prepare`` turns a built model into what the optimisers train.

    Its hyperparameters (defaults, ranges, fixed values, the fields only it has) are rows of the
    protocol table (:mod:`supermask.protocol`), which checks them. Adding a method is one class,
    one registry entry, its name in ``protocol.METHOD_NAMES`` and its rows.
    """

    name: str

    def prepare(self, model: nn.Module, config: RunConfig) -> nn.Module:
        raise NotImplementedError

    def optimizers(
        self, model: nn.Module, config: RunConfig, total_steps: int, warmup_steps: int = 0
    ) -> list[tuple[torch.optim.Optimizer, Schedule | None]]:
        """Optimisers with their schedules, stepped once per training step: one SGD with cosine
        decay to zero after ``warmup_steps`` of linear warm-up (ImageNet; none on CIFAR-10), or
        Adam at a constant rate (PROTOCOL.md, "CIFAR-10")."""
        params = [p for p in model.parameters() if p.requires_grad]
        if config.optimizer == "adam":
            return [
                (torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay), None)
            ]
        sgd = torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
        return [(sgd, warmup_cosine(sgd, warmup_steps, total_steps))]

    def after_step(self, model: nn.Module, config: RunConfig, step: int) -> None:
        """Called after every optimiser step (``step`` counts from 1)."""

    def trainable_values(self, model: nn.Module) -> int:
        """How many values training updates: the cost side of a method comparison."""
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    def evaluate(
        self,
        model: nn.Module,
        data: Batches,
        device: torch.device,
        eval_samples: int | None = None,
        reduce: Reduce = None,
    ) -> dict:
        """Measurements on the test set; ``test_acc`` is the one every figure plots."""
        return {"test_acc": accuracy(model, data, device, reduce)}

    def evaluate_epoch(
        self, model: nn.Module, data: Batches, device: torch.device, reduce: Reduce = None
    ) -> float:
        """One cheap test accuracy for the learning curve, measured after every epoch."""
        return accuracy(model, data, device, reduce)


class EdgePopup(Method):
    """Ramanujan et al.: random weights drawn once and frozen; only the top-k scores learn."""

    def prepare(self, model: nn.Module, config: RunConfig) -> nn.Module:
        return apply_edge_popup(initialize(model, config.init, config.k), config.k)


class EdgePopupExtras(Method):
    """edge-popup given PaB's trainable extras: the classifier is trained, not masked, and batch
    norm keeps a trained scale and shift, so a comparison with PaB is fair about them."""

    def prepare(self, model: nn.Module, config: RunConfig) -> nn.Module:
        initialize(model, config.init, config.k)
        return apply_edge_popup(model, config.k, mask_classifier=False, affine_batchnorm=True)


class IteRand(EdgePopup):
    """Chijiwa et al. (2021): edge-popup that, every ``rerandomize_every`` steps, redraws a
    ``rerandomize_fraction`` of the currently pruned weights from the initial distribution."""

    @torch.no_grad()
    def after_step(self, model: nn.Module, config: RunConfig, step: int) -> None:
        if step % config.rerandomize_every:
            return
        init_ = get_distribution(config.init)
        for _, layer, mask in masked_layers(model):
            weight = layer.parametrizations.weight.original
            chosen = (mask.mask() == 0) & (torch.rand_like(weight) < config.rerandomize_fraction)
            weight.copy_(torch.where(chosen, init_(torch.empty_like(weight), config.k), weight))


class Dense(Method):
    """The learned dense baseline: same model, same init, every weight trained."""

    def prepare(self, model: nn.Module, config: RunConfig) -> nn.Module:
        return initialize(model, config.init, config.k)


class Zhou(Method):
    """Zhou et al. (2019): frozen random weights, a learned Bernoulli keep-probability per weight.

    Evaluated as Zhou et al. do, by the mean accuracy over ``eval_samples`` sampled masks (10 in
    their protocol); the deterministic mask (probability > 0.5) and the expected kept fraction
    are recorded too.
    """

    def prepare(self, model: nn.Module, config: RunConfig) -> nn.Module:
        return apply_zhou(initialize(model, config.init))

    def evaluate(
        self,
        model: nn.Module,
        data: Batches,
        device: torch.device,
        eval_samples: int | None = None,
        reduce: Reduce = None,
    ) -> dict:
        with sampled_masks(model, True):
            sampled = [accuracy(model, data, device, reduce) for _ in range(eval_samples)]
        with sampled_masks(model, False):
            deterministic = accuracy(model, data, device, reduce)
        expected = {
            name: (mask.expected_kept(), mask.scores.numel())
            for name, _, mask in masked_layers(model)
            if isinstance(mask, ZhouMask)
        }
        total = sum(n for _, n in expected.values())
        return {
            "test_acc": statistics.mean(sampled),
            "test_acc_sampled": sampled,
            "test_acc_deterministic": deterministic,
            "expected_kept_fraction": sum(e for e, _ in expected.values()) / total,
            "expected_kept_fraction_per_layer": {name: e / n for name, (e, n) in expected.items()},
        }

    def evaluate_epoch(
        self, model: nn.Module, data: Batches, device: torch.device, reduce: Reduce = None
    ) -> float:
        """One sampled mask per epoch; the full evaluation averages ``eval_samples`` at the end."""
        with sampled_masks(model, True):
            return accuracy(model, data, device, reduce)


class PaB(Method):
    """Peek-a-Boo (Chen et al., 2022). Stage 1 prunes the conv weights at initialisation
    (``config.prune``: SynFlow, or random as the ablation) to a fixed mask keeping k of them
    globally; stage 2 flips the signs of the kept weights with Bop, magnitudes staying at their
    initial values. The classifier and batch norm's scale and shift train with SGD (lr 0.1,
    momentum 0.9, weight decay 5e-4, x0.1 at 4/9 and 2/3 of training: epochs 80 and 120 of 180);
    Bop's gamma decays x0.15 every quarter of training (every 45 of 180 epochs). ``psg_bits``
    computes the convolutions' weight gradients by PSG (:mod:`.psg`). Its schedule is
    its authors' 180 epochs (VITA-Group/Peek-a-Boo, README's CIFAR-10 commands), which a shorter
    profile scales (36 at ``short``), the milestones keeping their fractions."""

    def prepare(self, model: nn.Module, config: RunConfig) -> nn.Module:
        # Convolutions only, as PaB's authors (VITA-Group/Peek-a-Boo, models/masked_psg_resnet.py,
        # reset_conv_parameters): the classifier keeps PyTorch's default init and trains by SGD.
        initialize(model, config.init, config.k, kinds=(nn.Conv2d,))
        masks = PRUNERS[config.prune](model, config.k)  # exact gradients, as the authors prune
        if config.psg_bits is not None:
            use_psg(model, config.psg_bits)
        for name, mask in masks.items():
            parametrize.register_parametrization(
                model.get_submodule(name), "weight", FixedMask(mask)
            )
        return model

    def optimizers(
        self, model: nn.Module, config: RunConfig, total_steps: int, warmup_steps: int = 0
    ) -> list[tuple[torch.optim.Optimizer, Schedule | None]]:
        """Bop on the kept signs and SGD on the rest, on PaB's own step schedules (no warm-up)."""
        signs = [layer.parametrizations.weight.original for _, layer, _ in masked_layers(model)]
        chosen = {id(p) for p in signs}
        extras = [p for p in model.parameters() if p.requires_grad and id(p) not in chosen]
        bop = Bop(signs, gamma=config.flip_rate, tau=config.flip_threshold)
        sgd = torch.optim.SGD(
            extras, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
        quarter = max(1, total_steps // 4)
        return [
            (bop, torch.optim.lr_scheduler.StepLR(bop, step_size=quarter, gamma=0.15)),
            (
                sgd,
                torch.optim.lr_scheduler.MultiStepLR(
                    sgd, milestones=[total_steps * 4 // 9, total_steps * 2 // 3], gamma=0.1
                ),
            ),
        ]

    def trainable_values(self, model: nn.Module) -> int:
        """Kept signs (a pruned weight never flips) plus the classifier and batch norm."""
        kept = sum(int(mask.mask().sum()) for _, _, mask in masked_layers(model))
        masked = {
            id(layer.parametrizations.weight.original) for _, layer, _ in masked_layers(model)
        }
        return kept + sum(
            p.numel() for p in model.parameters() if p.requires_grad and id(p) not in masked
        )


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        EdgePopup("edge-popup"),
        EdgePopupExtras("edge-popup-extras"),
        IteRand("iterand"),
        Dense("dense"),
        Zhou("zhou"),
        PaB("pab"),
    )
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHODS)}") from None
