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
    from supermask.runs.sweep import run, store_for, sweep

    configs = [
        RunConfig(model="conv2", method="edge-popup", width=0.125, seed=s, epochs=1, batch_size=32)
        for s in (0, 1, 2)
    ]
    zhou = RunConfig(model="conv2", method="zhou", width=0.125, epochs=1, batch_size=32)
    results = sweep([configs[0], zhou, configs[1]], tmp_path, tiny_data_dir, "cpu", stack=4)
    results = [results[0], results[2]]
    single = run(configs[2], tmp_path, tiny_data_dir, "cpu", progress=False)
    assert [r["status"] for r in results] == ["finished"] * 2
    assert all(r["engine"] == "stacked" and r["stack_size"] == 2 for r in results)
    assert set(results[0]) - set(single) == {"engine", "stack_size"}
    assert set(single) <= set(results[0])
    store = store_for(tmp_path, tiny_data_dir, progress=False)
    assert "engine" not in store.result(zhou)  # Zhou et al. sample masks: they train alone
    for config, result in zip(configs, results):
        assert store.result(config)["hash"] == config.hash == result["hash"]
        assert store.model_path(config).exists() and (store.run_dir(config) / "mask.npz").exists()
        assert not store.checkpoint_path(config).exists()
    again = sweep(configs[:2], tmp_path, tiny_data_dir, "cpu", stack=4, progress=False)
    assert again[0]["test_acc"] == results[0]["test_acc"]
    with pytest.raises(
        ValueError, match=r"stack must be a whole number of runs >= 1 \(1: each alone\), got 0"
    ):
        sweep(configs[:2], tmp_path, tiny_data_dir, "cpu", stack=0, progress=False)


def _two(epochs: int = 2) -> list[RunConfig]:
    return [
        RunConfig(
            model="conv2", method="edge-popup", width=0.125, seed=s, epochs=epochs, batch_size=32
        )
        for s in (0, 1)
    ]


class _Stop(Exception):
    pass


def _stop_after_first_epoch(config: RunConfig, entry: dict) -> None:
    if entry["epoch"] == 1:
        raise _Stop


def test_a_stopped_stack_resumes_as_if_never_stopped(tmp_path):
    """Each member's checkpoint holds its share of the stacked optimiser state: a stack stopped
    after epoch 1 and resumed ends bit for bit where the uninterrupted stack ends."""
    data, cpu = _data(96), torch.device("cpu")
    configs = _two()
    whole = train_stack(configs, data, data, cpu)
    paths = [tmp_path / f"{c.hash}.pt" for c in configs]
    with pytest.raises(_Stop):
        train_stack(configs, data, data, cpu, on_epoch=_stop_after_first_epoch, checkpoints=paths)
    assert all(p.exists() for p in paths)  # every member's, before anyone is told of the epoch
    resumed = train_stack(configs, data, data, cpu, checkpoints=paths)
    for alone, again in zip(whole, resumed):
        assert again.resumed_from_epoch == 1 and again.epochs_run == 2
        assert [e["loss"] for e in again.history] == [e["loss"] for e in alone.history]
        assert again.test_acc == alone.test_acc
        for (name, a), b in zip(
            alone.model.state_dict().items(), again.model.state_dict().values()
        ):
            assert torch.equal(a, b), name
        assert len(again.sittings) == 2


def test_stack_and_single_runs_resume_from_each_others_checkpoints(tmp_path):
    from supermask.training.cifar10 import train

    data, cpu = _data(96), torch.device("cpu")
    configs = _two()
    paths = [tmp_path / f"{c.hash}.pt" for c in configs]
    with pytest.raises(_Stop):
        train_stack(configs, data, data, cpu, on_epoch=_stop_after_first_epoch, checkpoints=paths)
    alone = train(configs[0], data, data, cpu, checkpoint=paths[0], progress=False)
    assert alone.resumed_from_epoch == 1 and alone.epochs_run == 2

    singles = [tmp_path / f"single-{c.hash}.pt" for c in configs]
    for config, path in zip(configs, singles):
        train(config, data, data, cpu, checkpoint=path, progress=False, stop_after_epoch=1)
    stacked = train_stack(configs, data, data, cpu, checkpoints=singles)
    assert [o.resumed_from_epoch for o in stacked] == [1, 1]
    assert all(o.status == "finished" and o.epochs_run == 2 for o in stacked)
    mixed = [singles[0], tmp_path / "none.pt"]
    with pytest.raises(ValueError, match="some members of the stack have a checkpoint"):
        train_stack(configs, data, data, cpu, checkpoints=mixed)


def test_runs_stack_only_with_runs_that_resume_from_the_same_epoch():
    seeds = [RunConfig(model="conv2", method="edge-popup", epochs=3, seed=s) for s in range(4)]
    resumes = {seeds[1].hash: 2}
    assert group_stacks(seeds, 4, lambda c: resumes.get(c.hash, 0)) == [
        [seeds[0], seeds[2], seeds[3]],
        [seeds[1]],
    ]
    with pytest.raises(ValueError, match="stack must be a whole number of runs >= 1"):
        group_stacks(seeds, 0)


def test_a_member_that_diverges_stops_alone(monkeypatch):
    """Member 1's scores poisoned after its first step: it is recorded as diverged after epoch
    1 and not evaluated, while member 0 trains both epochs exactly as in a stack of its own."""
    data, cpu = _data(64), torch.device("cpu")
    configs = _two()
    alone = train_stack(configs[:1], data, data, cpu)[0]
    step = Stack.step

    def poisoned(self, xs, ys):
        result = step(self, xs, ys)
        if len(self.configs) == 2:
            scores = next(p for p in self.params.values() if p.requires_grad)
            scores.data[1].fill_(float("nan"))
        return result

    monkeypatch.setattr(Stack, "step", poisoned)
    kept, diverged = train_stack(configs, data, data, cpu)
    assert diverged.status == "diverged" and diverged.epochs_run == 1
    assert diverged.test_acc is None
    assert kept.status == "finished" and kept.epochs_run == 2
    assert [e["loss"] for e in kept.history] == [e["loss"] for e in alone.history]
    assert kept.test_acc == alone.test_acc


def test_a_float32_stack_trains_within_the_seed_noise_of_its_single_twins():
    """In float32 a member leaves its twin only by rounding (masks flip one at a time, later):
    its first epoch's loss is its twin's to 1e-4, and its final accuracy is nearer its twin's
    than the seeds are to each other. Catches a stack that mixes its members' data orders,
    optimiser states or schedules, which moves the first epoch by far more."""
    from supermask.training.cifar10 import train

    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (512,), generator=generator)
    shifted = torch.randint(0, 128, (512, 3, 32, 32), generator=generator) + 12 * labels.view(
        -1, 1, 1, 1
    )
    data = ImageTensors(shifted.clamp(0, 255).to(torch.uint8), labels)  # a learnable task
    configs = [
        RunConfig(model="conv2", method="edge-popup", width=0.25, seed=s, epochs=3, batch_size=32)
        for s in (0, 1, 2)
    ]
    alone = [train(c, data, data, "cpu", progress=False) for c in configs]
    stacked = train_stack(configs, data, data, torch.device("cpu"))
    spread = max(o.test_acc for o in alone) - min(o.test_acc for o in alone)
    assert spread > 0.05
    for single, member in zip(alone, stacked):
        assert member.history[0]["loss"] == pytest.approx(single.history[0]["loss"], rel=1e-4)
        assert abs(member.test_acc - single.test_acc) < spread / 2
