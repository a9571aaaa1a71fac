"""A stack of runs against each member trained alone (its single twin)."""

import pytest
import torch
from tqdm.auto import tqdm

from supermask.config import RunConfig
from supermask.data.cifar10 import ImageTensors
from supermask.masks import masked_layers
from supermask.training.cifar10 import in_memory_feed
from supermask.training.loop import Feed, Processes, _epoch_steps, _Run, build
from supermask.training.methods import get_method
from supermask.training.stacked import Stack, check_stackable, group_stacks, train_stack

STEPS = 3


def _data(n: int) -> ImageTensors:
    generator = torch.Generator().manual_seed(0)
    return ImageTensors(
        torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator),
        torch.randint(0, 10, (n,), generator=generator),
    )


def _members(model: str, method: str) -> list[RunConfig]:
    inits = ["signed_constant", "kaiming_normal", "signed_constant"]
    if method == "dense":
        inits = ["kaiming_normal", "kaiming_normal", "xavier_normal"]
    return [
        RunConfig(
            model=model,
            method=method,
            width=0.125,
            seed=seed,
            init=init,
            epochs=STEPS,
            batch_size=16,
        )
        for seed, init in zip((1, 2, 3), inits)
    ]


def _twin(config: RunConfig) -> _Run:
    """The single run, in float64, as the loop trains it (threshold top-k, channels_last)."""
    model = build(config).double().to(memory_format=torch.channels_last)
    method = get_method(config.method)
    return _Run(method, model, model, method.optimizers(model, config, STEPS))


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize(
    "model,method", [("conv2", "edge-popup"), ("conv4", "edge-popup"), ("conv2", "dense")]
)
def test_each_member_follows_its_single_twin_in_float64(model, method):
    configs = _members(model, method)
    data = _data(STEPS * 16)
    batches = [
        list(in_memory_feed(c, data, data, torch.contiguous_format).epoch(0)) for c in configs
    ]
    stack = Stack(configs, torch.device("cpu"), STEPS, dtype=torch.float64)
    twins = [_twin(c) for c in configs]
    cpu = torch.device("cpu")
    for step in range(STEPS):
        xs = torch.stack([b[step][0][0] for b in batches]).double()
        ys = torch.stack([b[step][0][1] for b in batches])
        stack.step(xs, ys)
        for i, (config, twin) in enumerate(zip(configs, twins)):
            ((x, y),) = batches[i][step]
            feed = Feed(
                STEPS,
                lambda e, x=x, y=y: [
                    [(x.double().contiguous(memory_format=torch.channels_last), y)]
                ],
                data,
            )
            _epoch_steps(twin, config, feed, step, cpu, Processes(), tqdm(disable=True))
            member = stack.member(i)
            alone, stacked = _state(twin.model), _state(member)
            for name in alone:
                error = ((stacked[name] - alone[name]).abs().max() / alone[name].abs().max()).item()
                assert error < 1e-12, (step, i, name, error)
            for (name, _, mask), (_, _, twin_mask) in zip(
                masked_layers(member), masked_layers(twin.model)
            ):
                assert torch.equal(mask.mask(), twin_mask.mask()), (step, i, name)
            assert member.features[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_only_runs_that_differ_in_initial_values_stack():
    base = RunConfig(model="conv2", method="edge-popup", epochs=1)
    check_stackable(
        [
            base,
            RunConfig(model="conv2", method="edge-popup", epochs=1, seed=4, init="kaiming_normal"),
        ]
    )
    with pytest.raises(ValueError, match="differs .* in k"):
        check_stackable([base, RunConfig(model="conv2", method="edge-popup", epochs=1, k=0.3)])
    with pytest.raises(ValueError, match="does not stack"):
        check_stackable([RunConfig(model="conv2", method="zhou", epochs=1)])
    zhou = RunConfig(model="conv2", method="zhou", epochs=1)
    seeds = [RunConfig(model="conv2", method="edge-popup", epochs=1, seed=s) for s in range(5)]
    other = RunConfig(model="conv4", method="edge-popup", epochs=1)
    assert group_stacks([*seeds[:3], zhou, other, *seeds[3:]], 4) == [
        seeds[:4],
        [zhou],
        [other],
        seeds[4:],
    ]


def test_a_stacked_run_records_what_a_single_run_records():
    data = _data(64)
    configs = [
        RunConfig(model="conv2", method="edge-popup", width=0.125, seed=s, epochs=2, batch_size=32)
        for s in (0, 1)
    ]
    outcomes = train_stack(configs, data, data, torch.device("cpu"))
    for outcome in outcomes:
        assert outcome.status == "finished" and outcome.epochs_run == 2
        assert [set(e) for e in outcome.history] == [{"epoch", "loss", "train_acc", "test_acc"}] * 2
        assert 0 <= outcome.test_acc <= 1 and outcome.kept / outcome.total == pytest.approx(
            0.5, abs=0.01
        )
        assert len(outcome.epoch_s) == 2


def test_stacked_runs_land_in_the_store_as_single_runs_do(tiny_data_dir, tmp_path):
    from supermask.runs.stacks import sweep_stacked
    from supermask.runs.sweep import run, store_for

    configs = [
        RunConfig(model="conv2", method="edge-popup", width=0.125, seed=s, epochs=1, batch_size=32)
        for s in (0, 1, 2)
    ]
    results = sweep_stacked(configs[:2], tmp_path, tiny_data_dir, "cpu", stack=4)
    single = run(configs[2], tmp_path, tiny_data_dir, "cpu", progress=False)
    assert [r["status"] for r in results] == ["finished"] * 2
    assert all(r["engine"] == "stacked" and r["stack_size"] == 2 for r in results)
    assert set(results[0]) - set(single) == {"engine", "stack_size"}
    assert set(single) <= set(results[0])
    store = store_for(tmp_path, tiny_data_dir, progress=False)
    for config, result in zip(configs, results):
        assert store.result(config)["hash"] == config.hash == result["hash"]
        assert store.model_path(config).exists()
    assert (
        sweep_stacked(configs[:2], tmp_path, tiny_data_dir, "cpu")[0]["test_acc"]
        == results[0]["test_acc"]
    )
