"""ImageNet training with DistributedDataParallel: one process per GPU, launched by torchrun.

    torchrun --nproc_per_node=8 -m supermask imagenet --model resnet50 --k 0.3 ...
    torchrun --nnodes=4 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 \\
        -m supermask imagenet ...

Rank 0 logs, checkpoints every epoch (atomically, into the run store) and writes the result; every
rank resumes from that checkpoint, so a job restarted after a node failure (torchrun
``--max_restarts``, or a new job) continues from the last finished epoch. Without torchrun the
same code runs as one process. ``accumulate`` micro-batches per step make P processes train
exactly like P x accumulate (see :mod:`supermask.data.imagenet`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .. import provenance
from ..config import RunConfig
from ..data.imagenet import find_imagenet, replica_loaders, start_epoch, val_loader
from ..training.device import resolve_device
from ..training.loop import Feed, Processes, fit
from .store import RunStore
from .sweep import save_run

__all__ = ["imagenet_command", "train_imagenet"]

log = logging.getLogger(__name__)


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


def imagenet_command(
    config: RunConfig,
    imagenet_dir: str | os.PathLike,
    results_dir: str | os.PathLike,
    nproc: int = 1,
    workers: int = 8,
    device: str = "auto",
    *extra: str,
) -> list[str]:
    """The command line that trains ``config``: ``python -m supermask imagenet --config ...``,
    under torchrun with ``nproc`` processes when ``nproc > 1``. The whole serialised RunConfig
    travels, so no field set on it is lost on the way."""
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
        if nproc > 1
        else [sys.executable]
    )
    return [
        *launcher,
        "-m",
        "supermask",
        "imagenet",
        "--config",
        json.dumps(config.to_dict()),
        "--imagenet-dir",
        str(imagenet_dir),
        "--results",
        str(results_dir),
        "--workers",
        str(workers),
        "--device",
        device,
        "--json",
        *extra,
    ]


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
    processes = Processes.from_environment()
    replicas = processes.world_size * accumulate
    if accumulate < 1 or config.batch_size % replicas:
        raise ValueError(
            f"batch size {config.batch_size} does not split into {replicas} equal "
            f"micro-batches ({processes.world_size} processes x {accumulate})"
        )
    root = find_imagenet(imagenet_dir)
    device = resolve_device(device)
    if device.type == "cuda":
        device = torch.device("cuda", processes.local_rank)
        torch.cuda.set_device(device)
    owns_group = processes.distributed and not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        return _claim_and_train(
            config, root, results_dir, device, processes, workers, accumulate, progress
        )
    finally:
        if owns_group:  # gloo aborts at interpreter exit if its group is left for the finaliser
            dist.destroy_process_group()


def _claim_and_train(
    config: RunConfig,
    root,
    results_dir: str | os.PathLike,
    device: torch.device,
    processes: Processes,
    workers: int,
    accumulate: int,
    progress: bool,
) -> dict | None:
    store = RunStore(results_dir)
    finished = store.result(config)
    if finished is not None:
        return finished if processes.main else None
    commit = provenance.git_commit()
    with contextlib.ExitStack() as stack:
        if processes.main:
            store.check_writable(config)
            if not stack.enter_context(store.claim(config)):
                raise RuntimeError(f"{config.name} is being trained by {store.holder(config)}")
            store.start(config)
            store.note_trainer(config)
        return _train(config, root, store, device, processes, workers, accumulate, progress, commit)


def _train(
    config: RunConfig,
    root,
    store: RunStore,
    device: torch.device,
    processes: Processes,
    workers: int,
    accumulate: int,
    progress: bool,
    commit: str,
) -> dict | None:
    replicas = processes.world_size * accumulate
    mine = range(processes.rank * accumulate, (processes.rank + 1) * accumulate)
    loaders, samplers = replica_loaders(
        root,
        mine,
        replicas,
        config.batch_size // replicas,
        config.seed,
        workers,
        pin_memory=device.type == "cuda",
    )
    steps_per_epoch = min(len(loader) for loader in loaders)
    if steps_per_epoch == 0:
        raise ValueError(f"{root / 'train'} has fewer images than one batch of {config.batch_size}")
    val = val_loader(
        root,
        processes.rank,
        processes.world_size,
        max(1, config.batch_size // replicas),
        workers,
        pin_memory=device.type == "cuda",
    )

    def on_device(batch):
        x, y = batch
        return (
            x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last),
            y.to(device, non_blocking=True),
        )

    def epoch(index: int):
        start_epoch(loaders, samplers, config.seed, processes.rank, index)
        batches = [iter(loader) for loader in loaders]
        for _ in range(steps_per_epoch):  # this process's micro-batches, one loader each
            yield (on_device(next(batch)) for batch in batches)

    def wrap(model: nn.Module) -> nn.Module:
        if not processes.distributed:
            return model
        return DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    feed = Feed(
        steps_per_epoch,
        epoch,
        lambda: (on_device(batch) for batch in val),
        micro_batches=accumulate,
    )
    outcome = fit(
        config,
        feed,
        device,
        store.checkpoint_path(config),
        progress,
        processes=processes,
        wrap=wrap,
    )
    identical = _replicas_identical(outcome.model, processes)
    if not processes.main:
        return None
    return save_run(
        store,
        config,
        outcome,
        device,
        commit,
        processes=processes.world_size,
        accumulate=accumulate,
        replicas_identical=identical,
    )
