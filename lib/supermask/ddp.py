"""ImageNet training with DistributedDataParallel: one process per GPU, launched by torchrun.

    torchrun --nproc_per_node=8 -m supermask imagenet --model resnet50 --k 0.3 ...
    torchrun --nnodes=4 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 \\
        -m supermask imagenet ...

Rank 0 logs, checkpoints every epoch (atomically, into the run store) and writes the result; every
rank resumes from that checkpoint, so a job restarted after a node failure (torchrun
``--max_restarts``, or a new job) continues from the last finished epoch. Without torchrun the
same code runs as one process. ``accumulate`` micro-batches per step make P processes train
exactly like P x accumulate (see :mod:`supermask.imagenet`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from . import provenance
from .config import RunConfig
from .evaluate import autocast
from .imagenet import find_imagenet, replica_loaders, start_epoch, val_loader
from .masks import kept_counts, sampled_masks
from .methods import get_method
from .store import RunStore, atomic_torch_save
from .train import build, load_checkpoint, resolve_device

__all__ = ["IMAGENET_METHODS", "Processes", "train_imagenet"]

log = logging.getLogger(__name__)

IMAGENET_METHODS = ("edge-popup", "dense", "zhou")


@dataclass(frozen=True)
class Processes:
    """This process's place in the job, from torchrun's environment (one process without it)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @classmethod
    def from_environment(cls) -> Processes:
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                   int(os.environ.get("WORLD_SIZE", 1)))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _all_sum(values: list[float], device: torch.device, processes: Processes) -> list[float]:
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    if processes.distributed:
        dist.all_reduce(tensor)
    return tensor.tolist()


def _schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """Linear warm-up to the full rate, then cosine decay to zero, stepped every step."""
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer,
                                                        T_max=max(1, total_steps - warmup_steps))
    if warmup_steps == 0:
        return cosine
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup_steps,
                                               total_iters=warmup_steps)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine], [warmup_steps])


@torch.no_grad()
def _loader_accuracy(model: nn.Module, loader, device: torch.device,
                     processes: Processes) -> float:
    model.eval()
    correct, seen = 0.0, 0.0
    with torch.nn.utils.parametrize.cached(), autocast(device):
        for x, y in loader:
            x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            y = y.to(device, non_blocking=True)
            correct += float((model(x).argmax(1) == y).sum())
            seen += len(y)
    correct, seen = _all_sum([correct, seen], device, processes)
    return correct / seen


def _parameter_digest(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for value in model.state_dict().values():
        digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _replicas_identical(model: nn.Module, processes: Processes) -> bool:
    """Whether every process ends with the same parameters and buffers (DDP's promise)."""
    if not processes.distributed:
        return True
    digests = [None] * processes.world_size
    dist.all_gather_object(digests, _parameter_digest(model))
    return len(set(digests)) == 1


def train_imagenet(
    config: RunConfig,
    imagenet_dir: str | os.PathLike,
    results_dir: str | os.PathLike = "results",
    device: str = "auto",
    workers: int = 8,
    accumulate: int = 1,
    progress: bool = True,
) -> dict | None:
    """Train (or resume, or find finished) an ImageNet run; the result on rank 0, else None."""
    if config.dataset != "imagenet":
        raise ValueError(f"train_imagenet trains ImageNet runs, not {config.dataset}")
    if config.method not in IMAGENET_METHODS:
        raise ValueError(f"method {config.method!r} has no ImageNet recipe; valid: "
                         f"{', '.join(IMAGENET_METHODS)}")
    processes = Processes.from_environment()
    replicas = processes.world_size * accumulate
    if accumulate < 1 or config.batch_size % replicas:
        raise ValueError(f"batch size {config.batch_size} does not split into {replicas} equal "
                         f"micro-batches ({processes.world_size} processes x {accumulate})")
    root = find_imagenet(imagenet_dir)
    device = resolve_device(device)
    if device.type == "cuda":
        device = torch.device("cuda", processes.local_rank)
        torch.cuda.set_device(device)
    if processes.distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    store = RunStore(results_dir)
    finished = store.result(config)
    if finished is not None:
        return finished if processes.main else None
    commit = provenance.git_commit()
    with contextlib.ExitStack() as stack:
        if processes.main:
            if not stack.enter_context(store.claim(config)):
                raise RuntimeError(f"{config.name} is being trained by {store.holder(config)}")
            store.start(config)
            store.note_trainer(config)
        return _train(config, root, store, device, processes, workers, accumulate, progress,
                      commit)


def _train(config: RunConfig, root, store: RunStore, device: torch.device, processes: Processes,
           workers: int, accumulate: int, progress: bool, commit: str) -> dict | None:
    replicas = processes.world_size * accumulate
    mine = range(processes.rank * accumulate, (processes.rank + 1) * accumulate)
    loaders, samplers = replica_loaders(root, mine, replicas, config.batch_size // replicas,
                                        config.seed, workers, pin_memory=device.type == "cuda")
    steps_per_epoch = min(len(loader) for loader in loaders)
    if steps_per_epoch == 0:
        raise ValueError(f"{root / 'train'} has fewer images than one batch of "
                         f"{config.batch_size}")
    model = build(config).to(device=device, memory_format=torch.channels_last)
    method = get_method(config.method)
    net = (DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                   else None) if processes.distributed else model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    scheduler = _schedule(optimizer, config.warmup_epochs * steps_per_epoch,
                          config.epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    first_epoch, wall_s, history = 0, 0.0, []
    checkpoint = store.checkpoint_path(config)
    state = load_checkpoint(checkpoint, device, config.name)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        first_epoch, wall_s, history = state["epoch"], state["wall_s"], state["history"]
        log.info("%s: resuming after epoch %d", config.name, first_epoch)
    resumed_from_epoch = first_epoch

    started = time.perf_counter()
    status = "finished"
    bar = tqdm(total=config.epochs * steps_per_epoch, initial=first_epoch * steps_per_epoch,
               desc=config.name, disable=not (progress and processes.main), unit="step")
    for epoch in range(first_epoch, config.epochs):
        start_epoch(loaders, samplers, config.seed, processes.rank, epoch)
        net.train()
        batches = [iter(loader) for loader in loaders]
        loss_sum, correct, seen = 0.0, 0.0, 0.0
        for step in range(steps_per_epoch):
            for i, batch in enumerate(batches):
                x, y = next(batch)
                x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                y = y.to(device, non_blocking=True)
                last = i == accumulate - 1
                sync = (contextlib.nullcontext() if last or not processes.distributed
                        else net.no_sync())
                with sync:
                    with autocast(device):
                        logits = net(x)
                        loss = loss_fn(logits, y)
                    (loss / accumulate).backward()
                loss_sum += float(loss.detach()) * len(y)
                correct += float((logits.argmax(1) == y).sum())
                seen += len(y)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            method.after_step(model, config, epoch * steps_per_epoch + step + 1)
            bar.update()
        loss_sum, correct, seen = _all_sum([loss_sum, correct, seen], device, processes)
        history.append({"epoch": epoch + 1, "loss": loss_sum / seen, "train_acc": correct / seen})
        if processes.main:
            log.info("%s epoch %d: loss %.4f train acc %.4f", config.name, epoch + 1,
                     history[-1]["loss"], history[-1]["train_acc"])
        if not math.isfinite(history[-1]["loss"]):
            status = "diverged"
            break
        if processes.main:
            atomic_torch_save({"epoch": epoch + 1, "model": model.state_dict(),
                               "optimizer": optimizer.state_dict(),
                               "scheduler": scheduler.state_dict(),
                               "wall_s": wall_s + time.perf_counter() - started,
                               "history": history}, checkpoint)
        if processes.distributed:
            dist.barrier()
    bar.close()
    if processes.distributed:  # rank 0's batch-norm statistics, as DDP itself broadcasts them
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)

    evaluation = {"test_acc": None}
    if status == "finished":
        val = val_loader(root, processes.rank, processes.world_size,
                         max(1, config.batch_size // replicas), workers,
                         pin_memory=device.type == "cuda")
        if config.method == "zhou":
            with sampled_masks(model, True):
                sampled = [_loader_accuracy(model, val, device, processes)
                           for _ in range(config.eval_samples)]
            with sampled_masks(model, False):
                deterministic = _loader_accuracy(model, val, device, processes)
            evaluation = {"test_acc": sum(sampled) / len(sampled), "test_acc_sampled": sampled,
                          "test_acc_deterministic": deterministic}
        else:
            evaluation = {"test_acc": _loader_accuracy(model, val, device, processes)}
    identical = _replicas_identical(model, processes)
    if not processes.main:
        return None
    counts = kept_counts(model)
    kept, total = sum(k for k, _ in counts.values()), sum(t for _, t in counts.values())
    atomic_torch_save(model.state_dict(), store.model_path(config))
    result = {
        "hash": config.hash,
        "config": config.to_dict(),
        "status": status,
        **evaluation,
        "train_acc": history[-1]["train_acc"] if status == "finished" else None,
        "kept": kept,
        "total": total,
        "kept_fraction": kept / total,
        "kept_per_layer": {name: list(c) for name, c in counts.items()},
        "trainable_values": method.trainable_values(model),
        "epochs_run": len(history),
        "resumed_from_epoch": resumed_from_epoch,
        "wall_s": wall_s + time.perf_counter() - started,
        "processes": processes.world_size,
        "accumulate": accumulate,
        "replicas_identical": identical,
        "device": provenance.device_name(device),
        "git_commit": commit,
        "versions": provenance.versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "trained_by": store.trainers(config),
        "history": history,
    }
    store.save_result(config, result)
    checkpoint.unlink(missing_ok=True)
    result["run_dir"] = str(store.run_dir(config))
    return result
