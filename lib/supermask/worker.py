"""Campaign workers: the lines of a campaign file trained in order, in the background, anywhere.

A campaign file (``campaigns/*.txt``) holds lines ``<figure> <only JSON>``. A worker trains each
line through its figure's notebook, so runs land in the ordinary store and the figure's CSV and
plots are rewritten as each line is left. A run another worker holds is left to that worker (the
store's claims), so any number of workers share one campaign: two on this machine, the tasks of a
Slurm job array, or Dask workers (docs/WORKERS.md). A line whose runs train in bf16 waits for a
machine where bf16 is native: on a CPU without AVX-512 BF16 or AMX it is emulated and many times
slower than fp32. The precision is read from the runs' configs, which the figure's notebook
declares (:mod:`supermask.notebooks.grid`).

``start`` (``make campaign``) runs a worker detached from the terminal, from a frozen copy of the
code (a git worktree of HEAD under ``.campaign/``), so that editing the checkout never changes a
run in flight; it first restores the stash (:mod:`supermask.runs.stash`), and the worker saves
the stash every minute.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import torch

from .config import RunConfig, get_profile
from .notebooks.grid import notebook_grid
from .notebooks.redraw import redraw_holding
from .notebooks.run import execute
from .provenance import REPO_DIR, cpu_bf16_native
from .runs import stash
from .runs.campaign import CampaignRun, figure_notebooks, read_campaign
from .runs.grid import select, stored_results

__all__ = ["bf16_native", "campaign_lines", "start", "work"]

STASH_EVERY_S = 60


def bf16_native() -> bool:
    """Whether bf16 runs at full speed here: a GPU, or a CPU with bf16 instructions."""
    return torch.cuda.is_available() or cpu_bf16_native()


def campaign_lines(
    path: str | os.PathLike,
    profile: str,
    results_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
) -> list[tuple[CampaignRun, list[RunConfig]]]:
    """Each line of the campaign with the runs it selects from its figure's grid, checked as
    the notebook will check them: ValueError naming the line for an unknown figure, a figure
    without a grid of CIFAR-10 runs, or a value the grid does not have."""
    get_profile(profile)
    lines = []
    for number, line in enumerate(read_campaign(path), 1):
        where = f"{path}, line {number} ({line.figure})"
        try:
            grid = notebook_grid(line.figure, profile, results_dir, data_dir)
            lines.append((line, select([config for _, config in grid], line.only or None)))
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    return lines


def _say(text: str) -> None:
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    print(f"{now} worker {os.getpid()}: {text}", flush=True)


def _save_stash_every(results_dir: Path, stop: threading.Event) -> None:
    while not stop.wait(STASH_EVERY_S):
        stash.save(results_dir)


def work(
    path: str | os.PathLike,
    profile: str,
    results_dir: str | os.PathLike,
    figures_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
) -> int:
    """Train the campaign's lines in order through their notebooks; 0 when every line was left
    (trained, held by another worker, or waiting for bf16), 1 when a notebook failed. After a
    line that finished runs, the other figures whose grids hold them are redrawn too."""
    import papermill

    results_dir, code = Path(results_dir), REPO_DIR
    notebooks = figure_notebooks()
    lines = campaign_lines(path, profile, results_dir, data_dir)
    native = bf16_native()
    executed = code / "notebooks" / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    saver = threading.Thread(target=_save_stash_every, args=(results_dir, stop), daemon=True)
    saver.start()
    failed = 0
    try:
        for line, configs in lines:
            text = f"{line.figure} {json.dumps(line.only)}"
            if not native and any(config.precision == "bf16" for config in configs):
                _say(
                    f"skipped {text}: its runs train in bf16 and this machine has no bf16 "
                    f"instructions (no avx512_bf16 or amx_bf16, no GPU); run it where bf16 is "
                    f"native"
                )
                continue
            _say(f"{text}, {len(configs)} runs (code {_commit(code)})")
            notebook = notebooks[line.figure]
            parameters = {
                "profile": profile,
                "data_dir": str(data_dir),
                "results_dir": str(results_dir),
                "figures_dir": str(figures_dir),
                "wait": False,
                "only": json.dumps(line.only),
            }
            before = _finished(configs, results_dir)
            try:
                execute(
                    notebook,
                    executed / f"{notebook.stem}-{profile}-campaign-{os.getpid()}.ipynb",
                    parameters,
                    sys.stdout,
                )
            except papermill.PapermillExecutionError as error:
                failed += 1
                _say(f"{text} failed: {error.ename}: {error.evalue}")
            landed = _finished(configs, results_dir) - before
            skip = (line.figure, profile)  # its notebook has just drawn it
            for figure, other, fault in redraw_holding(
                landed, results_dir, figures_dir, data_dir, skip, executed
            ):
                failed += fault is not None
                _say(
                    f"{figure} at {other} failed to redraw: {fault}"
                    if fault
                    else f"{figure} at {other} redrawn: it holds runs of {text}"
                )
    finally:
        stop.set()
        stash.save(results_dir)
    _say(f"campaign {path} done")
    return 1 if failed else 0


def _finished(configs: list[RunConfig], results_dir: Path) -> set[str]:
    """The hashes of ``configs`` that the store holds a finished record of."""
    return {c.hash for c, r in zip(configs, stored_results(configs, results_dir)) if r}


def _commit(code: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def _frozen_code(repo: Path) -> tuple[str, Path]:
    """(commit, a worktree of HEAD under .campaign/), made once per commit; two workers started
    at once take turns (a lock in .git)."""
    commit = _commit(repo)
    common = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--git-common-dir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    code = repo / ".campaign" / commit
    with open(repo / common / "campaign.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not code.is_dir():
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(repo),
                    "worktree",
                    "add",
                    "--quiet",
                    "--detach",
                    str(code),
                    "HEAD",
                ],
                check=True,
            )
    return commit, code


def start(
    path: str | os.PathLike,
    profile: str,
    results_dir: str | os.PathLike,
    figures_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    threads: int = 1,
    logs: Path | None = None,
) -> tuple[str, Path, list[str]]:
    """Start a detached worker on ``path`` from a frozen copy of HEAD, after restoring the
    stash: (the commit it runs, its log, the runs restored). The campaign is checked first."""
    path, results_dir = Path(path).resolve(), Path(results_dir).resolve()
    campaign_lines(path, profile, results_dir, data_dir)
    restored = stash.restore(results_dir)
    commit, code = _frozen_code(REPO_DIR)
    logs = logs or REPO_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    log = logs / f"{path.stem}-{profile}-{stamp}-{commit}.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(code / "lib"),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    command = [
        sys.executable,
        "-m",
        "supermask",
        "worker",
        str(path),
        "--profile",
        profile,
        "--results",
        str(results_dir),
        "--figures",
        str(Path(figures_dir).resolve()),
        "--data-dir",
        str(Path(data_dir).resolve()),
    ]
    with open(log, "w") as out:
        subprocess.Popen(
            command,
            cwd=code,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return commit, log, restored
