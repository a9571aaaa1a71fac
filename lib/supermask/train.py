"""The training loop: build, train, checkpoint every epoch, resume, evaluate at the end.

Everything random is fixed by the config's seed: the model's initial state by the global seed set
before it is built, each epoch's shuffle and augmentation by a generator seeded from (seed, epoch).
So an interrupted run resumed from its checkpoint follows exactly the path of an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .allocator import keep_freed_memory
from .config import RunConfig
from .data import ImageTensors, balanced_subset, epoch_batches
from .evaluate import autocast
from .masks import kept_counts
from .methods import get_method
from .models import build_model
from .store import atomic_torch_save

__all__ = ["TrainOutcome", "build", "check_data_fits", "load_checkpoint", "resolve_device",
           "train"]

log = logging.getLogger(__name__)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` is CUDA when available, else CPU; a device that is not there is refused."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N") from None
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; valid: auto, cpu, cuda, cuda:N")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} asked for, but there are only "
                             f"{torch.cuda.device_count()} CUDA devices")
    return resolved


def build(config: RunConfig) -> nn.Module:
    """The model of ``config`` in its initial state (same seed, same model)."""
    torch.manual_seed(config.seed)
    model = build_model(config.model, width=config.width)
    return get_method(config.method).prepare(model, config)


def load_checkpoint(path: Path | None, device: torch.device, name: str) -> dict | None:
    """The checkpoint's state, or None when there is none or it cannot be read (then the run
    starts over, with a warning, rather than fail or trust a damaged file)."""
    if path is None or not path.exists():
        return None
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # truncated, corrupted, or not a checkpoint at all
        log.warning("%s: unreadable checkpoint %s (%s); starting the run over", name, path, error)
        return None


def _flips(optimizers) -> int | None:
    """Sign flips made so far by the optimisers that count them (Bop), else None."""
    counts = [group["flips"] for optimizer, _ in optimizers for group in optimizer.param_groups
              if "flips" in group]
    return sum(counts) if counts else None


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def _epoch_test_accuracy(method, model: nn.Module, config: RunConfig, epoch: int,
                         test_data: ImageTensors, device: torch.device) -> float:
    """Test accuracy after ``epoch`` for the learning curve, measured inside a forked RNG seeded
    from (seed, epoch): sampled masks draw from their own stream, and training continues exactly
    as if nothing had been measured."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed * 1_000_003 + epoch + 500_000)
        accuracy = method.evaluate_epoch(model, test_data, device)
    model.train()
    return accuracy


def _restore(state: dict, model: nn.Module, optimizers, config: RunConfig,
             device: torch.device) -> tuple[int, float, float, list[dict]]:
    """Load a checkpoint into the model and optimisers; (epoch, wall_s, eval_s, history).
    Raises if the checkpoint does not belong to this run (then the caller starts over)."""
    if not isinstance(state, dict):
        raise TypeError(f"a checkpoint is a dict, not {type(state).__name__}")
    epoch, history = state["epoch"], state["history"]
    if not isinstance(epoch, int) or not 1 <= epoch <= config.epochs or len(history) != epoch:
        raise ValueError(f"checkpoint after epoch {epoch!r} with {len(history)} epochs of "
                         f"history, for a run of {config.epochs} epochs")
    model.load_state_dict(state["model"])
    if len(state["optimizers"]) != len(optimizers) or len(state["schedulers"]) != len(optimizers):
        raise ValueError("checkpoint has another number of optimisers")
    for (optimizer, scheduler), saved, saved_schedule in zip(
            optimizers, state["optimizers"], state["schedulers"], strict=True):
        optimizer.load_state_dict(saved)
        if scheduler is not None:
            scheduler.load_state_dict(saved_schedule)
    torch.set_rng_state(state["rng"].cpu())
    if device.type == "cuda" and state.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
    return epoch, state["wall_s"], state.get("eval_s", 0.0), history


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
    extra: dict = field(default_factory=dict)  # method-specific measurements


def check_data_fits(config: RunConfig, train_data: ImageTensors, test_data: ImageTensors) -> None:
    """A ``ValueError`` when the config asks for more images than the data has."""
    for name, data in (("train_subset", train_data), ("test_subset", test_data)):
        wanted = getattr(config, name)
        if wanted is not None and wanted > len(data):
            raise ValueError(f"{name}={wanted} asks for more images than the data set has "
                             f"({len(data)}); valid: 10 to {len(data)}, or None for all")


def _prepare_data(config: RunConfig, train_data: ImageTensors, test_data: ImageTensors,
                  device: torch.device) -> tuple[ImageTensors, ImageTensors]:
    if config.train_subset is not None:
        train_data = train_data.subset(balanced_subset(train_data.labels, config.train_subset))
    if config.test_subset is not None:
        test_data = test_data.subset(balanced_subset(test_data.labels, config.test_subset))
    return train_data.to(device), test_data.to(device)


def train(
    config: RunConfig,
    train_data: ImageTensors,
    test_data: ImageTensors,
    device: str | torch.device = "auto",
    checkpoint: str | Path | None = None,
    progress: bool = True,
    stop_after_epoch: int | None = None,
    eval_every_epoch: bool = True,
) -> TrainOutcome | None:
    """Train ``config`` from scratch or from ``checkpoint``, saving it after every epoch.

    ``stop_after_epoch`` ends the call early (returning None) once that many epochs are done, to
    split a long run over several sittings; calling again with the same checkpoint resumes.
    ``eval_every_epoch`` adds the test accuracy after every epoch to the history (the learning
    curve); it never changes what training does.
    """
    device = resolve_device(device)
    if device.type == "cpu":
        keep_freed_memory()
    train_data, test_data = _prepare_data(config, train_data, test_data, device)
    prepare_started = time.perf_counter()
    model = build(config).to(device=device, memory_format=torch.channels_last)
    prepare_s = time.perf_counter() - prepare_started  # PaB's pruning at init happens here
    method = get_method(config.method)
    trainable = [p for p in model.parameters() if p.requires_grad]
    steps_per_epoch = math.ceil(len(train_data) / config.batch_size)
    optimizers = method.optimizers(model, config, config.epochs * steps_per_epoch)

    start_epoch, wall_s, eval_s, history = 0, 0.0, 0.0, []
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    state = load_checkpoint(checkpoint, device, config.name)
    if state is not None:
        try:
            start_epoch, wall_s, eval_s, history = _restore(state, model, optimizers, config,
                                                            device)
            log.info("%s: resuming after epoch %d", config.name, start_epoch)
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as error:
            log.warning("%s: checkpoint %s does not fit this run (%s); starting the run over",
                        config.name, checkpoint, error)
            model = build(config).to(device=device, memory_format=torch.channels_last)
            optimizers = method.optimizers(model, config, config.epochs * steps_per_epoch)
            trainable = [p for p in model.parameters() if p.requires_grad]
            start_epoch, wall_s, eval_s, history = 0, 0.0, 0.0, []
    resumed_from_epoch = start_epoch

    started = time.perf_counter()
    status = "finished"
    bar = tqdm(total=config.epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch,
               desc=config.name, disable=not progress, leave=False, unit="step")
    for epoch in range(start_epoch, config.epochs):
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        generator = _epoch_generator(config.seed, epoch)
        flips_before = _flips(optimizers)
        for step, (x, y) in enumerate(
                epoch_batches(train_data, config.batch_size, generator, augment=True),
                start=epoch * steps_per_epoch + 1):
            with autocast(device):
                logits = model(x)
                loss = F.cross_entropy(logits, y)
            for optimizer, _ in optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for optimizer, scheduler in optimizers:
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
            method.after_step(model, config, step)
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            bar.update()
        epoch_loss = loss_sum.item() / len(train_data)
        history.append({"epoch": epoch + 1, "loss": epoch_loss,
                        "train_acc": correct.item() / len(train_data)})
        if flips_before is not None:
            history[-1]["flips"] = _flips(optimizers) - flips_before
        bar.set_postfix(epoch=epoch + 1, loss=f"{epoch_loss:.3f}", acc=f"{history[-1]['train_acc']:.3f}")
        log.info("%s epoch %d: loss %.4f train acc %.4f", config.name, epoch + 1, epoch_loss,
                 history[-1]["train_acc"])
        if not math.isfinite(epoch_loss) or not all(p.isfinite().all() for p in trainable):
            status = "diverged"
            log.warning("%s diverged in epoch %d (loss %s)", config.name, epoch + 1, epoch_loss)
            break
        if eval_every_epoch:
            eval_started = time.perf_counter()
            history[-1]["test_acc"] = _epoch_test_accuracy(method, model, config, epoch + 1,
                                                           test_data, device)
            eval_s += time.perf_counter() - eval_started
            bar.set_postfix(epoch=epoch + 1, loss=f"{epoch_loss:.3f}",
                            acc=f"{history[-1]['train_acc']:.3f}",
                            test=f"{history[-1]['test_acc']:.3f}")
        if checkpoint is not None:
            atomic_torch_save({
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizers": [optimizer.state_dict() for optimizer, _ in optimizers],
                "schedulers": [None if scheduler is None else scheduler.state_dict()
                               for _, scheduler in optimizers],
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                "wall_s": wall_s + time.perf_counter() - started,
                "eval_s": eval_s,
                "history": history,
            }, checkpoint)
        if epoch + 1 == stop_after_epoch and epoch + 1 < config.epochs:
            bar.close()
            return None
    bar.close()

    evaluation = (method.evaluate(model, test_data, device, config.eval_samples)
                  if status == "finished" else {"test_acc": None})
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
        prepare_s=prepare_s,
        wall_s=wall_s + time.perf_counter() - started,
        epochs_run=len(history),
        resumed_from_epoch=resumed_from_epoch,
        history=history,
        eval_s=eval_s,
    )
