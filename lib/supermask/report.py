"""REPORT.md, written from the committed CSVs only: every claim of the paper (and of PaB and
IteRand) with its verdict at each profile and the numbers behind it, the runs and training time
each figure took, and links to the figures. Nothing in it is typed by hand, so it cannot go
stale: ``make report`` rewrites it and a test fails when it differs from what the CSVs give.
It also rewrites README.md's summary of the report, its status table (every figure's runs finished
and CPU-hours left), its fresh-clone timings and the campaign tables the docs quote, and
PROTOCOL.md's table of hyperparameters from the protocol table in the code.

Usage: ``python -m supermask.report [--check]`` from the repository root.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

from .config import PROFILES, get_profile
from .figures import budget, claims
from .names import DISTRIBUTION_NAMES, math_names, model_name, run_name
from .protocol import PAPER_EPOCHS
from .provenance import device_label, same_machine_kind
from .registry import FIGURES
from .runs import tables
from .runs.campaign import campaign_table, read_campaign
from .runs.campaign import to_markdown as table_markdown
from .runs.records import recorded_devices

__all__ = [
    "build",
    "main",
    "readme_with_campaign_tables",
    "readme_with_status",
    "readme_with_summary",
    "summary_table",
]

PROFILE_ORDER = ["paper", "short", "smoke"]  # the most faithful first


def _profiles(results: Path) -> list[str]:
    present = [p.name for p in results.iterdir() if p.is_dir() and p.name in PROFILES]
    return sorted(
        present, key=lambda name: (PROFILE_ORDER.index(name) if name in PROFILE_ORDER else 99, name)
    )


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 360 else f"{seconds / 60:.0f} min"


def _runs(n: int) -> str:
    return f"{n} run{'s' if n != 1 else ''}"


def _compute_s(runs: pd.DataFrame) -> float:
    """Seconds of training of the finished runs: each one's median epoch time times its epochs,
    so that a worker stopped for a while (SIGSTOP, a session's end) does not count."""
    done = runs[runs["status"] == "finished"]
    if done.empty:
        return 0.0
    wall = done["wall_s"].fillna(0)
    if "median_epoch_s" not in done or "epochs_run" not in done:  # CSVs from before epoch times
        return float(wall.sum())
    return float((done["median_epoch_s"] * done["epochs_run"]).fillna(wall).sum())


def _summary(runs: pd.DataFrame) -> str:
    counts = runs["status"].value_counts()
    finished = int(counts.get("finished", 0))
    others = ", ".join(f"{n} {s}" for s, n in counts.items() if s != "finished")
    recorded = [recorded_devices(device_label(d)) for d in runs["device"].dropna().astype(str)]
    devices = ", ".join(sorted({d for ds in recorded for d in ds if d is not None})) or "none yet"
    # A campaign carried between sessions resumes runs on whatever machine a session gets.
    moved = sum(len(set(ds) - {None}) > 1 for ds in recorded)
    unknown = sum(None in ds for ds in recorded)
    notes = ([f"{_runs(moved)} resumed on another machine"] if moved else []) + (
        [f"{_runs(unknown)} with epochs whose machine was not recorded"] if unknown else []
    )
    if notes:
        devices += f" ({'; '.join(notes)})"
    wall = runs["wall_s"].fillna(0).sum()
    compute = _compute_s(runs)
    return (
        f"{finished} of {len(runs)} runs finished"
        + (f" ({others})" if others else "")
        + f"; {_hours(compute)} of training (each run's median epoch time x its epochs, so a "
        f"stopped worker does not count; {_hours(wall)} of wall time) on {devices}"
    )


def _links(figures: Path, root: Path, profile: str, names: list[str]) -> str:
    links = [
        f"[{name}]({(figures / profile / f'{name}.png').relative_to(root)})"
        for name in names
        if (figures / profile / f"{name}.png").exists()
    ]
    return ("Figures: " + ", ".join(links)) if links else "No figure drawn yet."


def _published_table_link(figures: Path, root: Path) -> str:
    """The published Table 2 as drawn at the most faithful profile that drew it."""
    for profile in PROFILE_ORDER:
        if (figures / profile / "imagenet_table2.png").exists():
            return _links(figures, root, profile, ["imagenet_table2"]).removeprefix("Figures: ")
    return "not drawn yet (`make fig8`)."


def _budget_section(runs: pd.DataFrame, profile: str) -> list[str]:
    budgets, reference = budget.study_epochs(PROFILES[profile])
    main = runs[runs["precision"] == PROFILES[profile].precision]
    table = (
        main.pivot_table(
            index="configuration", columns="epochs", values="test_acc", aggfunc="mean"
        ).reindex(list(budget.CONFIGURATIONS))
        * 100
    )
    table = table.reindex(columns=sorted(set(budgets) | {reference}))
    table = table.map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    table.columns = [f"{e} epochs" for e in table.columns]
    table.index = [math_names(name) for name in table.index]
    candidates = [e for e in budget.CANDIDATES if e in budgets] or budgets
    choice = budget.pick_budget(
        runs, reference, PROFILES[profile].precision, candidates, max(candidates)
    )
    verdicts = budget.claims_by_budget(runs, PROFILES[profile].precision)
    return [
        "Final test accuracy (%) of each configuration against the schedule length:",
        "",
        table_markdown(table.rename_axis("configuration").reset_index()),
        "",
        f"**The rule:** {choice.describe()}",
        "",
        "Each Conv2 claim at each schedule length:",
        "",
        table_markdown(verdicts.rename_axis("claim").reset_index()),
        *_fidelity(runs),
        *_shortfall(runs, PROFILES[profile]),
        *_seed_spread(runs, PROFILES[profile]),
    ]


def _budget_table(intro: str, table: pd.DataFrame, decimals: int) -> list[str]:
    """A budget table under its one-line introduction, its empty cells blank (runs not finished)."""
    shown = table.map(lambda v: "" if pd.isna(v) else f"{v:.{decimals}f}")
    return ["", intro, "", table_markdown(shown.reset_index())]


def _shortfall(runs: pd.DataFrame, profile) -> list[str]:
    """What profile short gives up per depth."""
    return _budget_table(
        "What profile short gives up, per depth: edge-popup $U_k$ k=0.5 after short's "
        "schedule and after the reference, both in short's precision:",
        budget.shortfall(runs, profile),
        1,
    )


def _seed_spread(runs: pd.DataFrame, profile) -> list[str]:
    """How far one seed moves a short result at k=0.5, per depth (the middle-k family's seeds;
    the noise every family gives is in the report's seed-noise section)."""
    return _budget_table(
        "How far the seed moves edge-popup $U_k$ k=0.5 at short's schedule (with every "
        "other seeded configuration, this is what the seed-noise section pools):",
        budget.seed_spread(runs, profile),
        2,
    )


def _noise_section(root: Path) -> list[str]:
    """The seed noise every verdict is weighed against, per family of configurations."""
    noise = budget.seed_noise_for(PROFILES["paper"], root / "results")
    head = ["## Seed noise per family of configurations", ""]
    if noise is None:
        return head + [
            "Not measured yet: no configuration has two finished seeds, so every "
            "verdict is decided on its margin alone.",
            "",
        ]
    table = noise.table()
    table["std (points)"] = [f"{v:.2f}" if pd.notna(v) else "" for v in table["std (points)"]]
    return head + [
        "One run's final test accuracy std, pooled over every committed configuration that "
        "finished more than one seed, with its 95 % interval from the chi-square distribution. "
        f"A verdict is within noise where its margin is under {noise.sigmas:g} std of its own "
        "comparison (the families and seed counts of the accuracies it compares); a family "
        f"without seeds takes the std pooled over those with seeds "
        f"({100 * noise.pooled():.2f} points), and a verdict leaning on it says so. The noise "
        "is applied at every profile, though measured at the schedules named.",
        "",
        table_markdown(table),
        "",
    ]


def _fidelity(runs: pd.DataFrame) -> list[str]:
    """The bf16 fidelity gate: each bf16 run against its fp32 twin (nothing before one exists)."""
    gate = budget.fidelity(runs)
    if gate.empty:
        return []
    judged = gate["within gate"].notna()
    verdict = (
        f"{int(gate.loc[judged, 'within gate'].sum())} of {len(gate)} pairs within their "
        f"gate" + ("" if judged.all() else f" ({(~judged).sum()} not finished)")
        if judged.any()
        else "not judged yet"
    )
    shown = gate.astype(object).where(gate.notna(), "")
    shown["configuration"] = gate["configuration"].map(math_names)
    for column, form in (
        ("fp32 (%)", "{:.1f}"),
        ("bf16 (%)", "{:.1f}"),
        ("bf16 - fp32 (points)", "{:+.2f}"),
    ):
        shown[column] = [form.format(v) if v != "" else "" for v in shown[column]]
    return [
        "",
        "bf16 against fp32 (the fidelity gate: 1.5 points at 10 epochs, 1.0 at the "
        f"reference): {verdict}.",
        "",
        table_markdown(shown),
    ]


def _low_k_section(runs: pd.DataFrame, curves_path: Path) -> list[str]:
    """Each Conv8 k = 0.1 run: when it left chance (tables.ESCAPE_MARGIN) and where it ended, and
    what that says of Figure 3's "worst at the ends" on the deep networks."""
    curves = pd.read_csv(curves_path) if curves_path.exists() else None
    escape = tables.escape_epochs(curves) if curves is not None else pd.Series(dtype="Int64")
    rows, left, accuracy = [], {}, {}
    for row in runs.to_dict("records"):
        finished = row["status"] == "finished"
        epoch = escape.get(row["hash"]) if finished else None
        left[(row["init"], int(row["epochs"]))] = None if not finished else epoch
        if finished:
            accuracy[(row["init"], int(row["epochs"]))] = 100 * row["test_acc"]
        rows.append(
            {
                "question": row.get("question", ""),
                "distribution": DISTRIBUTION_NAMES.get(row["init"], row["init"]),
                "epochs": int(row["epochs"]),
                "test acc. (%)": f"{100 * row['test_acc']:.1f}" if finished else row["status"],
                "leaves chance at epoch": (
                    "" if not finished else ("never" if pd.isna(epoch) else str(int(epoch)))
                ),
            }
        )
    lines = [table_markdown(pd.DataFrame(rows)), ""]
    plain = left.get(("signed_constant", 20))
    scaled = left.get(("scaled_signed_constant", 20))
    long_run = left.get(("signed_constant", PAPER_EPOCHS), "missing")
    if isinstance(long_run, str):  # no such run in the grid
        return lines
    if long_run is None:
        answer = (
            f"Whether $U_k$ leaves chance given the paper's {PAPER_EPOCHS} epochs: "
            "not finished yet."
        )
    elif pd.isna(long_run):
        answer = (
            f"Given the paper's {PAPER_EPOCHS} epochs $U_k$ still never leaves chance "
            f"({accuracy[('signed_constant', PAPER_EPOCHS)]:.1f} %)."
        )
    else:
        answer = (
            f"Given the paper's {PAPER_EPOCHS} epochs $U_k$ leaves chance at epoch "
            f"{int(long_run)} and ends at {accuracy[('signed_constant', PAPER_EPOCHS)]:.1f} %."
        )
    stalls = plain is not None and pd.isna(plain)
    if not (stalls and scaled is not None and not pd.isna(scaled)):
        return [*lines, answer]
    meaning = (  # what the answer says of Figure 3's claim, so far
        " Within 20 epochs, then, on the deep networks Figure 3's \"accuracy is worst at the "
        'ends of k" rests, at k = 0.1, on an initialisation that has not started learning.'
    )
    if long_run is not None and pd.isna(long_run):
        meaning = (
            ' So on the deep networks, Figure 3\'s "accuracy is worst at the ends of k" rests, '
            "at k = 0.1, on an initialisation that cannot start learning, not on what the "
            "subnetworks that k allows can do."
        )
    elif long_run is not None:
        meaning = (
            ' So on the deep networks, Figure 3\'s "accuracy is worst at the ends of k" owes '
            f"its k = 0.1 point in part to the unscaled initialisation's late start "
            f"({int(long_run) - 1} of {PAPER_EPOCHS} epochs at chance), not only to what the "
            "subnetworks that k allows can do."
        )
    return [
        *lines,
        f"The paper's scaled signed constant leaves chance at epoch {int(scaled)} in the same 20 "
        f"epochs in which the unscaled $U_k$ never does. {answer}{meaning}",
    ]


def _sections(root: Path) -> tuple[list[str], list[tuple]]:
    """The report's sections, and per figure and profile: (name, heading, profile, runs,
    claims, seed noise, budget notes)."""
    results, figures = root / "results", root / "figures"
    sections, judged = [], []
    for name, entry in FIGURES.items():
        if name == "fig8":  # ImageNet: its own section, below
            continue
        heading, figure_files = entry.heading, list(entry.plots)
        sections += [f"## {heading}", ""]
        found = False
        for profile in _profiles(results):
            path = results / profile / f"{name}.csv"
            if not path.exists():
                continue
            found = True
            curves = path.with_name(f"{name}_curves.csv")
            runs = tables.with_chance(
                pd.read_csv(path), pd.read_csv(curves) if curves.exists() else None
            )
            sections += [
                f"### At {PROFILES[profile].describe()}",
                "",
                _summary(runs) + ".",
                "",
                _links(figures, root, profile, figure_files),
                "",
            ]
            verdicts = claims.figure_claims(name, runs)
            noise = budget.seed_noise_for(PROFILES[profile], results)
            notes = budget.claim_notes_for(PROFILES[profile], results)
            if verdicts:
                sections += [claims.to_markdown(verdicts, notes, noise), ""]
            if name == "budget":
                sections += [*_budget_section(runs, profile), ""]
            if name == "lowk":
                sections += [*_low_k_section(runs, curves), ""]
            judged.append((name, heading, profile, runs, verdicts, noise, notes))
        if not found:
            sections += ["Not run at any profile yet.", ""]
    imagenet = [p for p in _profiles(results) if (results / p / "imagenet.csv").exists()]
    sections += [
        f"## {FIGURES['fig8'].heading}",
        "",
        (
            "Measured at profile " + ", ".join(imagenet) + "."
            if imagenet
            else "No ImageNet run at any profile: this project has no ImageNet copy. The "
            "figure shows the paper's published Table 2: " + _published_table_link(figures, root)
        ),
        "",
    ]
    return sections, judged


def summary_table(root: str | Path = ".", link_to: str = "") -> str:
    """One row per figure and profile: runs finished, training time, and how many claims have
    each kind of verdict (:data:`claims.KINDS`); each figure links to its section of
    ``link_to`` (the report)."""
    lines = [
        "| figure | profile | runs finished | training time (median epoch x epochs) | claims: "
        + " / ".join(claims.KINDS)
        + " |",
        "|---|---|---|---|---|",
    ]
    for name, heading, profile, runs, verdicts, noise, notes in _sections(Path(root))[1]:
        kinds = [
            claims.verdict_kind(claim, noise, (notes or {}).get(claim.statement))
            for claim in verdicts
        ]
        tally = [kinds.count(kind) for kind in claims.KINDS]
        lines.append(
            f"| [{name}]({link_to}#{_anchor(heading)}) | {profile} | "
            f"{(runs['status'] == 'finished').sum()} of {len(runs)} | "
            f"{_hours(_compute_s(runs))} | "
            + (" / ".join(map(str, tally)) if verdicts else "see its section")
            + " |"
        )
    return "\n".join(lines)


def _precision_pairs(root: Path) -> list[str]:
    """Every pair of finished CIFAR-10 runs in the store that differ only in precision, with
    their devices and the bf16 gate's verdict (budget.BF16_GATE; BF16_REFERENCE_GATE at the
    paper's schedule): where bf16 results and fp32 ones may stand in one figure."""
    from .config import RunConfig

    by_config: dict[str, dict[str, dict]] = {}
    for path in sorted((root / "results" / "runs").glob("*/result.json")):
        try:
            result = json.loads(path.read_text())
            config = RunConfig.from_dict(result["config"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if result.get("status") != "finished" or config.dataset != "cifar10":
            continue
        twin = {**config.to_dict(), "precision": None}
        key = json.dumps(twin, sort_keys=True)
        by_config.setdefault(key, {})[str(config.precision)] = {**result, "_config": config}
    rows = []
    for pair in by_config.values():
        if {"fp32", "bf16"} <= set(pair):
            fp32, bf16 = pair["fp32"], pair["bf16"]
            config = fp32["_config"]
            diff = 100 * (bf16["test_acc"] - fp32["test_acc"])
            gate = 100 * (
                budget.BF16_REFERENCE_GATE if config.epochs == PAPER_EPOCHS else budget.BF16_GATE
            )
            rows.append(
                {
                    "run": f"{model_name(config.model)} {run_name(config.to_dict())}, seed "
                    f"{config.seed}, {config.epochs} epochs",
                    "fp32 (%)": f"{100 * fp32['test_acc']:.1f}",
                    "fp32 device": device_label(str(fp32.get("device"))),
                    "bf16 (%)": f"{100 * bf16['test_acc']:.1f}",
                    "bf16 device": device_label(str(bf16.get("device"))),
                    "bf16 - fp32 (points)": f"{diff:+.1f}",
                    "gate": f"{gate:.1f}",
                    "within": "yes" if abs(diff) <= gate else "no",
                    "same device kind": "yes"
                    if same_machine_kind(fp32.get("device"), bf16.get("device"))
                    else "no: precision and device differ together",
                }
            )
    lines = [
        "## Precision and device",
        "",
        "Every pair of finished runs in the store that differ only in precision (fp32 against "
        "bf16 autocast), with the machine each trained on and the bf16 gate's verdict (within "
        f"{100 * budget.BF16_GATE:.1f} points; {100 * budget.BF16_REFERENCE_GATE:.1f} at the "
        "paper's 100 epochs). A pair trained on different kinds of device mixes two causes; "
        "a kind is the machine's name and its bf16 instructions (AMD's AVX-512 BF16 and "
        "Intel's AMX run different bf16 kernels, and their runs differ from the first epoch).",
        "",
    ]
    if not rows:
        return lines + ["No such pair yet.", ""]
    return lines + [table_markdown(pd.DataFrame(sorted(rows, key=lambda r: r["run"]))), ""]


def build(root: str | Path = ".") -> str:
    """The report's text for the repository at ``root``."""
    root = Path(root)
    lines = [
        "# Report: every claim, its verdict, the runs behind it",
        "",
        "Written by `make report` from the committed CSVs under `results/`; do not edit "
        "(a test fails when this file differs from what the CSVs give). Accuracies are on "
        "CIFAR-10 decoded from JPEG copies of the images (see README, Data), so a point or "
        "so off the paper's numbers is expected; profiles other than `paper` train far "
        "less than the paper, and their verdicts say what that budget shows, not what the "
        "paper's protocol would.",
        "",
    ]
    return (
        "\n".join(
            lines
            + [summary_table(root), ""]
            + _noise_section(root)
            + _precision_pairs(root)
            + _sections(root)[0]
        ).rstrip("\n")
        + "\n"
    )


README_START, README_END = "<!-- report summary: make report writes this table -->", "<!-- end -->"


def readme_with_summary(readme: str, root: str | Path = ".", link_to: str = "REPORT.md") -> str:
    """``readme`` with the block between the summary markers replaced by the summary table,
    its figures linked to ``link_to`` (the report, from where ``readme`` lies)."""
    start = readme.index(README_START)
    end = readme.index(README_END, start)
    return (
        readme[: start + len(README_START)]
        + "\n"
        + summary_table(root, link_to)
        + "\n"
        + readme[end:]
    )


STATUS_START = "<!-- status: make report writes this table -->"


def readme_with_status(readme: str, root: str | Path = ".") -> str:
    """``readme`` with the block between the status marker and the next end marker replaced by
    the status of every figure (:mod:`supermask.status`)."""
    from .status import status_markdown

    if STATUS_START not in readme:
        return readme
    start = readme.index(STATUS_START) + len(STATUS_START)
    end = readme.index(README_END, start)
    return readme[:start] + "\n" + status_markdown(Path(root) / "results") + "\n" + readme[end:]


LOW_K_START = "<!-- low-k: make report writes this table -->"


def readme_with_low_k(readme: str, root: str | Path = ".") -> str:
    """``readme`` with the block after the low-k marker replaced by the deep low-k runs' table and
    what it says (:func:`_low_k_section`, as in REPORT.md), from the short profile's CSV."""
    if LOW_K_START not in readme:
        return readme
    path = Path(root) / "results" / "short" / "lowk.csv"
    if not path.exists():
        return readme
    curves = path.with_name("lowk_curves.csv")
    runs = tables.with_chance(pd.read_csv(path), pd.read_csv(curves) if curves.exists() else None)
    start = readme.index(LOW_K_START) + len(LOW_K_START)
    end = readme.index(README_END, start)
    text = "\n".join(_low_k_section(runs, curves)).strip()
    return readme[:start] + "\n" + text + "\n" + readme[end:]


FRESH_CLONE_START = "<!-- fresh clone: make report writes this paragraph -->"


def readme_with_fresh_clone(readme: str, root: str | Path = ".") -> str:
    """``readme`` with the paragraph after the fresh-clone marker replaced by what the last
    ``make fresh-clone`` measured (results/bench/fresh-clone.json)."""
    from .fresh_clone import read_record, readme_paragraph

    if FRESH_CLONE_START not in readme:
        return readme
    record = read_record(Path(root) / "results" / "bench" / "fresh-clone.json")
    start = readme.index(FRESH_CLONE_START) + len(FRESH_CLONE_START)
    end = readme.index(README_END, start)
    return readme[:start] + "\n" + readme_paragraph(record) + "\n" + readme[end:]


MASKS_START = "<!-- masks: make report writes this sentence -->"


def masks_sentence(root: str | Path = ".") -> str:
    """How many subnetworks the store commits and what their masks add to a clone."""
    masks = sorted((Path(root) / "results" / "runs").glob("*/mask.npz"))
    size = sum(path.stat().st_size for path in masks)
    return (
        f"The store commits {len(masks)} subnetworks' masks, {size / 1e6:.1f} MB in all "
        "(compressed already, so about as much in a clone's git objects)."
    )


def readme_with_masks(readme: str, root: str | Path = ".") -> str:
    """``readme`` with the sentence after the masks marker replaced by :func:`masks_sentence`."""
    if MASKS_START not in readme:
        return readme
    start = readme.index(MASKS_START) + len(MASKS_START)
    end = readme.index(README_END, start)
    return readme[:start] + "\n" + masks_sentence(root) + "\n" + readme[end:]


GPU_START = "<!-- gpu: make report writes this paragraph -->"


def readme_with_gpu(readme: str, root: str | Path = ".") -> str:
    """``readme`` with the paragraph after the GPU marker replaced by what the newest CUDA
    ``make gpu-check`` measured (results/bench/*-gpu-check.json) and what Figure 3 at the paper
    protocol would take at that speed."""
    from .notebooks.grid import notebook_grid
    from .training.gpu_check import latest_cuda_report, readme_paragraph

    if GPU_START not in readme:
        return readme
    root = Path(root)
    grid = list(dict.fromkeys(c for _, c in notebook_grid("fig3", "paper", root / "results")))
    paragraph = readme_paragraph(latest_cuda_report(root / "results" / "bench"), grid)
    start = readme.index(GPU_START) + len(GPU_START)
    end = readme.index(README_END, start)
    return readme[:start] + "\n" + paragraph + "\n" + readme[end:]


PROTOCOL_START = "<!-- protocol table: make report writes this table -->"


def protocol_with_table(text: str) -> str:
    """PROTOCOL.md with its table of hyperparameters as the protocol table in the code has it."""
    from .protocol import markdown_table

    start = text.index(PROTOCOL_START) + len(PROTOCOL_START)
    end = text.index(README_END, start)
    return text[:start] + "\n" + markdown_table() + "\n" + text[end:]


# Where the README quotes a campaign's state: the campaign file and profile are in the marker.
CAMPAIGN_TABLE = re.compile(
    r"(<!-- campaign (?P<file>\S+) at profile (?P<profile>\S+): "
    r"make report writes this table -->\n)(?P<table>.*?)(?=<!-- end -->)",
    re.S,
)


def readme_with_campaign_tables(readme: str, root: str | Path = ".") -> str:
    """``readme`` with each campaign table (between a campaign marker and the next end marker)
    replaced by what ``python -m supermask campaign`` prints for the committed results: a run
    that lands is quoted by ``make report``, never typed."""
    root = Path(root)

    def current(match: re.Match) -> str:
        table = campaign_table(
            read_campaign(root / match["file"]), root / "results", get_profile(match["profile"])
        )
        return match[1] + table_markdown(table) + "\n"

    return CAMPAIGN_TABLE.sub(current, readme)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -")
    return kept.replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m supermask.report", description=__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if REPORT.md, README.md's summary or its campaign tables differ from the CSVs",
    )
    parser.add_argument("--root", default=".", help="the repository (default: .)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    files = {root / "REPORT.md": build(root)}
    readme = root / "README.md"
    if readme.exists() and README_START in readme.read_text():
        text = readme.read_text()
        for fill in (
            readme_with_summary,
            readme_with_status,
            readme_with_low_k,
            readme_with_fresh_clone,
            readme_with_gpu,
            readme_with_masks,
        ):
            text = fill(text, root)
        files[readme] = text
    protocol = root / "PROTOCOL.md"
    if protocol.exists() and PROTOCOL_START in protocol.read_text():
        files[protocol] = protocol_with_table(protocol.read_text())
    for page in sorted((root / "docs").glob("*.md")):  # the pages that quote generated tables
        text = page.read_text()
        if README_START in text:
            files[page] = text = readme_with_summary(text, root, "../REPORT.md")
        if CAMPAIGN_TABLE.search(text):
            files[page] = readme_with_campaign_tables(text, root)
    if args.check:
        stale = [
            path for path, text in files.items() if not path.exists() or path.read_text() != text
        ]
        for path in stale:
            print(f"{path} is stale: run `make report`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in files.items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
