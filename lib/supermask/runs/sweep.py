"""Run one config or a grid of them through the run store, skipping finished runs."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, as_completed
from pathlib import Path

from tqdm.auto import tqdm

from .. import provenance
from ..config import RunConfig
from ..data.cifar10 import DataNotFoundError, cifar10_identity, load_cifar10
from ..files import file_digest
from ..training.cifar10 import check_data_fits, train
from ..training.device import resolve_device
from ..training.loop import TrainOutcome
from ..training.stacked import check_stack_size, checkpoint_epoch, group_stacks, train_stack
from .records import sittings_device, write_model
from .store import RunStore
from .subnetwork import write_run_mask

__all__ = [
    "default_data_dir",
    "default_results_dir",
    "default_stack",
    "lookup",
    "run",
    "save_run",
    "store_for",
    "sweep",
]

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    """``$DATA_DIR``, else ``shared/data`` beside the checkout where it exists, else ``./data``:
    where ``make`` looks, so that the CLI and a notebook opened anywhere find the same copy."""
    if "DATA_DIR" in os.environ:
        return Path(os.environ["DATA_DIR"])
    beside = provenance.REPO_DIR.parent / "shared" / "data"
    return beside if beside.is_dir() else Path("data")


def default_results_dir() -> Path:
    """``$RESULTS_DIR``, else ``./results``."""
    return Path(os.environ.get("RESULTS_DIR", "results"))


def default_stack(device: str) -> int:
    """How many runs train as one stack by default: 10 on CUDA, where one run's small steps
    leave the card idle between launches; 1 (every run alone) on the CPU, whose steps already
    run at its matmul peak."""
    return 10 if resolve_device(device).type == "cuda" else 1


def store_for(
    results_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    progress: bool = True,
) -> RunStore:
    """The run store under ``results_dir`` for runs on the CIFAR-10 copy under ``data_dir``."""
    identity = cifar10_identity(
        data_dir if data_dir is not None else default_data_dir(),
        download=download,
        progress=progress,
    )
    return RunStore(results_dir if results_dir is not None else default_results_dir(), identity)


def run(
    config: RunConfig,
    results_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    progress: bool = True,
    download: bool = False,
    wait: bool = True,
) -> dict | None:
    """The result of ``config``: read from the store if finished, else trained (resuming) and saved.

    Safe to call from many workers at once: the run's claim lets only one of them train it.
    When another worker holds it, ``wait`` blocks until that worker is done (or dead, and then
    this one resumes the run); without ``wait`` the call returns None at once.
    """
    data_dir = data_dir if data_dir is not None else default_data_dir()
    store = store_for(results_dir, data_dir, download=download, progress=progress)
    return _run(config, store, _data_of(data_dir, download, progress), device, progress, wait)


def _data_of(data_dir, download: bool, progress: bool):
    """(train, test), loaded at the first call only: a sweep checks the data tree once."""
    return functools.cache(lambda: load_cifar10(data_dir, download=download, progress=progress))


def _run(
    config: RunConfig,
    store: RunStore,
    data,
    device: str,
    progress: bool,
    wait: bool,
    on_epoch: Callable[[RunConfig, dict], None] | None = None,
    graphs: bool | None = None,
) -> dict | None:
    result = store.result(config)
    if result is not None:
        store.remove_leftover_checkpoint(config)
        return result
    resolve_device(device)  # refuse a bad device before anything is written
    train_data, test_data = data()
    check_data_fits(config, train_data, test_data)  # before the run directory exists
    store.check_writable(config)
    with store.claim(config, wait=wait) as claimed:
        if not claimed:
            return None
        return store.result(config) or _train_and_save(
            store, config, train_data, test_data, device, progress, on_epoch, graphs
        )


def lookup(
    configs: Iterable[RunConfig],
    results_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> list[dict | None]:
    """The stored result of each config on the data under ``data_dir``, or None; trains nothing."""
    store = store_for(results_dir, data_dir, progress=progress)
    return [store.result(config) for config in configs]


def _train_and_save(
    store: RunStore,
    config: RunConfig,
    train_data,
    test_data,
    device: str,
    progress: bool,
    on_epoch=None,
    graphs: bool | None = None,
) -> dict:
    store.start(config)
    store.note_trainer(config)
    commit = provenance.git_commit()  # before training: the code that runs is the code recorded
    torch_device = resolve_device(device)
    outcome = train(
        config,
        train_data,
        test_data,
        torch_device,
        checkpoint=store.checkpoint_path(config),
        progress=progress,
        on_epoch=None if on_epoch is None else lambda entry: on_epoch(config, entry),
        data_fingerprint=None if store.data is None else store.data.fingerprint,
        commit=commit,
        graphs=graphs,
    )
    return save_run(store, config, outcome, torch_device, commit)


def save_run(
    store: RunStore, config: RunConfig, outcome: TrainOutcome, device, commit: str, **extra
) -> dict:
    """Write a trained run's model, its mask (the subnetwork, committed with the record) and its
    ``result.json`` record (the one place that record is built, for every data set, with the
    digests of model.pt and mask.npz that their readers check), remove its checkpoint; the
    record, with ``run_dir``."""
    digests = {"model_sha256": write_model(store.model_path(config), outcome.model)}
    if outcome.status == "finished":  # a diverged run's scores are not a subnetwork
        mask = write_run_mask(store.run_dir(config), outcome.model, config)
        if mask is not None:
            digests["mask_sha256"] = file_digest(mask)
    result = {
        "hash": config.hash,
        "config": config.to_dict(),
        "status": outcome.status,
        "test_acc": outcome.test_acc,
        "train_acc": outcome.train_acc,
        "kept": outcome.kept,
        "total": outcome.total,
        "kept_fraction": outcome.kept / outcome.total,
        "kept_per_layer": {name: list(counts) for name, counts in outcome.kept_per_layer.items()},
        "epochs_run": outcome.epochs_run,
        "trainable_values": outcome.trainable_values,
        "resumed_from_epoch": outcome.resumed_from_epoch,
        "trained_by": store.trainers(config),
        "wall_s": outcome.wall_s,
        "eval_s": outcome.eval_s,
        "epoch_s": outcome.epoch_s,
        "prepare_s": outcome.prepare_s,
        **(
            {"data_source": store.data.source, "data_fingerprint": store.data.fingerprint}
            if store.data is not None
            else {}
        ),
        **extra,
        "device": sittings_device(outcome.sittings, outcome.epochs_run)
        or provenance.device_name(device),
        "sittings": outcome.sittings,
        "git_commit": commit,
        "versions": provenance.versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "history": outcome.history,
        **digests,
        **outcome.extra,
    }
    store.save_result(config, result)
    store.checkpoint_path(config).unlink(missing_ok=True)
    result["run_dir"] = str(store.run_dir(config))
    return result


def sweep(
    configs: Iterable[RunConfig],
    results_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    progress: bool = True,
    download: bool = False,
    executor: Executor | None = None,
    wait: bool = True,
    on_epoch: Callable[[RunConfig, dict], None] | None = None,
    on_run: Callable[[RunConfig, dict | None], None] | None = None,
    stack: int | None = None,
    graphs: bool | None = None,
) -> list[dict | None]:
    """Results of every config, in order; finished runs are read, the others trained.

    In-process, runs that differ only in their initial values train ``stack`` at a time as
    one stack (:mod:`supermask.training.stacked`; default :func:`default_stack`: 10 on CUDA,
    1 on the CPU), each saved exactly as it would be alone, plus its stack size. ``graphs``
    replays each step from a CUDA graph (:func:`supermask.training.graphs.use_graphs`: by
    default on CUDA where the method allows; False turns it off).

    Runs that another worker is training are waited for at the end (or taken over if that worker
    died); with ``wait=False`` they are left as None, so a campaign worker moves on to the next
    run instead.

    In-process by default. With an ``executor`` (any ``concurrent.futures.Executor``, e.g.
    :func:`supermask.runs.cluster.dask_executor`) every run is submitted to it; several sweeps or
    workers may share one results directory, because a run is trained by one claimant only.
    In-process, ``on_epoch(config, history entry)`` follows every epoch trained and
    ``on_run(config, result)`` every config done (None: left to another worker).
    """
    configs = list(configs)
    if executor is not None:
        futures = [
            executor.submit(
                run, config, results_dir, data_dir, device, progress=False, download=download
            )
            for config in configs
        ]
        for _ in tqdm(
            as_completed(futures), total=len(futures), desc="runs", disable=not progress, unit="run"
        ):
            pass
        return [_outcome(config, future.result) for config, future in zip(configs, futures)]
    size = default_stack(device) if stack is None else stack
    check_stack_size(size)
    data_dir = data_dir if data_dir is not None else default_data_dir()
    store = store_for(results_dir, data_dir, download, progress)
    data = _data_of(data_dir, download, progress)
    results: list[dict | None] = [None] * len(configs)
    report = on_run or (lambda config, result: None)
    plan, first = [[i] for i in range(len(configs))], {}
    if size > 1:  # finished runs first (read), then the others in stacks
        finished = [i for i, c in enumerate(configs) if store.result(c) is not None]
        for i, config in enumerate(configs):
            if i not in finished:
                first.setdefault(config.hash, i)
        fingerprint = None if store.data is None else store.data.fingerprint
        stacks = group_stacks(
            [configs[i] for i in first.values()],
            size,
            lambda c: checkpoint_epoch(store.checkpoint_path(c), c, fingerprint),
        )
        plan = [[i] for i in finished] + [[first[c.hash] for c in group] for group in stacks]
    bar = tqdm(total=len(configs), desc="runs", disable=not progress, unit="run")
    for indices in plan:
        group = [configs[i] for i in indices]
        if len(group) == 1:
            outcomes = [
                _outcome(
                    group[0],
                    lambda c=group[0]: _run(
                        c, store, data, device, progress, False, on_epoch, graphs
                    ),
                )
            ]
        else:
            outcomes = _run_stack(group, store, data, device, progress, on_epoch, graphs)
        for i, result in zip(indices, outcomes):
            results[i] = result
            report(configs[i], result)
            bar.update()
    for i, config in enumerate(configs):  # a run asked for twice, trained once
        if results[i] is None and first.get(config.hash, i) != i:
            results[i] = results[first[config.hash]]
            report(config, results[i])
            bar.update()
    bar.close()
    if not wait:
        return results
    # Runs another sweep was training: wait for them (or take them over if that sweep died).
    for i, config in enumerate(configs):
        if results[i] is None:
            log.info("%s: waiting for another worker", config.name)
            results[i] = _outcome(
                config,
                lambda c=config: _run(
                    c, store, data, device, progress, wait=True, on_epoch=on_epoch
                ),
            )
            report(config, results[i])
    return results


def _run_stack(
    group: list[RunConfig],
    store: RunStore,
    data,
    device: str,
    progress: bool,
    on_epoch: Callable[[RunConfig, dict], None] | None,
    graphs: bool | None = None,
) -> list[dict | None]:
    """Train ``group`` as one stack: each member claimed, started, checkpointed and saved as it
    would be alone (plus ``engine`` and ``stack_size``); a member another worker holds is left
    as None. If the stack itself fails, its members train one by one."""
    train_data, test_data = data()
    results: dict[str, dict | None] = {}
    with contextlib.ExitStack() as claims:
        held = []
        for config in group:
            try:
                check_data_fits(config, train_data, test_data)
                store.check_writable(config)
            except Exception as error:  # this member fails alone, as it would in a sweep
                results[config.hash] = _failed(config, error)
                continue
            if claims.enter_context(store.claim(config)) and store.result(config) is None:
                held.append(config)
            else:
                results[config.hash] = store.result(config)
        if len(held) > 1:
            for config in held:
                store.start(config)
                store.note_trainer(config)
            commit = provenance.git_commit()
            torch_device = resolve_device(device)
            log.info(
                "training %d runs as one stack: %s", len(held), ", ".join(c.name for c in held)
            )
            try:
                outcomes = train_stack(
                    held,
                    train_data,
                    test_data,
                    torch_device,
                    on_epoch=on_epoch,
                    progress=progress,
                    graphs=graphs,
                    checkpoints=[store.checkpoint_path(c) for c in held],
                    data_fingerprint=None if store.data is None else store.data.fingerprint,
                    commit=commit,
                )
            except (DataNotFoundError, KeyboardInterrupt):
                raise
            except Exception as error:
                log.warning(
                    "the stack of %d failed (%s: %s); its runs train one by one",
                    len(held),
                    type(error).__name__,
                    error,
                )
            else:
                for config, outcome in zip(held, outcomes):
                    results[config.hash] = save_run(
                        store,
                        config,
                        outcome,
                        torch_device,
                        commit,
                        engine="stacked",
                        stack_size=len(held),
                    )
        for config in held:
            if config.hash not in results:  # alone: one member, or a stack that failed
                results[config.hash] = _outcome(
                    config,
                    lambda c=config: (
                        store.result(c)
                        or _train_and_save(
                            store, c, train_data, test_data, device, progress, on_epoch, graphs
                        )
                    ),
                )
    return [results.get(config.hash) for config in group]


def _outcome(config: RunConfig, get_result) -> dict | None:
    """The run's result, or a ``failed`` record of the error that stopped it, so one broken
    config does not stop a sweep. Nothing is stored for a failure: the next sweep tries again.
    Missing or unreadable data stops the sweep, since every run would fail the same way."""
    try:
        return get_result()
    except (DataNotFoundError, KeyboardInterrupt):
        raise
    except Exception as error:
        return _failed(config, error)


def _failed(config: RunConfig, error: Exception) -> dict:
    """The ``failed`` record of the error that stopped a run (nothing is stored)."""
    log.warning("%s failed: %s: %s", config.name, type(error).__name__, error)
    return {
        "hash": config.hash,
        "config": config.to_dict(),
        "status": "failed",
        "error": f"{type(error).__name__}: {error}",
    }
