"""A run's files through their one reader and writer (supermask.runs.records)."""

import json

import pytest
import torch

from supermask.config import RunConfig
from supermask.runs import records
from supermask.training import checkpoint

from conftest import REPO


def test_every_committed_record_still_hashes_to_its_folder():
    folders = sorted((REPO / "results" / "runs").iterdir())
    assert len(folders) >= 22  # the records committed when the quick profile was retired
    finished = 0
    for folder in folders:
        config = records.read_config(folder / records.CONFIG)
        assert folder.name.startswith(config.name + "-"), folder.name
        if (folder / records.RESULT).exists():
            records.check_record(folder.name, config, records.read_result(folder / records.RESULT))
            finished += 1
    assert finished >= 22


def test_a_record_that_is_not_its_folder_s_is_refused(tmp_path):
    config, other = RunConfig(model="conv2"), RunConfig(model="conv2", k=0.3)
    records.write_config(tmp_path / "config.json", config)
    assert records.read_config(tmp_path / "config.json") == config
    records.check_record(f"{config.name}-abc", config, {"hash": config.hash, "status": "finished"})
    records.check_record(config.name, config, {"hash": config.hash, "status": "finished"})
    with pytest.raises(ValueError, match="belongs to run"):
        records.check_record(f"{config.name}-abc", config, {"hash": other.hash})
    with pytest.raises(ValueError, match="not to this folder"):
        records.check_record(f"{other.name}-abc", config, {"hash": config.hash})
    with pytest.raises(ValueError, match="not to this folder"):  # a prefix of another hash
        records.check_record(f"{config.name}0-abc", config, {"hash": config.hash})
    edited = {"hash": config.hash, "config": other.to_dict()}  # config edited, hash kept
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    with pytest.raises(ValueError, match="hashes to"):
        records.read_config(tmp_path / "edited.json")
    for damaged in ("[]", "null", json.dumps(config.hash), json.dumps({"test_acc": 0.5})):
        (tmp_path / "result.json").write_text(damaged)
        with pytest.raises(ValueError, match="not a run result"):
            records.read_result(tmp_path / "result.json")


def test_a_checkpoint_that_is_not_a_dict_is_refused(tmp_path):
    torch.save([1, 2], tmp_path / "checkpoint.pt")
    state = checkpoint.read_checkpoint(tmp_path / "checkpoint.pt")
    with pytest.raises(TypeError, match="a checkpoint is a dict, not list"):
        checkpoint.restore_checkpoint(state, None, [], RunConfig(), torch.device("cpu"))


def test_the_package_knows_the_checkout_it_lies_in():
    """Paths to the repository (notebooks/, git, the lib/ a lent machine's workers
    import) are found from the package, whatever module asks."""
    from supermask.provenance import LIB_DIR, REPO_DIR
    from supermask.runs import campaign

    assert REPO_DIR == REPO.resolve() and LIB_DIR == REPO.resolve() / "lib"
    assert campaign.figure_targets()[0] == "fig3"


def test_old_records_devices_are_shown_in_today_s_words():
    """Records written before device_name minded its grammar say '(1 threads)'."""
    from supermask.provenance import device_label

    assert device_label("cpu: AMD EPYC (1 threads)") == "cpu: AMD EPYC (1 thread)"
    for unchanged in (
        "cpu: AMD EPYC (avx512-bf16, 1 thread)",
        "cpu: AMD EPYC (11 threads)",
        "cpu: AMD EPYC (2 threads)",
        "NVIDIA H200 (shared by 8 workers)",
    ):
        assert device_label(unchanged) == unchanged


def test_a_machine_kind_is_its_name_and_bf16_instructions_not_its_threads():
    """Catches REPORT.md's precision table calling an fp32 run on the Intel Xeon (AMX) and a
    bf16 run on the AMD EPYC one device kind, because both records start with 'cpu'."""
    from supermask.provenance import machine_kind, same_machine_kind

    amd, old_amd = "cpu: AMD EPYC (avx512-bf16, 1 thread)", "cpu: AMD EPYC (1 threads)"
    amx = "cpu: Intel(R) Xeon(R) Processor (amx-bf16, 1 thread)"
    avx = "cpu: Intel(R) Xeon(R) Processor (avx512-bf16, 2 threads)"
    h200 = "NVIDIA H200 (shared by 8 workers)"
    assert machine_kind(amx) == "cpu: Intel(R) Xeon(R) Processor [amx-bf16]"
    assert machine_kind(h200) == machine_kind("NVIDIA H200") == "NVIDIA H200"
    assert machine_kind("device not recorded (epochs 1-3); " + amx + " (epochs 4-20)") is None
    assert same_machine_kind(amd, old_amd)  # written before records named instructions
    assert same_machine_kind(amx, amx.replace("1 thread", "2 threads"))
    assert not same_machine_kind(amd, amx)
    assert not same_machine_kind(amx, avx)  # one model name, other bf16 kernels
    assert not same_machine_kind(h200, amd) and not same_machine_kind(None, None)


def test_a_run_s_typical_epoch_ignores_the_epochs_its_worker_spent_stopped():
    """The median, not the mean: an epoch during which the worker was stopped for the suite
    (SIGSTOP) must not read as the run's speed; records from before epochs were timed: None."""
    from supermask.runs.tables import results_frame

    stopped = {"epoch_s": [None, 60.0, 1020.0, 62.0, 61.0]}
    assert records.median_epoch_seconds(stopped) == 61.5
    assert records.median_epoch_seconds({"wall_s": 600.0, "epochs_run": 10}) is None
    config = RunConfig(model="conv2", method="edge-popup", k=0.5, epochs=5).to_dict()
    frame = results_frame([{**stopped, "config": config, "status": "finished"}], "fig3", "paper")
    assert frame["median_epoch_s"].tolist() == [61.5]


def test_a_csv_s_epoch_seconds_prefer_the_median_and_fall_back_to_the_mean():
    import pandas as pd

    from supermask.runs.tables import epoch_seconds

    frame = pd.DataFrame(
        {"wall_s": [7200.0, 7200.0], "epochs_run": [100, 100], "median_epoch_s": [61.5, None]}
    )
    assert epoch_seconds(frame).tolist() == [61.5, 72.0]
    assert epoch_seconds(frame.drop(columns="median_epoch_s")).tolist() == [72.0, 72.0]


def test_a_record_names_one_device_when_every_sitting_ran_there():
    """A resumed run names each device with its epochs; sittings on one device read as one."""
    same = [{"from_epoch": 0, "device": "cpu: A"}, {"from_epoch": 4, "device": "cpu: A"}]
    assert records.sittings_device(same, 10) == "cpu: A"
    older = checkpoint.checkpoint_sittings({"epoch": 12, "history": []})  # from before sittings
    assert records.sittings_device(older + [{"from_epoch": 12, "device": "cpu: B"}], 20) == (
        "device not recorded (epochs 1-12); cpu: B (epochs 13-20)"
    )
    empty_sitting = [
        {"from_epoch": 0, "device": "cpu: A"},
        {"from_epoch": 5, "device": "cpu: B"},
        {"from_epoch": 5, "device": "cpu: A"},
    ]  # B was stopped before an epoch
    assert records.sittings_device(empty_sitting, 9) == "cpu: A"


def test_a_record_s_device_gives_back_the_devices_of_its_sittings():
    sittings = [
        {"from_epoch": 0, "device": None},
        {"from_epoch": 3, "device": "cpu: A (x; y)"},
        {"from_epoch": 9, "device": "cuda: B"},
    ]
    assert records.recorded_devices(records.sittings_device(sittings, 20)) == [
        None,
        "cpu: A (x; y)",
        "cuda: B",
    ]
    assert records.recorded_devices("cpu: A (epochs of 2; 1 thread)") == [
        "cpu: A (epochs of 2; 1 thread)"
    ]  # one device, whatever its name holds
