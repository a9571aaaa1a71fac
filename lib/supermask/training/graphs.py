"""A training step's forward and backward replayed from one CUDA graph.

A Conv2 edge-popup step is about 150 small kernels, each paid at its launch cost on a GPU;
replayed from a graph they cost one launch. Only the forward and backward are captured: the
optimiser and its schedule step eagerly after each replay, on the gradients the graph leaves in
each parameter's ``.grad``, so the learning rate stays a plain float and checkpoints keep their
format. The first few full-size steps run eagerly on a side stream (the warm-up capture needs,
here real training steps); the next is captured and every full-size step after it replays the
graph on the batch copied into the graph's input. A batch of another size (an epoch's short last
one) runs eagerly, adding into the graph's gradient tensors. A capture that fails leaves the run
eager, with a warning.

Only edge-popup and dense, whose step is the same kernels on the same tensors every time, are
graphed. Zhou et al.'s step draws random numbers; IteRand redraws weights between steps, and
PaB's optimiser works outside the usual step: these train eagerly until each is checked.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["GRAPHABLE_METHODS", "GraphedGradients", "capture_cuda_graph", "use_graphs"]

log = logging.getLogger(__name__)

GRAPHABLE_METHODS = ("edge-popup", "dense")

Compute = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Capture = Callable[[Compute, torch.Tensor, torch.Tensor], tuple[object, tuple]]


def use_graphs(device: torch.device, method: str, graphs: bool | None = None) -> bool:
    """Whether a run of ``method`` on ``device`` replays its steps from a CUDA graph: by default
    on CUDA for the methods that can; ``graphs=False`` turns it off, and ``True`` asks for it
    (a ``ValueError`` where it cannot be)."""
    possible = device.type == "cuda" and method in GRAPHABLE_METHODS
    if graphs and not possible:
        raise ValueError(
            f"CUDA graphs need a CUDA device and one of {', '.join(GRAPHABLE_METHODS)}; "
            f"got {device.type} and {method!r}"
        )
    return possible if graphs is None else graphs


def capture_cuda_graph(compute: Compute, x: torch.Tensor, y: torch.Tensor) -> tuple[object, tuple]:
    """``compute(x, y)`` captured in a CUDA graph: (the graph, its outputs)."""
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = compute(x, y)
    return graph, outputs


@contextlib.contextmanager
def _on(side: torch.cuda.Stream | None):
    """Work on the ``side`` stream (on CUDA), which waits for the current one and is waited
    for after."""
    if side is None:
        yield
        return
    current = torch.cuda.current_stream(side.device)
    side.wait_stream(current)
    with torch.cuda.stream(side):
        yield
    current.wait_stream(side)


class GraphedGradients:
    """``compute(x, y)`` (forward and backward: it fills the parameters' ``.grad`` and returns
    the detached loss and the count of correct predictions) replayed from a graph once
    ``warmup_steps`` full-size steps ran eagerly. Call it where a step would zero the gradients
    and run ``compute``; the outputs it returns are overwritten by the next call.

    ``capture`` makes the graph (:func:`capture_cuda_graph`; tests pass one that runs
    ``compute`` again on each replay)."""

    def __init__(
        self,
        compute: Compute,
        parameters: list[torch.Tensor],
        device: torch.device,
        warmup_steps: int = 3,
        capture: Capture = capture_cuda_graph,
    ):
        self.compute, self.parameters = compute, list(parameters)
        self._side = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.warmup_steps, self.capture = warmup_steps, capture
        self.graph: Any = None
        self.failed: Exception | None = None
        self.eager_steps = 0
        self.replays = 0
        self._shape: tuple | None = None

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._shape is None:
            self._shape = (x.shape, x.stride(), x.dtype, y.shape, y.dtype)
        full = self._shape == (x.shape, x.stride(), x.dtype, y.shape, y.dtype)
        if full and self.graph is None and self.failed is None:
            if self.eager_steps >= self.warmup_steps:
                self._capture(x, y)
        if full and self.graph is not None:
            self._x.copy_(x)
            self._y.copy_(y)
            self.graph.replay()
            self.replays += 1
            return self._outputs
        if self.graph is None:
            for p in self.parameters:
                p.grad = None
            with _on(self._side):
                outputs = self.compute(x, y)
            self.eager_steps += full
            return outputs
        for p in self.parameters:  # the graph's own gradient tensors, kept for its replays
            if p.grad is not None:
                p.grad.zero_()
        return self.compute(x, y)

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> None:
        for p in self.parameters:  # the backward captured allocates them in the graph's pool
            p.grad = None
        self._x, self._y = x.clone(), y.clone()
        try:
            self.graph, self._outputs = self.capture(self.compute, self._x, self._y)
        except Exception as error:  # whatever the capture met: the run goes on eagerly
            self.failed, self.graph = error, None
            for p in self.parameters:
                p.grad = None
            log.warning(
                "CUDA graph capture failed (%s: %s); this run's steps run eagerly",
                type(error).__name__,
                error,
            )
