"""How much training each claim needs: the Conv2 budget study and the rule that picks a budget.

The five configurations of the Conv2 paper campaign are trained at shorter schedules (SGD
cosine-decays over the shorter run; Adam is constant anyway) beside the committed 100-epoch
runs. :func:`pick_budget` applies a rule that was fixed before any result existed: E* is the
smallest budget at which every pair of configurations whose reference accuracies differ by more
than ``PAIR_GAP`` is ordered as at the reference. The study also holds the bf16 fidelity pairs:
four of the configurations at 10 epochs in fp32 and in bf16, and the shortfall of profile
``short`` at two depths: edge-popup U_k k=0.5 on Conv2 and Conv4 at short's schedule and at the
reference, both in short's precision.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..config import FIELDS, IMPLICIT_VALUES, PROFILES, Profile, RunConfig
from ..init import SHORT_NAMES
from . import claims

__all__ = [
    "BF16_GATE",
    "BF16_REFERENCE_GATE",
    "CANDIDATES",
    "CONFIGURATIONS",
    "FIDELITY_EPOCHS",
    "NOISE_CONFIGURATIONS",
    "NOISE_SIGMAS",
    "PAIR_GAP",
    "SHORTFALL_MODELS",
    "SPREAD_SEEDS",
    "BudgetChoice",
    "budget_grid",
    "claim_notes",
    "claim_notes_for",
    "claims_by_budget",
    "fidelity",
    "pick_budget",
    "seed_noise",
    "seed_noise_for",
    "seed_spread",
    "shortfall",
    "study_epochs",
]

# The rule's constants, fixed before the study ran: pairs further apart than 3 points at the
# reference, E* from {5, 10, 20}, else 20.
PAIR_GAP = 0.03
CANDIDATES = (5, 10, 20)
FALLBACK = 20
# The bf16 gate: a 10-epoch pair within 1.5 points, and the one run at the reference schedule
# (k=0.5, 100 epochs at paper) within 1.0.
FIDELITY_EPOCHS = 10
BF16_GATE = 0.015
BF16_REFERENCE_GATE = 0.010

# The Conv2 paper campaign's five runs, by the name the study's tables use.
CONFIGURATIONS = {
    "edge-popup U_k k=0.1": {"method": "edge-popup", "init": "signed_constant", "k": 0.1},
    "edge-popup U_k k=0.5": {"method": "edge-popup", "init": "signed_constant", "k": 0.5},
    "edge-popup U_k k=0.9": {"method": "edge-popup", "init": "signed_constant", "k": 0.9},
    "dense Adam": {"method": "dense", "optimizer": "adam"},
    "Zhou et al. N_k": {"method": "zhou", "init": "kaiming_normal"},
}
_FIDELITY_CONFIGURATIONS = (
    "edge-popup U_k k=0.1",
    "edge-popup U_k k=0.5",
    "edge-popup U_k k=0.9",
    "dense Adam",
)
_FIDELITY_REFERENCE = "edge-popup U_k k=0.5"
# The depths at which profile short's shortfall against the reference schedule is measured: the
# configuration closest to the paper's headline, at short's epochs and precision.
SHORTFALL_MODELS = ("conv2", "conv4")
_SHORTFALL_CONFIGURATION = "edge-popup U_k k=0.5"
# The seed spread at profile short, on the same depths and configuration: two more seeds beside
# the study's (one more under smoke). A verdict is decided only where the comparison it rests on
# is further from flipping than NOISE_SIGMAS standard deviations of that comparison, each
# accuracy's std that of its family (seed_noise), over the seeds its mean averages.
SPREAD_SEEDS = 2
NOISE_SIGMAS = 2.0
# The seed noise of the other families a claim compares (claims.FAMILIES: the ends of k, dense
# SGD and Adam, Zhou et al.), measured the same way: these configurations on both depths at
# short's schedule and precision, at the study's seed and the spread's. Dense SGD also gets an
# fp32 twin of its Conv2 run at the spread's first seed (the study's seed has its fp32 run from a
# GPU, so that pair mixes device and precision): the bf16 gate's pair for the one configuration
# it lacked.
NOISE_CONFIGURATIONS = {
    "edge-popup U_k k=0.1": CONFIGURATIONS["edge-popup U_k k=0.1"],
    "edge-popup U_k k=0.9": CONFIGURATIONS["edge-popup U_k k=0.9"],
    "dense SGD": {"method": "dense", "optimizer": "sgd"},
    "dense Adam": CONFIGURATIONS["dense Adam"],
    "Zhou et al. N_k": CONFIGURATIONS["Zhou et al. N_k"],
}
_STUDY_MODEL = "conv2"


def study_epochs(profile: Profile) -> tuple[list[int], int]:
    """(the budgets trained, the reference schedule): 5, 10, 20, 40 against the profile's own
    100 epochs; under ``smoke``, 1 epoch against 2, to run the pipeline."""
    if profile.name == "smoke":
        return [1], 2
    if profile.name != "paper":
        raise ValueError(
            f"the budget study compares shorter schedules with the paper's 100 "
            f"epochs: run it at profile paper (or smoke), not {profile.name!r}"
        )
    return [5, 10, 20, 40], profile.epochs


def budget_grid(profile: Profile, seed: int = 0) -> list[tuple[dict, RunConfig]]:
    """The study's runs as (label, config): every configuration at every budget and at the
    reference, in the profile's precision, then the fidelity pairs' other precision (and k=0.5
    at the reference in it, the gate's confirmation)."""
    budgets, reference = study_epochs(profile)
    fidelity_epochs = budgets[0] if profile.name == "smoke" else FIDELITY_EPOCHS
    names = list(CONFIGURATIONS)
    grid = [
        (
            {"configuration": name},
            profile.apply(model="conv2", seed=seed, epochs=epochs, **CONFIGURATIONS[name]),
        )
        for epochs in [*budgets, reference]
        for name in names
    ]
    other = "bf16" if profile.precision == "fp32" else "fp32"
    pairs = _FIDELITY_CONFIGURATIONS[1:2] if profile.name == "smoke" else _FIDELITY_CONFIGURATIONS
    grid += [
        (
            {"configuration": name},
            profile.apply(
                model="conv2",
                seed=seed,
                epochs=fidelity_epochs,
                precision=other,
                **CONFIGURATIONS[name],
            ),
        )
        for name in pairs
    ]
    grid.append(
        (
            {"configuration": _FIDELITY_REFERENCE},
            profile.apply(
                model="conv2",
                seed=seed,
                epochs=reference,
                precision=other,
                **CONFIGURATIONS[_FIDELITY_REFERENCE],
            ),
        )
    )
    short_epochs, short_precision = _short(profile)
    present = {config for _, config in grid}
    for model in SHORTFALL_MODELS:
        for epochs in (short_epochs, reference):
            config = profile.apply(
                model=model,
                seed=seed,
                epochs=epochs,
                precision=short_precision,
                **CONFIGURATIONS[_SHORTFALL_CONFIGURATION],
            )
            if config not in present:
                grid.append(({"configuration": _SHORTFALL_CONFIGURATION}, config))
    for model in SHORTFALL_MODELS:
        for other_seed in range(seed + 1, seed + 1 + _spread_seeds(profile)):
            grid.append(
                (
                    {"configuration": _SHORTFALL_CONFIGURATION},
                    profile.apply(
                        model=model,
                        seed=other_seed,
                        epochs=short_epochs,
                        precision=short_precision,
                        **CONFIGURATIONS[_SHORTFALL_CONFIGURATION],
                    ),
                )
            )
    present = {config for _, config in grid}
    noise_seeds = range(seed, seed + 1 + _spread_seeds(profile))
    for model in SHORTFALL_MODELS:
        for name, fields in NOISE_CONFIGURATIONS.items():
            for noise_seed in noise_seeds:
                config = profile.apply(
                    model=model,
                    seed=noise_seed,
                    epochs=short_epochs,
                    precision=short_precision,
                    **fields,
                )
                if config not in present:
                    grid.append(({"configuration": name}, config))
    other = "fp32" if short_precision == "bf16" else "bf16"
    grid.append(
        (
            {"configuration": "dense SGD"},  # the study's seed has its fp32 run from a GPU
            profile.apply(
                model=_STUDY_MODEL,
                seed=seed + 1,
                epochs=short_epochs,
                precision=other,
                **NOISE_CONFIGURATIONS["dense SGD"],
            ),
        )
    )
    return grid


def _spread_seeds(profile: Profile) -> int:
    """The seeds the spread adds beside the study's: one under smoke, to run the pipeline."""
    return 1 if profile.name == "smoke" else SPREAD_SEEDS


def _short(profile: Profile) -> tuple[int, str]:
    """(epochs, precision) whose shortfall the study measures: profile short's; under smoke its
    own shortest budget in bf16."""
    if profile.name == "smoke":
        return study_epochs(profile)[0][0], "bf16"
    return PROFILES["short"].epochs, PROFILES["short"].precision


def _conv2(runs: pd.DataFrame) -> pd.DataFrame:
    """The study proper: its Conv2 runs (the other depths only measure the shortfall)."""
    return runs[runs["model"] == _STUDY_MODEL]


@dataclass(frozen=True)
class BudgetChoice:
    """The rule's outcome: ``epochs`` (E*), the pairs it judged, for each candidate budget the
    pairs ordered otherwise than at the reference (``None`` where a run is missing), and whether
    E* came by the fallback (``None`` when E* is the fallback's budget but its runs are not all
    finished, so it is not known yet whether that budget orders every pair)."""

    epochs: int | None
    pairs: list[tuple[str, str]]
    disagreeing: dict[int, list[tuple[str, str]] | None]
    fallback: bool | None
    fallback_epochs: int = FALLBACK

    def describe(self) -> str:
        if self.epochs is None and not self.disagreeing:
            return "not decided yet: the reference runs are not all finished"
        if self.epochs is None:
            missing = [str(e) for e, wrong in self.disagreeing.items() if wrong is None]
            return f"not decided yet: runs at {', '.join(missing)} epochs are not all finished"
        judged = ", ".join(f"{a} vs {b}" for a, b in self.pairs)
        if self.fallback is None:
            failed = "; ".join(
                f"{e} epochs order {', '.join(f'{a} vs {b}' for a, b in wrong)} otherwise"
                for e, wrong in self.disagreeing.items()
                if wrong
            )
            failed = f"{failed}, and " if failed else ""
            return (
                f"E* = {self.epochs} epochs, decided: {failed}{self.epochs} is the "
                f"rule's last candidate and its fallback; whether {self.epochs} epochs order "
                f"all {len(self.pairs)} pairs waits for runs not all finished yet"
            )
        if not self.fallback:
            return (
                f"E* = {self.epochs} epochs: all {len(self.pairs)} pairs ({judged}) ordered "
                "as at the reference"
            )
        wrong = self.disagreeing.get(self.fallback_epochs) or []
        named = "; ".join(f"{a} vs {b}" for a, b in wrong) or "none"
        return (
            f"E* = {self.epochs} epochs by the fallback: no budget in "
            f"{', '.join(map(str, self.disagreeing))} orders all {len(self.pairs)} pairs as "
            f"at the reference; at {self.fallback_epochs} epochs these disagree: {named}"
        )


def _accuracy(runs: pd.DataFrame, epochs: int) -> dict[str, float]:
    """Final test accuracy per configuration of the finished runs at ``epochs`` (the profile's
    precision only)."""
    done = runs[(runs["status"] == "finished") & (runs["epochs"] == epochs)]
    return done.groupby("configuration")["test_acc"].mean().to_dict()


def pick_budget(
    runs: pd.DataFrame,
    reference: int,
    precision: str = "fp32",
    candidates=CANDIDATES,
    fallback: int = FALLBACK,
) -> BudgetChoice:
    """Apply the rule to the study's table (one row per run, column ``configuration``); the
    smoke profile passes its own ``candidates`` and ``fallback``."""
    runs = _conv2(runs)
    runs = runs[runs["precision"] == precision]
    at_reference = _accuracy(runs, reference)
    if set(at_reference) != set(CONFIGURATIONS):
        return BudgetChoice(None, [], {}, False, fallback)
    pairs = [
        (a, b) if at_reference[a] > at_reference[b] else (b, a)
        for a, b in itertools.combinations(CONFIGURATIONS, 2)
        if abs(at_reference[a] - at_reference[b]) > PAIR_GAP
    ]
    disagreeing = {}
    for epochs in candidates:
        accuracy = _accuracy(runs, epochs)
        if any(name not in accuracy for pair in pairs for name in pair):
            disagreeing[epochs] = None
            continue
        disagreeing[epochs] = [(a, b) for a, b in pairs if not accuracy[a] > accuracy[b]]
    for epochs in candidates:
        if disagreeing[epochs] is None and epochs == candidates[-1] == fallback:
            # Every shorter budget failed, so the answer is the fallback whatever these runs
            # show; they only say whether it orders every pair (``fallback`` None until then).
            return BudgetChoice(fallback, pairs, disagreeing, None, fallback)
        if disagreeing[epochs] is None:  # a budget at or below the answer is not run yet
            return BudgetChoice(None, pairs, disagreeing, False, fallback)
        if not disagreeing[epochs]:
            return BudgetChoice(epochs, pairs, disagreeing, False, fallback)
    return BudgetChoice(fallback, pairs, disagreeing, True, fallback)


def fidelity(runs: pd.DataFrame) -> pd.DataFrame:
    """bf16 against fp32 per Conv2 configuration, at the gate's two schedules (the shortest one
    with a bf16 run, and the reference): accuracies (%), difference (bf16 - fp32, points), the
    gate (1.5 points; 1.0 at the reference) and whether the pair is within it (empty until both
    have finished). Other bf16 runs (the shortfall's) are not part of the gate."""
    runs = _conv2(runs)
    done = runs[runs["status"] == "finished"]
    reference = max(runs["epochs"], default=None)
    with_bf16 = sorted(runs.loc[runs["precision"] == "bf16", "epochs"].unique())
    schedules = sorted({with_bf16[0], reference} & set(with_bf16)) if with_bf16 else []
    rows = []
    for epochs in schedules:
        for name in dict.fromkeys(
            runs.loc[(runs["precision"] == "bf16") & (runs["epochs"] == epochs), "configuration"]
        ):
            at = done[(done["configuration"] == name) & (done["epochs"] == epochs)]
            acc = {p: at.loc[at["precision"] == p, "test_acc"].mean() for p in ("fp32", "bf16")}
            diff = 100 * (acc["bf16"] - acc["fp32"])
            gate = 100 * (BF16_REFERENCE_GATE if epochs == reference else BF16_GATE)
            rows.append(
                {
                    "configuration": name,
                    "epochs": epochs,
                    "fp32 (%)": 100 * acc["fp32"],
                    "bf16 (%)": 100 * acc["bf16"],
                    "bf16 - fp32 (points)": diff,
                    "gate (points)": gate,
                    "within gate": None if pd.isna(diff) else bool(abs(diff) <= gate),
                }
            )
    columns = [
        "configuration",
        "epochs",
        "fp32 (%)",
        "bf16 (%)",
        "bf16 - fp32 (points)",
        "gate (points)",
        "within gate",
    ]
    return pd.DataFrame(rows, columns=columns).round(2)


_GAP = "Gap from the best subnetwork to dense Adam (Figure 3; judged across depths, measured here)"


def _conv2_verdicts(runs: pd.DataFrame) -> dict[str, str]:
    """Statement -> verdict with its numbers, for the Conv2 claims these five configurations can
    judge on one schedule's runs; the gap to dense Adam is a measurement, not a verdict (its
    claim compares depths)."""
    finished = runs[runs["status"] == "finished"]
    popup = runs[runs["method"] == "edge-popup"]
    verdicts = {
        c.statement: f"{claims.VERDICTS[c.holds]}: {c.evidence}"
        if c.evidence
        else claims.VERDICTS[c.holds]
        for c in [
            *claims.best_k_claims(popup),
            claims.zhou_claims(popup, runs[runs["method"] == "zhou"])[1],
        ]
    }
    top_popup = finished.loc[finished["method"] == "edge-popup", "test_acc"].max()
    top_dense = finished.loc[finished["method"] == "dense", "test_acc"].max()
    verdicts[_GAP] = (
        f"dense minus best subnetwork {100 * (top_dense - top_popup):+.1f} points"
        if pd.notna(top_popup) and pd.notna(top_dense)
        else "not measured yet"
    )
    return verdicts


def claims_by_budget(runs: pd.DataFrame, precision: str = "fp32") -> pd.DataFrame:
    """Every Conv2 claim's verdict (with its numbers) at each schedule length the study has,
    one column per number of epochs."""
    runs = _conv2(runs)
    runs = runs[runs["precision"] == precision]
    return pd.DataFrame(
        {
            f"{epochs} epochs": _conv2_verdicts(runs[runs["epochs"] == epochs])
            for epochs in sorted(runs["epochs"].unique())
        }
    )


def shortfall(runs: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """Per depth, edge-popup U_k k=0.5 after profile short's schedule and after the reference,
    both in short's precision (%), and what the short schedule gives up (points; empty until both
    runs have finished)."""
    short_epochs, precision = _short(profile)
    reference = study_epochs(profile)[1]
    done = _spread_runs(runs, precision)
    done = done[done["seed"] == done["seed"].min()]  # the study's seed, the one both schedules ran
    rows = []
    for model in SHORTFALL_MODELS:
        acc = {
            e: 100 * done.loc[(done["model"] == model) & (done["epochs"] == e), "test_acc"].mean()
            for e in (short_epochs, reference)
        }
        rows.append(
            {
                "model": model,
                f"{short_epochs} epochs (%)": acc[short_epochs],
                f"{reference} epochs (%)": acc[reference],
                "shortfall (points)": acc[reference] - acc[short_epochs],
            }
        )
    return pd.DataFrame(rows).set_index("model").round(1)


def _spread_runs(runs: pd.DataFrame, precision: str) -> pd.DataFrame:
    """The finished runs of the shortfall's configuration in ``precision``, every depth and seed."""
    fields = CONFIGURATIONS[_SHORTFALL_CONFIGURATION]
    return runs[
        (runs["status"] == "finished")
        & (runs["precision"] == precision)
        & (runs["method"] == fields["method"])
        & (runs["init"] == fields["init"])
        & (runs["k"] == fields["k"])
    ]


def seed_spread(runs: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """Per depth, edge-popup U_k k=0.5 after profile short's schedule at each seed (%), and the
    standard deviation across the seeds (points, n - 1 in the denominator; empty below two),
    unrounded."""
    short_epochs, precision = _short(profile)
    done = _spread_runs(runs, precision)
    done = done[done["epochs"] == short_epochs]
    table = (
        100 * done.pivot_table(index="model", columns="seed", values="test_acc", aggfunc="mean")
    ).reindex(list(SHORTFALL_MODELS))
    table.columns = [f"seed {seed}" for seed in table.columns]
    table["std (points)"] = table.std(axis=1, ddof=1)
    return table


def seed_noise(runs: pd.DataFrame, sigmas: float = NOISE_SIGMAS) -> claims.SeedNoise | None:
    """Per family of configurations (:data:`claims.FAMILIES`), one run's std pooled over every
    configuration of ``runs`` that finished more than one seed (variances weighted by their
    degrees of freedom); None where no configuration has."""
    done = runs[runs["status"] == "finished"]
    if "hash" in done:
        done = done.drop_duplicates("hash")  # one run quoted by several figures counts once
    done = done.assign(
        **{
            key: done[key].fillna(value) if key in done else value
            for key, value in IMPLICIT_VALUES.items()
        }
    )
    keys = [key for key in FIELDS if key != "seed" and key in done]
    pooled: dict[str, list[tuple[int, float, str]]] = {}
    for _, group in done.groupby(keys, dropna=False):
        if len(group) < 2:
            continue
        row = group.iloc[0]
        name = claims.family(row["method"], row.get("k"), row.get("optimizer"))
        pooled.setdefault(name, []).append(
            (len(group) - 1, float(group["test_acc"].var(ddof=1)), _configuration_label(row))
        )
    if not pooled:
        return None
    return claims.SeedNoise(
        {
            name: claims.FamilyNoise(
                name,
                (sum(d * v for d, v, _ in parts) / sum(d for d, _, _ in parts)) ** 0.5,
                sum(d for d, _, _ in parts),
                "; ".join(dict.fromkeys(label for _, _, label in parts)),
            )
            for name, parts in pooled.items()
        },
        sigmas,
    )


def _configuration_label(row: pd.Series) -> str:
    """A configuration in a few words: model, method, weights and k or optimiser, schedule."""
    what = (
        row["optimizer"]
        if row["method"] == "dense"
        else f"{SHORT_NAMES.get(row['init'], row['init'])}"
        + (f" k={row['k']:g}" if pd.notna(row.get("k")) else "")
    )
    return f"{row['model']} {row['method']} {what}, {int(row['epochs'])} epochs {row['precision']}"


# The Figure 3 claims that the study's gap to dense Adam measures on Conv2 alone.
_DEPTH_GAP = (claims.DEPTH_TREND, claims.DEPTH_MATCH)


def claim_notes(
    study: pd.DataFrame, epochs: int, reference: int = 100, precision: str = "fp32"
) -> dict[str, str]:
    """Per claim statement, what the Conv2 study says of judging it after ``epochs`` instead of
    ``reference``: decidable (the same verdict at both) or budget-limited (another verdict, or
    for the gap to dense Adam, another size), with the numbers."""
    table = claims_by_budget(study, precision)
    at, ref = f"{epochs} epochs", f"{reference} epochs"
    if at not in table or ref not in table:
        return {}
    notes = {}
    for statement, row in table.iterrows():
        short, full = row[at], row[ref]
        if statement == _GAP:
            if "not measured" in short + full:
                continue
            gap, gap_ref = (text.split(" best subnetwork ")[-1] for text in (short, full))
            for statement in _DEPTH_GAP:
                notes[statement] = (
                    f"budget-limited: on Conv2 dense Adam minus the best "
                    f"subnetwork is {gap} at {epochs} epochs, {gap_ref} at "
                    f"{reference}"
                )
            continue
        word, word_ref = short.split(":")[0], full.split(":")[0]
        if claims.VERDICTS[None] in (word, word_ref):
            continue
        notes[statement] = (
            f"decidable at {epochs} epochs: on Conv2 it {word} at {epochs} and at {reference}"
            if word == word_ref
            else f"budget-limited: on Conv2 it {word} at {epochs} epochs, {word_ref} at {reference}"
        )
    return notes


def claim_notes_for(profile: Profile, results_dir: str | os.PathLike) -> dict[str, str] | None:
    """The notes for the claims of a profile that cuts the paper's schedule (``short``), from
    the committed study (``results_dir/paper/budget.csv``); None for the others."""
    path = Path(results_dir) / "paper" / "budget.csv"
    if profile.name in ("paper", "smoke") or not path.exists():
        return None
    return claim_notes(pd.read_csv(path), profile.epochs)


def seed_noise_for(profile: Profile, results_dir: str | os.PathLike) -> claims.SeedNoise | None:
    """The seed noise of every family, from every committed CSV of seeded runs (all profiles but
    smoke, whose runs say nothing of the protocol's noise; smoke uses its own), for the
    verdicts of any profile; None before any configuration has two seeds."""
    names = [name for name in PROFILES if (name == "smoke") == (profile.name == "smoke")]
    paths = [
        path
        for name in names
        for path in sorted((Path(results_dir) / name).glob("*.csv"))
        if not path.stem.endswith("_curves")
    ]
    tables = [pd.read_csv(path) for path in paths]
    tables = [t for t in tables if {"status", "test_acc", "method"} <= set(t.columns)]
    return seed_noise(pd.concat(tables, ignore_index=True)) if tables else None
