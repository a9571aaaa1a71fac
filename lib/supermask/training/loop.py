"""The one training loop: build, train, checkpoint every epoch, resume, evaluate.

:func:`train_lockstep` is the epoch loop of any runs that step together: one run (:func:`fit`)
or a stack of them (:mod:`supermask.training.stacked`), whose step is the single run's step with
a leading run dimension.

CIFAR-10 in memory (:mod:`supermask.training.cifar10`) and ImageNet over many processes
(:mod:`supermask.runs.imagenet`) run the same loop, fed by a :class:`Feed`. Everything
random is fixed by the config's seed: the model's initial state by the global seed set before
it is built, each epoch's shuffle and augmentation by a generator seeded from (seed, epoch). So
an interrupted run resumed from its checkpoint follows exactly the path of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from ..config import RunConfig, epoch_seed
from ..masks import kept_counts
from ..models import build_model
from ..provenance import device_name
from .checkpoint import (
    Clock,
    Optimizers,
    checkpoint_identity,
    read_checkpoint,
    restore_checkpoint,
    write_checkpoint,
)
from .device import autocast, check_precision, set_matmul_precision
from .evaluate import Batches, Reduce
from .graphs import GraphedGradients, use_graphs
from .methods import Method, get_method

__all__ = ["Feed", "Lockstep", "Processes", "TrainOutcome", "build", "fit", "train_lockstep"]

log = logging.getLogger(__name__)

_LEARNING_CURVE_STREAM = 500_000  # epoch_seed's stream of the per-epoch test evaluation


def build(config: RunConfig) -> nn.Module:
    """The model of ``config`` in its initial state (same seed, same model)."""
    torch.manual_seed(config.seed)
    model = build_model(config.model, width=config.width)
    return get_method(config.method).prepare(model, config)


def _flips(optimizers) -> int | None:
    """Sign flips made so far by the optimisers that count them (Bop), else None."""
    counts = [
        group["flips"]
        for optimizer, _ in optimizers
        for group in optimizer.param_groups
        if "flips" in group
    ]
    return sum(counts) if counts else None


def _epoch_test_accuracy(
    method,
    model: nn.Module,
    config: RunConfig,
    epoch: int,
    test: Batches,
    device: torch.device,
    reduce: Reduce,
) -> float:
    """Test accuracy after ``epoch`` for the learning curve, measured inside a forked RNG seeded
    from (seed, epoch): sampled masks draw from their own stream, and training continues exactly
    as if nothing had been measured."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), autocast(device, config.precision):
        torch.manual_seed(epoch_seed(config.seed, epoch, _LEARNING_CURVE_STREAM))
        accuracy = method.evaluate_epoch(model, test, device, reduce)
    model.train()
    return accuracy


@dataclass
class TrainOutcome:
    """What a finished (or diverged) training run measured."""

    model: nn.Module
    status: str  # "finished" or "diverged"
    test_acc: float | None
    train_acc: float | None
    kept: int
    total: int
    kept_per_layer: dict[str, tuple[int, int]]
    wall_s: float
    epochs_run: int
    resumed_from_epoch: int = 0  # epochs read from a checkpoint (0: trained from scratch)
    trainable_values: int = 0  # values training updates (scores, signs, weights)
    prepare_s: float = 0.0  # building and preparing the model (pruning at init), not in wall_s
    history: list[dict] = field(default_factory=list)
    eval_s: float = 0.0  # of wall_s, the per-epoch test evaluations for the learning curve
    epoch_s: list[float | None] = field(default_factory=list)  # each epoch's time
    sittings: list[dict] = field(default_factory=list)  # each sitting's first epoch and device
    extra: dict = field(default_factory=dict)  # method-specific measurements


@dataclass(frozen=True)
class Processes:
    """This process's place in a job of several (torchrun's environment); one process by
    default."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @classmethod
    def from_environment(cls) -> Processes:
        return cls(
            int(os.environ.get("RANK", 0)),
            int(os.environ.get("LOCAL_RANK", 0)),
            int(os.environ.get("WORLD_SIZE", 1)),
        )

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: list[float], device: torch.device) -> list[float]:
        """``values`` summed over every process (unchanged on one process)."""
        if not self.distributed:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return tensor.tolist()


@dataclass(frozen=True)
class Feed:
    """Where a run's batches come from, on the run's device.

    ``epoch(e)`` gives the optimiser steps of epoch ``e``; each step is an iterable of
    ``micro_batches`` (x, y) whose gradients add up to one step (one, unless they accumulate).
    ``test`` is this process's share of the test set (see :func:`evaluate.accuracy`).
    """

    steps_per_epoch: int
    epoch: Callable[[int], Iterable[Iterable[tuple[torch.Tensor, torch.Tensor]]]]
    test: Batches
    micro_batches: int = 1


@dataclass
class _Run:
    """A run being trained: its method, its model, the module the forward pass runs (the
    model, or its DistributedDataParallel wrapper) and its (optimizer, scheduler) pairs."""

    method: Method
    model: nn.Module
    net: nn.Module
    optimizers: list
    graphed: GraphedGradients | None = None  # its forward and backward, replayed on CUDA


def _gradients(run: _Run, config: RunConfig, device: torch.device):
    """The step's forward and backward as a CUDA graph captures it: (loss, correct count)."""
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing or 0.0)

    def compute(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast(device, config.precision, cache=False):
            logits = run.net(x)
            loss = loss_fn(logits, y)
        loss.backward()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()

    return compute


def _start(
    config: RunConfig,
    feed: Feed,
    device: torch.device,
    wrap: Callable[[nn.Module], nn.Module] | None,
    graphs: bool | None = None,
) -> _Run:
    """The run built on ``device``; its steps replayed from a CUDA graph where
    :func:`use_graphs` says so (never over several processes or micro-batches)."""
    method = get_method(config.method)
    model = build(config).to(device=device, memory_format=torch.channels_last)
    total_steps = config.epochs * feed.steps_per_epoch
    warmup_steps = (config.warmup_epochs or 0) * feed.steps_per_epoch
    run = _Run(
        method,
        model,
        wrap(model) if wrap is not None else model,
        method.optimizers(model, config, total_steps, warmup_steps),
    )
    if wrap is None and feed.micro_batches == 1 and use_graphs(device, config.method, graphs):
        trainable = [p for p in model.parameters() if p.requires_grad]
        run.graphed = GraphedGradients(_gradients(run, config, device), trainable, device)
    return run


def _resume(
    run: _Run,
    restart: Callable[[], _Run],
    checkpoint: Path | None,
    config: RunConfig,
    device: torch.device,
    data_fingerprint: str | None = None,
) -> tuple[_Run, int, Clock, list[dict]]:
    """(run, epochs done, clock, history) after loading ``checkpoint``; a checkpoint that is
    unreadable or not this run's is set aside with a warning and the run starts over."""
    if checkpoint is None or not checkpoint.exists():
        return run, 0, Clock(), []
    try:
        state = read_checkpoint(checkpoint, device)
    except Exception as error:  # truncated, corrupted, or not a checkpoint at all
        log.warning(
            "%s: unreadable checkpoint %s (%s); starting the run over",
            config.name,
            checkpoint,
            error,
        )
        return run, 0, Clock(), []
    try:
        epoch, clock, history = restore_checkpoint(
            state, run.model, run.optimizers, config, device, data_fingerprint
        )
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as error:
        log.warning(
            "%s: checkpoint %s does not fit this run (%s); starting the run over",
            config.name,
            checkpoint,
            error,
        )
        return restart(), 0, Clock(), []
    log.info("%s: resuming after epoch %d", config.name, epoch)
    return run, epoch, clock, history


def _micro_batches(
    run: _Run,
    micro_batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    config: RunConfig,
    feed: Feed,
    device: torch.device,
    processes: Processes,
    loss_fn: nn.Module,
):
    """One step's gradients, from its graph or micro-batch by micro-batch (adding up, the last
    one synchronising the processes); yields each micro-batch's (loss, correct count, size)."""
    if run.graphed is not None:
        ((x, y),) = micro_batches
        loss, hits = run.graphed(x, y)
        yield loss, hits, len(y)
        return
    for optimizer, _ in run.optimizers:
        optimizer.zero_grad(set_to_none=True)
    for i, (x, y) in enumerate(micro_batches):
        last = i == feed.micro_batches - 1
        sync = run.net.no_sync() if processes.distributed and not last else contextlib.nullcontext()
        with sync:
            with autocast(device, config.precision):
                logits = run.net(x)
                loss = loss_fn(logits, y)
            (loss / feed.micro_batches if feed.micro_batches > 1 else loss).backward()
        yield loss.detach(), (logits.argmax(1) == y).sum(), len(y)


def _epoch_steps(
    run: _Run,
    config: RunConfig,
    feed: Feed,
    epoch: int,
    device: torch.device,
    processes: Processes,
    bar: tqdm,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One epoch of optimiser steps; (loss sum, correct count, images seen), the sums left on
    the device so that no step waits for them."""
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing or 0.0)
    run.net.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    first_step = epoch * feed.steps_per_epoch + 1
    for step, micro_batches in enumerate(feed.epoch(epoch), start=first_step):
        for loss, hits, size in _micro_batches(
            run, micro_batches, config, feed, device, processes, loss_fn
        ):
            loss_sum += loss * size
            correct += hits
            seen += size
        for optimizer, scheduler in run.optimizers:
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
        run.method.after_step(run.model, config, step)
        bar.update()
    return loss_sum, correct, seen


class Lockstep(Protocol):
    """Runs that train step for step together: one run (:func:`fit`), or a stack of runs whose
    parameters carry a leading run dimension (:class:`supermask.training.stacked.Stack`). The
    epoch loop (:func:`train_lockstep`) is the same for both."""

    configs: list[RunConfig]
    method: Method

    def train_epoch(self, epoch: int, bar: tqdm) -> list[dict]:
        """One epoch of steps; each run's loss and train accuracy (and sign flips, where an
        optimiser counts them), summed over processes."""
        ...

    def model(self, i: int) -> nn.Module:
        """Run i's model holding its current state."""
        ...

    def optimizers(self, i: int) -> Optimizers:
        """Run i's optimisers as its checkpoint saves them."""
        ...

    def graphed(self) -> bool | None:
        """Whether the steps replay from a CUDA graph (False: its capture failed or is still
        to come); None where they are not graphed."""
        ...


@dataclass
class _Alone:
    """One run (over one process or several) as a :class:`Lockstep` of one."""

    run: _Run
    config: RunConfig
    feed: Feed
    device: torch.device
    processes: Processes

    @property
    def configs(self) -> list[RunConfig]:
        return [self.config]

    @property
    def method(self) -> Method:
        return self.run.method

    def train_epoch(self, epoch: int, bar: tqdm) -> list[dict]:
        flips_before = _flips(self.run.optimizers)
        loss_sum, correct, seen = _epoch_steps(
            self.run, self.config, self.feed, epoch, self.device, self.processes, bar
        )
        loss_total, correct_total, seen_total = self.processes.all_sum(
            [loss_sum.item(), correct.item(), seen], self.device
        )
        entry = {"loss": loss_total / seen_total, "train_acc": correct_total / seen_total}
        if flips_before is not None:
            entry["flips"] = _flips(self.run.optimizers) - flips_before
        return [entry]

    def model(self, i: int) -> nn.Module:
        return self.run.model

    def optimizers(self, i: int) -> Optimizers:
        return self.run.optimizers

    def graphed(self) -> bool | None:
        return None if self.run.graphed is None else self.run.graphed.graph is not None


def _diverged(entry: dict, trainable: list[torch.Tensor]) -> bool:
    return not math.isfinite(entry["loss"]) or not all(p.isfinite().all() for p in trainable)


def _outcome(
    method: Method,
    model: nn.Module,
    config: RunConfig,
    status: str,
    history: list[dict],
    clock: Clock,
    test: Batches,
    device: torch.device,
    reduce: Reduce | None,
    prepare_s: float,
    resumed_from_epoch: int,
) -> TrainOutcome:
    """The final evaluation (a diverged run is not evaluated) and the kept counts."""
    with autocast(device, config.precision):
        evaluation = (
            method.evaluate(model, test, device, config.eval_samples, reduce)
            if status == "finished"
            else {"test_acc": None}
        )
    counts = kept_counts(model)
    return TrainOutcome(
        model=model,
        status=status,
        test_acc=evaluation.pop("test_acc"),
        extra=evaluation,
        train_acc=history[-1]["train_acc"] if status == "finished" else None,
        kept=sum(kept for kept, _ in counts.values()),
        total=sum(total for _, total in counts.values()),
        kept_per_layer=counts,
        trainable_values=method.trainable_values(model),
        wall_s=clock.wall_s,
        eval_s=clock.eval_s,
        epoch_s=clock.epoch_s,
        sittings=clock.sittings,
        epochs_run=len(history),
        history=history,
        prepare_s=prepare_s,
        resumed_from_epoch=resumed_from_epoch,
    )


def fit(
    config: RunConfig,
    feed: Feed,
    device: torch.device,
    checkpoint: Path | None = None,
    progress: bool = True,
    stop_after_epoch: int | None = None,
    eval_every_epoch: bool = True,
    processes: Processes = Processes(),
    wrap: Callable[[nn.Module], nn.Module] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    data_fingerprint: str | None = None,
    commit: str | None = None,
    graphs: bool | None = None,
) -> TrainOutcome | None:
    """The one training loop, for CIFAR-10 in memory and ImageNet over many processes alike.

    Builds the model, resumes from ``checkpoint`` (written by the main process after every
    epoch), trains with the method's optimisers, and evaluates. ``wrap`` turns the model into
    what the forward pass runs (DistributedDataParallel); gradients of a step's micro-batches
    add up (the last one synchronises the processes); counts are summed over processes.
    ``on_epoch`` gets each epoch's history entry once its checkpoint is written. Checkpoints
    carry the run's hash and ``data_fingerprint``, and a resume refuses another run's; each
    sitting records the ``commit`` it ran. ``graphs`` replays each step from a CUDA graph
    (:func:`use_graphs`: by default on CUDA where the method allows).
    """
    check_precision(config.precision, device)
    set_matmul_precision(device)
    prepare_started = time.perf_counter()
    run = _start(config, feed, device, wrap, graphs)
    prepare_s = time.perf_counter() - prepare_started  # PaB's pruning at init happens here
    run, done, clock, history = _resume(
        run,
        lambda: _start(config, feed, device, wrap, graphs),
        checkpoint,
        config,
        device,
        data_fingerprint,
    )
    outcomes = train_lockstep(
        _Alone(run, config, feed, device, processes),
        feed,
        device,
        done,
        [clock],
        [history],
        [checkpoint],
        prepare_s=prepare_s,
        progress=progress,
        stop_after_epoch=stop_after_epoch,
        eval_every_epoch=eval_every_epoch,
        processes=processes,
        on_epoch=None if on_epoch is None else lambda i, entry: on_epoch(entry),
        data_fingerprint=data_fingerprint,
        commit=commit,
    )
    return None if outcomes is None else outcomes[0]


def train_lockstep(
    runs: Lockstep,
    feed: Feed,
    device: torch.device,
    done: int,
    clocks: list[Clock],
    histories: list[list[dict]],
    checkpoints: list[Path | None],
    prepare_s: float = 0.0,
    progress: bool = True,
    stop_after_epoch: int | None = None,
    eval_every_epoch: bool = True,
    processes: Processes = Processes(),
    on_epoch: Callable[[int, dict], None] | None = None,
    data_fingerprint: str | None = None,
    commit: str | None = None,
) -> list[TrainOutcome] | None:
    """The epoch loop of every run, alone or stacked: train ``runs`` from epoch ``done`` (their
    ``clocks`` and ``histories`` read from their checkpoints), record each run's epoch, stop a
    run that diverges without stopping the others, measure the learning curve, write each run's
    checkpoint (``checkpoints[i]``, by the main process), then call ``on_epoch(i, entry)``.
    ``feed`` gives the steps per epoch and the test set; ``stop_after_epoch`` ends the call
    early (None) once that many epochs are done. Each run's outcome, as :func:`fit` returns it.
    """
    configs = runs.configs
    config = configs[0]
    reduce = (lambda values: processes.all_sum(values, device)) if processes.distributed else None
    together = f" (stack of {len(configs)})" if len(configs) > 1 else ""
    status = ["finished"] * len(configs)
    bar = tqdm(
        total=config.epochs * feed.steps_per_epoch,
        initial=done * feed.steps_per_epoch,
        desc=config.name + together,
        disable=not (progress and processes.main),
        leave=False,
        unit="step",
    )
    for clock in clocks:
        clock.start(done, device_name(device), commit)
    for epoch in range(done, config.epochs):
        going_on = [i for i, s in enumerate(status) if s == "finished"]
        entries = runs.train_epoch(epoch, bar)
        graphed = runs.graphed()
        if graphed is not None:  # provenance of this sitting
            for i in going_on:
                clocks[i].sittings[-1]["cuda_graph"] = graphed
        for i in going_on:
            entry = {"epoch": epoch + 1, **entries[i]}
            histories[i].append(entry)
            if processes.main:
                log.info(
                    "%s epoch %d: loss %.4f train acc %.4f%s",
                    configs[i].name,
                    epoch + 1,
                    entry["loss"],
                    entry["train_acc"],
                    together,
                )
            model = runs.model(i)
            if _diverged(entry, [p for p in model.parameters() if p.requires_grad]):
                clocks[i].epoch_done()
                status[i] = "diverged"
                log.warning(
                    "%s diverged in epoch %d (loss %s)", configs[i].name, epoch + 1, entry["loss"]
                )
                continue
            if eval_every_epoch:
                eval_started = time.perf_counter()
                entry["test_acc"] = _epoch_test_accuracy(
                    runs.method, model, configs[i], epoch + 1, feed.test, device, reduce
                )
                clocks[i].eval_s += time.perf_counter() - eval_started
        if len(configs) == 1:
            bar.set_postfix(
                epoch=epoch + 1,
                loss=f"{histories[0][-1]['loss']:.3f}",
                acc=f"{histories[0][-1]['train_acc']:.3f}",
                **(
                    {"test": f"{histories[0][-1]['test_acc']:.3f}"}
                    if "test_acc" in histories[0][-1]
                    else {}
                ),
            )
        going_on = [i for i in going_on if status[i] == "finished"]
        for i in going_on:
            clocks[i].epoch_done()
            if processes.main and checkpoints[i] is not None:
                write_checkpoint(
                    checkpoints[i],
                    epoch + 1,
                    runs.model(i),
                    runs.optimizers(i),
                    clocks[i],
                    histories[i],
                    device,
                    checkpoint_identity(configs[i], data_fingerprint),
                )
        if processes.main and on_epoch is not None:  # once every run's epoch is safe
            for i in going_on:
                on_epoch(i, histories[i][-1])
        if processes.distributed:
            dist.barrier()
        if "finished" not in status:
            break
        if epoch + 1 == stop_after_epoch and epoch + 1 < config.epochs:
            bar.close()
            return None
    bar.close()
    if processes.distributed:  # rank 0's batch-norm statistics, as DDP itself broadcasts them
        for buffer in runs.model(0).buffers():
            dist.broadcast(buffer, 0)
    return [
        _outcome(
            runs.method,
            runs.model(i),
            member,
            status[i],
            histories[i],
            clocks[i],
            feed.test,
            device,
            reduce,
            prepare_s=prepare_s,
            resumed_from_epoch=done,
        )
        for i, member in enumerate(configs)
    ]
