"""The campaign table: what a campaign's finished runs show, read from the figures' CSVs, and the
README quoting exactly that table for the committed results."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch

from supermask import worker
from supermask.cli import main
from supermask.config import RunConfig, get_profile
from supermask.notebooks import redraw as redraw_module
from supermask.runs import stash, tables
from supermask.runs.campaign import (
    campaign_profile,
    campaign_table,
    read_campaign,
    resolve_profile,
)
from supermask.runs.grid import parse_only
from supermask.runs.sweep import store_for

from conftest import REPO


def _write_figure(results, profile, figure, rows, curves):
    base = {column: None for column in tables.COLUMNS}
    frame = pd.DataFrame(
        [{**base, "figure": figure, "profile": profile.name, "width": 1.0, **row} for row in rows],
        columns=tables.COLUMNS,
    )
    tables.write_csv(frame, results / profile.name / f"{figure}.csv")
    tables.write_csv(pd.DataFrame(curves), results / profile.name / f"{figure}_curves.csv")


# A finished Conv2 run at the paper's protocol, as a figure's CSV holds it.
FINISHED = {
    "model": "conv2",
    "method": "edge-popup",
    "init": "signed_constant",
    "k": 0.5,
    "seed": 0,
    "status": "finished",
    "test_acc": 0.766,
    "wall_s": 7200.0,
    "epochs_run": 100,
    "median_epoch_s": 65.4,
    "device": "cpu: X (1 threads)",
    "hash": "aaa",
}


def test_campaign_table_lists_its_runs_in_order_with_their_curves(tmp_path):
    profile = get_profile("paper")
    finished = FINISHED
    _write_figure(
        tmp_path,
        profile,
        "fig3",
        [
            finished,
            {**finished, "seed": 1, "test_acc": 0.1, "hash": "other seed"},
            {**finished, "k": 0.9, "status": "missing", "test_acc": None, "hash": "bbb"},
        ],
        [{"hash": "aaa", "epoch": e, "test_acc": e / 200} for e in range(1, 101)]
        + [{"hash": "other seed", "epoch": 2, "test_acc": 0.9}],
    )
    campaign = tmp_path / "c.txt"
    campaign.write_text(
        '# comment\n\nfig3 {"k": [0.9], "seed": [0]}\n'
        'fig3\t{"k": [0.5], "seed": 0}\n  fig6 {"model": ["conv2"]}\n'
    )

    table = campaign_table(read_campaign(campaign), tmp_path, profile)

    assert list(table["run"]) == [
        "1. edge-popup $U_k$ k=0.9",
        "2. edge-popup $U_k$ k=0.5",
        '3. fig6 {"model": ["conv2"]}',
    ]
    assert list(table["test acc."]) == ["not finished yet", "**76.6**", "not run yet"]
    row = table.iloc[1]
    assert [row[f"epoch {e}"] for e in (2, 10, 25, 50, 100)] == [
        "1.0",
        "5.0",
        "12.5",
        "25.0",
        "50.0",
    ]
    # the median epoch, not the mean (72 s), which counts the time a stopped worker waited
    assert row["wall time"] == "2.00 h (65 s/epoch)" and row["device"] == "cpu: X (1 thread)"
    assert table.iloc[0]["epoch 2"] == "" and table.iloc[0]["wall time"] == ""


def test_campaign_table_reads_a_csv_from_before_epochs_were_timed(tmp_path):
    """Such a CSV has no median_epoch_s column: the table falls back to the mean epoch."""
    profile = get_profile("paper")
    row = FINISHED
    _write_figure(
        tmp_path, profile, "fig3", [row], [{"hash": "aaa", "epoch": 100, "test_acc": 0.766}]
    )
    csv = tmp_path / profile.name / "fig3.csv"
    pd.read_csv(csv).drop(columns="median_epoch_s").to_csv(csv, index=False)
    campaign = tmp_path / "c.txt"
    campaign.write_text('fig3 {"k": [0.5], "seed": [0]}\n')
    table = campaign_table(read_campaign(campaign), tmp_path, profile)
    assert table.iloc[0]["wall time"] == "2.00 h (72 s/epoch)"


def test_milestone_columns_stop_at_the_campaigns_longest_run(tmp_path):
    """The seed spread trains 20 epochs at the 100-epoch profile: no empty epoch 25-100 columns,
    which would read as runs that stopped early."""
    profile = get_profile("paper")
    run = {**FINISHED, "epochs": 20, "test_acc": 0.7, "wall_s": 1200.0, "epochs_run": 20}
    _write_figure(
        tmp_path,
        profile,
        "budget",
        [{**run, "seed": 1, "hash": "a"}, {**run, "seed": 2, "hash": "b"}],
        [{"hash": h, "epoch": e, "test_acc": 0.5} for h in "ab" for e in range(1, 21)],
    )
    campaign = tmp_path / "c.txt"
    campaign.write_text('budget {"seed": [1]}\nbudget {"seed": [2]}\n')
    table = campaign_table(read_campaign(campaign), tmp_path, profile)
    assert list(table.columns) == ["run", "test acc.", "epoch 2", "epoch 10", "wall time", "device"]
    assert list(table["run"]) == [
        "1. edge-popup $U_k$ k=0.5, seed 1",
        "2. edge-popup $U_k$ k=0.5, seed 2",
    ]


def _run_labels(
    tmp_path, profile_name: str, figure: str, rows: list[dict], lines: list[str]
) -> list[str]:
    """The campaign table's run labels for two missing runs of ``figure`` and campaign ``lines``."""
    profile = get_profile(profile_name)
    base = {
        "method": "edge-popup",
        "init": "signed_constant",
        "k": 0.5,
        "seed": 0,
        "status": "missing",
    }
    _write_figure(
        tmp_path,
        profile,
        figure,
        [{**base, **row} for row in rows],
        [{"hash": rows[0]["hash"], "epoch": 1, "test_acc": 0.1}],
    )
    campaign = tmp_path / "c.txt"
    campaign.write_text("".join(f"{figure} {line}\n" for line in lines))
    return list(campaign_table(read_campaign(campaign), tmp_path, profile)["run"])


def test_a_run_in_another_precision_than_the_profiles_is_named_so(tmp_path):
    rows = [
        {"model": "conv2", "epochs": 10, "precision": p, "hash": h}
        for p, h in (("fp32", "a"), ("bf16", "b"))
    ]
    assert _run_labels(
        tmp_path, "paper", "budget", rows, ['{"precision": ["fp32"]}', '{"precision": ["bf16"]}']
    ) == ["1. edge-popup $U_k$ k=0.5", "2. edge-popup $U_k$ k=0.5, bf16"]


def test_a_campaign_over_several_models_names_each_runs_model(tmp_path):
    """Figure 3's campaign has a k=0.5 U_k run per depth: without the model, rows look alike."""
    rows = [{"model": m, "hash": h} for m, h in (("conv2", "a"), ("conv4", "b"))]
    assert _run_labels(
        tmp_path, "short", "fig3", rows, ['{"model": ["conv2"]}', '{"model": ["conv4"]}']
    ) == ["1. Conv2 edge-popup $U_k$ k=0.5", "2. Conv4 edge-popup $U_k$ k=0.5"]


def test_a_line_with_its_own_schedule_names_every_runs_epochs_and_distribution(tmp_path):
    """The deep low-k campaign: one line trains 100 epochs, the others the profile's 20. Catches
    rows that hide which run is the long one, and a distribution shown by its key
    (scaled_signed_constant) where it has no symbol."""
    rows = [
        {"model": "conv8", "k": 0.1, "init": "scaled_signed_constant", "epochs": 20, "hash": "a"},
        {"model": "conv8", "k": 0.1, "epochs": 100, "hash": "b"},
    ]
    assert _run_labels(
        tmp_path,
        "short",
        "lowk",
        rows,
        ['{"init": ["scaled_signed_constant"]}', '{"epochs": [100]}'],
    ) == [
        "1. edge-popup scaled signed Kaiming constant k=0.1, 20 epochs",
        "2. edge-popup $U_k$ k=0.1, 100 epochs",
    ]


def test_runs_are_numbered_in_training_order_across_lines(tmp_path):
    """A line that expands to a k sweep gives each run its own number, as commits count them."""
    rows = [{"model": "conv2", "k": k, "hash": str(k)} for k in (0.1, 0.5)] + [
        {"model": "conv2", "method": "dense", "optimizer": "sgd", "hash": "d"}
    ]
    assert _run_labels(
        tmp_path, "short", "fig3", rows, ['{"method": ["edge-popup"]}', '{"method": ["dense"]}']
    ) == ["1. edge-popup $U_k$ k=0.1", "2. edge-popup $U_k$ k=0.5", "3. dense (SGD)"]


@pytest.mark.parametrize(
    "line, message",
    [
        ("fig3 {not json", "c.txt:2: the part after 'fig3' must be JSON"),
        ('fig3  {"k": [0.5]}', 'c.txt:2: the same line as line 1 (fig3 {"k": [0.5]})'),
        ('fig3 ["conv2"]', "c.txt:2: the part after 'fig3' must map RunConfig fields to lists"),
        (
            'fig3 {"modle": ["conv2"]}',
            "c.txt:2: the part after 'fig3': unknown field 'modle'; valid: ",
        ),
        ("profile long", "c.txt:2: unknown profile 'long'; valid: smoke, short, paper"),
        ("profile short\nprofile paper", "c.txt:3: a second profile line; a campaign has one"),
    ],
)
def test_bad_campaign_line_is_refused_naming_the_line(line, message, tmp_path, capsys):
    campaign = tmp_path / "c.txt"
    campaign.write_text(f'fig3 {{"k": [0.5]}}\n{line}\n')
    with pytest.raises(ValueError, match="^" + str(tmp_path).replace("\\", "\\\\") + "/"):
        read_campaign(campaign)
    with pytest.raises(SystemExit) as exit_:
        main(["campaign", str(campaign), "--results", str(tmp_path)])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "line, message",
    [
        ('fig33 {"k": [0.5]}', "unknown figure 'fig33'"),
        ('fig3 {"kk": [0.5]}', "unknown field 'kk'"),
        ('fig3 {"k": [0.2]}', "k=0.2 is not in this figure's grid"),
        ('fig8 {"k": [0.3]}', "declares no grid of CIFAR-10 runs"),
    ],
)
def test_make_campaign_refuses_a_bad_file_before_starting_a_worker(line, message, tmp_path):
    campaign = tmp_path / "bad.txt"
    campaign.write_text(f'fig3 {{"k": [0.5]}}\n{line}\n')
    logs = set((REPO / "logs").glob("*")) if (REPO / "logs").exists() else set()
    done = subprocess.run(
        ["make", "-s", "campaign", f"CAMPAIGN={campaign}", f"RESULTS={tmp_path / 'results'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and message in done.stderr
    assert set((REPO / "logs").glob("*")) == logs  # no worker, no log
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("native, trained", [(False, ["fp32"]), (True, ["fp32", "bf16"])])
def test_a_worker_skips_bf16_runs_where_bf16_is_emulated(
    tmp_path, monkeypatch, capsys, native, trained
):
    """A bf16 run on a CPU without bf16 instructions is many times slower than fp32: a worker on
    such a machine leaves lines whose runs train in bf16 (read from the runs' configs, not the
    line's text: the second line never names its precision) for a machine that has them."""
    import papermill

    calls = []
    monkeypatch.setattr(worker, "bf16_native", lambda: native)
    monkeypatch.setattr(
        papermill,
        "execute_notebook",
        lambda notebook, out, parameters, **_: calls.append(parameters["only"]),
    )
    monkeypatch.setenv("SUPERMASK_STASH", str(tmp_path / "stash"))
    campaign = tmp_path / "c.txt"
    campaign.write_text(
        'budget {"epochs": [10], "precision": ["fp32"], "k": [0.5]}\n'
        'budget {"epochs": [10], "method": ["dense"]}\n'
    )
    assert worker.work(campaign, "paper", tmp_path / "results", tmp_path / "figures", tmp_path) == 0
    assert [("fp32" if "fp32" in only else "bf16") for only in calls] == trained
    assert ("skipped budget" in capsys.readouterr().out) == (not native)


def test_after_a_line_a_worker_redraws_the_other_figures_that_hold_its_runs(
    tmp_path, monkeypatch, capsys
):
    """Figure 6's Conv4 Zhou et al. N_k run is also in the budget study's grid: once a line
    finishes it, the worker redraws the budget study (not Figure 6 again: its own notebook did
    that). A line whose runs were already finished, or that finished nothing, redraws nothing.
    Catches a worker that leaves the other figures' CSVs stale, the fault the committed-figure
    test found by hand."""
    import papermill

    results = tmp_path / "results"
    monkeypatch.setenv("SUPERMASK_STASH", str(tmp_path / "stash"))
    monkeypatch.setattr(worker, "bf16_native", lambda: True)
    lines = worker.campaign_lines(
        _campaign(
            tmp_path, 'fig6 {"model": ["conv4"], "method": ["zhou"], "init": ["kaiming_normal"]}'
        ),
        "short",
        results,
        tmp_path,
    )
    (config,) = lines[0][1]

    committed = REPO / "results" / "runs" / f"{config.name}-ae3bcfea9779"

    def trains(notebook, out, parameters, **_):
        shutil.copytree(committed, results / "runs" / committed.name, dirs_exist_ok=True)

    redrawn = []
    monkeypatch.setattr(papermill, "execute_notebook", trains)
    monkeypatch.setattr(
        redraw_module, "redraw", lambda figure, profile, *_: redrawn.append((figure, profile))
    )
    campaign = tmp_path / "c.txt"
    assert worker.work(campaign, "short", results, tmp_path / "figures", tmp_path) == 0
    assert redrawn == [("budget", "paper")]
    assert "budget at paper redrawn" in capsys.readouterr().out
    assert worker.work(campaign, "short", results, tmp_path / "figures", tmp_path) == 0
    assert redrawn == [("budget", "paper")]  # already finished before the line: nothing new


def _campaign(tmp_path, *lines):
    path = tmp_path / "c.txt"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_two_workers_share_one_campaign_each_run_trained_once(tmp_path, smoke_data_dir):
    """Two workers started at once on one campaign: every run is trained by exactly one of them,
    and the figure's CSV holds every run."""
    campaign = tmp_path / "c.txt"
    campaign.write_text("lowk\n")
    env = {**os.environ, "SUPERMASK_STASH": str(tmp_path / "stash"), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "supermask",
        "worker",
        str(campaign),
        "--profile",
        "smoke",
        "--results",
        str(tmp_path / "results"),
        "--figures",
        str(tmp_path / "figures"),
        "--data-dir",
        str(smoke_data_dir),
    ]
    workers = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    logs = [process.communicate(timeout=600)[0] for process in workers]
    assert [process.returncode for process in workers] == [0, 0], logs
    trainers = [
        (run / "trainers.log").read_text().splitlines()
        for run in (tmp_path / "results" / "runs").iterdir()
    ]
    assert len(trainers) == 4 and all(len(lines) == 1 for lines in trainers), trainers
    table = tables.read_csv(tmp_path / "results" / "smoke" / "lowk.csv")
    assert list(table["status"]) == ["finished"] * 4


def test_a_campaign_line_and_a_notebook_s_only_go_through_one_parser(tmp_path):
    text = '{"model": "conv2", "k": [0.1, 0.5]}'
    (tmp_path / "c.txt").write_text(f"fig3 {text}\nfig3\n")
    whole, empty = read_campaign(tmp_path / "c.txt")
    assert whole.only == parse_only(text) == {"model": ["conv2"], "k": [0.1, 0.5]}
    assert empty.only == {} and parse_only("{}") is None  # both select the whole grid
    with pytest.raises(ValueError, match="^here: unknown field 'kk'; valid: model, "):
        parse_only('{"kk": [1]}', where="here")


def _missing_runs_csv(results, profile, figure, configs):
    """The figure's CSV as a notebook writes it before any of ``configs`` is trained."""
    frame = tables.results_frame([None] * len(configs), figure, profile.name, configs=configs)
    tables.write_csv(frame, results / profile.name / f"{figure}.csv")


def test_a_csv_row_reads_back_as_its_run_even_from_an_older_csv(tmp_path):
    """Catches a row whose counts come back as floats or whose empty cells come back as NaN: the
    config would hash to another run, and the estimate would count every run as new."""
    configs = [
        RunConfig(model="conv4", k=0.3, epochs=20, precision="bf16"),
        RunConfig(model="conv2", method="dense", optimizer="adam", train_subset=500),
    ]
    _missing_runs_csv(tmp_path, get_profile("short"), "fig3", configs)
    frame = tables.read_csv(tmp_path / "short" / "fig3.csv")
    assert [tables.row_config(row) for _, row in frame.iterrows()] == configs
    old = frame.drop(columns=["precision"])  # CSVs written before precision was a field
    assert tables.row_config(old.iloc[1]) == configs[1]  # fp32, the value every run had then
    with pytest.raises(ValueError, match="reads back as run"):
        tables.row_config(frame.iloc[0].replace({0.3: 0.5}))


def test_campaign_cli_says_what_the_runs_left_cost_one_worker(tmp_path, tiny_data_dir, capsys):
    """The runs come from the figures' notebooks (a figure with no CSV yet counts too), the time
    from the speed measured here: a resumed run at its own latest epochs."""
    profile = get_profile("short")
    resumed = profile.apply(
        model="conv2", method="edge-popup", init="signed_constant", k=0.1, seed=0
    )
    store = store_for(tmp_path, tiny_data_dir, progress=False)
    store.run_dir(resumed).mkdir(parents=True)
    torch.save(
        {"epoch": 2, "history": [{}] * 2, "epoch_s": [30.0, 30.0], "wall_s": 60.0},
        store.checkpoint_path(resumed),
    )
    campaign = tmp_path / "c.txt"
    campaign.write_text(
        'fig3 {"model": ["conv2"], "init": ["signed_constant"], "k": [0.1]}\n'
        'fig6 {"model": ["conv2"], "init": ["xavier_normal"], "k": [0.1]}\n'
    )
    assert (
        main(
            [
                "campaign",
                str(campaign),
                "--profile",
                "short",
                "--results",
                str(tmp_path),
                "--data-dir",
                str(tiny_data_dir),
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert out.startswith("| run | test acc.") and "not run yet" in out
    # 18 epochs left at the resumed run's 30 s, and 20 for the fresh one at the same speed.
    assert err.startswith(
        "c (short): 0 of 2 runs in the store, 2 to train (38 epochs, 1 resumed "
        "from a checkpoint); time: 19 min, at the speed measured on "
    ), err
    threads = torch.get_num_threads()  # an estimate for 3 threads leaves this process's alone:
    main(
        [
            "campaign",
            str(campaign),
            "--profile",
            "short",
            "--results",
            str(tmp_path),
            "--data-dir",
            str(tiny_data_dir),
            "--threads",
            "3",
        ]
    )  # tests train in-process after
    assert torch.get_num_threads() == threads
    assert "3 threads)" in capsys.readouterr().err or torch.cuda.is_available()
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "campaign",
                str(campaign),
                "--results",
                str(tmp_path),
                "--data-dir",
                str(tmp_path / "nowhere"),
            ]
        )
    assert exit_.value.code == 2
    assert f"--data-dir {tmp_path / 'nowhere'}: " in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["campaign", str(campaign), "--results", str(tmp_path), "--threads", "0"])
    assert exit_.value.code == 2 and "--threads must be >= 1, got 0" in capsys.readouterr().err


def test_the_stash_carries_who_trained_an_unfinished_run_into_the_next_session(tmp_path):
    """Without its trainers.log a run resumed in a new session records only its last worker."""
    run_dir = tmp_path / "results" / "runs" / "conv2-edge-popup-0123456789abcdef"
    run_dir.mkdir(parents=True)
    for name, text in (
        ("config.json", "{}"),
        ("checkpoint.pt", "state"),
        ("trainers.log", "2026-12-04T10:00:00+0000 vm:1\n"),
    ):
        (run_dir / name).write_text(text)
    assert stash.save(tmp_path / "results", tmp_path / "stash") == [run_dir.name]
    assert stash.save(tmp_path / "results", tmp_path / "stash") == []  # the copy is current
    shutil.rmtree(run_dir)  # a new session lays the checkout anew
    assert stash.restore(tmp_path / "results", tmp_path / "stash") == [run_dir.name]
    assert (run_dir / "checkpoint.pt").read_text() == "state"
    assert (run_dir / "trainers.log").read_text() == "2026-12-04T10:00:00+0000 vm:1\n"
    (run_dir / "result.json").write_text("{}")  # it finished: its copy goes at the next save
    stash.save(tmp_path / "results", tmp_path / "stash")
    assert not (tmp_path / "stash" / run_dir.name).exists()


def test_a_campaign_becomes_a_runs_file_for_a_lent_gpu(tmp_path, tiny_data_dir, capsys):
    """The runs file holds the campaign's unfinished runs, each reading back to the very run
    (hash) its figure looks up; a finished run is left out."""
    from supermask import worker
    from supermask.runs.offload import read_runs

    campaign = tmp_path / "c.txt"
    campaign.write_text('fig6 {"model": ["conv2"], "k": [0.1]}\n')
    configs = [
        c for _, cs in worker.campaign_lines(campaign, "short", tmp_path, tiny_data_dir) for c in cs
    ]
    store = store_for(tmp_path, tiny_data_dir, progress=False)
    store.start(configs[0])
    store.save_result(
        configs[0],
        {
            "hash": configs[0].hash,
            "config": configs[0].to_dict(),
            "status": "finished",
            "data_fingerprint": store.data.fingerprint,
        },
    )
    runs = tmp_path / "gpu" / "runs.txt"
    argv = ["campaign", str(campaign), "--profile", "short", "--results", str(tmp_path)]
    assert main([*argv, "--data-dir", str(tiny_data_dir), "--runs-file", str(runs)]) == 0
    assert [c.hash for c in read_runs(runs)] == [c.hash for c in configs[1:]]
    assert f"{len(configs) - 1} unfinished runs written to {runs}" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--runs-file", str(tmp_path / "file" / "runs.txt")])
    assert exit_.value.code == 2 and "--runs-file" in capsys.readouterr().err


def test_a_campaign_runs_at_the_profile_its_file_names(tmp_path, tiny_data_dir, capsys):
    """A campaign file's 'profile' line decides where its runs are looked up and trained; a
    --profile that contradicts it is refused, before anything is written."""
    from supermask.runs.offload import read_runs

    campaign = tmp_path / "c.txt"
    campaign.write_text('# a comment\nprofile short\nfig6 {"model": ["conv2"], "k": [0.1]}\n')
    runs = tmp_path / "runs.txt"
    argv = ["campaign", str(campaign), "--results", str(tmp_path), "--data-dir", str(tiny_data_dir)]
    assert main([*argv, "--runs-file", str(runs)]) == 0
    assert {c.epochs for c in read_runs(runs)} == {20}  # short's, not the paper's 100
    assert all(line.startswith("short ") for line in runs.read_text().splitlines())
    runs.unlink()
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--profile", "paper", "--runs-file", str(runs)])
    assert exit_.value.code == 2 and not runs.exists()
    assert "is a campaign at profile short; --profile paper contradicts it" in (
        capsys.readouterr().err
    )
    assert main([*argv, "--profile", "short"]) == 0


def test_a_file_without_a_profile_line_is_tabulated_at_the_profile_its_worker_trains(
    tmp_path, tiny_data_dir, capsys
):
    """Catches the table and the worker falling back to different profiles: the table would
    count the runs of another profile than the ones being trained."""
    campaign = tmp_path / "c.txt"
    campaign.write_text('fig3 {"model": ["conv2"], "init": ["signed_constant"], "k": [0.1]}\n')
    assert resolve_profile(campaign, None) == "short"
    argv = ["campaign", str(campaign), "--results", str(tmp_path), "--data-dir", str(tiny_data_dir)]
    assert main(argv) == 0
    assert capsys.readouterr().err.startswith("c (short): 0 of 1 runs in the store")


def test_every_committed_campaign_line_selects_runs_of_its_figure():
    """Catches a campaign file that a worker refuses at its start (a value its figure's grid
    lost, a field misspelt) or a line that selects nothing: found only when a session starts
    it. Files without a profile line are runs files for a lent GPU, not campaigns."""
    campaigns = [p for p in sorted((REPO / "campaigns").glob("*.txt")) if campaign_profile(p)]
    assert len(campaigns) >= 10
    for path in campaigns:
        lines = worker.campaign_lines(path, resolve_profile(path, None), REPO / "results")
        assert lines and all(runs for _, runs in lines), path
