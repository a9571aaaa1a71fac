"""Speed benchmark: training-step time of each method, the machine's peak, the data pipeline.

Variants: ``dense`` (learned weights), ``edge-popup``, ``full-sort`` (edge-popup with the authors'
mask computation) and ``zhou`` (a Bernoulli mask sampled on every forward).

Every variant is timed in the same process on the same batch, round-robin after a warm-up, and
the median is kept, so the ratios compare like with like. The full-sort mask (the authors'
approach: sort every score of a layer on every forward) exists here only as the comparison point.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from . import provenance
from .allocator import keep_freed_memory
from .config import RunConfig
from .data import ImageTensors, epoch_batches
from .init import initialize
from .masks import EdgePopupMask, in_memory_order, mask_model
from .methods import get_method
from .models import DATASET_OF, NUM_CLASSES, build_model
from .files import atomic_write_json
from .train import resolve_device

__all__ = ["run_benchmark"]


class _FullSortMask(EdgePopupMask):
    """edge-popup with the authors' mask computation: a full sort of |scores| on every forward."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * _SortedTopK.apply(self.scores.abs(), self.k)


class _SortedTopK(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, k):
        return in_memory_order(scores, lambda flat: _sorted_flat(flat, k))

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def _sorted_flat(flat: torch.Tensor, k: float) -> torch.Tensor:
    mask = torch.zeros_like(flat)
    mask[flat.sort().indices[int((1 - k) * flat.numel()):]] = 1
    return mask


def _model(model: str, variant: str, device: torch.device) -> nn.Module:
    torch.manual_seed(0)
    net = build_model(model)
    if variant == "full-sort":
        mask_model(initialize(net, "signed_constant"), lambda weight: _FullSortMask(weight, 0.5))
    else:
        get_method(variant).prepare(net, RunConfig(model=model, method=variant,
                                                   dataset=DATASET_OF[model]))
    return net.to(device=device, memory_format=torch.channels_last)


def _step_fn(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.01,
                                momentum=0.9, weight_decay=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        optimizer.step()

    return step


def _timed(fn: Callable[[], None], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _step_flops(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Forward + backward FLOPs of one step (convolutions and matmuls), counted by PyTorch."""
    counter = FlopCounterMode(display=False)
    with counter:
        F.cross_entropy(net(x), y).backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def training_gflop_per_image(model: str) -> float:
    """Forward + backward GFLOP of one training image (convolutions and matmuls)."""
    net = _model(model, "dense", torch.device("cpu"))
    size = 224 if DATASET_OF[model] == "imagenet" else 32
    x = torch.randn(1, 3, size, size).contiguous(memory_format=torch.channels_last)
    return _step_flops(net, x, torch.zeros(1, dtype=torch.int64)) / 1e9


def matmul_gflops(device: torch.device, size: int = 4096, repeats: int = 5) -> float:
    """fp32 GFLOP/s of a large square matmul, best of ``repeats``: this machine's practical peak."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    times = [_timed(lambda: torch.mm(a, b), device) for _ in range(repeats + 1)][1:]
    return 2 * size**3 / min(times) / 1e9


def data_images_per_second(device: torch.device, images: int = 10_000, batch: int = 128) -> float:
    """Crop + flip + normalise throughput of the in-memory pipeline."""
    data = ImageTensors(torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8),
                        torch.randint(0, 10, (images,))).to(device)
    generator = torch.Generator().manual_seed(0)

    def epoch():
        for x, _ in epoch_batches(data, batch, generator, augment=True):
            pass

    epoch()
    return images / _timed(epoch, device)


def _paired_ratio(report: dict, model: str, slower: str, faster: str) -> float:
    """Median over rounds of the ratio of two variants timed back to back in the same round.

    On a shared machine the speed drifts by tens of percent over seconds; pairing cancels it.
    """
    times = report["models"][model]["times"]
    return statistics.median(a / b for a, b in zip(times[slower], times[faster]))


def run_benchmark(
    models: tuple[str, ...] = ("conv4",),
    variants: tuple[str, ...] = ("dense", "edge-popup", "full-sort", "zhou"),
    batch_size: int = 128,
    imagenet_batch_size: int = 16,
    repeats: int = 15,
    warmup: int = 2,
    device: str = "auto",
    out_dir: str | Path | None = "results/bench",
) -> dict:
    """Measure, write ``<out_dir>/<host>.json`` and return the numbers."""
    device = resolve_device(device)
    if device.type == "cpu":
        keep_freed_memory()  # as the trainer does
    peak = matmul_gflops(device)
    report: dict = {"host": socket.gethostname(), "device": provenance.device_name(device),
                    "git_commit": provenance.git_commit(), "versions": provenance.versions(),
                    "batch_size": batch_size, "repeats": repeats, "matmul_gflops": peak,
                    "models": {}}
    for model in models:
        imagenet = DATASET_OF[model] == "imagenet"
        batch = imagenet_batch_size if imagenet else batch_size
        size = 224 if imagenet else 32
        x = torch.randn(batch, 3, size, size, device=device).contiguous(
            memory_format=torch.channels_last)
        y = torch.randint(0, NUM_CLASSES[DATASET_OF[model]], (batch,), device=device)
        nets = {variant: _model(model, variant, device) for variant in variants}
        flops = _step_flops(nets[variants[0]], x, y)
        steps = {variant: _step_fn(net, x, y) for variant, net in nets.items()}
        times: dict[str, list[float]] = {variant: [] for variant in variants}
        for repeat in range(warmup + repeats):
            for variant, step in steps.items():
                seconds = _timed(step, device)
                if repeat >= warmup:
                    times[variant].append(seconds)
        rows = {}
        for variant in variants:
            seconds = statistics.median(times[variant])
            rows[variant] = {"step_s": seconds, "images_per_s": batch / seconds,
                             "gflops": flops / seconds / 1e9,
                             "peak_fraction": flops / seconds / 1e9 / peak}
        report["models"][model] = {"batch_size": batch, "image_size": size,
                                   "step_gflop": flops / 1e9, "variants": rows, "times": times}
        for faster, slower in (("dense", "edge-popup"), ("edge-popup", "full-sort")):
            if {faster, slower} <= set(variants):
                report["models"][model][f"{slower}_over_{faster}"] = _paired_ratio(
                    report, model, slower, faster)

    conv4 = report["models"].get("conv4", {}).get("variants", {})
    data_rate = data_images_per_second(device, batch=batch_size)
    report["data_images_per_s"] = data_rate
    if {"dense", "edge-popup"} <= conv4.keys():
        report["popup_over_dense"] = _paired_ratio(report, "conv4", "edge-popup", "dense")
        report["peak_fraction"] = conv4["edge-popup"]["peak_fraction"]
        report["data_over_train"] = data_rate / conv4["edge-popup"]["images_per_s"]
    if {"full-sort", "edge-popup"} <= conv4.keys():
        report["sort_over_popup"] = _paired_ratio(report, "conv4", "full-sort", "edge-popup")
    if out_dir is not None:
        atomic_write_json(report, Path(out_dir) / f"{report['host']}.json")
    return report


def format_report(report: dict) -> str:
    lines = [f"device: {report['device']}   matmul peak: {report['matmul_gflops']:.0f} GFLOP/s   "
             f"batch {report['batch_size']}, median of {report['repeats']}"]
    lines.append(f"{'model':16} {'batch':>5} {'variant':12} {'step ms':>9} {'img/s':>8} "
                 f"{'GFLOP/s':>8} {'of peak':>8}")
    for model, entry in report["models"].items():
        for variant, row in entry["variants"].items():
            lines.append(f"{model:16} {entry['batch_size']:5} {variant:12} {row['step_s'] * 1e3:9.1f} "
                         f"{row['images_per_s']:8.0f} {row['gflops']:8.0f} "
                         f"{row['peak_fraction']:8.1%}")
    lines.append(f"data pipeline: {report['data_images_per_s']:.0f} img/s")
    for model, entry in report["models"].items():
        ratios = [f"{key} {value:.3f}" for key, value in entry.items() if "_over_" in key]
        if ratios:
            lines.append(f"{model}: " + ", ".join(ratios))
    for key in ("popup_over_dense", "sort_over_popup", "peak_fraction", "data_over_train"):
        if key in report:
            lines.append(f"{key}: {report[key]:.3f}")
    return "\n".join(lines)
