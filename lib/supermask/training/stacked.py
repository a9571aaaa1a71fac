"""Many runs of one model and method trained as one: their parameters with a leading run
dimension.

Runs that differ only in what sets their initial values (seed, weight distribution) share every
shape and every hyperparameter, so their steps can be one step. ``stack_module_state`` stacks
the members' parameters; ``vmap(functional_call)`` runs the single model's own forward over the
run dimension, each member on its own batch from its own feed (its own data order); one
optimiser steps the stacked tensors, and since SGD and Adam act elementwise each member is
stepped as it would be alone, on the schedule it shares with the others. On a GPU this turns N
small launch-bound steps into one of N times the work.

Inside ``vmap`` the masks take the ``topk`` path (the CPU's threshold search counts on the host
and has no batching rule) and tensors stay NCHW (channels_last checks raise under vmap). The
batched convolutions and matmuls add in another order than a single run's, so a member equals
its single twin to rounding, not bit for bit: in float64 the masks are the same at every step
(``tests/test_stacked.py``).
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..config import RunConfig
from ..data.cifar10 import ImageTensors
from ..masks import masked_layers
from ..provenance import device_name
from .checkpoint import Clock
from .cifar10 import _prepare_data, in_memory_feed
from .device import autocast, check_precision, set_matmul_precision
from .loop import TrainOutcome, _diverged, _epoch_test_accuracy, _outcome, _Run, build
from .methods import get_method

__all__ = [
    "STACKABLE_METHODS",
    "Stack",
    "check_stackable",
    "group_stacks",
    "stack_key",
    "train_stack",
]

log = logging.getLogger(__name__)

# Methods whose steps draw nothing at random: Zhou et al.'s sampled masks and IteRand's redraws
# would draw from one stream for the whole stack, not each member's own, and so train alone.
STACKABLE_METHODS = ("edge-popup", "dense")
# The fields members of one stack may differ in: they only change initial values.
MAY_DIFFER = ("seed", "init")


def stack_key(config: RunConfig) -> str | None:
    """What a run must share with the others of its stack (None: it trains alone)."""
    if config.method not in STACKABLE_METHODS or config.dataset != "cifar10":
        return None
    fields = {name: value for name, value in config.to_dict().items() if name not in MAY_DIFFER}
    return json.dumps(fields, sort_keys=True)


def check_stackable(configs: list[RunConfig]) -> None:
    """A ``ValueError`` naming why ``configs`` cannot train as one stack."""
    if not configs:
        raise ValueError("a stack needs at least one run")
    for config in configs:
        if stack_key(config) is None:
            raise ValueError(
                f"{config.name}: method {config.method!r} on {config.dataset} "
                f"does not stack; stackable: {', '.join(STACKABLE_METHODS)} on "
                "cifar10"
            )
    first = configs[0].to_dict()
    for config in configs[1:]:
        differ = sorted(
            name
            for name, value in config.to_dict().items()
            if name not in MAY_DIFFER and value != first[name]
        )
        if differ:
            raise ValueError(
                f"{config.name} differs from {configs[0].name} in "
                f"{', '.join(differ)}; a stack's runs may differ only in "
                f"{', '.join(MAY_DIFFER)}"
            )
    if len({config.hash for config in configs}) != len(configs):
        raise ValueError("a stack holds a run twice")


def group_stacks(configs: list[RunConfig], size: int) -> list[list[RunConfig]]:
    """``configs`` in stacks of at most ``size`` (in order of first appearance); a run that
    does not stack is a stack of one."""
    if size < 1:
        raise ValueError(f"stack size must be at least 1, got {size}")
    groups: dict[str, list[list[RunConfig]]] = {}
    stacks: list[list[RunConfig]] = []
    for config in configs:
        key = stack_key(config)
        open_ = groups.get(key) if key is not None else None
        if open_ and len(open_[-1]) < size:
            open_[-1].append(config)
            continue
        stacks.append([config])
        if key is not None:
            groups.setdefault(key, []).append(stacks[-1])
    return stacks


class Stack:
    """The members' models and their stacked state: ``step`` trains every member one step on
    its own batch; ``member(i)`` is member i's own model, holding its current state."""

    def __init__(
        self,
        configs: list[RunConfig],
        device: torch.device,
        total_steps: int,
        dtype: torch.dtype | None = None,
    ):
        check_stackable(configs)
        self.configs, self.device = configs, device
        self.config = configs[0]
        self.method = get_method(self.config.method)
        self.models = [
            build(c).to(device=device, dtype=dtype, memory_format=torch.channels_last)
            for c in configs
        ]
        self.template = copy.deepcopy(self.models[0]).to("meta")
        for _, _, mask in masked_layers(self.template):
            mask.by_threshold = False
        params, buffers = stack_module_state(self.models)
        self.params = {
            name: p.detach().contiguous().requires_grad_(p.requires_grad)
            for name, p in params.items()
        }
        self.buffers = {name: b.contiguous() for name, b in buffers.items()}
        trainable = [p for p in self.params.values() if p.requires_grad]
        self.optimizers = self.method.optimizers(
            SimpleNamespace(parameters=lambda: trainable), self.config, total_steps
        )
        self._losses = vmap(self._loss)

    def _loss(self, params: dict, buffers: dict, x: torch.Tensor, y: torch.Tensor):
        logits = functional_call(self.template, (params, buffers), (x,))
        loss = F.cross_entropy(logits, y, label_smoothing=self.config.label_smoothing or 0.0)
        return loss, logits

    def step(self, xs: torch.Tensor, ys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of every member, member i on (``xs[i]``, ``ys[i]``); each member's loss and
        count of correct predictions, on the device."""
        for optimizer, _ in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.config.precision):
            losses, logits = self._losses(self.params, self.buffers, xs, ys)
        losses.sum().backward()
        for optimizer, scheduler in self.optimizers:
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
        return losses.detach(), (logits.detach().argmax(-1) == ys).sum(-1)

    @torch.no_grad()
    def member(self, i: int) -> nn.Module:
        """Member i's model with its current state, laid out as a single run lays it out."""
        model = self.models[i]
        for name, value in self.params.items():
            model.get_parameter(name).copy_(value[i])
        for name, value in self.buffers.items():
            model.get_buffer(name).copy_(value[i])
        return model


def _epoch(stack: Stack, feeds: list, epoch: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One epoch of stacked steps: (loss sums, correct counts) per member, on the device."""
    loss_sum = torch.zeros(len(feeds), device=stack.device)
    correct = torch.zeros(len(feeds), dtype=torch.int64, device=stack.device)
    seen = 0
    for steps in zip(*(feed.epoch(epoch) for feed in feeds)):
        batches = [micro[0] for micro in steps]
        xs = torch.stack([x for x, _ in batches])
        ys = torch.stack([y for _, y in batches])
        losses, hits = stack.step(xs, ys)
        loss_sum += losses * ys.shape[1]
        correct += hits
        seen += ys.shape[1]
    return loss_sum, correct, seen


def train_stack(
    configs: list[RunConfig],
    train_data: ImageTensors,
    test_data: ImageTensors,
    device: torch.device,
    eval_every_epoch: bool = True,
    on_epoch: Callable[[RunConfig, dict], None] | None = None,
) -> list[TrainOutcome]:
    """Train ``configs`` as one stack on CIFAR-10 in memory; each member's outcome, as
    :func:`supermask.training.cifar10.train` would return it alone. A member that diverges is
    recorded as diverged and the others go on."""
    check_stackable(configs)
    config = configs[0]
    check_precision(config.precision, device)
    set_matmul_precision(device)
    train_data, test_data = _prepare_data(config, train_data, test_data, device)
    feeds = [in_memory_feed(c, train_data, test_data, torch.contiguous_format) for c in configs]
    started = time.perf_counter()
    stack = Stack(configs, device, config.epochs * feeds[0].steps_per_epoch)
    prepare_s = time.perf_counter() - started
    clocks = [Clock() for _ in configs]
    for clock in clocks:
        clock.start(0, device_name(device))
    histories: list[list[dict]] = [[] for _ in configs]
    status = ["finished"] * len(configs)
    for epoch in range(config.epochs):
        loss_sum, correct, seen = _epoch(stack, feeds, epoch)
        losses, hits = loss_sum.tolist(), correct.tolist()
        for i, member in enumerate(configs):
            if status[i] != "finished":
                continue
            entry = {"epoch": epoch + 1, "loss": losses[i] / seen, "train_acc": hits[i] / seen}
            histories[i].append(entry)
            model = stack.member(i)
            if _diverged(entry, [p for p in model.parameters() if p.requires_grad]):
                status[i] = "diverged"
                log.warning(
                    "%s diverged in epoch %d (loss %s)", member.name, epoch + 1, entry["loss"]
                )
                continue
            if eval_every_epoch:
                eval_started = time.perf_counter()
                entry["test_acc"] = _epoch_test_accuracy(
                    stack.method, model, member, epoch + 1, test_data, device, None
                )
                clocks[i].eval_s += time.perf_counter() - eval_started
            log.info(
                "%s epoch %d: loss %.4f train acc %.4f (stack of %d)",
                member.name,
                epoch + 1,
                entry["loss"],
                entry["train_acc"],
                len(configs),
            )
        for i, clock in enumerate(clocks):
            if len(histories[i]) == epoch + 1:
                clock.epoch_done()
        for i, member in enumerate(configs):
            if status[i] == "finished" and on_epoch is not None:
                on_epoch(member, histories[i][-1])
        if not any(s == "finished" for s in status):
            break
    return [
        _outcome(
            _Run(stack.method, model, model, []),
            member,
            status[i],
            histories[i],
            clocks[i],
            test_data,
            device,
            None,
            prepare_s=prepare_s,
            resumed_from_epoch=0,
        )
        for i, (member, model) in enumerate(zip(configs, stack.models))
    ]
