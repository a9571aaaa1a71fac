"""Runs of a grid trained in stacks (:mod:`supermask.training.stacked`), each saved as alone.

Every member is claimed, started and saved through the store exactly as a single run is, by
:func:`supermask.runs.sweep.save_run`: the same ``result.json`` fields, model, mask and hash,
plus ``engine: "stacked"`` and ``stack_size`` in its provenance. A stack writes no epoch
checkpoints yet, so an interrupted stack trains again from the start.
"""

from __future__ import annotations

import contextlib
import logging
import os

from .. import provenance
from ..config import RunConfig
from ..training.cifar10 import check_data_fits
from ..training.device import resolve_device
from ..training.stacked import group_stacks, train_stack
from .sweep import _data_of, _outcome, _run, _train_and_save, default_data_dir, save_run, store_for

__all__ = ["sweep_stacked"]

log = logging.getLogger(__name__)


def sweep_stacked(
    configs: list[RunConfig],
    results_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    stack: int = 8,
    progress: bool = False,
) -> list[dict | None]:
    """Results of every config, in order: finished runs are read, the others trained in stacks
    of at most ``stack`` runs that differ only in initial values; a run that stacks with no
    other trains alone. A run another worker holds is left as None."""
    data_dir = data_dir if data_dir is not None else default_data_dir()
    store = store_for(results_dir, data_dir, progress=progress)
    data = _data_of(data_dir, False, progress)
    results = {config.hash: store.result(config) for config in configs}
    torch_device = resolve_device(device)
    for group in group_stacks([c for c in configs if results[c.hash] is None], stack):
        if len(group) == 1:
            config = group[0]
            results[config.hash] = _outcome(
                config, lambda c=config: _run(c, store, data, device, progress, wait=False)
            )
            continue
        train_data, test_data = data()
        with contextlib.ExitStack() as claims:
            held = []
            for config in group:
                check_data_fits(config, train_data, test_data)
                store.check_writable(config)
                if claims.enter_context(store.claim(config)) and store.result(config) is None:
                    held.append(config)
                else:
                    results[config.hash] = store.result(config)
            if not held:
                continue
            if len(held) == 1:
                store.start(held[0])
                store.note_trainer(held[0])
                results[held[0].hash] = _train_and_save(
                    store, held[0], train_data, test_data, device, progress
                )
                continue
            for config in held:
                store.start(config)
                store.note_trainer(config)
            commit = provenance.git_commit()
            log.info(
                "training %d runs as one stack: %s", len(held), ", ".join(c.name for c in held)
            )
            outcomes = train_stack(held, train_data, test_data, torch_device)
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
    return [results[config.hash] for config in configs]
