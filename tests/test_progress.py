"""What a sweep says it will cost, and what it says while it trains
(supermask.runs.progress)."""

import json

import torch

from supermask.config import RunConfig
from supermask.runs.progress import SweepProgress, format_duration
from supermask.runs.speeds import measured_speeds, one_thread_cpu_speeds
from supermask.runs.store import RunStore

DEVICE = "cpu: Test CPU (1 threads)"


def config(model="conv2", epochs=4, train_subset=500, k=0.5):
    return RunConfig(model=model, k=k, epochs=epochs, train_subset=train_subset)


def record(
    store: RunStore,
    run: RunConfig,
    wall_s: float,
    device=DEVICE,
    finished_at="2026-12-01T10:00:00+0000",
    **fields,
) -> None:
    """A finished run's result.json, as far as the speed estimate reads it."""
    path = store.run_dir(run) / "result.json"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "status": "finished",
                "config": run.to_dict(),
                "hash": run.hash,
                "wall_s": wall_s,
                "epochs_run": run.epochs,
                "device": device,
                "finished_at": finished_at,
                "test_acc": 0.5,
                **fields,
            }
        )
    )


def test_speed_is_seconds_per_training_image_epoch_on_this_device(tmp_path):
    store = RunStore(tmp_path)
    record(store, config(epochs=2, train_subset=1000), wall_s=100.0)  # 0.05 s per image-epoch
    record(store, config(k=0.3, epochs=2, train_subset=1000), wall_s=999.0, device="cuda: X")
    speeds = measured_speeds(store, DEVICE)
    assert (
        speeds[("conv2", "edge-popup", "fp32", 1.0)] == speeds[("conv2", None, "fp32", 1.0)] == 0.05
    )


def test_a_run_paused_for_an_hour_does_not_make_its_model_look_slow(tmp_path):
    store = RunStore(tmp_path)
    record(store, config(), wall_s=3700.0, epoch_s=[25.0, 3625.0, 25.0, 25.0])
    record(store, config(k=0.9, model="conv4"), wall_s=3700.0)  # untimed epochs: its mean
    speeds = measured_speeds(store, DEVICE)
    assert speeds[("conv2", None, "fp32", 1.0)] == 0.05  # 25 s per epoch of 500 images
    assert speeds[("conv4", None, "fp32", 1.0)] == 3700.0 / 4 / 500
    imagenet = RunConfig(model="resnet50", dataset="imagenet", epochs=1, batch_size=8)
    record(store, imagenet, wall_s=10.0)
    assert not any(model == "resnet50" for model, _, _, _ in measured_speeds(store, DEVICE))


def test_the_median_of_the_latest_runs_is_the_speed(tmp_path):
    store = RunStore(tmp_path)
    for i, wall_s in enumerate([1000.0] * 3 + [10.0] * 5):  # an old, slower machine, then this
        record(
            store,
            config(k=0.1 * (i + 1), epochs=1, train_subset=100),
            wall_s=wall_s,
            finished_at=f"2026-12-0{i + 1}T10:00:00+0000",
        )
    assert measured_speeds(store, DEVICE)[("conv2", None, "fp32", 1.0)] == 0.1


def test_a_run_resumed_on_another_machine_is_timed_on_each_from_its_own_epochs(tmp_path):
    store = RunStore(tmp_path)
    sittings = [{"from_epoch": 0, "device": OTHER}, {"from_epoch": 2, "device": DEVICE}]
    record(
        store,
        config(),
        wall_s=220.0,
        epoch_s=[100.0, 100.0, 10.0, 10.0],
        sittings=sittings,
        device=f"{OTHER} (epochs 1-2); {DEVICE} (epochs 3-4)",
    )
    assert measured_speeds(store, DEVICE)[("conv2", None, "fp32", 1.0)] == 10.0 / 500
    assert measured_speeds(store, OTHER)[("conv2", None, "fp32", 1.0)] == 100.0 / 500
    record(store, config(k=0.1), wall_s=400.0, sittings=sittings, device="mixed")  # untimed
    assert measured_speeds(store, DEVICE)[("conv2", None, "fp32", 1.0)] == 10.0 / 500


def test_a_bf16_run_is_not_estimated_from_fp32_speeds(tmp_path):
    store = RunStore(tmp_path)
    record(store, config(k=0.9), wall_s=100.0)  # fp32: 0.05 s per image-epoch
    bf16 = RunConfig(model="conv2", k=0.5, epochs=4, train_subset=500, precision="bf16")
    progress = SweepProgress("fig3 (paper)", [bf16, config(k=0.3)], store, DEVICE, bar=False)
    assert progress.plan().endswith(
        "time: 2 min + the conv2 bf16 runs (not timed on this "
        f"machine yet), at the speed measured on {DEVICE}"
    )
    record(
        store,
        RunConfig(model="conv2", k=0.1, epochs=4, train_subset=500, precision="bf16"),
        wall_s=50.0,
    )
    assert measured_speeds(store, DEVICE)[("conv2", None, "bf16", 1.0)] == 0.025


def test_plan_counts_stored_runs_and_estimates_the_rest(tmp_path):
    store = RunStore(tmp_path)
    done = config(k=0.9)
    record(store, done, wall_s=100.0)  # 4 epochs x 500 images: 0.05 s per image-epoch
    todo = [config(k=0.1, epochs=8), config(k=0.3, epochs=8)]  # 200 s each
    plan = SweepProgress("fig3 (test)", [done, *todo], store, DEVICE, write=None, bar=False).plan()
    assert plan.startswith("fig3 (test): 1 of 3 runs in the store, 2 to train (16 epochs)")
    assert plan.endswith("; time: 7 min, at the speed measured on cpu: Test CPU (1 threads)")


def test_a_run_resumed_from_its_checkpoint_counts_only_the_epochs_it_has_left(tmp_path):
    store = RunStore(tmp_path)
    record(store, config(k=0.9), wall_s=100.0)  # 0.05 s per image-epoch: 200 s per 8 epochs
    resumed, fresh = config(k=0.1, epochs=8), config(k=0.3, epochs=8)
    store.run_dir(resumed).mkdir(parents=True)
    torch.save({"epoch": 6, "history": [{}] * 6}, store.checkpoint_path(resumed))
    progress = SweepProgress("fig3", [resumed, fresh], store, DEVICE, write=None, bar=False)
    assert progress.plan().startswith(
        "fig3: 0 of 2 runs in the store, 2 to train (10 epochs, 1 resumed from a checkpoint); "
        "time: 4 min,"
    )  # 50 s + 200 s
    store.checkpoint_path(fresh).parent.mkdir(parents=True)
    store.checkpoint_path(fresh).write_bytes(b"damaged")  # counts as no checkpoint at all
    assert store.checkpoint_progress(fresh) == (0, None)
    assert store.checkpoint_progress(resumed) == (6, None)  # no time in this checkpoint


def checkpoint(store: RunStore, run: RunConfig, epoch_s: list[float]) -> None:
    """An unfinished run's checkpoint, as far as the estimate reads it."""
    store.run_dir(run).mkdir(parents=True)
    torch.save(
        {
            "epoch": len(epoch_s),
            "history": [{}] * len(epoch_s),
            "epoch_s": epoch_s,
            "wall_s": sum(epoch_s),
        },
        store.checkpoint_path(run),
    )


def test_a_wider_run_costs_the_square_of_its_width_until_its_own_width_is_timed(tmp_path):
    """Figure 4's widths 0.25-2: a width-2 run priced at width 1's speed per image would be
    promised in a quarter of its time."""
    store = RunStore(tmp_path)
    record(store, config(k=0.9), wall_s=100.0)  # width 1: 25 s an epoch
    wide = RunConfig(model="conv2", k=0.5, epochs=4, train_subset=500, width=2.0)
    plan = SweepProgress("fig4", [wide], store, DEVICE, write=None, bar=False).plan()
    assert "time: 7 min," in plan, plan  # 4 x 100 s
    record(store, RunConfig(model="conv2", k=0.3, epochs=4, train_subset=500, width=2.0), 300.0)
    speeds = measured_speeds(store, DEVICE)
    assert speeds[("conv2", None, "fp32", 2.0)] == 300.0 / 4 / 500 / 4
    plan = SweepProgress("fig4", [wide], store, DEVICE, write=None, bar=False).plan()
    assert "time: 5 min," in plan, plan  # width 2's own 300 s, not 400
    narrow = RunConfig(model="conv2", k=0.5, epochs=4, train_subset=500, width=0.5)
    plan = SweepProgress("fig4", [narrow], store, DEVICE, write=None, bar=False).plan()
    assert "time: 25 s," in plan, plan  # nearest width timed is 1: 100 s / 4


def test_a_resumed_run_is_estimated_from_its_own_latest_epochs(tmp_path):
    store = RunStore(tmp_path)
    record(store, config(k=0.9), wall_s=400.0)  # finished runs say 100 s an epoch
    resumed = config(k=0.1, epochs=8)
    checkpoint(store, resumed, [90.0, 30.0, 30.0, 30.0])  # the first epoch beside the tests
    plan = SweepProgress("fig3", [resumed], store, DEVICE, write=None, bar=False).plan()
    assert "(4 epochs, 1 resumed from a checkpoint); time: 2 min," in plan, plan  # 4 x 30 s


def test_a_checkpointed_run_times_a_model_no_finished_run_has(tmp_path):
    store = RunStore(tmp_path)
    resumed, fresh = config(model="conv8", epochs=10), config(model="conv8", k=0.3, epochs=10)
    checkpoint(store, resumed, [60.0] * 5)
    plan = SweepProgress("fig3", [resumed, fresh], store, DEVICE, write=None, bar=False).plan()
    assert "(15 epochs, 1 resumed from a checkpoint); time: 15 min," in plan, plan


def test_plan_says_when_a_model_was_never_measured_anywhere(tmp_path):
    store = RunStore(tmp_path)
    record(store, config(k=0.9), wall_s=100.0, device="cpu: another machine (1 threads)")
    plan = SweepProgress(
        "fig3", [config(model="conv4"), config(model="conv6")], store, DEVICE, write=None, bar=False
    ).plan()
    assert "time: unknown (no conv4, conv6 run timed on this machine yet)" in plan, plan
    assert (
        SweepProgress("f", [config(k=0.9)], store, DEVICE, write=None, bar=False).plan()
        == "f: its run is in the store; nothing to train"
    )  # wherever it was measured


OTHER = "cpu: Other CPU (1 thread)"


def test_a_model_timed_only_on_another_machine_is_estimated_at_that_speed_and_says_so(tmp_path):
    """A stashed store holds runs from every machine a campaign ran on: 'conv6 not timed' would
    hide hours; their speed there is a guess worth giving, named as one."""
    store = RunStore(tmp_path)
    record(store, config(k=0.9), wall_s=100.0)  # conv2 here: 0.05 s per image-epoch
    record(store, config(model="conv6", k=0.9), wall_s=400.0, device=OTHER)  # 0.2 there
    record(
        store,
        config(model="conv6", k=0.7),
        wall_s=4000.0,
        device="cpu: Old CPU",
        finished_at="2026-11-01T10:00:00+0000",
    )  # the machine that timed it last counts
    runs = [config(k=0.1), config(model="conv6", k=0.1), config(model="conv6", k=0.3)]
    lines = []
    progress = SweepProgress("fig3", runs, store, DEVICE, write=lines.append, bar=False)
    assert progress.plan().endswith(  # 100 s + 2 x 400 s
        f"time: 15 min (the conv6 runs guessed from their speed on {OTHER}), at the speed "
        f"measured on {DEVICE}"
    )
    # The first conv6 run timed here replaces the guess for the rest, and does not skew the
    # correction of the estimates made from this machine's speeds.
    progress.run_done(runs[1], {"status": "finished", "test_acc": 0.5, "wall_s": 200.0})
    assert lines[-1].endswith("2 left, ETA 5 min"), lines  # 100 s + 200 s, no guess named


def test_the_readmes_speed_pools_every_one_thread_cpu_and_only_timed_epochs(tmp_path):
    """The status table's speed: the same on every machine, from epochs timed on one thread."""
    store = RunStore(tmp_path)
    record(store, config(k=0.1), wall_s=0.0, epoch_s=[10.0] * 4)  # 0.02 s per image-epoch
    record(store, config(k=0.3), wall_s=0.0, epoch_s=[30.0] * 4, device=OTHER)  # 0.06
    wide = RunConfig(model="conv2", k=0.5, epochs=4, train_subset=500, width=2.0)
    record(store, wide, wall_s=0.0, epoch_s=[80.0] * 4)  # 80 / (500 * 4): 0.04
    record(store, config(k=0.7), wall_s=0.0, epoch_s=[1.0] * 4, device="cuda: X")
    record(store, config(k=0.9), wall_s=0.0, epoch_s=[1.0] * 4, device="cpu: Y (2 threads)")
    record(store, config(model="conv4"), wall_s=4000.0)  # untimed: its wall time holds pauses
    assert one_thread_cpu_speeds(store) == {("conv2", "fp32"): 0.04}


def test_a_line_per_finished_run_with_an_eta_corrected_by_measured_time(tmp_path):
    store = RunStore(tmp_path)
    record(store, config(k=0.9), wall_s=1000.0)  # estimate: 1000 s per run of 4 x 500
    runs = [config(k=0.1), config(k=0.3), config(k=0.5)]
    lines = []
    progress = SweepProgress("fig3", runs, store, DEVICE, write=lines.append, bar=False)
    progress.run_done(runs[0], {"status": "finished", "test_acc": 0.612, "wall_s": 500.0})
    # Took half the estimate, so the two runs left should take 2 x 1000 x 0.5 s.
    assert lines == [f"fig3 [1/3] {runs[0].name}: 61.2% in 8 min; 2 left, ETA 17 min"]
    progress.run_done(runs[1], {"status": "diverged", "test_acc": None, "wall_s": 500.0})
    assert lines[-1].endswith("diverged in 8 min; 1 left, ETA 8 min")
    progress.run_done(runs[1], {"status": "finished", "wall_s": 1.0})  # not this sweep's: silent
    progress.run_done(runs[2], None)  # left to another worker: silent
    assert len(lines) == 2


def test_a_narrow_run_priced_from_another_width_reprices_its_width_not_the_machine(tmp_path):
    """Figure 4's narrow runs: priced from width 1's speed by width^2, they take longer (fixed
    costs). Catches the first one's overrun taken for a slower machine: the ETA of a Conv4
    campaign went from 86 min to 6.5 h after its first width-0.25 run."""
    store = RunStore(tmp_path)
    record(store, config(k=0.9), wall_s=100.0)  # width 1: 100 s a run
    narrow = [
        RunConfig(model="conv2", k=k, epochs=4, train_subset=500, width=0.5) for k in (0.1, 0.3)
    ]
    runs = [*narrow, config(k=0.5)]
    lines = []
    progress = SweepProgress("fig4", runs, store, DEVICE, write=lines.append, bar=False)
    assert "time: 2 min," in progress.plan()  # 25 + 25 + 100 s
    progress.run_done(narrow[0], {"status": "finished", "test_acc": 0.5, "wall_s": 100.0})
    # The other narrow run at its own width's 100 s, the width-1 run still at 100 s: not 4 x.
    assert lines[-1].endswith("2 left, ETA 3 min"), lines


def test_a_run_paused_for_the_tests_does_not_stretch_the_eta_of_the_rest(tmp_path):
    """Catches the ETA corrected by a run's wall time: a worker stopped for an hour made the
    runs left look an hour slower each."""
    store = RunStore(tmp_path)
    record(store, config(k=0.9), wall_s=100.0)  # estimate: 100 s per run of 4 x 500
    runs = [config(k=0.1), config(k=0.3)]
    lines = []
    progress = SweepProgress("fig3", runs, store, DEVICE, write=lines.append, bar=False)
    paused = {"status": "finished", "test_acc": 0.5, "wall_s": 3700.0}
    progress.run_done(runs[0], {**paused, "epoch_s": [25.0, 3625.0, 25.0, 25.0]})
    assert lines[-1].endswith("in 62 min; 1 left, ETA 2 min"), lines  # 100 s, not 3700


def test_runs_of_models_never_timed_here_are_named_in_the_eta(tmp_path):
    store = RunStore(tmp_path)
    record(store, config(k=0.9), wall_s=100.0)
    runs = [config(k=0.1), config(model="conv8")]
    plan = SweepProgress("fig3", runs, store, DEVICE, write=None, bar=False).plan()
    assert "time: 2 min + the conv8 runs (not timed on this machine yet)" in plan, plan


def test_the_first_run_of_an_unmeasured_model_gives_the_eta(tmp_path):
    runs = [config(model="conv4", k=0.1), config(model="conv4", k=0.3, epochs=8)]
    lines = []
    progress = SweepProgress(
        "fig3", runs, RunStore(tmp_path), DEVICE, write=lines.append, bar=False
    )
    assert "time: unknown" in progress.plan()
    progress.run_done(runs[0], {"status": "finished", "test_acc": 0.5, "wall_s": 60.0})
    assert lines[-1].endswith("1 left, ETA 2 min"), lines  # twice the epochs of the first


def test_durations_read_at_a_glance():
    assert [format_duration(s) for s in (45, 600, 3 * 3600)] == ["45 s", "10 min", "3.0 h"]
