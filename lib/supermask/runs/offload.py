"""Train a list of runs on a machine lent for minutes (a GPU), and bring their records home.

The lent machine gets a copy of the working tree but not the data beside it, no git history and
none of the runs of this store. ``pack`` writes what it needs into one folder: the runs in the
order they should be trained, the commit they are trained at (the tree must be clean), and the
CIFAR-10 tree as one file. ``train``, there, rebuilds the tree, refuses to go on unless it
decodes to this store's data fingerprint, trains the runs in one process per device, runs that
differ only in their initial values as one stack (:mod:`supermask.training.stacked`), until a
deadline (a stack that could not finish by then is not started), and keeps an archive of every
finished run's record and mask up to date under ``--out``. ``land``, here, adds the
records of the runs this store does not hold yet and reports what it did.

    python -m supermask.runs.offload pack --runs campaigns/gpu-short.txt --out .offload
    python -m supermask.runs.offload train .offload --out "$OUT" --deadline-s 540
    python -m supermask.runs.offload land /path/to/runs.tar.gz

A runs file has one line per run: a profile name and the run's fields as JSON, the fields a
figure notebook gives ``Profile.apply`` (so the run has the hash the figure looks up).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from ..boundary import entry_point
from ..config import RunConfig, get_profile
from ..data.cifar10 import cifar10_identity, find_cifar10
from ..files import DigestError, atomic_write_json, check_real_dir, remove_stale_temporaries
from ..provenance import LIB_DIR, REPO_DIR, library_digest
from .records import CONFIG, RESULT, check_record, parse_config, parse_result
from .store import RunStore, holder_of
from .subnetwork import MASK

__all__ = ["OffloadError", "land", "pack", "read_runs", "train"]

log = logging.getLogger(__name__)

COMMIT_ENV = "SUPERMASK_GIT_COMMIT"
SHARED_ENV = "SUPERMASK_DEVICE_SHARED_BY"
_MANIFEST = "manifest.json"
_DATA_INDEX, _DATA_BLOB = "cifar10-index.json", "cifar10.bin"
_ARCHIVE = "runs.tar.gz"
_RECORD_FILES = (CONFIG, RESULT, MASK)  # the mask is there for the runs that have one
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
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        dirty = git("status", "--porcelain", "--", "lib", "pyproject.toml")
        head = git("rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError) as error:
        raise OffloadError(f"{repo} is not a git checkout ({error})") from None
    if dirty:
        raise OffloadError(
            f"commit first: the runs must be trained at a commit, and {repo} "
            f"differs from HEAD ({dirty.splitlines()[0].strip()} ...)"
        )
    return head


def pack(
    runs_file: str | os.PathLike,
    out: str | os.PathLike,
    results_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
) -> dict:
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
    remove_stale_temporaries(out / _DATA_BLOB)
    fd, temporary = tempfile.mkstemp(dir=out, prefix=f".{_DATA_BLOB}.", suffix=".tmp")
    try:  # the blob whole or not at all: a full disk leaves no partial cifar10.bin
        with os.fdopen(fd, "wb") as blob:
            for split in ("train", "test"):
                for path in sorted((root / split).rglob("*")):
                    if path.is_file() and not path.is_symlink():
                        data = path.read_bytes()
                        index.append([str(path.relative_to(root)), len(data)])
                        blob.write(data)
        os.replace(temporary, out / _DATA_BLOB)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    atomic_write_json(index, out / _DATA_INDEX)
    manifest = {
        "commit": commit,
        "library_sha256": library_digest(),
        "data_fingerprint": identity.fingerprint,
        "data_source": identity.source,
        "runs": [c.to_dict() for c in todo],
        "skipped_here": len(configs) - len(todo),
    }
    atomic_write_json(manifest, out / _MANIFEST)
    return manifest


def check_manifest(manifest: object, where: str = _MANIFEST) -> dict:
    """The bundle's manifest, checked before anything starts: a commit, the library digest, a
    data fingerprint, and runs that are run configs (a run the workers could not build would
    otherwise end the offload with nothing trained and exit 0)."""
    if not isinstance(manifest, dict):
        raise OffloadError(f"{where} is not a manifest (a JSON object)")
    _check_runs(manifest.get("runs"), where)
    if not isinstance(manifest.get("commit"), str) or not manifest["commit"]:
        raise OffloadError(f"{where}: no commit")
    fingerprint = manifest.get("data_fingerprint")
    if not isinstance(fingerprint, str) or not re.fullmatch("[0-9a-f]{64}", fingerprint):
        raise OffloadError(f"{where}: data_fingerprint {fingerprint!r} is not a SHA-256")
    return manifest


def _check_runs(runs: object, where: str) -> None:
    """A manifest's runs: a list of RunConfig fields that build a config each."""
    if not isinstance(runs, list):
        raise OffloadError(f"{where}: runs must be a list of run configs, got {runs!r}")
    for number, fields in enumerate(runs, 1):
        try:
            if not isinstance(fields, dict):
                raise TypeError(f"{fields!r} is not an object of RunConfig fields")
            RunConfig.from_dict(fields)
        except (ValueError, TypeError) as error:
            raise OffloadError(f"{where}: run {number}: {error}; nothing was trained") from None


def _data_index(bundle: Path, root: Path) -> list[tuple[Path, int]]:
    """The index of the packed data: (where each file goes, its size), every path confined
    under ``root`` and the sizes adding up to the blob's, checked before anything is written."""
    where = bundle / _DATA_INDEX
    try:
        index = json.loads(where.read_text())
    except ValueError as error:
        raise OffloadError(f"{where} is not JSON ({error})") from None
    if not isinstance(index, list):
        raise OffloadError(f"{where} is not a list of [path, size] entries")
    entries = []
    for entry in index:
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not isinstance(entry[0], str)
            or not isinstance(entry[1], int)
            or isinstance(entry[1], bool)
            or entry[1] < 0
        ):
            raise OffloadError(f"{where}: entry {entry!r} is not [path, size]")
        relative = Path(entry[0])
        if (
            relative.is_absolute()
            or not relative.parts
            or ".." in relative.parts
            or relative.parts[0] not in ("train", "test")
        ):
            raise OffloadError(
                f"{where}: path {entry[0]!r} leaves the data folder; nothing was written"
            )
        entries.append((root / relative, entry[1]))
    blob_size = (bundle / _DATA_BLOB).stat().st_size
    if sum(size for _, size in entries) != blob_size:
        raise OffloadError(
            f"{where}: its sizes add up to {sum(s for _, s in entries)} bytes, "
            f"{bundle / _DATA_BLOB} holds {blob_size}"
        )
    return entries


def _unpack_data(bundle: Path, root: Path) -> None:
    entries = _data_index(bundle, root)
    with open(bundle / _DATA_BLOB, "rb") as blob:
        for path, size in entries:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob.read(size))


def _archive(results_dir: Path, out: Path) -> int:
    """Write every finished run's config.json, result.json and mask.npz (its subnetwork, part
    of the record) to ``out/runs.tar.gz`` (replacing the last archive in one rename); the
    number of runs in it."""
    finished = sorted((results_dir / "runs").glob(f"*/{RESULT}"))
    temporary = out / f".{_ARCHIVE}.tmp"
    with tarfile.open(temporary, "w:gz") as tar:
        for result in finished:
            for name in _RECORD_FILES:
                path = result.parent / name
                if path.is_file():
                    tar.add(path, arcname=f"{result.parent.name}/{name}")
    os.replace(temporary, out / _ARCHIVE)
    return len(finished)


def read_bundle(bundle: str | os.PathLike) -> dict:
    """The bundle's manifest, checked, and checked to be packed from this copy's library; an
    ``OffloadError`` that says what is wrong, before anything is trained."""
    path = Path(bundle) / _MANIFEST
    if not path.is_file():
        raise OffloadError(f"{path} does not exist: give the folder make offload packed")
    try:
        manifest = check_manifest(json.loads(path.read_text()), str(path))
    except ValueError as error:
        raise OffloadError(f"{path}: {error}") from None
    packed, here = manifest.get("library_sha256"), library_digest()
    if packed is not None and packed != here:
        raise OffloadError(
            f"this copy's library (SHA-256 {here[:12]}) is not the one packed at "
            f"commit {manifest['commit'][:12]} ({packed[:12]}): its runs would "
            "record a commit they were not trained at; nothing was trained"
        )
    return manifest


def train(
    bundle: str | os.PathLike,
    out: str | os.PathLike,
    device: str = "cuda",
    workers: int = 1,
    deadline_s: float = 540.0,
    work_dir: str | os.PathLike | None = None,
    poll_s: float = 15.0,
    stack: int | None = None,
    graphs: bool = True,
) -> dict:
    """Train the bundle's runs on ``workers`` processes sharing ``device`` (one: its stacks
    keep the device busy, where processes would take turns on it), in stacks of up to
    ``stack`` runs (default: the sweep's), until ``deadline_s`` seconds after the call; the
    archive under ``out`` holds every run finished so far. ``graphs=False`` (``--no-graphs``)
    runs every step eagerly."""
    started = time.monotonic()
    bundle, out = Path(bundle), Path(out)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise OffloadError(f"--workers {workers!r}: give a whole number >= 1")
    from ..training.stacked import check_stack_size

    try:
        check_stack_size(stack, "--stack", none_ok=True)
    except ValueError as error:
        raise OffloadError(str(error)) from None
    if not isinstance(deadline_s, (int, float)) or not math.isfinite(deadline_s) or deadline_s <= 0:
        raise OffloadError(f"--deadline-s {deadline_s!r}: give a positive number of seconds")
    manifest = read_bundle(bundle)
    work = Path(work_dir or tempfile.mkdtemp(prefix="offload-"))
    data_dir, results_dir = work / "data" / "cifar10", work / "results"
    _unpack_data(bundle, data_dir)
    os.environ.setdefault("SUPERMASK_CACHE", str(work / "cache"))
    identity = cifar10_identity(data_dir, progress=False)  # decodes once, caches for the workers
    if identity.fingerprint != manifest["data_fingerprint"]:
        raise OffloadError(
            f"the data decodes to fingerprint {identity.fingerprint[:12]} here, "
            f"not {manifest['data_fingerprint'][:12]} as where it was packed "
            "(another JPEG decoder?); nothing was trained"
        )
    out.mkdir(parents=True, exist_ok=True)
    (results_dir / "speed").mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        COMMIT_ENV: manifest["commit"],
        SHARED_ENV: str(workers),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(LIB_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    deadline = time.time() + deadline_s - (time.monotonic() - started)
    command = [
        sys.executable,
        "-m",
        "supermask.runs.offload",
        "worker",
        str(bundle / _MANIFEST),
        str(data_dir),
        str(results_dir),
        device,
        str(deadline),
        *([] if stack is None else ["--stack", str(stack)]),
        *([] if graphs else ["--no-graphs"]),
    ]
    procs = [subprocess.Popen(command, env=env) for _ in range(workers)]
    log.info("%d workers on %d runs until %.0f s", workers, len(manifest["runs"]), deadline_s)
    try:
        while any(p.poll() is None for p in procs) and time.time() < deadline:
            time.sleep(poll_s)
            log.info(
                "%.0f s: %d runs finished", time.monotonic() - started, _archive(results_dir, out)
            )
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
    summary = {
        "finished": finished,
        "runs": len(manifest["runs"]),
        "workers": workers,
        "stack": stack,
        "seconds": round(time.monotonic() - started, 1),
        "commit": manifest["commit"],
    }
    atomic_write_json(summary, out / "summary.json")
    return summary


def _seconds_per_epoch(speed_dir: Path, config: RunConfig, size: int = 1) -> float | None:
    """The latest epoch time measured for a stack of ``size`` runs of ``config``'s model (any
    worker), or one scaled from another model's or stack size's (in proportion to the runs, an
    upper bound: a stack costs less per run than alone); None before any epoch has finished."""
    measured = {}
    for path in speed_dir.glob("*.json"):
        try:
            measured.update(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    key = f"{config.model}-{config.method}-x{size}"
    if key in measured:
        return measured[key]
    scaled = []
    for name, seconds in measured.items():
        model, _, stacked = name.partition("-")
        runs = int(stacked.rpartition("-x")[2]) if "-x" in stacked else 1
        scaled.append(
            seconds
            / _RELATIVE_COST.get(model, 1.0)
            * _RELATIVE_COST.get(config.model, 1.0)
            * max(1.0, size / runs)
        )
    return max(scaled) if scaled else None


def _worker(
    manifest_path: str,
    data_dir: str,
    results_dir: str,
    device: str,
    deadline: float,
    stack: int | None = None,
    graphs: bool = True,
) -> None:
    """Train the manifest's runs in order, in stacks of up to ``stack`` (default: the sweep's),
    taking those no other worker holds, starting a stack only if the epoch times measured so
    far say it ends before ``deadline``; each step replayed from a CUDA graph unless ``graphs``
    is False."""
    from ..training.stacked import group_stacks
    from .sweep import default_stack, sweep

    manifest = json.loads(Path(manifest_path).read_text())
    _check_runs(manifest.get("runs") if isinstance(manifest, dict) else None, manifest_path)
    size = default_stack(device) if stack is None else stack
    speed_dir = Path(results_dir) / "speed"
    own = speed_dir / f"{os.getpid()}.json"
    times: dict[str, float] = {}
    for group in group_stacks([RunConfig(**fields) for fields in manifest["runs"]], size):
        config = group[0]
        per_epoch = _seconds_per_epoch(speed_dir, config, len(group))
        if per_epoch is not None and time.time() + 1.15 * per_epoch * config.epochs > deadline:
            continue
        key = f"{config.model}-{config.method}-x{len(group)}"
        last = {"at": time.monotonic(), "epoch": 0}

        def on_epoch(member: RunConfig, entry: dict, key=key, last=last) -> None:
            if entry["epoch"] == last["epoch"]:
                return  # the stack's epoch was timed at its first member
            now = time.monotonic()
            times[key] = now - last["at"]
            last.update(at=now, epoch=entry["epoch"])
            atomic_write_json(times, own)

        sweep(
            group,
            results_dir=results_dir,
            data_dir=data_dir,
            device=device,
            progress=False,
            wait=False,
            on_epoch=on_epoch,
            stack=size,
            graphs=None if graphs else False,
        )


def _run_name(name: str) -> bool:
    """Whether ``name`` is one plain folder name (no path, no ``..``)."""
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)) and name not in (".", "..")


def _check_mask(archive, name: str, result: dict, mask: bytes | None) -> None:
    """A record's mask is the one its result names (by SHA-256), or absent when it names none."""
    expected = result.get("mask_sha256")
    if mask is None:
        if expected is not None:
            raise OffloadError(
                f"{archive}: run {name} names a mask ({expected[:12]}) that the archive "
                "lacks; nothing landed"
            )
        return
    digest = hashlib.sha256(mask).hexdigest()
    if digest != expected:
        raise OffloadError(
            f"{archive}: run {name}'s mask.npz has SHA-256 {digest[:12]}, its record "
            f"names {str(expected)[:12]}; nothing landed"
        )


def land(
    archive: str | os.PathLike, results_dir: str | os.PathLike, data_fingerprint: str | None = None
) -> dict[str, list[str]]:
    """Add the archive's finished runs to the store under ``results_dir``, all or nothing.

    Every record and every target is checked before anything is written: a member is
    ``<run>/config.json`` or ``<run>/result.json`` of a plain run folder name; a record is
    whole (its config hashes to its folder, its result names that hash and the data the folder
    names) and, given ``data_fingerprint``, trained on this store's data; a target is a real
    directory (not a link) or absent, and no live worker holds its claim. A run the store
    already holds is kept as it is. Returns the run names added and kept."""
    runs = Path(results_dir) / "runs"
    added, kept = [], []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {}
            for member in tar.getmembers():
                name, _, file = member.name.rstrip("/").partition("/")
                if member.isdir() and _run_name(name) and not file:
                    continue  # a run folder's own entry
                if not member.isfile() or not _run_name(name) or file not in _RECORD_FILES:
                    raise OffloadError(
                        f"{archive}: member {member.name!r} is not a run's "
                        "config.json, result.json or mask.npz; nothing landed"
                    )
                members[member.name] = member
            names = sorted({name.split("/")[0] for name in members})
            records = {}
            for name in names:
                try:
                    config = parse_config(json.load(tar.extractfile(members[f"{name}/{CONFIG}"])))
                    result = parse_result(json.load(tar.extractfile(members[f"{name}/{RESULT}"])))
                except (KeyError, ValueError, TypeError) as error:
                    raise OffloadError(
                        f"{archive}: run {name} is not a whole record ({error}); nothing landed"
                    ) from None
                try:
                    check_record(name, config, result)
                except ValueError as error:
                    raise OffloadError(
                        f"{archive}: run {name} does not hash to its folder "
                        f"({error}); nothing landed"
                    ) from None
                trained_on = result.get("data_fingerprint")
                if data_fingerprint is not None and trained_on != data_fingerprint:
                    raise OffloadError(
                        f"{archive}: run {name} was trained on data "
                        f"{str(trained_on)[:12]}, not this store's "
                        f"{data_fingerprint[:12]}; nothing landed"
                    )
                records[name] = {
                    file: tar.extractfile(members[f"{name}/{file}"]).read()
                    for file in _RECORD_FILES
                    if f"{name}/{file}" in members
                }
                _check_mask(archive, name, result, records[name].get(MASK))
    except (tarfile.TarError, OSError, EOFError) as error:
        raise OffloadError(f"{archive} is not a readable runs archive ({error})") from None
    for name in names:  # every target checked before the first is written
        target = runs / name
        try:
            check_real_dir(target, "run directory")
        except DigestError as error:
            raise OffloadError(f"{error}; nothing landed") from None
        if (target / RESULT).exists() or (target / RESULT).is_symlink():
            kept.append(name)
            continue
        for file in _RECORD_FILES:
            if (target / file).is_symlink() or (target / file).is_dir():
                raise OffloadError(
                    f"{target / file} is a link or a directory where the run's "
                    f"{file} goes; nothing landed"
                )
        holder = holder_of(target) if target.is_dir() else None
        if holder is not None:
            raise OffloadError(
                f"{target} is being trained now by {holder}; land once it is "
                "done or stopped; nothing landed"
            )
        added.append(name)
    staged = []
    try:
        for name in added:
            (runs / name).mkdir(parents=True, exist_ok=True)
            for file in records[name]:
                temporary = runs / name / f".{file}.landing.tmp"
                with open(temporary, "wb") as f:
                    f.write(records[name][file])
                    f.flush()
                    os.fsync(f.fileno())
                staged.append((temporary, runs / name / file))
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        for name in added:
            for file in _RECORD_FILES:
                (runs / name / f".{file}.landing.tmp").unlink(missing_ok=True)
        raise
    for temporary, path in staged:  # configs and masks before results: a run is finished last
        if path.name != RESULT:
            os.replace(temporary, path)
    for temporary, path in staged:
        if path.name == RESULT:
            os.replace(temporary, path)
    return {"added": added, "kept": kept}


@entry_point("offload")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m supermask.runs.offload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    t.add_argument(
        "--workers", type=int, default=1, help="processes sharing the device (default: 1)"
    )
    t.add_argument(
        "--stack",
        type=int,
        default=None,
        help="runs trained as one stack (default: 10 on CUDA, 1 on a CPU; 1: each alone)",
    )
    t.add_argument(
        "--no-graphs",
        dest="graphs",
        action="store_false",
        help="run every step eagerly (default: replayed from a CUDA graph on CUDA)",
    )
    t.add_argument("--deadline-s", type=float, default=540.0)
    t.add_argument("--work-dir", default=None)
    w = commands.add_parser("worker")  # one of train's processes
    for name in ("manifest", "data_dir", "results_dir", "device"):
        w.add_argument(name)
    w.add_argument("deadline", type=float)
    w.add_argument("--stack", type=int, default=None)
    w.add_argument("--no-graphs", dest="graphs", action="store_false")
    la = commands.add_parser("land", help="add an archive's finished runs to this store")
    la.add_argument("archive")
    la.add_argument("--results", default="results")
    la.add_argument(
        "--data-dir",
        default=os.environ.get("DATA_DIR"),
        help="this store's CIFAR-10: runs trained on other data are refused (default: $DATA_DIR)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        if args.command == "pack":
            manifest = pack(args.runs, args.out, args.results, args.data_dir)
            print(
                f"{len(manifest['runs'])} runs packed at {manifest['commit'][:12]} "
                f"({manifest['skipped_here']} already finished or held here)"
            )
        elif args.command == "train":
            print(
                json.dumps(
                    train(
                        args.bundle,
                        args.out,
                        args.device,
                        args.workers,
                        args.deadline_s,
                        args.work_dir,
                        stack=args.stack,
                        graphs=args.graphs,
                    )
                )
            )
        elif args.command == "worker":
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # train's deadline
            _worker(
                args.manifest,
                args.data_dir,
                args.results_dir,
                args.device,
                args.deadline,
                args.stack,
                args.graphs,
            )
        else:
            fingerprint = (
                cifar10_identity(args.data_dir, progress=False).fingerprint
                if args.data_dir
                else None
            )
            landed = land(args.archive, args.results, fingerprint)
            print(
                f"landed {len(landed['added'])} runs; {len(landed['kept'])} already here "
                f"were kept: " + " ".join(landed["added"])
            )
    except (OffloadError, FileNotFoundError) as error:
        print(f"offload: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
