import math

import pandas as pd
import pytest

from supermask.figures.claims import (
    DEPTH_MATCH,
    DEPTH_TREND,
    ENDS,
    MIDDLE,
    WIDTH_MATCH,
    Claim,
    FamilyNoise,
    SeedNoise,
    best_k_claims,
    chi2_quantile,
    depth_claims,
    distribution_claims,
    figure_claims,
    fixed_size_claim,
    iterand_width_claims,
    pab_claims,
    to_markdown,
    verdict_kind,
    verdict_text,
    width_claims,
    zhou_claims,
)

KS = (0.1, 0.3, 0.5, 0.7, 0.9)
DEPTHS = ["conv2", "conv4", "conv6", "conv8"]


def frame(rows):
    return pd.DataFrame(rows, columns=["model", "init", "k", "test_acc", "status", "optimizer"])


def curve(model, init, accs, status="finished"):
    return [(model, init, k, a, status, "sgd") for k, a in zip(KS, accs)]


def dense_rows(accs, optimizer="adam"):
    return [(m, "kaiming_normal", 1.0, a, "finished", optimizer) for m, a in accs.items()]


def by_statement(claims, start):
    return next(c for c in claims if c.statement.startswith(start))


def test_best_k_holds_inside_and_fails_outside():
    best, _ = best_k_claims(frame(curve("conv4", "signed_constant", [0.3, 0.6, 0.7, 0.6, 0.4])))
    assert best.holds and "best k=0.5" in best.evidence and best.margin == pytest.approx(0.3)
    best, _ = best_k_claims(frame(curve("conv4", "signed_constant", [0.3, 0.6, 0.7, 0.6, 0.75])))
    assert best.holds is False and best.margin == pytest.approx(0.05)


def test_worst_at_the_ends_needs_both_ends_below_every_middle_k():
    """Catches 'worst at the ends' passing when only one end is the minimum: here k=0.1 is the
    worst but k=0.9 sits above k=0.3."""
    _, worst = best_k_claims(frame(curve("conv4", "signed_constant", [0.2, 0.6, 0.7, 0.6, 0.5])))
    assert worst.holds and worst.margin == pytest.approx(0.1)  # k=0.9 0.5 against k=0.3 0.6
    _, worst = best_k_claims(frame(curve("conv4", "signed_constant", [0.2, 0.5, 0.7, 0.6, 0.55])))
    assert worst.holds is False and worst.margin == pytest.approx(0.05)
    assert worst.terms[1][1] == ENDS  # the end's noise family, not the middle's


def test_a_curve_is_judged_only_with_both_ends_and_a_k_between():
    runs = curve("conv2", "signed_constant", [0.1, 0.6, 0.77, 0.6, 0.75])
    k05, k09, k01 = runs[2], runs[4], runs[0]
    for partial, missing in (
        ([k05], "needs k=0.1 and k=0.9"),
        ([k05, k09], "needs k=0.1"),
        ([k01, k09], "needs a k between"),
    ):
        best, worst = best_k_claims(frame(partial))
        assert best.holds is None and worst.holds is None
        assert best.evidence.endswith(missing), best.evidence


def test_failed_runs_do_not_count():
    runs = frame(
        curve("conv4", "signed_constant", [0.3, 0.6, 0.7, 0.6, 0.4])
        + [("conv4", "signed_constant", 0.9, 0.99, "diverged", "sgd")]
    )
    assert best_k_claims(runs)[0].holds


def test_a_claim_names_the_runs_that_did_not_leave_chance():
    """Catches 'worst at the ends' decided by a run stuck at chance without saying so."""
    runs = frame(curve("conv8", "signed_constant", [0.1, 0.6, 0.7, 0.6, 0.5]))
    runs["did_not_leave_chance"] = [True, False, False, False, False]
    best, worst = best_k_claims(runs)
    assert worst.chance == ("conv8/U_k k=0.1",) and best.chance == ()
    assert "rests on runs that did not leave chance: conv8/U_k k=0.1" in verdict_text(worst)


def depth_frames(gaps, adam=0.8):
    popup = frame(
        [
            row
            for m, g in zip(DEPTHS, gaps)
            for row in curve(m, "signed_constant", [0.3, 0.6, adam - g, 0.6, 0.4])
        ]
    )
    return popup, frame(dense_rows({m: adam for m in DEPTHS}))


def test_depth_trend_is_the_line_through_every_depth_not_the_two_ends():
    """Catches a trend read from Conv2 and Conv8 alone: the ends say 'shrinks' (5 -> 4.5
    points), the line through the middle depths (2, 9) says it grows."""
    popup, dense = depth_frames([0.05, 0.02, 0.09, 0.045])
    trend, _ = depth_claims(popup, dense, DEPTHS)
    assert trend.statement == DEPTH_TREND and trend.holds is False
    popup, dense = depth_frames([0.06, 0.05, 0.03, 0.01])
    trend, _ = depth_claims(popup, dense, DEPTHS)
    # least squares over x = 2, 4, 6, 8: slope -0.0085 a layer, -5.1 points over the range
    assert trend.holds and trend.margin == pytest.approx(0.051)
    assert len(trend.terms) == 8 and sum(c * c for c, _, _ in trend.terms) == pytest.approx(3.6)


def test_the_deepest_network_matching_dense_is_its_own_claim():
    popup, dense = depth_frames([0.06, 0.05, 0.03, -0.002])
    _, match = depth_claims(popup, dense, DEPTHS)
    assert match.statement == DEPTH_MATCH and match.holds
    popup, dense = depth_frames([0.06, 0.05, 0.03, 0.03])
    _, match = depth_claims(popup, dense, DEPTHS)
    assert match.holds is False and match.margin == pytest.approx(0.03)
    _, waiting = depth_claims(popup[popup["model"] != "conv8"], dense, DEPTHS)
    assert waiting.holds is None  # judged at the grid's deepest network only


def test_a_depth_waits_until_it_has_every_dense_optimiser():
    """Catches Conv8's gap taken against dense SGD alone while the other depths' gaps were
    against the better of SGD and Adam."""
    popup, _ = depth_frames([0.06, 0.05, 0.03, 0.0])
    dense = frame(
        dense_rows({m: 0.8 for m in DEPTHS[:3]}) + dense_rows({m: 0.7 for m in DEPTHS}, "sgd")
    )
    trend, match = depth_claims(popup, dense, DEPTHS)
    assert "conv8 waits for dense adam" in trend.evidence
    assert match.holds is None


def width_frames(gaps, widths=(0.5, 1.0, 2.0), model="conv6"):
    popup = pd.DataFrame(
        {
            "model": model,
            "init": "signed_constant",
            "k": 0.5,
            "width": widths,
            "status": "finished",
            "optimizer": "sgd",
            "test_acc": [0.8 - g for g in gaps],
        }
    )
    dense = popup.assign(k=1.0, optimizer="adam", test_acc=0.8)
    return popup, dense


def test_width_trend_uses_every_width():
    """Catches a trend from the narrowest and widest points only: the ends shrink (5 -> 4.5
    points) while the line through every width grows."""
    widths = (0.25, 0.5, 1.0, 2.0)
    popup, dense = width_frames([0.08, 0.06, 0.03, 0.02], widths)
    trend, _ = width_claims(popup, dense)
    # x = log2(width) = -2, -1, 0, 1: coefficients -0.9, -0.3, 0.3, 0.9 (the change over 3)
    assert trend.holds and trend.margin == pytest.approx(0.063)
    popup, dense = width_frames([0.05, 0.02, 0.08, 0.045], widths)
    assert width_claims(popup, dense)[0].holds is False


def test_a_wide_conv6_matching_dense_is_judged_at_its_widest():
    popup, dense = width_frames([0.05, 0.02, 0.0])
    _, match = width_claims(popup, dense)
    assert match.statement == WIDTH_MATCH and match.holds
    popup, dense = width_frames([0.05, 0.0, 0.02])
    assert width_claims(popup, dense)[1].holds is False
    popup, dense = width_frames([0.05, 0.02, 0.0], model="conv4")
    assert width_claims(popup, dense)[1].holds is None


def test_a_wide_conv6_matching_dense_waits_for_the_grids_widest_width():
    """Catches "wide enough" judged at width 1 while the wider runs are still missing."""
    popup, dense = width_frames([0.05, 0.02, 0.0])
    popup.loc[popup["width"] == 2.0, ["status", "test_acc"]] = ["missing", None]
    dense = dense[dense["width"] < 2.0]
    match = width_claims(popup, dense)[1]
    assert match.holds is None and "w=2, not finished yet" in match.evidence


def test_fixed_size_trend_uses_every_width():
    """Catches 'wider is better' read from the two ends (0.6 -> 0.61) while the line through
    every width falls."""

    def runs(accs):
        return pd.DataFrame(
            {"size": "c1", "width": [0.5, 1.0, 1.5, 2.0], "test_acc": accs, "status": "finished"}
        )

    assert fixed_size_claim(runs([0.6, 0.65, 0.7, 0.72])).holds
    assert fixed_size_claim(runs([0.6, 0.5, 0.5, 0.61])).holds is False
    assert fixed_size_claim(runs([0.6, 0.65, 0.7, 0.72]).iloc[:2]).holds is None


def distribution_frame(uk, nk, xavier, scaled=None):
    rows = (
        curve("conv4", "signed_constant", uk)
        + curve("conv4", "kaiming_normal", nk)
        + curve("conv4", "xavier_normal", xavier)
    )
    if scaled is not None:
        rows += curve("conv4", "scaled_signed_constant", scaled)
    return frame(rows)


def test_signed_constant_at_least_kaiming_normal():
    claims = distribution_claims(
        distribution_frame([0.3, 0.6, 0.7, 0.6, 0.4], [0.3, 0.6, 0.65, 0.6, 0.4], [0.1] * 5)
    )
    assert by_statement(claims, "Signed Kaiming").holds
    claims = distribution_claims(
        distribution_frame([0.3, 0.6, 0.7, 0.6, 0.4], [0.3, 0.6, 0.72, 0.6, 0.4], [0.1] * 5)
    )
    assert by_statement(claims, "Signed Kaiming").holds is False


def test_figure_4_compares_the_distributions_at_the_same_width():
    """Catches widths pooled: U_k's mean over widths 0.25-1 (70.7) against N_k's at width 1
    alone (75) read as U_k worse, though U_k leads wherever both ran."""
    popup = pd.DataFrame(
        {
            "model": "conv4",
            "method": "edge-popup",
            "init": ["signed_constant"] * 3 + ["kaiming_normal"],
            "k": 0.5,
            "width": [0.25, 0.5, 1.0, 1.0],
            "status": "finished",
            "optimizer": "sgd",
            "test_acc": [0.62, 0.73, 0.77, 0.75],
        }
    )
    claim = by_statement(figure_claims("fig4", popup), "Signed Kaiming")
    assert claim.holds and claim.evidence == "conv4 w=1: U_k 77.0% vs N_k 75.0%", claim


def test_kaiming_beats_xavier_only_vastly():
    """Catches 'vastly' passing on any positive margin: 2 points ahead is not vast."""
    uk, nk = [0.3, 0.6, 0.7, 0.6, 0.4], [0.3, 0.6, 0.68, 0.6, 0.4]
    vast = by_statement(
        distribution_claims(distribution_frame(uk, nk, [0.3, 0.5, 0.6, 0.5, 0.4])),
        "Kaiming normal and signed constant vastly",
    )
    assert vast.holds and vast.margin == pytest.approx(0.03)  # 8 points ahead, 5 needed
    close = by_statement(
        distribution_claims(distribution_frame(uk, nk, [0.3, 0.6, 0.66, 0.6, 0.4])),
        "Kaiming normal and signed constant vastly",
    )
    assert close.holds is False and "(lead +2.0 pts)" in close.evidence


def test_scaling_is_compared_at_every_k():
    """Catches a 'no discernible difference' read from the best over k, which hides a 10-point
    difference at k=0.1 (where scaling acts most)."""
    uk, nk = [0.3, 0.6, 0.7, 0.6, 0.4], [0.3, 0.6, 0.65, 0.6, 0.4]
    same = by_statement(
        distribution_claims(distribution_frame(uk, nk, [0.1] * 5, [0.31, 0.6, 0.71, 0.6, 0.39])),
        "Scaling",
    )
    assert same.holds and same.margin == pytest.approx(0.01)
    small_k = by_statement(
        distribution_claims(distribution_frame(uk, nk, [0.1] * 5, [0.4, 0.6, 0.7, 0.6, 0.4])),
        "Scaling",
    )
    assert small_k.holds is False and "k=0.1 +10.0 pts" in small_k.evidence


def test_distributions_are_compared_only_at_the_same_k():
    partial = frame(
        curve("conv2", "signed_constant", [0.53, 0.68, 0.70, 0.69, 0.61])
        + curve("conv2", "kaiming_normal", [0.56])
    )
    claim = distribution_claims(partial)[0]
    assert claim.holds is None and claim.margin is None


def zhou_frames(popup_acc, zhou_accs):
    popup = frame([("conv2", init, 0.5, popup_acc, "finished", "sgd") for init in zhou_accs])
    zhou = frame([("conv2", init, None, acc, "finished", "sgd") for init, acc in zhou_accs.items()])
    return popup, zhou


def test_edge_popup_beats_zhou():
    popup, zhou = zhou_frames(0.75, {"kaiming_normal": 0.66})
    same, per_model = zhou_claims(popup, zhou)
    assert same.holds and per_model.holds
    popup, zhou = zhou_frames(0.65, {"kaiming_normal": 0.66})
    assert [c.holds for c in zhou_claims(popup, zhou)] == [False, False]


def test_edge_popup_is_compared_with_zhou_only_once_its_curve_over_k_is_whole():
    """Catches Figure 6's verdict at short turning on Conv4 U_x edge-popup at k = 0.1 alone
    (10.7 %, at chance), the only point of its curve yet, taken as its best over k."""
    popup = frame(
        curve("conv4", "signed_constant", [0.53, 0.74, 0.77, 0.76, 0.66])
        + curve("conv4", "signed_xavier_constant", [0.107])
        + [
            ("conv4", "signed_xavier_constant", k, None, "missing", "sgd")
            for k in (0.3, 0.5, 0.7, 0.9)
        ]
    )
    zhou = frame(
        [
            ("conv4", "signed_constant", None, 0.652, "finished", "sgd"),
            ("conv4", "signed_xavier_constant", None, 0.548, "finished", "sgd"),
        ]
    )
    same = zhou_claims(popup, zhou)[0]
    assert same.holds is True and same.margin == pytest.approx(0.77 - 0.652)
    assert same.evidence.endswith("conv4/U_x: edge-popup 1 of 5 k run"), same.evidence
    alone = zhou_claims(popup[popup["init"] == "signed_xavier_constant"], zhou)[0]
    assert alone.holds is None


def test_kaiming_helps_zhou():
    good = {
        "kaiming_normal": 0.66,
        "signed_constant": 0.68,
        "xavier_normal": 0.6,
        "signed_xavier_constant": 0.62,
    }
    popup, zhou = zhou_frames(0.75, good)
    assert by_statement(zhou_claims(popup, zhou), "Kaiming-scaled").holds
    popup, zhou = zhou_frames(0.75, {**good, "signed_xavier_constant": 0.67})
    assert by_statement(zhou_claims(popup, zhou), "Kaiming-scaled").holds is False


def series_frame(rows):
    return pd.DataFrame(
        [
            {
                "series": s,
                "k": 0.3,
                "width": w,
                "test_acc": a,
                "status": "finished",
                "epochs": e,
                "init": i,
                "wall_s": t * e,
                "epochs_run": e,
            }
            for s, w, a, e, i, t in rows
        ]
    )


def test_pab_verdicts_say_when_schedules_or_weights_differ():
    """Catches PaB's 36 epochs against edge-popup's 20 reported as a plain 'holds'."""
    runs = series_frame(
        [
            ("pab", 1.0, 0.8, 36, "kaiming_normal", 10.0),
            ("edge-popup", 1.0, 0.78, 20, "signed_constant", 20.0),
        ]
    )
    beats, _, cheaper = pab_claims(runs)
    assert beats.holds and cheaper.holds
    text = verdict_text(beats)
    assert text.startswith("holds (the two sides differ in epochs: pab 36, edge-popup 20")
    assert "weights: pab N_k, edge-popup U_k" in text
    runs = series_frame(
        [
            ("pab", 1.0, 0.7, 20, "signed_constant", 30.0),
            ("edge-popup", 1.0, 0.78, 20, "signed_constant", 20.0),
        ]
    )
    beats, _, cheaper = pab_claims(runs)
    assert (
        beats.holds is False and cheaper.holds is False and verdict_text(beats) == "does not hold"
    )


def test_pab_cost_leaves_out_emulated_psg():
    runs = series_frame(
        [
            ("pab", 1.0, 0.8, 20, "signed_constant", 30.0),
            ("edge-popup", 1.0, 0.78, 20, "signed_constant", 20.0),
        ]
    )
    runs["psg_bits"] = [8, None]
    cheaper = pab_claims(runs)[2]
    assert cheaper.holds is None and "emulated in floating point" in cheaper.evidence


def iterand_runs(popup, iterand, widths=(0.25, 0.5, 1.0)):
    return pd.DataFrame(
        [
            {"series": s, "width": w, "test_acc": a, "status": "finished"}
            for s, accs in (("edge-popup", popup), ("iterand", iterand))
            for w, a in zip(widths, accs)
        ]
    )


def test_iterand_beats_edge_popup_at_every_width():
    beats, _ = iterand_width_claims(iterand_runs([0.60, 0.70, 0.75], [0.68, 0.74, 0.77]))
    assert beats.holds and beats.evidence.startswith("w=0.25: 68.0% vs 60.0%")
    beats, _ = iterand_width_claims(iterand_runs([0.60, 0.76, 0.78], [0.68, 0.74, 0.77]))
    assert beats.holds is False


def test_edge_popup_needing_a_wider_parent_holds_when_no_width_of_the_grid_reaches_iterand():
    """Catches the inversion: IteRand far ahead at every width, no edge-popup parent of the
    grid reaching it, is the strongest support for 'edge-popup needs a wider parent', not a
    failure."""
    _, wider = iterand_width_claims(iterand_runs([0.60, 0.62, 0.64], [0.80, 0.82, 0.84]))
    assert wider.holds is True
    assert "no edge-popup width of the grid reaches it" in wider.evidence
    _, wider = iterand_width_claims(iterand_runs([0.60, 0.70, 0.75], [0.68, 0.74, 0.77]))
    assert wider.holds and "IteRand w=0.25 68.0%: edge-popup first reaches it at w=0.5" in (
        wider.evidence
    )
    # a narrower edge-popup parent (w=0.5) already reaches IteRand at w=1: no wider one needed
    _, wider = iterand_width_claims(iterand_runs([0.60, 0.78, 0.75], [0.68, 0.80, 0.77]))
    assert wider.holds is False and "reached by edge-popup at w=0.5" in wider.evidence
    assert iterand_width_claims(iterand_runs([0.6], [0.7], widths=(1.0,)))[1].holds is None


def test_claims_without_runs_are_not_judged():
    """Catches a vacuous 'holds' (all() of nothing) when a panel has no finished run yet."""
    empty = pd.DataFrame(
        columns=[
            "model",
            "init",
            "k",
            "width",
            "size",
            "series",
            "optimizer",
            "status",
            "test_acc",
            "wall_s",
            "epochs_run",
        ]
    )
    verdicts = [
        *best_k_claims(empty),
        *depth_claims(empty, empty, DEPTHS),
        *width_claims(empty, empty),
        fixed_size_claim(empty),
        *pab_claims(empty),
        *iterand_width_claims(empty),
    ]
    assert all(claim.holds is None for claim in verdicts)
    assert to_markdown(verdicts).count("not judged yet") == len(verdicts)


def test_chi_square_quantiles_and_the_interval_of_a_std():
    assert chi2_quantile(0.025, 4) == pytest.approx(0.4844, abs=1e-3)
    assert chi2_quantile(0.975, 4) == pytest.approx(11.143, abs=1e-2)
    assert chi2_quantile(0.5, 1) == pytest.approx(0.4549, abs=1e-3)
    low, high = FamilyNoise(MIDDLE, 0.0033, 4).interval()
    assert (low, high) == (pytest.approx(0.00198, abs=2e-5), pytest.approx(0.00948, abs=5e-5))


def test_a_margin_inside_the_noise_of_its_families_is_within_noise():
    """Catches one std for every family, a threshold that ignores how many seeds each mean
    averages, and 'more seeds' promised where no plausible number would decide it."""
    noise = SeedNoise({MIDDLE: FamilyNoise(MIDDLE, 0.005, 4), ENDS: FamilyNoise(ENDS, 0.02, 2)})
    pair = ((1, MIDDLE, 1), (-1, MIDDLE, 1))
    assert noise.threshold(pair) == pytest.approx(2 * 0.005 * math.sqrt(2))
    assert noise.threshold(((1, MIDDLE, 1), (-1, ENDS, 1))) == pytest.approx(
        2 * math.sqrt(0.005**2 + 0.02**2)
    )
    assert noise.threshold(((1, MIDDLE, 2), (-1, MIDDLE, 2))) == pytest.approx(0.01)
    close = Claim("A beats B", True, "", margin=0.01, terms=pair)
    assert verdict_kind(close, noise) == "within noise"
    assert verdict_text(close, noise) == (
        "within noise (holds by 1.0 pts on 1 seed, under 2 std of the comparison, 1.4 pts; "
        "about 3 seeds per configuration would decide it)"
    )
    hopeless = Claim("C beats D", False, "", margin=0.001, terms=pair)
    assert "more seeds would not plausibly decide it (about 201 needed)" in verdict_text(
        hopeless, noise
    )
    wide = Claim("E beats F", False, "", margin=0.1, terms=pair)
    assert verdict_text(wide, noise) == "does not hold"
    timing = Claim("G is cheaper", True, "1 s vs 2 s")
    assert verdict_text(timing, noise) == "holds"
    assert verdict_kind(close) == "holds"  # no noise measured: decided on the margin


def test_a_family_without_seeds_falls_back_to_the_pooled_noise_and_says_so():
    noise = SeedNoise({MIDDLE: FamilyNoise(MIDDLE, 0.003, 4), ENDS: FamilyNoise(ENDS, 0.006, 4)})
    assert noise.pooled() == pytest.approx(math.sqrt((0.003**2 + 0.006**2) / 2))
    claim = Claim(
        "Dense SGD beats Zhou",
        True,
        "",
        margin=0.2,
        terms=((1, "dense SGD", 1), (-1, "Zhou et al.", 1)),
    )
    assert verdict_text(claim, noise) == (
        "holds (noise of dense SGD, Zhou et al. not measured: the pooled std stands in)"
    )
    assert noise.table()["degrees of freedom"].tolist() == [4, 4, 0, 0, 0]


def test_a_budget_limited_claim_reads_so_before_its_margin():
    claim = Claim("gap shrinks", True, "", margin=0.004, terms=((1, MIDDLE, 1), (-1, MIDDLE, 1)))
    note = "budget-limited: on Conv2 ... +2.0 points at 20 epochs, -0.2 points at 100"
    noise = SeedNoise({MIDDLE: FamilyNoise(MIDDLE, 0.0033, 4)})
    assert verdict_text(claim, noise, note) == (
        "budget-limited (holds at this budget, and within noise there too)"
    )
    table = to_markdown([claim], {"gap shrinks": note}, noise)
    assert "| gap shrinks | budget-limited (holds at this budget" in table
    assert verdict_kind(claim, noise, "decidable at 20 epochs: ...") == "within noise"


def test_every_claim_that_compares_accuracies_carries_its_margin_and_terms():
    """Catches a claim function that forgets its comparison: then no noise would ever make it
    'within noise'."""
    runs = distribution_frame(
        [0.3, 0.6, 0.7, 0.6, 0.4],
        [0.3, 0.6, 0.65, 0.6, 0.4],
        [0.3, 0.4, 0.5, 0.4, 0.4],
        [0.3, 0.6, 0.71, 0.6, 0.4],
    )
    popup, zhou = zhou_frames(
        0.75,
        {
            "kaiming_normal": 0.6,
            "signed_constant": 0.62,
            "xavier_normal": 0.5,
            "signed_xavier_constant": 0.52,
        },
    )
    w_popup, w_dense = width_frames([0.05, 0.02, 0.0])
    d_popup, d_dense = depth_frames([0.06, 0.05, 0.03, 0.0])
    series = series_frame(
        [
            ("pab", 1.0, 0.8, 20, "signed_constant", 10.0),
            ("edge-popup", 1.0, 0.78, 20, "signed_constant", 20.0),
        ]
    )
    verdicts = [
        *best_k_claims(runs),
        *distribution_claims(runs),
        *zhou_claims(popup, zhou),
        *width_claims(w_popup, w_dense),
        *depth_claims(d_popup, d_dense, DEPTHS),
        fixed_size_claim(
            pd.DataFrame(
                {
                    "size": "c",
                    "width": [0.5, 1.0, 2.0],
                    "test_acc": [0.6, 0.62, 0.7],
                    "status": "finished",
                }
            )
        ),
        pab_claims(series)[0],
        *iterand_width_claims(iterand_runs([0.60, 0.70, 0.75], [0.68, 0.74, 0.77])),
    ]
    assert all(c.holds is not None for c in verdicts)
    assert all(c.margin is not None and c.margin >= 0 and c.terms for c in verdicts), [
        (c.statement, c.margin) for c in verdicts
    ]
