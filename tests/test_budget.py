"""The budget study's rule (E*, fixed before its results) and the bf16 fidelity gate, on made-up
tables whose answer is known, and the study's grid."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from supermask.config import get_profile
from supermask.figures import budget, claims

# At the reference: k=0.5 76.6, dense 76.4 (within 3 points of it: not a pair), Zhou 67.1,
# k=0.1 61.8 and k=0.9 61.7 (within 3 points: not a pair). So the judged pairs are the two
# top ones against the three others, and Zhou against k=0.1 and k=0.9.
REFERENCE = {
    "edge-popup U_k k=0.5": 0.766,
    "dense Adam": 0.764,
    "Zhou et al. N_k": 0.671,
    "edge-popup U_k k=0.1": 0.618,
    "edge-popup U_k k=0.9": 0.617,
}


def _rows(epochs, accuracies, precision="fp32", status="finished", model="conv2", seed=0):
    return [
        {
            "configuration": name,
            "model": model,
            "epochs": epochs,
            "precision": precision,
            "status": status,
            "test_acc": acc,
            "seed": seed,
        }
        for name, acc in accuracies.items()
    ]


def _table(*row_lists):
    return pd.DataFrame([row for rows in row_lists for row in rows])


def test_the_rule_judges_only_pairs_further_apart_than_the_gap():
    choice = budget.pick_budget(_table(_rows(100, REFERENCE)), 100)
    pairs = set(choice.pairs)
    assert len(pairs) == 8
    assert ("edge-popup U_k k=0.5", "Zhou et al. N_k") in pairs  # ordered best first
    assert (
        not {
            ("edge-popup U_k k=0.5", "dense Adam"),
            ("dense Adam", "edge-popup U_k k=0.5"),
            ("edge-popup U_k k=0.1", "edge-popup U_k k=0.9"),
            ("edge-popup U_k k=0.9", "edge-popup U_k k=0.1"),
        }
        & pairs
    )


def test_the_smallest_budget_that_orders_every_pair_as_at_the_reference_is_chosen():
    wrong_at_5 = {
        **REFERENCE,
        "Zhou et al. N_k": 0.55,
        "edge-popup U_k k=0.9": 0.58,
        "edge-popup U_k k=0.1": 0.54,
    }
    table = _table(
        _rows(100, REFERENCE), _rows(5, wrong_at_5), _rows(10, REFERENCE), _rows(20, REFERENCE)
    )
    choice = budget.pick_budget(table, 100)
    assert choice.epochs == 10 and not choice.fallback
    assert choice.disagreeing[5] == [("Zhou et al. N_k", "edge-popup U_k k=0.9")]
    assert choice.describe().startswith("E* = 10 epochs: all 8 pairs")


def test_the_rule_waits_for_a_budget_below_the_answer_but_not_above_it():
    wrong_at_5 = {**REFERENCE, "Zhou et al. N_k": 0.55}
    without_zhou_at_10 = {k: v for k, v in REFERENCE.items() if k != "Zhou et al. N_k"}
    waiting = budget.pick_budget(
        _table(_rows(100, REFERENCE), _rows(5, wrong_at_5), _rows(10, without_zhou_at_10)), 100
    )
    assert waiting.epochs is None and waiting.disagreeing[10] is None
    assert waiting.describe() == "not decided yet: runs at 10, 20 epochs are not all finished"
    # A run still in flight does not count as finished.
    in_flight = _rows(10, {"Zhou et al. N_k": 0.6}, status="missing")
    assert (
        budget.pick_budget(
            _table(
                _rows(100, REFERENCE),
                _rows(5, wrong_at_5),
                _rows(10, without_zhou_at_10),
                in_flight,
            ),
            100,
        ).epochs
        is None
    )
    # 5 epochs already suffices: nothing longer is needed.
    assert budget.pick_budget(_table(_rows(100, REFERENCE), _rows(5, REFERENCE)), 100).epochs == 5


def test_the_fallback_is_decided_once_every_shorter_budget_failed():
    """As on this machine: 5 and 10 epochs put Zhou et al. below k=0.9, so E* = 20 before any
    20-epoch run finishes; a missing run at 5 still keeps the rule waiting."""
    zhou_low = {
        **REFERENCE,
        "Zhou et al. N_k": 0.544,
        "edge-popup U_k k=0.9": 0.575,
        "edge-popup U_k k=0.1": 0.485,
    }
    only_k05_at_20 = {"edge-popup U_k k=0.5": 0.696}
    choice = budget.pick_budget(
        _table(
            _rows(100, REFERENCE),
            _rows(5, zhou_low),
            _rows(10, zhou_low),
            _rows(20, only_k05_at_20),
        ),
        100,
    )
    assert choice.epochs == 20 and choice.fallback is None and choice.disagreeing[20] is None
    assert choice.describe().startswith(
        "E* = 20 epochs, decided: 5 epochs order Zhou et al. "
        "N_k vs edge-popup U_k k=0.9 otherwise; 10 epochs"
    )
    assert (
        budget.pick_budget(_table(_rows(100, REFERENCE), _rows(10, zhou_low)), 100).epochs is None
    )


def test_the_rule_falls_back_when_no_candidate_orders_every_pair():
    upside_down = {name: 1 - acc for name, acc in REFERENCE.items()}
    table = _table(_rows(100, REFERENCE), *(_rows(e, upside_down) for e in (5, 10, 20)))
    choice = budget.pick_budget(table, 100)
    assert choice.epochs == budget.FALLBACK and choice.fallback
    assert "by the fallback" in choice.describe()


def test_the_rule_reads_only_its_own_precision():
    table = _table(_rows(100, REFERENCE), _rows(5, REFERENCE, precision="bf16"))
    assert budget.pick_budget(table, 100).disagreeing[5] is None
    assert budget.pick_budget(table, 100, precision="bf16").epochs is None  # no bf16 reference


def test_the_fidelity_gate_is_1_5_points_at_10_epochs_and_1_0_at_the_reference():
    fp32_10 = {"edge-popup U_k k=0.5": 0.646, "dense Adam": 0.687}
    bf16_10 = {"edge-popup U_k k=0.5": 0.660, "dense Adam": 0.670}  # +1.4, -1.7
    table = _table(
        _rows(10, fp32_10),
        _rows(10, bf16_10, "bf16"),
        _rows(100, REFERENCE),
        _rows(100, {"edge-popup U_k k=0.5": 0.754}, "bf16"),
    )  # -1.2
    gate = budget.fidelity(table).set_index(["configuration", "epochs"])
    assert gate.loc[("edge-popup U_k k=0.5", 10), "bf16 - fp32 (points)"] == pytest.approx(1.4)
    assert gate.loc[("edge-popup U_k k=0.5", 10), "within gate"] == True  # noqa: E712
    assert gate.loc[("dense Adam", 10), "within gate"] == False  # noqa: E712
    assert gate.loc[("edge-popup U_k k=0.5", 100), "gate (points)"] == 1.0
    assert gate.loc[("edge-popup U_k k=0.5", 100), "within gate"] == False  # noqa: E712
    # A bf16 run not finished yet is not judged.
    pending = _table(_rows(10, fp32_10), _rows(10, bf16_10, "bf16", status="missing"))
    assert budget.fidelity(pending)["within gate"].isna().all()


def test_the_paper_grid_holds_the_study_and_the_fidelity_runs():
    grid = budget.budget_grid(get_profile("paper"))

    def noise(label, c) -> bool:  # the seed-noise families' runs, tested below
        name = label["configuration"]
        return (
            name in budget.NOISE_CONFIGURATIONS
            and c.epochs == 20
            and (c.precision == "bf16" or name == "dense SGD")
        )

    grid = [(label, c) for label, c in grid if not noise(label, c)]
    configs = [config for _, config in grid]
    fp32 = sorted((c.epochs for c in configs if c.precision == "fp32"))
    assert fp32 == sorted([e for e in (5, 10, 20, 40, 100) for _ in budget.CONFIGURATIONS])
    bf16 = [
        (label["configuration"], c.model, c.epochs, c.seed)
        for label, c in grid
        if c.precision == "bf16"
    ]
    k05 = "edge-popup U_k k=0.5"
    assert sorted(bf16) == sorted(
        [
            ("edge-popup U_k k=0.1", "conv2", 10, 0),
            (k05, "conv2", 10, 0),
            ("edge-popup U_k k=0.9", "conv2", 10, 0),
            ("dense Adam", "conv2", 10, 0),
            (k05, "conv2", 100, 0),
            (k05, "conv4", 100, 0),
        ]
        + [(k05, m, 20, s) for m in ("conv2", "conv4") for s in (0, 1, 2)]
    )
    short = get_profile("short")  # the 20-epoch runs are profile short's: seed 0 is Figure 3's
    assert {c for _, c in grid if c.epochs == 20 and c.precision == "bf16"} == {
        short.apply(model=m, seed=s, **budget.CONFIGURATIONS[k05])
        for m in ("conv2", "conv4")
        for s in (0, 1, 2)
    }
    assert len({c.hash for c in configs}) == len(configs)
    assert {c.train_subset for c in configs} == {None}
    assert {c.seed for c in configs if c.epochs != 20 or c.precision != "bf16"} == {0}


def test_the_seed_noise_families_have_three_seeds_on_both_depths_at_short():
    """Every family a claim weighs (claims.FAMILIES) gets its noise measured like the middle k's:
    each configuration on Conv2 and Conv4 at short's schedule and precision, seeds 0-2 (seed 0
    is Figure 3's or Figure 6's run), and dense SGD an fp32 twin on the CPU."""
    short = get_profile("short")
    grid = [config for _, config in budget.budget_grid(get_profile("paper"))]
    for fields in budget.NOISE_CONFIGURATIONS.values():
        for model in ("conv2", "conv4"):
            for seed in (0, 1, 2):
                assert short.apply(model=model, seed=seed, **fields) in grid, (fields, model)
    twin = short.apply(model="conv2", seed=1, precision="fp32", method="dense", optimizer="sgd")
    assert twin in grid and len(set(grid)) == len(grid)


def test_the_shortfall_is_measured_per_depth_and_kept_out_of_the_study():
    """Conv4's runs give the shortfall table its second row and never enter the Conv2 rule, its
    claims or the bf16 gate: mixing depths there, or a shortfall of the wrong sign, fails."""
    k05 = {"edge-popup U_k k=0.5": None}
    rows = []
    for model, short, full in (("conv2", 0.698, 0.760), ("conv4", 0.75, 0.85)):
        for epochs, acc in ((20, short), (100, full)):
            rows += [
                dict(row, method="edge-popup", init="signed_constant", k=0.5)
                for row in _rows(epochs, dict.fromkeys(k05, acc), "bf16", model=model)
            ]
    fp32 = [
        dict(row, method="edge-popup", init="signed_constant", k=0.5)
        for row in _rows(10, {"edge-popup U_k k=0.5": 0.646})
        + _rows(10, {"edge-popup U_k k=0.5": 0.65}, "bf16")
    ]
    table = _table(rows, fp32)
    short = budget.shortfall(table, get_profile("paper"))
    assert short.loc["conv2", "shortfall (points)"] == pytest.approx(6.2)
    assert short.loc["conv4", "20 epochs (%)"] == pytest.approx(75.0)
    assert short.loc["conv4", "shortfall (points)"] == pytest.approx(10.0)
    gate = budget.fidelity(table)  # the gate's schedules only (10 and 100), Conv2 only
    assert list(gate["epochs"]) == [10, 100]
    assert gate.loc[gate["epochs"] == 100, "bf16 (%)"].item() == pytest.approx(76.0)
    pending = budget.shortfall(table[table["model"] == "conv2"], get_profile("paper"))
    assert pending.loc["conv4"].isna().all()


def test_the_seed_spread_pools_both_depths_and_leaves_the_shortfall_on_one_seed():
    """Catches a shortfall that averages seeds 1 and 2 into the 20-epoch side (its 100-epoch
    side has seed 0 only), a std with n instead of n - 1, a pool of stds instead of variances,
    and noise claimed before a depth has all its seeds."""

    def k05(epochs, acc, model, seed, status="finished"):
        return [
            dict(row, method="edge-popup", init="signed_constant", k=0.5)
            for row in _rows(epochs, {"edge-popup U_k k=0.5": acc}, "bf16", status, model, seed)
        ]

    rows = (
        k05(20, 0.70, "conv2", 0)
        + k05(100, 0.76, "conv2", 0)
        + k05(20, 0.71, "conv2", 1)
        + k05(20, 0.72, "conv2", 2)
        + k05(20, 0.77, "conv4", 0)
        + k05(100, 0.83, "conv4", 0)
        + k05(20, 0.77, "conv4", 1)
        + k05(20, 0.74, "conv4", 2, status="missing")
    )
    paper = get_profile("paper")
    table = _table(rows)
    assert budget.shortfall(table, paper).loc["conv2", "shortfall (points)"] == pytest.approx(6.0)
    spread = budget.seed_spread(table, paper)
    assert spread.loc["conv2", "std (points)"] == pytest.approx(1.0)
    assert spread.loc["conv4", "std (points)"] == pytest.approx(0.0)  # two of three seeds
    noise = budget.seed_noise(table)  # conv2: 70, 71, 72 (2 dof); conv4: 77, 77 (1 dof)
    middle = noise.families[claims.MIDDLE]
    assert middle.std == pytest.approx((2e-4 / 3) ** 0.5) and middle.dof == 3
    assert list(noise.families) == [claims.MIDDLE]
    table.loc[table["status"] == "missing", "status"] = "finished"  # conv4: 77, 77, 74
    middle = budget.seed_noise(table).families[claims.MIDDLE]
    assert middle.std == pytest.approx(((2 * 1e-4 + 2 * 3e-4) / 4) ** 0.5) and middle.dof == 4
    assert budget.seed_noise(_table(rows[:2])) is None


def test_seed_noise_is_measured_per_family_and_counts_a_run_quoted_twice_once():
    """Catches one std for every family (dense Adam's seeds here are ten times noisier than
    edge-popup's), and a run that two figures' CSVs quote counted as two seeds."""

    def seeded(fields, accs):
        return [
            dict(
                fields,
                model="conv2",
                epochs=20,
                precision="bf16",
                seed=seed,
                status="finished",
                test_acc=acc,
                hash=f"{fields['method']}{fields.get('k')}{fields.get('optimizer')}{seed}",
            )
            for seed, acc in enumerate(accs)
        ]

    rows = (
        seeded(
            {"method": "edge-popup", "init": "signed_constant", "k": 0.5, "optimizer": "sgd"},
            [0.700, 0.701, 0.702],
        )
        + seeded(
            {"method": "dense", "init": "kaiming_normal", "k": 1.0, "optimizer": "adam"},
            [0.70, 0.71, 0.72],
        )
        + seeded(
            {"method": "edge-popup", "init": "signed_constant", "k": 0.1, "optimizer": "sgd"}, [0.5]
        )
    )
    table = pd.DataFrame(rows + rows[:1])
    noise = budget.seed_noise(table)
    assert noise.families[claims.MIDDLE].std == pytest.approx(0.001)
    assert noise.families[claims.DENSE_ADAM].std == pytest.approx(0.01)
    assert noise.families[claims.MIDDLE].dof == 2
    assert claims.ENDS not in noise.families  # one seed: no spread to measure


def test_the_study_runs_only_against_the_paper_schedule():
    with pytest.raises(ValueError, match="run it at profile paper .*not 'short'"):
        budget.budget_grid(get_profile("short"))


def test_the_short_profile_trains_the_budget_the_committed_study_picked():
    """``short`` is E* of the committed Conv2 study, in bf16 because every pair of the study's
    fidelity gate passed, and its Conv2 runs are the study's 20-epoch configs in that precision:
    a profile edited away from the study's answer, bf16 without a passed gate, or a study grid
    drifting from the figures' configs, fails here."""
    from pathlib import Path

    study = pd.read_csv(Path(__file__).parents[1] / "results" / "paper" / "budget.csv")
    short = get_profile("short")
    assert budget.pick_budget(study, 100).epochs == short.epochs == 20
    assert (short.train_subset, short.test_subset, short.precision) == (None, None, "bf16")
    gate = budget.fidelity(study)
    assert len(gate) == 5 and gate["within gate"].eq(True).all()
    at_budget = {
        dataclasses.replace(config, precision="bf16")
        for label, config in budget.budget_grid(get_profile("paper"))
        if config.epochs == short.epochs
        and config.precision == "fp32"
        and label["configuration"] in budget.CONFIGURATIONS
    }
    assert len(at_budget) == len(budget.CONFIGURATIONS)
    assert at_budget == {
        short.apply(model="conv2", seed=0, **fields) for fields in budget.CONFIGURATIONS.values()
    }


def test_claim_notes_say_which_claims_the_budget_decides():
    """Each claim at a cut schedule says whether the Conv2 study found it decidable there:
    catches notes that ignore the reference, or a claims table that drops them."""
    from pathlib import Path

    from supermask.figures import claims

    results = Path(__file__).parents[1] / "results"
    study = pd.read_csv(results / "paper" / "budget.csv")
    best_k = "The best k (fraction kept) lies between 0.3 and 0.7"
    notes = budget.claim_notes(study, 20)
    assert notes[best_k] == "decidable at 20 epochs: on Conv2 it holds at 20 and at 100"
    assert (
        notes[claims.DEPTH_TREND]
        == notes[claims.DEPTH_MATCH]
        == (
            "budget-limited: on Conv2 dense Adam minus the best subnetwork is +2.0 points at 20 "
            "epochs, -0.2 points at 100"
        )
    )
    changed = study.copy()
    at_20 = (changed["epochs"] == 20) & (changed["k"] == 0.1) & (changed["precision"] == "fp32")
    changed.loc[at_20, "test_acc"] = 0.9  # now k=0.1 is the best k at 20 epochs
    assert budget.claim_notes(changed, 20)[best_k] == (
        "budget-limited: on Conv2 it does not hold at 20 epochs, holds at 100"
    )
    assert budget.claim_notes(study, 30) == {}  # no such schedule in the study
    table = claims.to_markdown(
        [claims.Claim(best_k, True, "k=0.5"), claims.Claim("Another claim", None, "")], notes
    )
    assert table.splitlines()[0].endswith("| at this budget |")
    assert "| decidable at 20 epochs: on Conv2 it holds at 20 and at 100 |" in table
    assert table.splitlines()[-1].endswith("| not measured by the budget study |")
    assert "at this budget" not in claims.to_markdown([claims.Claim(best_k, True, "k=0.5")])
    assert budget.claim_notes_for(get_profile("paper"), results) is None
    assert budget.claim_notes_for(get_profile("short"), results) == notes
