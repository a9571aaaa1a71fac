"""A GPU lent for minutes, spent by one command: the GPU check first, then a bundle's runs.

On the lent machine, in a copy of the checkout with the bundle that ``make offload`` packed::

    PYTHONPATH=lib python3 -m supermask.runs.lease .offload --out OUT --deadline-s 540

runs :mod:`supermask.training.gpu_check` in a process of its own for at most ``--check-s``
seconds (it writes its report after every measurement, so one cut short keeps what it measured,
and a check that fails costs the runs nothing), logs the GPU's utilisation every 10 s to
``OUT/gpu-util.csv`` where ``nvidia-smi`` is there, trains the bundle's runs
(:func:`supermask.runs.offload.train`) until the deadline, and prints a short summary last, the
part of the output that comes back first. ``make land ARCHIVE=OUT/runs.tar.gz`` lands the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..boundary import entry_point
from ..provenance import LIB_DIR
from . import offload

__all__ = ["lease", "main"]

_MIN_TRAIN_S = 60.0  # less than this left after the check: no run could finish


def _check(out: Path, device: str, check_s: float) -> dict:
    """The GPU check in a process of its own, at most ``check_s`` seconds: its report (or
    what it wrote before it failed or was stopped) and how it ended."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(LIB_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    command = [sys.executable, "-m", "supermask.training.gpu_check", "--out", str(out)]
    started = time.monotonic()
    with open(out / "gpu-check.log", "w") as log:
        try:
            done = subprocess.run(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=check_s
            )
            ended = "finished" if done.returncode == 0 else f"failed (exit {done.returncode})"
        except subprocess.TimeoutExpired:
            ended = f"stopped at its limit of {check_s:g} s"
    reports = sorted(out.glob("*-gpu-check.json"))
    report = json.loads(reports[-1].read_text()) if reports else {}
    if reports:
        report["path"] = str(reports[-1])
    return {"ended": ended, "seconds": round(time.monotonic() - started, 1), "report": report}


def _utilisation(path: Path) -> subprocess.Popen | None:
    """``nvidia-smi`` writing the GPU's utilisation and memory every 10 s, where there is one."""
    if shutil.which("nvidia-smi") is None:
        return None
    with open(path, "w") as csv:  # the child keeps its own copy of the file open
        return subprocess.Popen(
            [
                "nvidia-smi",
                "--query-gpu=timestamp,utilization.gpu,memory.used,memory.total",
                "--format=csv",
                "-l",
                "10",
            ],
            stdout=csv,
            stderr=subprocess.DEVNULL,
        )


def lease(
    bundle: str | os.PathLike,
    out: str | os.PathLike,
    deadline_s: float = 540.0,
    device: str = "cuda",
    check_s: float = 240.0,
    stack: int | None = None,
    graphs: bool = True,
) -> dict:
    """The check, then the bundle's runs until ``deadline_s`` seconds after the call; what each
    did (also written to ``OUT/lease.json``)."""
    started = time.monotonic()
    offload.read_bundle(bundle)  # a wrong bundle is said before the check spends the lease
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    monitor = _utilisation(out / "gpu-util.csv")
    try:
        check = _check(out, device, min(check_s, deadline_s))
        left = deadline_s - (time.monotonic() - started)
        if left < _MIN_TRAIN_S:
            runs = {"skipped": f"{left:.0f} s left after the check"}
        else:
            try:
                runs = offload.train(
                    bundle, out, device, deadline_s=left, stack=stack, graphs=graphs
                )
            except offload.OffloadError as error:  # the check's table still comes back
                runs = {"skipped": str(error)}
    finally:
        if monitor is not None:
            monitor.terminate()
            monitor.wait()
    summary = {"check": check, "runs": runs, "seconds": round(time.monotonic() - started, 1)}
    (out / "lease.json").write_text(json.dumps(summary, indent=1))
    return summary


def format_summary(summary: dict) -> str:
    """The lease in a few lines: the check's table, then the runs."""
    from ..training.gpu_check import format_report

    check, runs = summary["check"], summary["runs"]
    lines = [f"gpu check: {check['ended']} after {check['seconds']:.0f} s"]
    if check["report"].get("device"):
        lines.append(format_report({"check_s": check["seconds"], **check["report"]}))
    if "skipped" in runs:
        lines.append(f"runs: none trained ({runs['skipped']})")
    else:
        lines.append(
            f"runs: {runs['finished']} of {runs['runs']} finished in {runs['seconds']:.0f} s "
            f"(commit {str(runs['commit'])[:12]}); land them with "
            f"make land ARCHIVE=<OUT>/runs.tar.gz"
        )
    return "\n".join(lines)


@entry_point("lease")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="the folder make offload packed (.offload)")
    parser.add_argument("--out", required=True, help="where the check, the runs and logs go")
    parser.add_argument("--deadline-s", type=float, default=540.0, help="the whole lease's time")
    parser.add_argument("--check-s", type=float, default=240.0, help="the check's limit")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--stack", type=int, default=None, help="runs per stack (default: 10)")
    parser.add_argument(
        "--no-graphs", dest="graphs", action="store_false", help="run every step eagerly"
    )
    args = parser.parse_args(argv)
    for name in ("deadline_s", "check_s"):
        value = getattr(args, name)
        if not value > 0:
            parser.error(f"--{name.replace('_', '-')} {value}: give a positive number of seconds")
    try:
        summary = lease(
            args.bundle,
            args.out,
            args.deadline_s,
            args.device,
            args.check_s,
            args.stack,
            args.graphs,
        )
    except offload.OffloadError as error:
        print(f"lease: {error}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
