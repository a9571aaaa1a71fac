"""REPORT.md is what the committed CSVs give (supermask.report)."""

import re
import shutil

import pandas as pd

from supermask import fresh_clone, registry, report
from supermask.config import get_profile
from supermask.runs.campaign import campaign_table, read_campaign, to_markdown

from conftest import REPO


def test_report_md_is_what_the_committed_csvs_give():
    """Fails when a CSV changed and `make report` was not run (or REPORT.md was hand-edited)."""
    assert (REPO / "REPORT.md").read_text() == report.build(REPO)
    assert report.main(["--check", "--root", str(REPO)]) == 0


def test_readme_quotes_the_reports_summary():
    readme = (REPO / "README.md").read_text()
    assert report.summary_table(REPO, "REPORT.md") in readme
    assert report.readme_with_summary(readme, REPO) == readme


def test_make_report_writes_every_block_the_pages_say_it_writes(tmp_path):
    """Each page's "make report writes this" blocks, emptied, come back as committed. Catches a
    marker the report does not fill (docs/RESULTS.md's summary stood at 'budget 37 of 37'
    against 68 while --check passed)."""
    shutil.copytree(
        REPO / "results",
        tmp_path / "results",
        ignore=shutil.ignore_patterns("model.pt", "checkpoint*", "claim"),
    )
    for folder in ("campaigns", "figures"):  # the status table links the plots that exist
        shutil.copytree(REPO / folder, tmp_path / folder)
    block = re.compile(r"(<!-- [^>]*: make report writes this \w+ -->\n).*?(<!-- end -->)", re.S)
    pages = ["README.md", "PROTOCOL.md", *(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))]
    emptied = 0
    for name in pages:
        text, n = block.subn(r"\1stale\n\2", (REPO / name).read_text())
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
        emptied += n
    assert emptied >= 15
    report.main(["--root", str(tmp_path)])  # --check compares the same pages
    for name in pages:
        assert (tmp_path / name).read_text() == (REPO / name).read_text(), name


def test_the_readme_is_short_and_generated_where_it_quotes_numbers():
    """A newcomer reads it in two minutes; its status and summary tables are what the store and
    the CSVs give (catches a README that grew back, or a table typed by hand)."""
    readme = (REPO / "README.md").read_text()
    assert len(readme.encode()) <= 12_000
    assert report.readme_with_status(readme, REPO) == readme
    assert report.LOW_K_START in readme and report.readme_with_low_k(readme, REPO) == readme
    assert report.STATUS_START in readme and "| fig3 | 48 / 48 |" in readme
    assert report.readme_with_fresh_clone(readme, REPO) == readme
    typed = re.sub(r"<!-- [^>]*make report writes[^>]*-->.*?<!-- end -->", "", readme, flags=re.S)
    measured = re.findall(r"\b\d[\d,.]*\s*(?:s|min|minutes|h|hours|CPU-hours|[KMG]i?B)\b", typed)
    assert not measured, (
        f"typed measurements in the README, outside its generated blocks: {measured}"
    )


def test_the_fresh_clone_paragraph_says_what_was_measured():
    """Catches a paragraph that hides a failed command or a dirty tree, or drops the machine."""
    record = {
        "commit": "abcdef0123",
        "measured_at": "2026-12-06T18:00:00+00:00",
        "machine": "Intel Xeon (AMX), 2 CPUs",
        "beside": "one campaign worker",
        "venv_bytes": 6.0e9,
        "steps": [
            {"command": "make setup", "seconds": 126.0, "exit_status": 0, "git_status_clean": True},
            {"command": "make plots", "seconds": 114.0, "exit_status": 0, "git_status_clean": True},
            {
                "command": "make test",
                "seconds": 1500.0,
                "exit_status": 2,
                "git_status_clean": False,
            },
        ],
    }
    text = fresh_clone.readme_paragraph(record)
    assert "Intel Xeon (AMX), 2 CPUs, one campaign worker; commit abcdef0, 2026-12-06" in text
    assert "`make setup` took 2.1 min and made a 6.0 GB `.venv/`" in text
    assert "`make test` 25.0 min, then failed" in text and "not clean after `make test`" in text
    record["steps"] = record["steps"][:2]
    assert fresh_clone.readme_paragraph(record).endswith("each leaving `git status` clean.")
    assert "No fresh clone measured yet" in fresh_clone.readme_paragraph(None)


def test_the_docs_quote_every_campaign_they_name_as_the_committed_results_give():
    """A run that lands changes a campaign's table; `make report` must have rewritten it."""
    readme = "".join(
        page.read_text() for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    )
    quoted = [(m["file"], m["profile"]) for m in report.CAMPAIGN_TABLE.finditer(readme)]
    named = set(re.findall(r"make campaign CAMPAIGN=(campaigns/\S+\.txt)", readme))
    assert named <= {file for file, _ in quoted}, named  # a table without its marker is unchecked
    assert len(quoted) >= 6
    for file, profile in quoted:
        table = campaign_table(read_campaign(REPO / file), REPO / "results", get_profile(profile))
        assert to_markdown(table) in readme, file
    for page in sorted((REPO / "docs").glob("*.md")):
        assert report.readme_with_campaign_tables(page.read_text(), REPO) == page.read_text()


def test_make_report_rewrites_a_stale_campaign_table(tmp_path):
    """Catches a report that leaves the README's campaign tables alone, or a check blind to them."""
    shutil.copytree(REPO / "results" / "paper", tmp_path / "results" / "paper")
    (tmp_path / "campaigns").mkdir()
    shutil.copy(REPO / "campaigns" / "conv2-paper.txt", tmp_path / "campaigns")
    marker = (
        "<!-- campaign campaigns/conv2-paper.txt at profile paper: make report writes this "
        "table -->"
    )
    (tmp_path / "README.md").write_text(f"{report.README_START}\n{report.README_END}\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "RESULTS.md").write_text(
        f"Intro.\n\n{marker}\n| stale |\n{report.README_END}\n\nAfter.\n"
    )
    assert report.main(["--check", "--root", str(tmp_path)]) == 1
    assert report.main(["--root", str(tmp_path)]) == 0
    readme = (tmp_path / "docs" / "RESULTS.md").read_text()
    table = to_markdown(
        campaign_table(
            read_campaign(tmp_path / "campaigns" / "conv2-paper.txt"),
            tmp_path / "results",
            get_profile("paper"),
        )
    )
    assert f"{marker}\n{table}\n{report.README_END}\n\nAfter.\n" in readme
    assert "stale" not in readme and "76.6" in table
    assert report.main(["--check", "--root", str(tmp_path)]) == 0


def test_the_report_follows_a_changed_result(tmp_path):
    """Catches a report that copies text instead of judging the CSVs."""
    shutil.copytree(REPO / "results" / "paper", tmp_path / "results" / "paper")
    before = report.build(tmp_path)
    path = tmp_path / "results" / "paper" / "fig3.csv"
    runs = pd.read_csv(path)
    runs.loc[runs["status"] == "finished", "status"] = "diverged"
    runs.to_csv(path, index=False)
    after = report.build(tmp_path)
    assert before != after
    assert "0 of 240 runs finished (236 missing, 4 diverged)" in after
    assert report.main(["--check", "--root", str(tmp_path)]) == 1  # no REPORT.md there


def test_the_report_pairs_every_run_with_its_other_precision_and_names_the_devices():
    """Catches a precision table that hides a pair, or one that blames bf16 for what a change
    of device did: Conv2 dense SGD at 20 epochs is fp32 on a GPU against bf16 on a CPU."""
    text = (REPO / "REPORT.md").read_text()
    section = text[text.index("## Precision and device") :].split("\n## ")[0]
    sgd = next(line for line in section.splitlines() if "Conv2 dense (SGD), seed 0, 20" in line)
    assert "+3.2 | 1.5 | no | no: precision and device differ together" in sgd
    assert section.count("| yes | yes |") >= 5  # same-device pairs within the gate


def test_every_figure_with_claims_is_in_the_report():
    text = (REPO / "REPORT.md").read_text()
    for figure in registry.FIGURES.values():
        assert f"## {figure.heading}" in text
    assert "| paper's claim | this run | evidence |" in text


def test_verdicts_inside_the_measured_seed_noise_are_within_noise(tmp_path):
    """Catches a report (or its summary's tally) that decides on one seed where the committed
    seeds say the margin is noise: here made-up seeds 5 points apart."""
    for profile in ("paper", "short"):
        shutil.copytree(REPO / "results" / profile, tmp_path / "results" / profile)
    path = tmp_path / "results" / "paper" / "budget.csv"
    study = pd.read_csv(path)
    short = (
        (study["epochs"] == 20)
        & (study["precision"] == "bf16")
        & (study["configuration"] == "edge-popup U_k k=0.5")
    )
    seed0 = study[short & (study["seed"] == 0)]
    assert sorted(seed0["model"]) == ["conv2", "conv4"]
    spread = [
        seed0.assign(
            seed=seed,
            status="finished",
            test_acc=seed0["test_acc"] + shift,
            hash=seed0["hash"] + f"-{seed}",
        )
        for seed, shift in ((1, 0.05), (2, -0.05))
    ]
    before = report.summary_table(tmp_path)
    pd.concat([study[~(short & (study["seed"] != 0))], *spread]).to_csv(path, index=False)
    after = report.build(tmp_path)
    assert "within noise (holds by " in after and "std (points) |" in after
    row = next(
        line
        for line in report.summary_table(tmp_path).splitlines()
        if line.startswith("| [fig3]") and "| short |" in line
    )
    assert int(row.rstrip(" |").split("/")[2]) > 0
    assert before != report.summary_table(tmp_path)


def test_the_summary_names_each_machine_once_however_runs_moved_between_them():
    """Catches a summary that lists a resumed run's whole device string as one more machine."""
    a, b = "cpu: A (1 threads)", "cpu: B (1 thread)"
    runs = pd.DataFrame(
        {
            "status": ["finished"] * 4,
            "wall_s": [3600.0] * 4,
            "device": [
                a,
                b,
                f"{a} (epochs 1-12); {b} (epochs 13-20)",
                f"device not recorded (epochs 1-3); {b} (epochs 4-20)",
            ],
        }
    )
    assert report._summary(runs) == (
        "4 of 4 runs finished; 4.0 h of training (each run's median epoch time x its epochs, so "
        "a stopped worker does not count; 4.0 h of wall time) on cpu: A (1 thread), "
        "cpu: B (1 thread) (1 run resumed on another machine; 1 run with epochs whose machine was "
        "not recorded)"
    )
    assert report._summary(runs[:2]).endswith("on cpu: A (1 thread), cpu: B (1 thread)")


def test_the_readme_says_what_the_committed_masks_add_to_a_clone(tmp_path):
    from supermask.report import masks_sentence, readme_with_masks

    for name, size in (("a", 400_000), ("b", 250_000)):
        (tmp_path / "results" / "runs" / name).mkdir(parents=True)
        (tmp_path / "results" / "runs" / name / "mask.npz").write_bytes(b"x" * size)
    (tmp_path / "results" / "runs" / "c").mkdir()  # a run without a mask (dense)
    assert masks_sentence(tmp_path).startswith("The store commits 2 subnetworks' masks, 0.7 MB")
    readme = "a\n<!-- masks: make report writes this sentence -->\nold\n<!-- end -->\nb\n"
    assert "old" not in readme_with_masks(readme, tmp_path)
    assert "2 subnetworks' masks" in readme_with_masks(readme, tmp_path).splitlines()[2]


def _low_k_prose(tmp_path, long_losses: list[float] | None) -> str:
    """The low-k section's sentence for Figure 3's U_k run and the scaled one at 20 epochs, and
    the 100-epoch U_k run with ``long_losses`` per epoch (None: not finished)."""
    stuck, learns = [2.3026] * 20, [2.30, 2.2, *[1.5] * 18]
    runs = [
        ("a", "signed_constant", 20, stuck, 0.102),
        ("b", "scaled_signed_constant", 20, learns, 0.713),
    ]
    if long_losses is not None:
        runs.append(("c", "signed_constant", 100, long_losses, 0.55))
    frame = pd.DataFrame(
        [
            {"hash": h, "init": i, "epochs": e, "status": "finished", "test_acc": a}
            for h, i, e, _, a in runs
        ]
        + (
            []
            if long_losses is not None
            else [
                {
                    "hash": "c",
                    "init": "signed_constant",
                    "epochs": 100,
                    "status": "missing",
                    "test_acc": None,
                }
            ]
        )
    )
    curves = pd.DataFrame(
        [
            {"hash": h, "epoch": n + 1, "loss": loss}
            for h, _, _, losses, _ in runs
            for n, loss in enumerate(losses)
        ]
    )
    curves.to_csv(tmp_path / "lowk_curves.csv", index=False)
    return report._low_k_section(frame, tmp_path / "lowk_curves.csv")[-1]


def test_the_low_k_answer_says_what_it_means_for_figure_3_in_each_outcome(tmp_path):
    """The rule (leave chance: loss 0.05 below ln 10) decides the sentence: catches a
    conclusion ('cannot start learning') kept after the 100-epoch run leaves chance, and an
    answer read from the wrong run."""
    waiting = _low_k_prose(tmp_path, None)
    assert "leaves chance at epoch 2 in the same 20 epochs" in waiting
    assert "not finished yet" in waiting and "has not started learning" in waiting
    never = _low_k_prose(tmp_path, [2.3026] * 100)
    assert "still never leaves chance (55.0 %)" in never and "cannot start learning" in never
    late = _low_k_prose(tmp_path, [2.3026] * 56 + [2.2472] + [2.0] * 43)
    assert "leaves chance at epoch 57 and ends at 55.0 %" in late
    assert "late start (56 of 100 epochs at chance)" in late and "cannot" not in late
