"""The README's first commands, timed on a fresh clone, so that the README quotes a measurement.

``make fresh-clone`` clones this checkout's last commit into a temporary folder and runs there,
in order, what a newcomer runs: ``make setup``, ``make plots``, ``make figures`` (which trains
nothing without TRAIN=1) and, with ``--with-tests``, ``make test``. It records each command's
wall time, whether ``git status`` stayed clean after it, and the size of the ``.venv/`` it built,
in ``results/bench/fresh-clone.json``, which ``make report`` quotes in the README. Other work on
the machine slows it down: the record says how many CPUs the machine has and what ran beside it
(``--beside``).

Usage: ``python -m supermask.fresh_clone [--with-tests] [--beside TEXT] [--keep]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .boundary import entry_point
from .files import atomic_write_json
from .provenance import REPO_DIR, cpu_kind, git_commit

RECORD = REPO_DIR / "results" / "bench" / "fresh-clone.json"
STEPS = ("setup", "plots", "figures")


def _tree_bytes(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            file = Path(folder) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def _data_dir() -> Path | None:
    """The data folder the Makefile would find beside this checkout."""
    for candidate in (os.environ.get("DATA_DIR"), REPO_DIR.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate).resolve()
    return None


def measure(with_tests: bool, beside: str, keep: bool, log=print) -> dict:
    """Clone, run each step, and return the record (also written to :data:`RECORD`)."""
    commit = git_commit()
    workdir = Path(tempfile.mkdtemp(prefix="fresh-clone-"))
    clone = workdir / REPO_DIR.name
    subprocess.run(["git", "clone", "--quiet", str(REPO_DIR), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("SUPERMASK_CACHE", "VIRTUAL_ENV")}
    data = _data_dir()
    if data is not None:
        env["DATA_DIR"] = str(data)
    steps = []
    try:
        for step in STEPS + (("test",) if with_tests else ()):
            log(f"fresh clone: make {step} ...")
            start = time.monotonic()
            done = subprocess.run(
                ["make", "-s", step], cwd=clone, env=env, capture_output=True, text=True
            )
            seconds = time.monotonic() - start
            status = subprocess.run(
                ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True
            ).stdout
            steps.append(
                {
                    "command": f"make {step}",
                    "seconds": round(seconds, 1),
                    "exit_status": done.returncode,
                    "git_status_clean": status.strip() == "",
                }
            )
            log(f"fresh clone: make {step}: {seconds / 60:.1f} min, exit {done.returncode}")
            if done.returncode != 0:
                log(done.stdout[-2000:] + done.stderr[-2000:])
                break
        record = {
            "commit": commit,
            "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"
            ),
            "machine": f"{cpu_kind()}, {os.cpu_count()} CPUs",
            "beside": beside,
            "venv_bytes": _tree_bytes(clone / ".venv"),
            "steps": steps,
        }
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(record, RECORD)
    return record


def readme_paragraph(record: dict | None) -> str:
    """What the README says of the record: each command's time and whether git stayed clean."""
    if record is None:
        return "No fresh clone measured yet (`make fresh-clone`)."
    steps = {step["command"]: step for step in record["steps"]}

    def took(command: str) -> str:
        step = steps[command]
        minutes = f"{step['seconds'] / 60:.1f} min"
        return minutes if step["exit_status"] == 0 else f"{minutes}, then failed"

    parts = [
        f"`make setup` took {took('make setup')} and made a "
        f"{record['venv_bytes'] / 1e9:.1f} GB `.venv/`"
    ]
    parts += [f"`{command}` {took(command)}" for command in steps if command != "make setup"]
    clean = all(step["git_status_clean"] for step in record["steps"])
    beside = f", {record['beside']}" if record.get("beside") else ""
    return (
        f"On a fresh clone ({record['machine']}{beside}; commit {record['commit'][:7]}, "
        f"{record['measured_at'][:10]}), "
        + ", ".join(parts[:-1])
        + f" and {parts[-1]}"
        + (
            ", each leaving `git status` clean."
            if clean
            else "; `git status` was not clean after "
            + ", ".join(f"`{c}`" for c, s in steps.items() if not s["git_status_clean"])
            + "."
        )
    )


def read_record(path: Path = RECORD) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


@entry_point("python -m supermask.fresh_clone")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m supermask.fresh_clone", description=__doc__)
    parser.add_argument("--with-tests", action="store_true", help="also time make test")
    parser.add_argument("--beside", default="", help="what else ran on the machine meanwhile")
    parser.add_argument("--keep", action="store_true", help="keep the clone (path printed)")
    args = parser.parse_args(argv)
    record = measure(
        args.with_tests, args.beside, args.keep, log=lambda text: print(text, file=sys.stderr)
    )
    print(readme_paragraph(record))
    failed = [s for s in record["steps"] if s["exit_status"] != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
