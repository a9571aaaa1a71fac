"""The CUDA-graph step's bookkeeping, checked on the CPU with a stand-in graph.

A real CUDA graph replays the captured kernels on the same tensors; the stand-in runs the
captured computation again on the graph's own input tensors, its gradients written afresh as a
replay writes them. So a run through the graphed path must end exactly where the eager run ends:
that catches a batch not copied into the graph's input, gradients dropped or left stale between
replays, a short last batch added onto the previous step's gradients, and a failed capture that
stops the run instead of leaving it eager.
"""

import pytest
import torch
from tqdm.auto import tqdm

from supermask.config import RunConfig
from supermask.data.cifar10 import ImageTensors
from supermask.training.cifar10 import in_memory_feed
from supermask.training.graphs import GraphedGradients, use_graphs
from supermask.training.loop import Processes, _epoch_steps, _gradients, _start
from supermask.training.stacked import Stack, Stacked

CPU = torch.device("cpu")


class _Replay:
    """Stands in for a CUDA graph of ``compute`` on (x, y): each replay computes afresh on
    those tensors and writes its outputs into the same output tensors."""

    def __init__(self, compute, x, y, parameters):
        self.compute, self.x, self.y, self.parameters = compute, x, y, parameters
        self.outputs = tuple(torch.zeros_like(t) for t in compute(x, y))
        self.replays = 0

    def replay(self):
        grads = [p.grad for p in self.parameters]
        for p in self.parameters:
            p.grad = None
        for output, value in zip(self.outputs, self.compute(self.x, self.y), strict=True):
            output.copy_(value)
        for p, grad in zip(self.parameters, grads, strict=True):
            if grad is not None:  # the graph's gradient tensors keep their place
                grad.copy_(p.grad)
                p.grad = grad
        self.replays += 1


def _stand_in(parameters, fail=False):
    def capture(compute, x, y):
        if fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        graph = _Replay(compute, x, y, parameters)
        for p in parameters:  # capturing records the kernels without running them
            p.grad = None
        graph.replay()
        graph.replays = 0
        return graph, graph.outputs

    return capture


def _data(n: int) -> ImageTensors:
    generator = torch.Generator().manual_seed(0)
    return ImageTensors(
        torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator),
        torch.randint(0, 10, (n,), generator=generator),
    )


def _config(method="edge-popup", seed=0):
    return RunConfig(model="conv2", method=method, width=0.125, seed=seed, epochs=2, batch_size=16)


def _state(model):
    return {name: value.clone() for name, value in model.state_dict().items()}


@pytest.mark.parametrize("method", ["edge-popup", "dense"])
@pytest.mark.parametrize("fail", [False, True])
def test_a_graphed_run_ends_where_the_eager_run_ends(method, fail):
    """88 images in batches of 16: five full steps and a short one an epoch, so the graph is
    captured at the fourth step and replayed across epochs around the short batch."""
    config, data = _config(method), _data(88)
    feed = in_memory_feed(config, data, data)
    ends = []
    for graphed in (False, True):
        run = _start(config, feed, CPU, None)
        if graphed:
            trainable = [p for p in run.model.parameters() if p.requires_grad]
            run.graphed = GraphedGradients(
                _gradients(run, config, CPU), trainable, CPU, capture=_stand_in(trainable, fail)
            )
        sums = [
            _epoch_steps(run, config, feed, epoch, CPU, Processes(), tqdm(disable=True))
            for epoch in range(2)
        ]
        ends.append((_state(run.model), [(loss.item(), hits.item()) for loss, hits, _ in sums]))
        if graphed:
            assert run.graphed.eager_steps == (2 * 5 if fail else 3)
            assert (run.graphed.graph is None) == fail
            assert run.graphed.replays == (0 if fail else 2 * 5 - 3)
    (eager, eager_sums), (replayed, replayed_sums) = ends
    assert replayed_sums == eager_sums
    for name, value in eager.items():
        assert torch.equal(value, replayed[name]), name


def test_a_graphed_stack_ends_where_the_eager_stack_ends():
    configs = [_config(seed=s) for s in (0, 1)]
    data = _data(88)
    feeds = [in_memory_feed(c, data, data, torch.contiguous_format) for c in configs]
    ends = []
    for graphed in (False, True):
        stack = Stack(configs, CPU, 2 * feeds[0].steps_per_epoch)
        if graphed:
            trainable = [p for p in stack.params.values() if p.requires_grad]
            stack.graphed = GraphedGradients(
                stack._gradients, trainable, CPU, capture=_stand_in(trainable)
            )
        entries = [Stacked(stack, feeds).train_epoch(epoch) for epoch in range(2)]
        ends.append(({n: v.clone() for n, v in stack.params.items()}, entries))
    assert ends[0][1] == ends[1][1]
    for name, value in ends[0][0].items():
        assert torch.equal(value, ends[1][0][name]), name


def test_graphs_are_used_on_cuda_only_for_methods_that_replay_the_same_step():
    cuda = torch.device("cuda")
    assert use_graphs(cuda, "edge-popup") and use_graphs(cuda, "dense")
    assert not use_graphs(cuda, "zhou") and not use_graphs(cuda, "iterand")
    assert not use_graphs(cuda, "edge-popup", graphs=False)
    assert not use_graphs(CPU, "edge-popup")
    with pytest.raises(ValueError, match="CUDA graphs need a CUDA device"):
        use_graphs(CPU, "edge-popup", graphs=True)
    with pytest.raises(ValueError, match="got cuda and 'zhou'"):
        use_graphs(cuda, "zhou", graphs=True)


def test_a_run_whose_capture_fails_trains_on_eagerly_and_says_so(monkeypatch, caplog):
    """Through the whole loop: graphs forced on where CUDA's capture cannot work (no CUDA
    here), the run trains exactly as the eager run, and its sitting records no graph."""
    from supermask.training import loop
    from supermask.training.cifar10 import train

    config, data = _config(), _data(88)
    eager = train(config, data, data, CPU, progress=False)
    assert "cuda_graph" not in eager.sittings[-1]
    monkeypatch.setattr(loop, "use_graphs", lambda device, method, graphs=None: True)
    forced = train(config, data, data, CPU, progress=False)
    assert forced.sittings[-1]["cuda_graph"] is False
    assert "CUDA graph capture failed" in caplog.text
    assert [e["loss"] for e in forced.history] == [e["loss"] for e in eager.history]
    for (name, a), b in zip(eager.model.state_dict().items(), forced.model.state_dict().values()):
        assert torch.equal(a, b), name
