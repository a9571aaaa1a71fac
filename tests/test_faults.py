"""Faults a long sweep meets: being killed, a twin sweep on the same grid, a lost Dask worker."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
import torch

from supermask.config import RunConfig
from supermask.runs.store import RunStore, worker_id
from supermask.runs.sweep import store_for, sweep

from conftest import one_epoch, supermask

# Conv4 on the tiny data: about half a second an epoch, so a run is long enough to be killed
# in the middle.
GRID = [RunConfig(model="conv4", k=k, epochs=6, batch_size=32) for k in (0.3, 0.5, 0.7)]

_SWEEP = """
import json, sys
from supermask.config import RunConfig
from supermask.runs import tables
from supermask.runs.sweep import sweep
configs = [RunConfig.from_dict(c) for c in json.loads(sys.argv[1])]
results = sweep(configs, results_dir=sys.argv[2], data_dir=sys.argv[3], device="cpu",
                progress=False)
tables.write_csv(tables.results_frame(results, "test", "smoke"), sys.argv[4])
"""


def _start_sweep(configs, results_dir, data_dir, csv) -> subprocess.Popen:
    grid = json.dumps([c.to_dict() for c in configs])
    return subprocess.Popen(
        [sys.executable, "-c", _SWEEP, grid, str(results_dir), str(data_dir), str(csv)],
        env=os.environ.copy(),
    )


def _wait_for(condition, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout} s")
        time.sleep(0.02)


def _same_runs(a: list[dict], b: list[dict]) -> None:
    assert [r["hash"] for r in a] == [r["hash"] for r in b]
    for x, y in zip(a, b):
        assert x["test_acc"] == y["test_acc"]
        assert x["history"] == y["history"]
        mx = torch.load(os.path.join(x["run_dir"], "model.pt"), weights_only=True)
        my = torch.load(os.path.join(y["run_dir"], "model.pt"), weights_only=True)
        assert mx.keys() == my.keys() and all(torch.equal(mx[k], my[k]) for k in mx)


@pytest.fixture(scope="module")
def uninterrupted(tiny_data_dir, tmp_path_factory):
    return sweep(
        GRID,
        results_dir=tmp_path_factory.mktemp("serial"),
        data_dir=tiny_data_dir,
        device="cpu",
        progress=False,
    )


def test_claim_is_exclusive_and_released(tmp_path):
    store, config = RunStore(tmp_path), GRID[0]
    with store.claim(config) as first:
        assert first and store.holder(config) == worker_id()
        with store.claim(config) as second:
            assert not second
    assert store.holder(config) is None
    with store.claim(config) as again:
        assert again


def test_dead_workers_claim_expires(tmp_path):
    store, config = RunStore(tmp_path), GRID[0]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"""
import time
from supermask.config import RunConfig
from supermask.runs.store import RunStore
with RunStore({str(tmp_path)!r}).claim(RunConfig.from_dict({config.to_dict()!r})) as taken:
    assert taken
    print("held", flush=True)
    time.sleep(600)
""",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with store.claim(config) as taken:
            assert not taken
        assert store.holder(config).endswith(f":{holder.pid}")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with store.claim(config) as taken:
        assert taken


def test_sigkilled_sweep_resumes_and_equals_an_uninterrupted_one(
    tiny_data_dir, tmp_path, uninterrupted
):
    store, csv = store_for(tmp_path, tiny_data_dir), tmp_path / "sweep.csv"
    victim = GRID[1]
    process = _start_sweep(GRID, tmp_path, tiny_data_dir, csv)
    _wait_for(store.checkpoint_path(victim).exists, what="checkpoint of the second run")
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert store.result(GRID[0]) is not None
    assert store.result(victim) is None, "killed too late: the run had already finished"
    assert not csv.exists()

    process = _start_sweep(GRID, tmp_path, tiny_data_dir, csv)
    assert process.wait() == 0
    results = [store.result(c) for c in GRID]
    _same_runs(results, uninterrupted)
    assert results[1]["resumed_from_epoch"] >= 1
    assert len(results[1]["trained_by"]) == 2
    assert [len(r["trained_by"]) for r in (results[0], results[2])] == [1, 1]
    rows = pd.read_csv(csv)
    assert len(rows) == len(GRID) and rows["hash"].is_unique
    assert rows["test_acc"].tolist() == [r["test_acc"] for r in uninterrupted]


def test_two_sweeps_at_once_never_train_a_run_twice(tiny_data_dir, tmp_path, uninterrupted):
    store = store_for(tmp_path, tiny_data_dir)
    first = _start_sweep(GRID, tmp_path, tiny_data_dir, tmp_path / "a.csv")
    second = _start_sweep(GRID, tmp_path, tiny_data_dir, tmp_path / "b.csv")
    assert first.wait() == 0 and second.wait() == 0
    for config in GRID:
        assert len(store.trainers(config)) == 1, config.name
    _same_runs([store.result(c) for c in GRID], uninterrupted)
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert a["test_acc"].tolist() == b["test_acc"].tolist()


def _spawned_children() -> list[int]:
    """This process's live multiprocessing children (Dask's worker processes)."""
    import psutil

    alive = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(child.cmdline()):
                alive.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def test_dask_cluster_survives_a_killed_worker(tiny_data_dir, tmp_path):
    pytest.importorskip("distributed")
    from supermask.runs.cluster import dask_client, dask_executor

    grid = GRID + [RunConfig(model="conv4", k=0.9, epochs=6, batch_size=32)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each single-threaded Dask worker: same float summation order
    try:
        serial = sweep(
            grid,
            results_dir=tmp_path / "serial",
            data_dir=tiny_data_dir,
            device="cpu",
            progress=False,
        )
    finally:
        torch.set_num_threads(threads)
    store = store_for(tmp_path / "dask", tiny_data_dir)
    killed = []

    def kill_a_worker_mid_run() -> bool:
        for config in grid:
            holder = store.holder(config)
            if holder and store.checkpoint_path(config).exists():
                os.kill(int(holder.rsplit(":", 1)[1]), signal.SIGKILL)
                killed.append(config)
                return True
        return False

    with dask_client(n_workers=2, dashboard_address=None) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        killer = threading.Thread(target=_wait_for, args=(kill_a_worker_mid_run,))
        killer.start()
        results = sweep(
            grid,
            executor=dask_executor(client),
            results_dir=tmp_path / "dask",
            data_dir=tiny_data_dir,
            device="cpu",
            progress=False,
        )
        killer.join()
    # closing the client stops its cluster's worker processes
    _wait_for(lambda: not _spawned_children(), timeout=30, what="exit of the Dask workers")
    _same_runs(results, serial)
    assert len(store.trainers(killed[0])) == 2
    assert store.result(killed[0])["resumed_from_epoch"] >= 1


def test_diverged_run_is_recorded_and_the_sweep_goes_on(tiny_data_dir, tmp_path):
    from supermask.figures import plots
    from supermask.runs import tables

    grid = [
        RunConfig(model="conv2", width=0.25, method="dense", lr=1e6, epochs=3, batch_size=32),
        RunConfig(model="conv2", width=0.25, method="dense", epochs=1, batch_size=32),
    ]
    results = sweep(
        grid, results_dir=tmp_path, data_dir=tiny_data_dir, device="cpu", progress=False
    )
    assert [r["status"] for r in results] == ["diverged", "finished"]
    assert results[0]["test_acc"] is None and results[0]["epochs_run"] < 3
    frame = tables.results_frame(results, "test", "smoke")
    axes = plots.accuracy_curves(
        frame, x="lr", hue="method", panel="model", title="t", xlabel="lr"
    ).axes
    assert any(c.get_label() == "diverged" for ax in axes for c in ax.collections)


def test_run_paths_never_leave_the_store(tmp_path):
    class Forged:
        name = "../../outside"

    with pytest.raises(ValueError, match="would leave"):
        RunStore(tmp_path).run_dir(Forged())
    assert RunStore(tmp_path).run_dir(GRID[0]).parent == tmp_path / "runs"


def test_every_torch_load_is_weights_only():
    """Nothing in the library unpickles arbitrary objects."""
    import ast
    from pathlib import Path

    import supermask

    calls = 0
    for path in Path(supermask.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "load"
                and getattr(node.func.value, "id", "") == "torch"
            ):
                calls += 1
                flags = {k.arg: k.value for k in node.keywords}
                assert isinstance(flags.get("weights_only"), ast.Constant), f"{path}:{node.lineno}"
                assert flags["weights_only"].value is True, f"{path}:{node.lineno}"
    assert calls >= 3  # checkpoints, the data cache, exported runs


def test_any_executor_runs_a_sweep(tiny_data_dir, tmp_path, uninterrupted):
    """E.g. several runs sharing one GPU: a process pool of spawned workers."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = torch.get_num_threads()
    with ProcessPoolExecutor(
        2,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=torch.set_num_threads,
        initargs=(threads,),
    ) as pool:
        results = sweep(
            GRID,
            executor=pool,
            results_dir=tmp_path,
            data_dir=tiny_data_dir,
            device="cpu",
            progress=False,
        )
    _same_runs(results, uninterrupted)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB file system (tmpfs), where a Conv2 checkpoint (about 50 MB) cannot be written;
    skipped where this user may not mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_at_the_checkpoint_gives_one_line_and_leaves_nothing_half_written(
    tiny_data_dir, tmp_path, tiny_disk
):
    done = supermask(
        *one_epoch(tiny_data_dir, tiny_disk / "results", "--train-subset", 40, "--test-subset", 20),
        env={"SUPERMASK_CACHE": tmp_path / "c"},
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("python -m supermask: error: could not write ")
    assert "checkpoint.pt: no space left on its device" in last
    left = [p.name for p in tiny_disk.rglob("*")]
    assert "checkpoint.pt" not in left and not [n for n in left if n.endswith(".tmp")]


def test_a_write_that_fails_for_space_keeps_the_previous_file(tmp_path, monkeypatch):
    import errno

    from supermask import files

    path = tmp_path / "result.json"
    files.atomic_write_json({"epoch": 1}, path)

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(files.WriteError, match=f"could not write {path}: no space left"):
        files.atomic_write_json({"epoch": 2}, path)
    assert json.loads(path.read_text()) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
    monkeypatch.setattr(
        files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "I/O"))
    )
    with pytest.raises(OSError) as other:  # other failures are not reported as a full disk
        files.atomic_write_json({"epoch": 3}, path)
    assert not isinstance(other.value, files.WriteError)


def _read_only(path):
    """Bind ``path`` onto itself read-only: a real EROFS, which even root cannot write."""
    for command in (
        ["mount", "--bind", str(path), str(path)],
        ["mount", "-o", "remount,bind,ro", str(path)],
    ):
        if subprocess.run(command, capture_output=True).returncode != 0:
            pytest.skip("cannot bind-mount read-only here (needs root)")


@pytest.mark.parametrize("read_only", ["results", "results/runs"])
def test_a_read_only_results_or_runs_directory_is_refused_before_training(
    tiny_data_dir, tmp_path, read_only
):
    (tmp_path / "results" / "runs").mkdir(parents=True)
    _read_only(tmp_path / read_only)
    try:
        done = supermask(
            *one_epoch(
                tiny_data_dir, tmp_path / "results", "--train-subset", 40, "--test-subset", 20
            ),
            env={"SUPERMASK_CACHE": tmp_path / "c"},
        )
    finally:
        subprocess.run(["umount", str(tmp_path / read_only)], check=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{tmp_path / read_only} is not writable" in done.stderr.strip().splitlines()[-1]
    assert "epoch 1" not in done.stderr  # refused before training, not after an epoch
    assert not list((tmp_path / "results" / "runs").iterdir())


def test_a_read_only_data_cache_costs_a_decode_not_the_run(tiny_data_dir, tmp_path):
    (tmp_path / "c").mkdir()
    _read_only(tmp_path / "c")
    try:
        done = supermask(
            *one_epoch(
                tiny_data_dir,
                tmp_path / "results",
                "--width",
                0.25,
                "--train-subset",
                40,
                "--test-subset",
                20,
                "--json",
            ),
            env={"SUPERMASK_CACHE": tmp_path / "c"},
        )
    finally:
        subprocess.run(["umount", str(tmp_path / "c")], check=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "finished"
    assert "could not cache the decoded data" in done.stderr
