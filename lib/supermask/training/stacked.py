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
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from ..config import RunConfig
from ..data.cifar10 import ImageTensors
from ..masks import masked_layers
from .checkpoint import Clock, Optimizers, read_checkpoint, restore_checkpoint
from .cifar10 import _prepare_data, in_memory_feed
from .device import autocast, check_precision, set_matmul_precision
from .graphs import GraphedGradients, use_graphs
from .loop import Feed, TrainOutcome, build, train_lockstep
from .methods import Method, get_method

__all__ = [
    "STACKABLE_METHODS",
    "Stack",
    "Stacked",
    "check_stack_size",
    "check_stackable",
    "checkpoint_epoch",
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


def check_stack_size(size: object, what: str = "stack", none_ok: bool = False) -> None:
    """A ``ValueError`` unless ``size`` is a stack size (None too, where ``none_ok``: the
    device's default)."""
    if none_ok and size is None:
        return
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(
            f"{what} must be a whole number of runs >= 1 (1: each alone)"
            f"{' or None' if none_ok else ''}, got {size!r}"
        )


def group_stacks(
    configs: list[RunConfig],
    size: int,
    resumes_from: Callable[[RunConfig], int] = lambda config: 0,
) -> list[list[RunConfig]]:
    """``configs`` in stacks of at most ``size`` (in order of first appearance); a run that
    does not stack is a stack of one. Runs stack only with runs that resume from the same epoch
    (``resumes_from``: 0 for a fresh run)."""
    check_stack_size(size)
    groups: dict[str, list[list[RunConfig]]] = {}
    stacks: list[list[RunConfig]] = []
    for config in configs:
        key = stack_key(config)
        if key is not None and size > 1:
            key += f"@{resumes_from(config)}"
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
        warmup_steps: int = 0,
        graphs: bool | None = None,
    ):
        check_stackable(configs)
        self.configs, self.device = configs, device
        self.total_steps, self.warmup_steps = total_steps, warmup_steps
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
            SimpleNamespace(parameters=lambda: trainable), self.config, total_steps, warmup_steps
        )
        self._losses = vmap(self._loss)
        self.graphed = (
            GraphedGradients(self._gradients, trainable, device)
            if use_graphs(device, self.config.method, graphs)
            else None
        )

    def _loss(self, params: dict, buffers: dict, x: torch.Tensor, y: torch.Tensor):
        logits = functional_call(self.template, (params, buffers), (x,))
        loss = F.cross_entropy(logits, y, label_smoothing=self.config.label_smoothing or 0.0)
        return loss, logits

    def _gradients(self, xs: torch.Tensor, ys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The stacked forward and backward as a CUDA graph captures it."""
        with autocast(self.device, self.config.precision, cache=self.graphed is None):
            losses, logits = self._losses(self.params, self.buffers, xs, ys)
        losses.sum().backward()
        return losses.detach(), (logits.detach().argmax(-1) == ys).sum(-1)

    def step(self, xs: torch.Tensor, ys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of every member, member i on (``xs[i]``, ``ys[i]``); each member's loss and
        count of correct predictions, on the device."""
        if self.graphed is not None:
            losses, hits = self.graphed(xs, ys)
        else:
            for optimizer, _ in self.optimizers:
                optimizer.zero_grad(set_to_none=True)
            losses, hits = self._gradients(xs, ys)
        for optimizer, scheduler in self.optimizers:
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
        return losses, hits

    @torch.no_grad()
    def member(self, i: int) -> nn.Module:
        """Member i's model with its current state, laid out as a single run lays it out."""
        model = self.models[i]
        for name, value in self.params.items():
            model.get_parameter(name).copy_(value[i])
        for name, value in self.buffers.items():
            model.get_buffer(name).copy_(value[i])
        return model

    def _single_optimizers(self, i: int) -> Optimizers:
        return self.method.optimizers(
            self.models[i], self.configs[i], self.total_steps, self.warmup_steps
        )

    def member_optimizers(self, i: int) -> Optimizers:
        """Member i's optimisers as its single run builds them, holding member i's share of the
        stacked state and the shared schedule: what its checkpoint saves."""
        singles = self._single_optimizers(i)
        for (single, _), (stacked, _) in zip(singles, self.optimizers, strict=True):
            single.load_state_dict(_member_share(stacked.state_dict(), i))
        return [(single, schedule) for (single, _), (_, schedule) in zip(singles, self.optimizers)]

    @torch.no_grad()
    def restore(
        self, states: list[dict], data_fingerprint: str | None
    ) -> list[tuple[int, Clock, list[dict]]]:
        """Load every member's checkpoint state (as :func:`read_checkpoint` reads it) into the
        stack; each member's (epoch, clock, history). Raises unless all resume from one epoch."""
        restored, singles = [], []
        for i, (config, state) in enumerate(zip(self.configs, states, strict=True)):
            optimizers = self._single_optimizers(i)
            restored.append(
                restore_checkpoint(
                    state, self.models[i], optimizers, config, self.device, data_fingerprint
                )
            )
            singles.append(optimizers)
            for name, value in self.params.items():
                value[i].copy_(self.models[i].get_parameter(name))
            for name, value in self.buffers.items():
                value[i].copy_(self.models[i].get_buffer(name))
        epochs = sorted({epoch for epoch, _, _ in restored})
        if len(epochs) > 1:
            raise ValueError(f"a stack's members resume from one epoch, not from {epochs}")
        for j, (stacked, schedule) in enumerate(self.optimizers):
            shares = [member[j][0].state_dict() for member in singles]
            stacked.load_state_dict(
                {"state": _stacked_state(shares), "param_groups": shares[0]["param_groups"]}
            )
            if schedule is not None:
                schedule.load_state_dict(singles[0][j][1].state_dict())
        return restored


def _member_share(saved: dict, i: int) -> dict:
    """Member i's share of a stacked optimiser's state: its slice of every tensor with the run
    dimension (all but the 0-dimensional ones, such as Adam's shared step count)."""
    return {
        "state": {
            key: {
                name: value[i].clone() if torch.is_tensor(value) and value.dim() > 0 else value
                for name, value in entry.items()
            }
            for key, entry in saved["state"].items()
        },
        "param_groups": saved["param_groups"],
    }


def _stacked_state(shares: list[dict]) -> dict:
    """The members' optimiser states as one stacked state (the inverse of :func:`_member_share`);
    the 0-dimensional values must agree."""
    state = {}
    for key, entry in shares[0]["state"].items():
        state[key] = {}
        for name, value in entry.items():
            values = [share["state"][key][name] for share in shares]
            if torch.is_tensor(value) and value.dim() > 0:
                state[key][name] = torch.stack(values)
            elif any(not torch.equal(torch.as_tensor(v), torch.as_tensor(value)) for v in values):
                raise ValueError(f"members disagree in their optimiser's shared {name!r}")
            else:
                state[key][name] = value
    return state


def checkpoint_epoch(path: Path | None, config: RunConfig, data_fingerprint: str | None) -> int:
    """The epoch ``config``'s checkpoint at ``path`` resumes from: 0 when there is none, or one
    that is unreadable or another run's (the run then starts over)."""
    if path is None or not path.exists():
        return 0
    try:
        state = read_checkpoint(path)
        identity = state.get("identity") or {}
        if identity.get("hash") != config.hash or identity.get("data_fingerprint") not in (
            None,
            data_fingerprint,
        ):
            return 0
        epoch = state["epoch"]
        return epoch if isinstance(epoch, int) and 0 < epoch <= config.epochs else 0
    except Exception:  # unreadable: the run starts over, as a single run does
        return 0


@dataclass
class Stacked:
    """A :class:`Stack` fed member by member (``feeds[i]``: member i's data order), as the
    epoch loop (:func:`train_lockstep`) trains it: the stacked step is the single run's step
    with a leading run dimension, and everything around it is the single run's loop."""

    stack: Stack
    feeds: list[Feed]

    @property
    def configs(self) -> list[RunConfig]:
        return self.stack.configs

    @property
    def method(self) -> Method:
        return self.stack.method

    def train_epoch(self, epoch: int, bar: tqdm | None = None) -> list[dict]:
        stack = self.stack
        loss_sum = torch.zeros(len(self.feeds), device=stack.device)
        correct = torch.zeros(len(self.feeds), dtype=torch.int64, device=stack.device)
        seen = 0
        for steps in zip(*(feed.epoch(epoch) for feed in self.feeds)):
            batches = [micro[0] for micro in steps]
            xs = torch.stack([x for x, _ in batches])
            ys = torch.stack([y for _, y in batches])
            losses, hits = stack.step(xs, ys)
            loss_sum += losses * ys.shape[1]
            correct += hits
            seen += ys.shape[1]
            if bar is not None:
                bar.update()
        return [
            {"loss": loss / seen, "train_acc": hit / seen}
            for loss, hit in zip(loss_sum.tolist(), correct.tolist())
        ]

    def model(self, i: int) -> nn.Module:
        return self.stack.member(i)

    def optimizers(self, i: int) -> Optimizers:
        return self.stack.member_optimizers(i)

    def graphed(self) -> bool | None:
        graphed = self.stack.graphed
        return None if graphed is None else graphed.graph is not None


def train_stack(
    configs: list[RunConfig],
    train_data: ImageTensors,
    test_data: ImageTensors,
    device: torch.device,
    eval_every_epoch: bool = True,
    on_epoch: Callable[[RunConfig, dict], None] | None = None,
    progress: bool = False,
    graphs: bool | None = None,
    checkpoints: list[Path] | None = None,
    data_fingerprint: str | None = None,
    commit: str | None = None,
) -> list[TrainOutcome]:
    """Train ``configs`` as one stack on CIFAR-10 in memory; each member's outcome, as
    :func:`supermask.training.cifar10.train` would return it alone. A member that diverges is
    recorded as diverged and the others go on.

    With ``checkpoints`` (one path per member), the members resume from theirs, all from one
    epoch (written by a stack or by single runs alike), and each member's checkpoint is written
    after every epoch, in the single run's format: a stopped stack resumes, stacked or alone.
    """
    check_stackable(configs)
    config = configs[0]
    check_precision(config.precision, device)
    set_matmul_precision(device)
    train_data, test_data = _prepare_data(config, train_data, test_data, device)
    feeds = [in_memory_feed(c, train_data, test_data, torch.contiguous_format) for c in configs]
    started = time.perf_counter()
    steps = feeds[0].steps_per_epoch
    stack = Stack(
        configs, device, config.epochs * steps, None, (config.warmup_epochs or 0) * steps, graphs
    )
    prepare_s = time.perf_counter() - started
    paths = list(checkpoints) if checkpoints is not None else [None] * len(configs)
    resumable = [checkpoint_epoch(p, c, data_fingerprint) > 0 for p, c in zip(paths, configs)]
    if any(resumable) and not all(resumable):
        raise ValueError(
            "some members of the stack have a checkpoint to resume from and some do not: "
            + ", ".join(c.name for c, r in zip(configs, resumable) if r)
        )
    if all(resumable):
        states = [read_checkpoint(p, device) for p in paths]
        restored = stack.restore(states, data_fingerprint)
        done = restored[0][0]
        clocks = [clock for _, clock, _ in restored]
        histories = [history for _, _, history in restored]
        log.info("%d runs resume as one stack after epoch %d", len(configs), done)
    else:
        done, clocks, histories = 0, [Clock() for _ in configs], [[] for _ in configs]
    outcomes = train_lockstep(
        Stacked(stack, feeds),
        feeds[0],
        device,
        done,
        clocks,
        histories,
        paths,
        prepare_s=prepare_s,
        progress=progress,
        eval_every_epoch=eval_every_epoch,
        on_epoch=None if on_epoch is None else lambda i, entry: on_epoch(configs[i], entry),
        data_fingerprint=data_fingerprint,
        commit=commit,
    )
    assert outcomes is not None  # None only for a stop_after_epoch, which a stack never asks
    return outcomes
