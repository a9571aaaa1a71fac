"""The check to run first on a lent GPU (``make gpu-check``): a few minutes that say whether the
GPU engine is right and how fast it is, written to ``results/bench/<host>-gpu-check.json``.

On CUDA it measures, for Conv2 and Conv4 edge-popup in fp32 and bf16: a single run's step time
through the training loop's own step and feed, eager and replayed from a CUDA graph (and
whether the graphed run ends where the eager one does); a stack's (:mod:`.stacked`) run-steps per
second and epochs per second per run at several stack sizes; whether a single run's epoch
runs without one host wait (``torch.cuda.set_sync_debug_mode("error")``); and how far a
stacked run strays from its single twin over 50 fp32 steps (mask bits differing, largest
relative score error). Without CUDA it says so in one line, checks the stack against its twins
in float64 at a tiny width on the CPU, and writes what it measured; the test suite runs it so.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .. import provenance
from ..config import RunConfig
from ..data.cifar10 import ImageTensors
from ..files import atomic_write_json
from ..masks import masked_layers
from .cifar10 import in_memory_feed
from .device import set_matmul_precision
from .loop import Feed, Processes, _epoch_steps, _epoch_test_accuracy, _Run, _start, build
from .methods import get_method
from .stacked import Stack, Stacked

__all__ = [
    "agreement",
    "graph_agreement",
    "latest_cuda_report",
    "readme_paragraph",
    "run_check",
    "time_single",
    "time_stack",
]

log = logging.getLogger(__name__)

CIFAR10_TRAIN = 50_000
CIFAR10_TEST = 10_000
STACK_SIZES = (1, 4, 10, 20)


def _images(n: int, device: torch.device) -> ImageTensors:
    generator = torch.Generator().manual_seed(0)
    return ImageTensors(
        torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator),
        torch.randint(0, 10, (n,), generator=generator),
    ).to(device)


def _config(
    model: str,
    precision: str,
    seed: int = 0,
    width: float = 1.0,
    epochs: int = 2,
    method: str = "edge-popup",
) -> RunConfig:
    return RunConfig(
        model=model, method=method, precision=precision, seed=seed, width=width, epochs=epochs
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_single(
    model: str, precision: str, device: torch.device, steps: int = 30, graphs: bool = False
) -> dict:
    """A single run's seconds per step over an epoch of ``steps`` steps (after one warm-up
    epoch, in which a graphed run captures its step), through the loop's own step and feed, and
    the seconds of the learning curve's evaluation of the 10,000 test images (each run of a
    stack makes its own)."""
    config = _config(model, precision)
    data = _images(steps * config.batch_size, device)
    feed = in_memory_feed(config, data, data)
    run = _start(config, feed, device, None, graphs)
    bar = tqdm(disable=True)
    _epoch_steps(run, config, feed, 0, device, Processes(), bar)
    _sync(device)
    started = time.perf_counter()
    _epoch_steps(run, config, feed, 1, device, Processes(), bar)
    _sync(device)
    step_s = (time.perf_counter() - started) / steps
    _epoch_test_accuracy(run.method, run.model, config, 1, feed.test, device, None)
    _sync(device)
    started = time.perf_counter()
    _epoch_test_accuracy(run.method, run.model, config, 2, feed.test, device, None)
    _sync(device)
    timing = {
        "step_s": step_s,
        "images_per_s": config.batch_size / step_s,
        "epoch_s": step_s * CIFAR10_TRAIN / config.batch_size,
        "eval_s": (time.perf_counter() - started) * CIFAR10_TEST / len(data),
    }
    if run.graphed is not None:
        timing["graph_captured"] = run.graphed.graph is not None
        if run.graphed.failed is not None:
            timing["graph_error"] = f"{type(run.graphed.failed).__name__}: {run.graphed.failed}"
    return timing


def graph_agreement(model: str, device: torch.device, steps: int = 30) -> dict:
    """A single fp32 run trained ``steps`` steps with its step replayed from a CUDA graph
    against the same run trained eagerly: mask bits differing and the largest relative score
    error at the end (replays run the eager kernels, so 0 is expected)."""
    config = _config(model, "fp32")
    data = _images(steps * config.batch_size, device)
    feed = in_memory_feed(config, data, data)
    runs = []
    for graphs in (False, True):
        run = _start(config, feed, device, None, graphs)
        _epoch_steps(run, config, feed, 0, device, Processes(), tqdm(disable=True))
        runs.append(run)
    eager, graphed = runs
    differ = total = 0
    worst = 0.0
    for (_, _, a), (_, _, b) in zip(masked_layers(eager.model), masked_layers(graphed.model)):
        differ += int((a.mask() != b.mask()).sum())
        total += a.scores.numel()
        worst = max(worst, ((a.scores - b.scores).abs().max() / a.scores.abs().max()).item())
    return {
        "model": model,
        "steps": steps,
        "graph_captured": graphed.graphed is not None and graphed.graphed.graph is not None,
        "mask_bits": total,
        "bits_differing": differ,
        "max_relative_score_error": worst,
    }


def time_stack(
    model: str,
    precision: str,
    size: int,
    device: torch.device,
    steps: int = 30,
    graphs: bool | None = None,
) -> dict:
    """A stack of ``size`` runs (its step graphed as training graphs it, unless ``graphs``
    says): seconds per stacked step and per run-step, and the epochs per second that the stack
    trains in all."""
    configs = [_config(model, precision, seed=seed) for seed in range(size)]
    data = _images(steps * configs[0].batch_size, device)
    feeds = [in_memory_feed(c, data, data, torch.contiguous_format) for c in configs]
    stacked = Stacked(Stack(configs, device, 2 * steps, graphs=graphs), feeds)
    stacked.train_epoch(0)
    _sync(device)
    started = time.perf_counter()
    stacked.train_epoch(1)
    _sync(device)
    step_s = (time.perf_counter() - started) / steps
    per_run = step_s / size
    graphed = stacked.stack.graphed
    return {
        "stack_size": size,
        "graphed": graphed is not None and graphed.graph is not None,
        "step_s": step_s,
        "run_step_s": per_run,
        "images_per_s": configs[0].batch_size / per_run,
        "epoch_s_per_run": per_run * CIFAR10_TRAIN / configs[0].batch_size,
        "epochs_per_s": 1 / (per_run * CIFAR10_TRAIN / configs[0].batch_size),
    }


def sync_free(device: torch.device) -> dict:
    """Whether a single edge-popup run's epoch of steps runs without making the host wait."""
    config = _config("conv2", "fp32", width=0.25)
    data = _images(4 * config.batch_size, device)
    feed = in_memory_feed(config, data, data)
    run = _start(config, feed, device, None, graphs=False)
    _sync(device)
    torch.cuda.set_sync_debug_mode("error")
    try:
        _epoch_steps(run, config, feed, 0, device, Processes(), tqdm(disable=True))
        return {"sync_free": True}
    except RuntimeError as error:
        return {"sync_free": False, "error": str(error).splitlines()[0]}
    finally:
        torch.cuda.set_sync_debug_mode("default")


def agreement(
    model: str,
    device: torch.device,
    size: int = 4,
    steps: int = 50,
    dtype: torch.dtype = torch.float32,
    width: float = 1.0,
    batch_size: int = 128,
) -> dict:
    """A stack of ``size`` edge-popup runs against each run trained alone, over ``steps``
    steps: mask bits differing at the last step and in all, the first step where one did,
    and the largest relative score error."""
    configs = [
        RunConfig(
            model=model,
            method="edge-popup",
            seed=seed,
            width=width,
            epochs=1,
            batch_size=batch_size,
        )
        for seed in range(size)
    ]
    data = _images(steps * batch_size, device)
    batches = [
        list(in_memory_feed(c, data, data, torch.contiguous_format).epoch(0)) for c in configs
    ]
    stack = Stack(configs, device, steps, dtype=dtype)
    twins = []
    for config in configs:
        net = build(config).to(device=device, dtype=dtype, memory_format=torch.channels_last)
        method = get_method(config.method)
        twins.append((config, _Run(method, net, net, method.optimizers(net, config, steps))))
    flipped = total = last = 0
    first = None
    worst = 0.0
    for step in range(steps):
        stack.step(
            torch.stack([b[step][0][0] for b in batches]).to(dtype),
            torch.stack([b[step][0][1] for b in batches]),
        )
        last = 0
        for i, (config, twin) in enumerate(twins):
            x, y = batches[i][step][0]
            x = x.to(dtype).contiguous(memory_format=torch.channels_last)
            feed = Feed(steps, lambda _, x=x, y=y: [[(x, y)]], data)
            _epoch_steps(twin, config, feed, step, device, Processes(), tqdm(disable=True))
            member = stack.member(i)
            for (_, _, mask), (_, _, alone) in zip(
                masked_layers(member), masked_layers(twin.model)
            ):
                differ = int((mask.mask() != alone.mask()).sum())
                last += differ
                total += mask.scores.numel() if step == steps - 1 else 0
                error = ((mask.scores - alone.scores).abs().max() / alone.scores.abs().max()).item()
                worst = max(worst, error)
        flipped += last
        if last and first is None:
            first = step + 1
    return {
        "model": model,
        "stack_size": size,
        "steps": steps,
        "dtype": str(dtype),
        "width": width,
        "mask_bits": total,
        "bits_differing_last_step": last,
        "bits_differing_all_steps": flipped,
        "first_step_differing": first,
        "max_relative_score_error": worst,
    }


def _measured(fn, *args, **kwargs) -> dict:
    """``fn``'s measurement, or the error that stopped it: one failure leaves the others."""
    try:
        return fn(*args, **kwargs)
    except Exception as error:
        log.warning("%s failed: %s: %s", fn.__name__, type(error).__name__, error)
        first_line = (str(error).splitlines() or [""])[0]
        return {"error": f"{type(error).__name__}: {first_line}"}


def run_check(
    out_dir: str | Path,
    device: torch.device | None = None,
    models: tuple[str, ...] = ("conv2", "conv4"),
    stack_sizes: tuple[int, ...] = STACK_SIZES,
) -> dict:
    """Everything above on ``device`` (CUDA when there is one), written to
    ``<out_dir>/<host>-gpu-check.json`` after each measurement (a check cut short keeps what
    it measured); the report."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    set_matmul_precision(device)
    started = time.perf_counter()
    report: dict = {
        "host": socket.gethostname().split(".")[0],
        "device": provenance.device_name(device),
        "git_commit": provenance.git_commit(),
        "versions": provenance.versions(),
        "cuda": device.type == "cuda",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = Path(out_dir) / f"{report['host']}-gpu-check.json"
    path.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        report["check_s"] = time.perf_counter() - started
        atomic_write_json(report, path)

    if device.type != "cuda":
        report["skipped"] = "no CUDA device: step times, stacks and the host-wait check skipped"
        report["agreement"] = [
            agreement(
                "conv2", device, size=3, steps=3, dtype=torch.float64, width=0.125, batch_size=16
            )
        ]
    else:
        report["sync_free_epoch"] = _measured(sync_free, device)
        report["timings"] = {}
        for model in models:
            for precision in ("fp32", "bf16"):
                entry = {
                    "single": _measured(time_single, model, precision, device),
                    "single_graphed": _measured(time_single, model, precision, device, graphs=True),
                    "stacks": [],
                }
                report["timings"][f"{model}-{precision}"] = entry
                for size in stack_sizes:
                    stack = _measured(time_stack, model, precision, size, device)
                    entry["stacks"].append({"stack_size": size, **stack})
                    save()
                log.info("%s %s: %s", model, precision, entry)
        report["agreement"] = [_measured(agreement, model, device) for model in models]
        save()
        report["graph_agreement"] = [_measured(graph_agreement, model, device) for model in models]
    save()
    report["path"] = str(path)
    return report


def _ms(entry: dict, key: str, unit: str = "ms/step") -> str:
    """``entry[key]`` seconds as milliseconds, or the error that stopped its measurement."""
    return f"error ({entry['error']})" if "error" in entry else f"{entry[key] * 1e3:.2f} {unit}"


def format_report(report: dict) -> str:
    """The report as a few lines for a terminal."""
    lines = [f"gpu-check on {report['device']} ({report['check_s']:.0f} s): {report['path']}"]
    if "skipped" in report:
        lines.append(f"skipped: {report['skipped']}")
    if "sync_free_epoch" in report:
        lines.append(f"epoch without a host wait: {report['sync_free_epoch']}")
    for name, entry in report.get("timings", {}).items():
        single, graphed = entry["single"], entry["single_graphed"]
        stacks = ", ".join(
            f"N={s['stack_size']}: {_ms(s, 'run_step_s', 'ms/run-step')}"
            + (f" ({s['epochs_per_s']:.2f} epochs/s)" if "error" not in s else "")
            for s in entry["stacks"]
        )
        captured = "error" in graphed or graphed.get("graph_captured")
        evaluation = f" (eval {single['eval_s']:.2f} s)" if "eval_s" in single else ""
        lines.append(
            f"{name}: single {_ms(single, 'step_s')}{evaluation}, graphed {_ms(graphed, 'step_s')}"
            f"{'' if captured else ' (capture failed: eager)'}; stacked {stacks}"
        )
    for a in report.get("agreement", []):
        if "error" in a:
            lines.append(f"stack vs single twins: error ({a['error']})")
            continue
        lines.append(
            f"stack of {a['stack_size']} {a['model']} vs single twins, {a['steps']} "
            f"{a['dtype']} steps: {a['bits_differing_last_step']} of {a['mask_bits']} "
            f"mask bits differ at the end (first at step {a['first_step_differing']}), "
            f"max relative score error {a['max_relative_score_error']:.1e}"
        )
    for g in report.get("graph_agreement", []):
        if "error" in g:
            lines.append(f"graphed vs eager: error ({g['error']})")
            continue
        lines.append(
            f"{g['model']} graphed vs eager, {g['steps']} fp32 steps: {g['bits_differing']} of "
            f"{g['mask_bits']} mask bits differ, max relative score error "
            f"{g['max_relative_score_error']:.1e}"
            f"{'' if g['graph_captured'] else ' (capture failed)'}"
        )
    return "\n".join(lines)


def latest_cuda_report(bench_dir: str | Path) -> dict | None:
    """The newest report of a check that ran on CUDA under ``bench_dir``, or None."""
    reports = []
    for path in Path(bench_dir).glob("*-gpu-check.json"):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if report.get("cuda") and report.get("timings"):
            reports.append(report)
    return max(reports, key=lambda r: r.get("measured_at", "")) if reports else None


def _run_epoch_s(report: dict, config: RunConfig, stack: int) -> tuple[float, bool] | None:
    """Seconds of one run's epoch of ``config`` in a stack of ``stack`` (or the largest measured
    below it) in the report, and whether it was scaled from another model by training GFLOP
    per image (the report times Conv2 and Conv4 only)."""
    from .bench import training_gflop_per_image

    def measured(model: str) -> float | None:
        entry = report["timings"].get(f"{model}-{config.precision}", {})
        stacks = [s for s in entry.get("stacks", []) if "error" not in s]
        fitting = [s for s in stacks if s["stack_size"] <= stack] or stacks
        if not fitting:
            return None
        best = max(fitting, key=lambda s: s["stack_size"])
        return best["run_step_s"]

    steps = -(-CIFAR10_TRAIN // config.batch_size)
    own = measured(config.model)
    if own is not None:
        return own * steps * config.width**2, False
    for model in ("conv4", "conv2"):
        other = measured(model)
        if other is not None:
            ratio = training_gflop_per_image(config.model) / training_gflop_per_image(model)
            return other * ratio * steps * config.width**2, True
    return None


def _eval_s(report: dict, config: RunConfig) -> float:
    """The learning curve's evaluation of one epoch of ``config`` (each stacked run makes its
    own): the single run's measured eval, Conv4's for a model not timed, 0 where none was."""
    for model in (config.model, "conv4", "conv2"):
        single = report["timings"].get(f"{model}-{config.precision}", {}).get("single", {})
        if "eval_s" in single:
            return single["eval_s"] * config.width**2
    return 0.0


def readme_paragraph(report: dict | None, figure3_paper: list[RunConfig], stack: int = 10) -> str:
    """What the README says of the GPU engine: the newest CUDA check's step times and what
    Figure 3 at the paper protocol (``figure3_paper``, its grid) would take on that card."""
    if report is None:
        return (
            "No GPU has measured this code yet: the first lent GPU runs `make gpu-check` "
            "(through `python -m supermask.runs.lease`, docs/RUNNING.md), and this paragraph "
            "then gives its step times and what Figure 3 at the paper protocol takes on it."
        )
    conv4 = report["timings"].get("conv4-bf16", {})

    def ms(entry: dict) -> str:
        return "failed" if "error" in entry else f"{entry['step_s'] * 1e3:.2f} ms"

    parts = []
    if conv4:
        stacked = [
            s for s in conv4.get("stacks", []) if s["stack_size"] == stack and "error" not in s
        ]
        parts.append(
            f"a Conv4 edge-popup step in bf16 took {ms(conv4['single'])} alone, "
            f"{ms(conv4['single_graphed'])} replayed from a CUDA graph"
            + (
                f", and {stacked[0]['run_step_s'] * 1e3:.2f} ms per run in a stack of {stack} "
                f"({stacked[0]['images_per_s']:,.0f} images/s)"
                if stacked
                else ""
            )
        )
    seconds, scaled, unknown = 0.0, False, 0
    evaluated = any("eval_s" in entry.get("single", {}) for entry in report["timings"].values())
    for config in figure3_paper:
        per_epoch = _run_epoch_s(report, config, stack)
        if per_epoch is None:
            unknown += 1
            continue
        seconds += (per_epoch[0] + _eval_s(report, config)) * config.epochs
        scaled |= per_epoch[1]
    cost = (
        f"Figure 3 at the paper protocol ({len(figure3_paper)} runs of "
        f"{max(c.epochs for c in figure3_paper)} epochs) would take about "
        f"{seconds / 3600:.1f} GPU-hours of training steps on it in stacks of {stack}"
        + (" (Conv6 and Conv8 scaled from Conv4 by their training GFLOP)" if scaled else "")
        + (f", {unknown} runs not estimated" if unknown else "")
        + (
            ", each epoch's test evaluation included"
            if evaluated
            else ", each epoch's test evaluation not counted"
        )
    )
    return (
        f"Measured by `make gpu-check` on {report['device']} (commit {report['git_commit'][:7]}"
        f"{', ' + report['measured_at'][:10] if report.get('measured_at') else ''}): "
        + "; ".join(parts)
        + f". {cost}."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/bench", help="folder of the JSON report")
    args = parser.parse_args(argv)
    print(format_report(run_check(args.out)))


if __name__ == "__main__":
    main()
