"""The paper's claims, checked against a figure's CSV, so a notebook's verdict follows its data."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ..init import SHORT_NAMES
from ..names import percent
from ..runs.tables import epoch_seconds

__all__ = ["VERDICTS", "Claim", "SeedNoise", "best_k_claims", "depth_gap_claim",
           "distribution_claims", "fixed_size_claim", "iterand_width_claims", "pab_claims",
           "to_markdown", "verdict_text", "width_gap_claim", "zhou_claims"]


@dataclass(frozen=True)
class Claim:
    """A claim and its verdict: ``holds`` is None when the runs it needs do not exist yet.

    ``margin`` (accuracy, a fraction) is how far the verdict is from flipping: the closest of the
    comparisons it rests on when it holds, the furthest of the failing ones when it does not
    (all of them would have to flip). Each comparison is a difference of ``terms`` accuracies
    (2 for a pair, 4 for a difference of gaps), which sets how much seed noise it carries. None:
    the verdict is not a comparison that noise could flip (a missing run, a timing).
    """

    statement: str
    holds: bool | None
    evidence: str
    margin: float | None = None
    terms: int = 2

    def __post_init__(self):
        # A verdict computed from pandas is a numpy bool, which `is True`/`is False` miss.
        if self.holds is not None:
            object.__setattr__(self, "holds", bool(self.holds))
        if self.margin is not None:
            object.__setattr__(self, "margin", float(self.margin))


@dataclass(frozen=True)
class SeedNoise:
    """How far one run's final accuracy moves with its seed (``std``, a fraction), measured
    on ``measured_on``, and how many seeds each accuracy a verdict compares averages."""

    std: float
    seeds: int = 1
    sigmas: float = 2.0
    measured_on: str = ""

    def threshold(self, terms: int) -> float:
        """The margin below which a comparison of ``terms`` such accuracies is not decided:
        ``sigmas`` standard deviations of that comparison."""
        return self.sigmas * self.std * math.sqrt(terms / self.seeds)

    def describe(self) -> str:
        """The noise and the margins it implies, in a sentence."""
        return (f"one run's std {100 * self.std:.2f} points (pooled over {self.measured_on}), "
                f"so a {self.seeds}-seed verdict is decided beyond "
                f"{100 * self.threshold(2):.1f} points for a pair and "
                f"{100 * self.threshold(4):.1f} for a difference of gaps")

    def undecided(self, claim: Claim) -> bool:
        return (claim.holds is not None and claim.margin is not None
                and claim.margin < self.threshold(claim.terms))


def _margin(signed: list[float], holds: bool | None) -> float | None:
    """A verdict's margin from its comparisons' signed margins (positive: that comparison
    agrees with the claim)."""
    if holds is None or not signed:
        return None
    if holds:
        return min(signed)
    return max(-m for m in signed if m <= 0) if any(m <= 0 for m in signed) else None


def _finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "finished"]


def _mean_by(runs: pd.DataFrame, keys: list[str]) -> pd.Series:
    return _finished(runs).groupby(keys)["test_acc"].mean()


def _best(runs: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per ``keys``, the best seed-mean accuracy over the k and init values not in ``keys``."""
    grid = [*keys, *(c for c in ("k", "init") if c not in keys)]
    return _mean_by(runs, grid).groupby(level=keys).max()


def _verdict(evidence, judge) -> bool | None:
    """``judge()`` where there is evidence; None (not judged yet) where the runs do not exist."""
    return bool(judge()) if len(evidence) else None


def _init_label(init: str) -> str:
    return SHORT_NAMES.get(init, init)


K_ENDS = (0.1, 0.9)  # the ends of the paper's k range
SAME_WITHIN = 0.02  # "no visible difference": within 2 points


def best_k_claims(popup: pd.DataFrame) -> list[Claim]:
    """Best k in [0.3, 0.7]; worst at an end of the k range (0.1 or 0.9).

    A curve is judged only once it has both ends and a k between them: with k = 0.5 alone, or
    0.5 and 0.9, either claim would hold or fail by construction.
    """
    means = _mean_by(popup, ["model", "init", "k"])
    best, worst, partial = [], [], []
    best_margins, worst_margins = [], []
    for (model, init), curve in means.groupby(level=["model", "init"]):
        curve = curve.droplevel(["model", "init"])
        ks = list(curve.index)
        missing = [f"k={end:g}" for end in K_ENDS if end not in ks]
        if not any(K_ENDS[0] < k < K_ENDS[1] for k in ks):
            missing.append("a k between")
        if missing:
            partial.append(f"{model}/{init}: has k={', '.join(f'{k:g}' for k in ks)}, needs "
                           f"{' and '.join(missing)}")
            continue
        best.append((model, init, curve.idxmax()))
        worst.append((model, init, curve.idxmin()))
        middle = curve[(curve.index >= 0.3) & (curve.index <= 0.7)]
        outside = curve.drop(middle.index)
        if len(middle) and len(outside):
            best_margins.append(middle.max() - outside.max())
        ends = curve[curve.index.isin(K_ENDS)]
        worst_margins.append(curve.drop(ends.index).min() - ends.min())
    best_holds = _verdict(best, lambda: all(0.3 <= k <= 0.7 for *_, k in best))
    worst_holds = _verdict(worst, lambda: all(k in K_ENDS for *_, k in worst))
    return [
        Claim("The best k (fraction kept) lies between 0.3 and 0.7", best_holds,
              "; ".join([f"{m}/{i}: best k={k:g}" for m, i, k in best] + partial),
              _margin(best_margins, best_holds) if len(best_margins) == len(best) else None),
        Claim("Accuracy is worst at the ends of the k range (k=0.1 or k=0.9)", worst_holds,
              "; ".join([f"{m}/{i}: worst k={k:g}" for m, i, k in worst] + partial),
              _margin(worst_margins, worst_holds)),
    ]


def depth_gap_claim(popup: pd.DataFrame, dense: pd.DataFrame, depth_order: list[str]) -> Claim:
    """Deeper networks close the gap between the best subnetwork and the dense learned network.

    The dense side is the best of the figure's optimisers; a depth that has not run all of them
    yet waits (its best of SGD alone is no match for the others' best of SGD and Adam)."""
    best_popup = _best(popup, ["model"])
    dense_means = _mean_by(dense, ["model", "optimizer"])
    optimizers = sorted(set(dense_means.index.get_level_values("optimizer")))
    best_dense = dense_means.groupby(level="model").max()
    ran = {m: sorted(runs.index.get_level_values("optimizer"))
           for m, runs in dense_means.groupby(level="model")}
    waiting = [m for m in depth_order if m in best_popup.index and m in ran
               and ran[m] != optimizers]
    models = [m for m in depth_order if m in best_popup.index and ran.get(m) == optimizers]
    gaps = {m: best_dense[m] - best_popup[m] for m in models}
    holds = gaps[models[-1]] < gaps[models[0]] if len(gaps) >= 2 else None
    evidence = "dense minus best subnetwork: " + (
        ", ".join(f"{m} {100 * g:+.1f} pts" for m, g in gaps.items()) or "no model has both")
    if holds is None:
        evidence += " (needs two depths)"
    if waiting:
        evidence += "; " + ", ".join(
            f"{m} waits for dense {', '.join(o for o in optimizers if o not in ran[m])}"
            for m in waiting)
    margin = _margin([gaps[models[0]] - gaps[models[-1]]], holds) if len(gaps) >= 2 else None
    return Claim("Deeper networks close the gap to the dense learned network", holds, evidence,
                 margin, terms=4)


def distribution_claims(popup: pd.DataFrame) -> list[Claim]:
    """Signed constant >= Kaiming normal >> Xavier normal / Kaiming uniform; scaling, as the paper
    writes it and as the released code computes it: no change."""
    best = _best(popup, ["model", "init"])
    ks = {key: sorted(curve.index.get_level_values("k")) for key, curve in
          _mean_by(popup, ["model", "init", "k"]).groupby(level=["model", "init"])}
    claims = []
    models = list(dict.fromkeys(popup["model"]))

    def have(*inits):
        """Models that ran all ``inits`` at the same k values, and what the others ran: a best
        over k = 0.1 alone is no match for a best over five k."""
        judged, waiting = [], []
        for m in models:
            grids = [ks.get((m, i)) for i in inits]
            if any(grid is None for grid in grids):
                continue
            if all(grid == grids[0] for grid in grids):
                judged.append(m)
            else:
                waiting.append(f"{m}: " + ", ".join(
                    f"{_init_label(i)} has k={', '.join(f'{k:g}' for k in grid)}"
                    for i, grid in zip(inits, grids)) + " (judged at the same k)")
        return judged, waiting

    pair, waiting = have("signed_constant", "kaiming_normal")
    if pair or waiting:
        signed = [best[m, "signed_constant"] - best[m, "kaiming_normal"] for m in pair]
        holds = _verdict(pair, lambda: all(d >= 0 for d in signed))
        claims.append(Claim(
            "Signed Kaiming constant is at least as good as Kaiming normal", holds,
            "; ".join([f"{m}: U_k {percent(best[m, 'signed_constant'])} vs N_k "
                       f"{percent(best[m, 'kaiming_normal'])}" for m in pair] + waiting),
            _margin(signed, holds)))
    weak = [i for i in ("xavier_normal", "kaiming_uniform") if any((m, i) in best.index
                                                                   for m in models)]
    strong, waiting = have("signed_constant", "kaiming_normal", *weak)
    if weak and (strong or waiting):
        signed = [min(best[m, "signed_constant"], best[m, "kaiming_normal"])
                  - max(best[m, i] for i in weak) for m in strong]
        holds = _verdict(strong, lambda: all(d > 0 for d in signed))
        claims.append(Claim(
            "Kaiming-scaled normal and signed constant beat Xavier normal and Kaiming uniform",
            holds,
            "; ".join([f"{m}: " + ", ".join(f"{i} {percent(best[m, i])}" for i in
                                            ("signed_constant", "kaiming_normal", *weak))
                       for m in strong] + waiting),
            _margin(signed, holds)))
    # The paper's scaling (1/sqrt(k)), and the released code's (1/sqrt(1 - k), hidden-networks
    # issue #9), which is what the paper's "no visible difference" was measured with.
    for plain, scaled, how in (
            ("kaiming_normal", "scaled_kaiming_normal", "by 1/sqrt(k)"),
            ("signed_constant", "scaled_signed_constant", "by 1/sqrt(k)"),
            ("kaiming_normal", "released_scaled_kaiming_normal",
             "as the released code does, by 1/sqrt(1 - k),"),
            ("signed_constant", "released_scaled_signed_constant",
             "as the released code does, by 1/sqrt(1 - k),")):
        both, _ = have(plain, scaled)
        if both:
            diffs = {m: best[m, scaled] - best[m, plain] for m in both}
            signed = [SAME_WITHIN - abs(d) for d in diffs.values()]
            holds = all(d > 0 for d in signed)
            claims.append(Claim(
                f"Scaling {plain} {how} makes no visible difference (within 2 points)", holds,
                "; ".join(f"{m}: scaled minus plain {100 * d:+.1f} pts" for m, d in diffs.items()),
                _margin(signed, holds)))
    return claims


VERDICTS = {True: "holds", False: "does not hold", None: "not judged yet"}


def verdict_text(claim: Claim, noise: SeedNoise | None = None) -> str:
    """"holds", "does not hold", "not judged yet", or, where ``noise`` says one seed's margin
    is too small to decide, "needs more seeds" with what the seed leans to and the numbers."""
    if noise is None or not noise.undecided(claim):
        return VERDICTS[claim.holds]
    seeds = f"{noise.seeds} seed{'s' if noise.seeds > 1 else ''}"
    return (f"needs more seeds ({seeds}: {VERDICTS[claim.holds]} by "
            f"{100 * claim.margin:.1f} pts, under {noise.sigmas:g} std of seed noise, "
            f"{100 * noise.threshold(claim.terms):.1f} pts)")


def to_markdown(claims: list[Claim], budget_notes: dict[str, str] | None = None,
                noise: SeedNoise | None = None) -> str:
    """The claims as a markdown table; with ``budget_notes`` (a profile that cuts the paper's
    schedule) a last column says whether the Conv2 budget study found each claim decidable
    at that budget; with ``noise`` (the seed spread measured at that profile) a verdict whose
    margin is within the noise says it needs more seeds instead."""
    notes = budget_notes is not None
    lines = ["| paper's claim | this run | evidence |" + (" at this budget |" if notes else ""),
             "|---|---|---|" + ("---|" if notes else "")]
    for claim in claims:
        line = f"| {claim.statement} | {verdict_text(claim, noise)} | {claim.evidence or '-'} |"
        if notes:
            line += f" {budget_notes.get(claim.statement, 'not measured by the budget study')} |"
        lines.append(line)
    return "\n".join(lines)


def width_gap_claim(popup: pd.DataFrame, dense: pd.DataFrame) -> Claim:
    """Wider networks close the gap between the best subnetwork and the dense learned network."""
    best_popup = _best(popup, ["model", "width"])
    best_dense = _mean_by(dense, ["model", "width", "optimizer"]).groupby(
        level=["model", "width"]).max()
    gaps = (best_dense - best_popup).dropna()
    verdicts, evidence, signed = [], [], []
    for model, per_width in gaps.groupby(level="model"):
        per_width = per_width.droplevel("model").sort_index()
        verdicts.append(len(per_width) >= 2 and per_width.iloc[-1] < per_width.iloc[0])
        signed.append(per_width.iloc[0] - per_width.iloc[-1] if len(per_width) >= 2 else None)
        evidence.append(f"{model}: " + ", ".join(f"w={w:g} {100 * g:+.1f} pts"
                                                  for w, g in per_width.items()))
    holds = _verdict(verdicts, lambda: all(verdicts))
    return Claim("Wider networks close the gap to the dense learned network", holds,
                 "; ".join(evidence),
                 _margin(signed, holds) if None not in signed else None, terms=4)


def fixed_size_claim(runs: pd.DataFrame) -> Claim:
    """At a fixed number of kept weights, the wider parent network gives the better subnetwork."""
    means = _mean_by(runs, ["size", "width"])
    verdicts, evidence, signed = [], [], []
    for size, curve in means.groupby(level="size"):
        curve = curve.droplevel("size").sort_index()
        verdicts.append(len(curve) >= 2 and curve.iloc[-1] > curve.iloc[0])
        signed.append(curve.iloc[-1] - curve.iloc[0] if len(curve) >= 2 else None)
        evidence.append(f"{size}: w={curve.index[0]:g} {percent(curve.iloc[0])} -> "
                        f"w={curve.index[-1]:g} {percent(curve.iloc[-1])}")
    holds = _verdict(verdicts, lambda: all(verdicts))
    return Claim("At a fixed subnetwork size, a wider parent network is better", holds,
                 "; ".join(evidence), _margin(signed, holds) if None not in signed else None)


def zhou_claims(popup: pd.DataFrame, zhou: pd.DataFrame) -> list[Claim]:
    """edge-popup beats Zhou et al.; Kaiming-scaled distributions help Zhou et al."""
    best_popup = _best(popup, ["model", "init"])
    zhou_acc = _mean_by(zhou, ["model", "init"])
    both = [key for key in zhou_acc.index if key in best_popup.index]
    signed = [best_popup[key] - zhou_acc[key] for key in both]
    holds = all(d > 0 for d in signed) if both else None
    claims = [Claim("edge-popup finds better subnetworks than Zhou et al.'s supermask", holds,
                    "; ".join(f"{m}/{i}: edge-popup {percent(best_popup[m, i])} vs Zhou "
                              f"{percent(zhou_acc[m, i])}" for m, i in both),
                    _margin(signed, holds))]
    # Per architecture, whatever weights each has been run with so far: the first judgement a
    # campaign can make (edge-popup U_k against Zhou et al. N_k, say) before the pairs exist.
    top_popup, top_zhou = {}, {}
    for table, top in ((best_popup, top_popup), (zhou_acc, top_zhou)):
        for (model, init), acc in table.items():
            if model not in top or acc > top[model][1]:
                top[model] = (init, acc)
    models = [m for m in top_zhou if m in top_popup]
    signed = [top_popup[m][1] - top_zhou[m][1] for m in models]
    holds = all(d > 0 for d in signed) if models else None
    claims.append(Claim(
        "On each architecture, the best edge-popup subnetwork beats the best Zhou et al. one",
        holds,
        "; ".join(f"{m}: edge-popup {_init_label(top_popup[m][0])} {percent(top_popup[m][1])} vs "
                  f"Zhou {_init_label(top_zhou[m][0])} {percent(top_zhou[m][1])}" for m in models),
        _margin(signed, holds)))
    kaiming, xavier = ("kaiming_normal", "signed_constant"), ("xavier_normal",
                                                              "signed_xavier_constant")
    models = [m for m in dict.fromkeys(zhou["model"])
              if all((m, i) in zhou_acc.index for i in kaiming + xavier)]
    if models:
        signed = [min(zhou_acc[m, i] for i in kaiming) - max(zhou_acc[m, i] for i in xavier)
                  for m in models]
        holds = all(d > 0 for d in signed)
        claims.append(Claim(
            "Kaiming-scaled weights help Zhou et al. (N_k, U_k beat N_x, U_x)", holds,
            "; ".join(f"{m}: " + ", ".join(f"{i} {percent(zhou_acc[m, i])}" for i in kaiming + xavier)
                      for m in models),
            _margin(signed, holds)))
    return claims


def _versus(runs: pd.DataFrame, series: str, a: str, b: str, value: str = "test_acc",
            key: str = "k") -> list[tuple[float, float, float]]:
    """(``key``, mean of ``a``, mean of ``b``) for every ``key`` value both series have."""
    means = _finished(runs).groupby([series, key])[value].mean()
    ks = sorted(set(means[a].index) & set(means[b].index)) if {a, b} <= set(
        means.index.get_level_values(0)) else []
    return [(k, means[a, k], means[b, k]) for k in ks]


def pab_claims(runs: pd.DataFrame, series: str = "series") -> list[Claim]:
    """PaB against edge-popup at equal k (accuracy and seconds per epoch); IteRand against
    edge-popup at equal width. ``series`` names each method variant: "pab", "edge-popup",
    "iterand" are the ones compared."""
    runs = runs.assign(s_per_epoch=epoch_seconds(runs))
    claims = []
    for other, statement in (("pab", "PaB beats edge-popup at equal k"),
                             ("iterand", "IteRand beats edge-popup at equal width and k")):
        pairs = _versus(runs, series, other, "edge-popup")
        holds = _verdict(pairs, lambda: all(a > b for _, a, b in pairs))
        claims.append(Claim(statement, holds,
                            "; ".join(f"k={k:g}: {percent(a)} vs {percent(b)}" for k, a, b in pairs),
                            _margin([a - b for _, a, b in pairs], holds)))
    pairs = _versus(runs, series, "pab", "edge-popup", value="s_per_epoch")
    claims.append(Claim("PaB is cheaper per epoch than edge-popup",
                        _verdict(pairs, lambda: all(a < b for _, a, b in pairs)),
                        "; ".join(f"k={k:g}: {a:.1f} s vs {b:.1f} s" for k, a, b in pairs)))
    return claims


def iterand_width_claims(runs: pd.DataFrame, series: str = "series") -> list[Claim]:
    """IteRand's headline (Chijiwa et al., 2021): at equal width it beats edge-popup, and
    edge-popup needs a wider parent network to match it. ``series`` holds "iterand" and
    "edge-popup"; the second claim names, per width, the narrowest edge-popup parent that reaches
    IteRand's accuracy (none within the grid is evidence too)."""
    pairs = _versus(runs, series, "iterand", "edge-popup", key="width")
    holds = _verdict(pairs, lambda: all(a > b for _, a, b in pairs))
    beats = Claim("IteRand beats edge-popup at every width (equal k)", holds,
                  "; ".join(f"w={w:g}: {percent(a)} vs {percent(b)}" for w, a, b in pairs),
                  _margin([a - b for _, a, b in pairs], holds))
    popup = {w: b for w, _, b in pairs}
    matched = {w: min((v for v, acc in popup.items() if v > w and acc >= a), default=None)
               for w, a, _ in pairs}
    judged = len(pairs) >= 2
    needs_wider = Claim(
        "edge-popup needs a wider parent network to match IteRand",
        (all(a > b for _, a, b in pairs) and any(v is not None for v in matched.values())
         if judged else None),
        "; ".join(f"IteRand w={w:g} matched by edge-popup at "
                  + (f"w={v:g}" if v is not None else "no width of the grid")
                  for w, v in matched.items()) if judged else "")
    return [beats, needs_wider]
