"""Train a list of runs on a machine lent for minutes (a GPU), and bring their records home.

The lent machine gets a copy of the working tree but not the data beside it, no git history and
none of the runs of this store. ``pack`` writes what it needs into one folder: the runs in the
order they should be trained, the commit they are trained at (the tree must be clean), and the
CIFAR-10 tree as one file. ``train``, there, rebuilds the tree, refuses to go on unless it
decodes to this store's data fingerprint, trains the runs on worker processes that share the
device until a deadline (a run that could not finish by then is not started), and keeps an
archive of every finished run's record up to date under ``--out``. ``land``, here, adds the
records of the runs this store does not hold yet and reports what it did.

    python -m supermask.runs.offload pack --runs campaigns/gpu-short.txt --out .offload
    python -m supermask.runs.offload train .offload --out "$OUT" --workers 8 --deadline-s 540
    python -m supermask.runs.offload land /path/to/runs.tar.gz

A runs file has one line per run: a profile name and the run's fields as JSON, the fields a
figure notebook gives ``Profile.apply`` (so the run has the hash the figure looks up).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from ..config import RunConfig, get_profile
from ..data.cifar10 import cifar10_identity, find_cifar10
from ..files import atomic_write_json
from ..provenance import LIB_DIR, REPO_DIR
from .records import CONFIG, RESULT, check_record, parse_config, parse_result
from .store import RunStore

__all__ = ["OffloadError", "land", "pack", "read_runs", "train"]

log = logging.getLogger(__name__)

COMMIT_ENV = "SUPERMASK_GIT_COMMIT"
SHARED_ENV = "SUPERMASK_DEVICE_SHARED_BY"
_MANIFEST = "manifest.json"
_DATA_INDEX, _DATA_BLOB = "cifar10-index.json", "cifar10.bin"
_ARCHIVE = "runs.tar.gz"
# Seconds per epoch relative to Conv2's, for a model not yet timed on the lent device: the ratios
# of edge-popup step times measured on an H200 (results/bench/vm-cuda.json; Conv6 between Conv4
# and Conv8), where the masks, not the multiply-adds, set the pace.
_RELATIVE_COST = {"conv2": 1.0, "conv4": 1.65, "conv6": 2.1, "conv8": 2.5}


class OffloadError(ValueError):
    """A bundle, runs file or archive that cannot be used as it is; the message names why."""


def read_runs(path: str | os.PathLike) -> list[RunConfig]:
    """The configs of a runs file (``<profile> <fields JSON>`` lines; ``#`` starts a comment)."""
    path = Path(path)
    if not path.is_file():
        raise OffloadError(f"runs file {path} does not exist")
    configs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        profile, text = (line.split(None, 1) + ["{}"])[:2]
        try:
            configs.append(get_profile(profile).apply(**json.loads(text)))
        except (ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
            raise OffloadError(f"{path}:{number}: {error}") from None
    return configs


def _clean_commit(repo: Path) -> str:
    """HEAD of ``repo``, refusing a tree whose library differs from it (results and figures
    change under campaign workers and do not change what trains)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        dirty = git("status", "--porcelain", "--", "lib", "pyproject.toml")
        head = git("rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError) as error:
        raise OffloadError(f"{repo} is not a git checkout ({error})") from None
    if dirty:
        raise OffloadError(f"commit first: the runs must be trained at a commit, and {repo} "
                           f"differs from HEAD ({dirty.splitlines()[0].strip()} ...)")
    return head


def pack(runs_file: str | os.PathLike, out: str | os.PathLike, results_dir: str | os.PathLike,
         data_dir: str | os.PathLike) -> dict:
    """Write the bundle for the lent machine into ``out``: the runs of ``runs_file`` that this
    store has not finished, the commit, the data fingerprint and the CIFAR-10 tree."""
    configs = read_runs(runs_file)
    commit = _clean_commit(REPO_DIR)
    identity = cifar10_identity(data_dir, progress=False)
    store = RunStore(results_dir, identity)
    todo = [c for c in configs if store.result(c) is None and store.holder(c) is None]
    kind, root = find_cifar10(data_dir)
    if kind != "imagefolder":
        raise OffloadError(f"pack needs CIFAR-10 as an ImageFolder tree; {root} is {kind}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index = []
    with open(out / _DATA_BLOB, "wb") as blob:
        for split in ("train", "test"):
            for path in sorted((root / split).rglob("*")):
                if path.is_file():
                    data = path.read_bytes()
                    index.append([str(path.relative_to(root)), len(data)])
                    blob.write(data)
    (out / _DATA_INDEX).write_text(json.dumps(index, separators=(",", ":")))
    manifest = {"commit": commit, "data_fingerprint": identity.fingerprint,
                "data_source": identity.source, "runs": [c.to_dict() for c in todo],
                "skipped_here": len(configs) - len(todo)}
    atomic_write_json(manifest, out / _MANIFEST)
    return manifest


def _unpack_data(bundle: Path, root: Path) -> None:
    index = json.loads((bundle / _DATA_INDEX).read_text())
    with open(bundle / _DATA_BLOB, "rb") as blob:
        for relative, size in index:
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob.read(size))


def _archive(results_dir: Path, out: Path) -> int:
    """Write every finished run's config.json and result.json to ``out/runs.tar.gz`` (replacing
    the last archive in one rename); the number of runs in it."""
    finished = sorted((results_dir / "runs").glob(f"*/{RESULT}"))
    temporary = out / f".{_ARCHIVE}.tmp"
    with tarfile.open(temporary, "w:gz") as tar:
        for result in finished:
            for name in (CONFIG, RESULT):
                path = result.parent / name
                tar.add(path, arcname=f"{result.parent.name}/{name}")
    os.replace(temporary, out / _ARCHIVE)
    return len(finished)


def train(bundle: str | os.PathLike, out: str | os.PathLike, device: str = "cuda",
          workers: int = 8, deadline_s: float = 540.0, work_dir: str | os.PathLike | None = None,
          poll_s: float = 15.0) -> dict:
    """Train the bundle's runs on ``workers`` processes sharing ``device`` until ``deadline_s``
    seconds after the call; the archive under ``out`` holds every run finished so far."""
    started = time.monotonic()
    bundle, out = Path(bundle), Path(out)
    manifest = json.loads((bundle / _MANIFEST).read_text())
    work = Path(work_dir or tempfile.mkdtemp(prefix="offload-"))
    data_dir, results_dir = work / "data" / "cifar10", work / "results"
    _unpack_data(bundle, data_dir)
    os.environ.setdefault("SUPERMASK_CACHE", str(work / "cache"))
    identity = cifar10_identity(data_dir, progress=False)  # decodes once, caches for the workers
    if identity.fingerprint != manifest["data_fingerprint"]:
        raise OffloadError(f"the data decodes to fingerprint {identity.fingerprint[:12]} here, "
                           f"not {manifest['data_fingerprint'][:12]} as where it was packed "
                           "(another JPEG decoder?); nothing was trained")
    out.mkdir(parents=True, exist_ok=True)
    (results_dir / "speed").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, COMMIT_ENV: manifest["commit"], SHARED_ENV: str(workers),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(LIB_DIR),
                                          os.environ.get("PYTHONPATH", "")])}
    deadline = time.time() + deadline_s - (time.monotonic() - started)
    command = [sys.executable, "-m", "supermask.runs.offload", "worker", str(bundle / _MANIFEST),
               str(data_dir), str(results_dir), device, str(deadline)]
    procs = [subprocess.Popen(command, env=env) for _ in range(workers)]
    log.info("%d workers on %d runs until %.0f s", workers, len(manifest["runs"]), deadline_s)
    try:
        while any(p.poll() is None for p in procs) and time.time() < deadline:
            time.sleep(poll_s)
            log.info("%.0f s: %d runs finished", time.monotonic() - started,
                     _archive(results_dir, out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    finished = _archive(results_dir, out)
    summary = {"finished": finished, "runs": len(manifest["runs"]), "workers": workers,
               "seconds": round(time.monotonic() - started, 1), "commit": manifest["commit"]}
    atomic_write_json(summary, out / "summary.json")
    return summary


def _seconds_per_epoch(speed_dir: Path, config: RunConfig) -> float | None:
    """The latest epoch time measured for ``config``'s model (any worker), or one scaled from
    another model's; None before any epoch has finished."""
    measured = {}
    for path in speed_dir.glob("*.json"):
        try:
            measured.update(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    key = f"{config.model}-{config.method}"
    if key in measured:
        return measured[key]
    scaled = [s / _RELATIVE_COST.get(k.split("-", 1)[0], 1.0) * _RELATIVE_COST.get(config.model, 1.0)
              for k, s in measured.items()]
    return max(scaled) if scaled else None


def _worker(manifest_path: str, data_dir: str, results_dir: str, device: str,
            deadline: float) -> None:
    """Train the manifest's runs in order, taking those no other worker holds, starting a run
    only if the epoch times measured so far say it ends before ``deadline``."""
    from .sweep import sweep

    manifest = json.loads(Path(manifest_path).read_text())
    speed_dir = Path(results_dir) / "speed"
    own = speed_dir / f"{os.getpid()}.json"
    times: dict[str, float] = {}
    last = [time.monotonic()]

    def on_epoch(config: RunConfig, entry: dict) -> None:
        now = time.monotonic()
        times[f"{config.model}-{config.method}"] = now - last[0]
        last[0] = now
        atomic_write_json(times, own)

    for fields in manifest["runs"]:
        config = RunConfig(**fields)
        per_epoch = _seconds_per_epoch(speed_dir, config)
        if per_epoch is not None and time.time() + 1.15 * per_epoch * config.epochs > deadline:
            continue
        last[0] = time.monotonic()
        sweep([config], results_dir=results_dir, data_dir=data_dir, device=device,
              progress=False, wait=False, on_epoch=on_epoch)


def land(archive: str | os.PathLike, results_dir: str | os.PathLike) -> dict[str, list[str]]:
    """Add the archive's finished runs to the store under ``results_dir``: a run is added only
    if its record is whole (its config hashes to its folder, its result names that hash); one
    the store already holds is kept as it is. Returns the run names added and kept."""
    runs = Path(results_dir) / "runs"
    added, kept = [], []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            names = sorted({name.split("/")[0] for name in members})
            for name in names:
                try:
                    config = parse_config(json.load(tar.extractfile(members[f"{name}/{CONFIG}"])))
                    result = parse_result(json.load(tar.extractfile(members[f"{name}/{RESULT}"])))
                except (KeyError, ValueError, TypeError) as error:
                    raise OffloadError(f"{archive}: run {name} is not a whole record "
                                       f"({error}); nothing landed") from None
                try:
                    check_record(name, config, result)
                except ValueError as error:
                    raise OffloadError(f"{archive}: run {name} does not hash to its folder "
                                       f"({error}); nothing landed") from None
            for name in names:
                target = runs / name
                if (target / RESULT).exists():
                    kept.append(name)
                    continue
                target.mkdir(parents=True, exist_ok=True)
                for file in (CONFIG, RESULT):
                    data = tar.extractfile(members[f"{name}/{file}"]).read()
                    temporary = target / f".{file}.landing"
                    temporary.write_bytes(data)
                    os.replace(temporary, target / file)
                added.append(name)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise OffloadError(f"{archive} is not a readable runs archive ({error})") from None
    return {"added": added, "kept": kept}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m supermask.runs.offload", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack", help="write the bundle for a lent machine")
    p.add_argument("--runs", required=True, help="runs file: '<profile> <fields JSON>' lines")
    p.add_argument("--out", required=True, help="bundle folder (git must ignore it)")
    p.add_argument("--results", default="results")
    p.add_argument("--data-dir", default=os.environ.get("DATA_DIR", "data"))
    t = commands.add_parser("train", help="train a bundle's runs (on the lent machine)")
    t.add_argument("bundle")
    t.add_argument("--out", required=True, help="where runs.tar.gz and summary.json go")
    t.add_argument("--device", default="cuda")
    t.add_argument("--workers", type=int, default=8)
    t.add_argument("--deadline-s", type=float, default=540.0)
    t.add_argument("--work-dir", default=None)
    w = commands.add_parser("worker")  # one of train's processes
    for name in ("manifest", "data_dir", "results_dir", "device"):
        w.add_argument(name)
    w.add_argument("deadline", type=float)
    la = commands.add_parser("land", help="add an archive's finished runs to this store")
    la.add_argument("archive")
    la.add_argument("--results", default="results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        if args.command == "pack":
            manifest = pack(args.runs, args.out, args.results, args.data_dir)
            print(f"{len(manifest['runs'])} runs packed at {manifest['commit'][:12]} "
                  f"({manifest['skipped_here']} already finished or held here)")
        elif args.command == "train":
            if args.workers < 1 or args.deadline_s <= 0:
                raise OffloadError(f"--workers {args.workers} / --deadline-s {args.deadline_s}: "
                                   "both must be positive")
            print(json.dumps(train(args.bundle, args.out, args.device, args.workers,
                                   args.deadline_s, args.work_dir)))
        elif args.command == "worker":
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # train's deadline
            _worker(args.manifest, args.data_dir, args.results_dir, args.device, args.deadline)
        else:
            landed = land(args.archive, args.results)
            print(f"landed {len(landed['added'])} runs; {len(landed['kept'])} already here "
                  f"were kept: " + " ".join(landed["added"]))
    except (OffloadError, FileNotFoundError) as error:
        print(f"offload: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
