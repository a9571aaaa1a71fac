import pandas as pd

from supermask.figures.claims import (best_k_claims, depth_gap_claim, distribution_claims,
                                      to_markdown)


def frame(rows):
    return pd.DataFrame(rows, columns=["model", "init", "k", "test_acc", "status", "optimizer"])


def curve(model, init, accs, status="finished"):
    return [(model, init, k, a, status, "sgd") for k, a in zip((0.1, 0.3, 0.5, 0.7, 0.9), accs)]


def test_best_and_worst_k():
    good = frame(curve("conv4", "signed_constant", [0.3, 0.6, 0.7, 0.6, 0.4]))
    best, worst = best_k_claims(good)
    assert best.holds and "best k=0.5" in best.evidence
    assert worst.holds
    bad = frame(curve("conv4", "signed_constant", [0.7, 0.6, 0.5, 0.2, 0.4]))
    best, worst = best_k_claims(bad)
    assert not best.holds and not worst.holds


def test_best_k_is_judged_only_with_both_ends_and_a_k_between():
    """The paper-profile campaign fills a curve one k at a time: 0.5, then 0.9, then 0.1."""
    runs = curve("conv2", "signed_constant", [0.1, 0.6, 0.77, 0.6, 0.75])
    k05, k09, k01 = runs[2], runs[4], runs[0]
    for partial, missing in (([k05], "needs k=0.1 and k=0.9"), ([k05, k09], "needs k=0.1"),
                             ([k01, k09], "needs a k between")):
        best, worst = best_k_claims(frame(partial))
        assert best.holds is None and worst.holds is None
        assert best.evidence.endswith(missing), best.evidence
    best, worst = best_k_claims(frame([k05, k09, k01]))
    assert best.holds and worst.holds and "worst k=0.1" in worst.evidence
    best, worst = best_k_claims(frame(curve("conv2", "signed_constant", [0.6, None, 0.5, None, 0.8])
                                      [::2]))
    assert best.holds is False and worst.holds is False  # best at 0.9, worst at 0.5


def test_a_depth_waits_until_it_has_every_dense_optimiser():
    """Catches Conv8's gap taken against dense SGD alone (+0.6 points) while the other depths'
    gaps were against the better of SGD and Adam."""
    from pytest import approx

    popup = frame(curve("conv2", "signed_constant", [0.3, 0.5, 0.6, 0.5, 0.4])
                  + curve("conv6", "signed_constant", [0.3, 0.7, 0.78, 0.7, 0.4])
                  + curve("conv8", "signed_constant", [0.3, 0.7, 0.8, 0.7, 0.4]))
    dense = frame([(m, "-", 1.0, acc, "finished", opt) for m, opt, acc in (
        ("conv2", "sgd", 0.56), ("conv2", "adam", 0.7), ("conv6", "sgd", 0.81),
        ("conv6", "adam", 0.82), ("conv8", "sgd", 0.806))])
    claim = depth_gap_claim(popup, dense, ["conv2", "conv4", "conv6", "conv8"])
    assert claim.evidence == ("dense minus best subnetwork: conv2 +10.0 pts, conv6 +4.0 pts; "
                              "conv8 waits for dense adam")
    assert claim.holds and claim.margin == approx(0.06)


def test_diverged_runs_do_not_count():
    runs = frame(curve("conv4", "signed_constant", [0.3, 0.6, 0.7, 0.6, 0.4])
                 + [("conv4", "signed_constant", 0.9, 0.99, "diverged", "sgd")])
    assert best_k_claims(runs)[0].holds


def test_depth_gap():
    popup = frame(curve("conv2", "signed_constant", [0.3, 0.5, 0.6, 0.5, 0.4])
                  + curve("conv8", "signed_constant", [0.3, 0.7, 0.8, 0.7, 0.4]))
    dense = frame([("conv2", "-", 1.0, 0.7, "finished", "adam"),
                   ("conv8", "-", 1.0, 0.82, "finished", "adam")])
    claim = depth_gap_claim(popup, dense, ["conv2", "conv4", "conv6", "conv8"])
    assert claim.holds and "conv2 +10.0 pts" in claim.evidence and "conv8 +2.0 pts" in claim.evidence
    dense.loc[1, "test_acc"] = 0.95
    assert depth_gap_claim(popup, dense, ["conv2", "conv8"]).holds is False  # a bool, as the
    # report's tally counts verdicts by identity


def test_distribution_claims():
    runs = frame(curve("conv4", "signed_constant", [0.3, 0.6, 0.7, 0.6, 0.4])
                 + curve("conv4", "kaiming_normal", [0.3, 0.6, 0.65, 0.6, 0.4])
                 + curve("conv4", "xavier_normal", [0.3, 0.4, 0.5, 0.4, 0.4])
                 + curve("conv4", "scaled_signed_constant", [0.3, 0.6, 0.71, 0.6, 0.4]))
    claims = {c.statement.split(" ")[0] + c.statement.split(" ")[1]: c
              for c in distribution_claims(runs)}
    assert all(c.holds for c in claims.values()) and len(claims) == 3
    assert "| holds |" in to_markdown(list(claims.values()))
    runs.loc[runs["init"] == "xavier_normal", "test_acc"] = 0.9
    assert not [c for c in distribution_claims(runs) if "Xavier" in c.statement][0].holds


def test_distributions_are_compared_only_at_the_same_k():
    """Catches the best of a five-k curve set against the best of a lone k = 0.1 run (Figure
    3's N_k curve while its campaign has finished k = 0.1 only)."""
    partial = frame(curve("conv2", "signed_constant", [0.53, 0.68, 0.70, 0.69, 0.61])
                    + curve("conv2", "kaiming_normal", [0.56]))
    claim = distribution_claims(partial)[0]
    assert claim.holds is None and claim.margin is None
    assert claim.evidence == ("conv2: U_k has k=0.1, 0.3, 0.5, 0.7, 0.9, N_k has k=0.1 "
                              "(judged at the same k)")
    whole = frame(curve("conv4", "signed_constant", [0.3, 0.6, 0.7, 0.6, 0.4])
                  + curve("conv4", "kaiming_normal", [0.3, 0.6, 0.72, 0.6, 0.4])
                  + partial.values.tolist())
    claim = distribution_claims(whole)[0]
    assert claim.holds is False and claim.evidence.startswith("conv4: U_k 70.0% vs N_k 72.0%; conv2:")


def test_the_released_scaling_is_judged_on_its_own():
    """Figure 7 draws both scalings; each gets its own verdict, named for the formula."""
    runs = frame(curve("conv4", "signed_constant", [0.3, 0.6, 0.7, 0.6, 0.4])
                 + curve("conv4", "scaled_signed_constant", [0.3, 0.6, 0.71, 0.6, 0.4])
                 + curve("conv4", "released_scaled_signed_constant", [0.3, 0.5, 0.6, 0.5, 0.1]))
    scaling = [c for c in distribution_claims(runs) if c.statement.startswith("Scaling")]
    assert [c.holds for c in scaling] == [True, False]
    assert "by 1/sqrt(k)" in scaling[0].statement
    assert "as the released code does, by 1/sqrt(1 - k)" in scaling[1].statement
    assert scaling[1].evidence == "conv4: scaled minus plain -10.0 pts"


def test_claims_without_runs_are_not_judged():
    """Catches a vacuous 'holds' (all() of nothing) when a panel has no finished run yet."""
    import pandas as pd

    from supermask.figures.claims import (fixed_size_claim, iterand_width_claims, pab_claims,
                                          to_markdown, width_gap_claim)

    empty = pd.DataFrame(columns=["model", "init", "k", "width", "size", "series", "optimizer",
                                  "status", "test_acc", "wall_s", "epochs_run"])
    verdicts = [*best_k_claims(empty), depth_gap_claim(empty, empty, ["conv2", "conv4"]),
                width_gap_claim(empty, empty), fixed_size_claim(empty), *pab_claims(empty),
                *iterand_width_claims(empty)]
    assert all(claim.holds is None for claim in verdicts)
    assert to_markdown(verdicts).count("not judged yet") == len(verdicts)


def test_zhou_claim_per_architecture_judges_runs_with_different_weights():
    """The campaign's first pair is edge-popup U_k against Zhou et al. N_k: the same-weights
    claim cannot judge it, the per-architecture one must."""
    from supermask.figures.claims import zhou_claims

    popup = frame([("conv2", "signed_constant", 0.5, 0.75, "finished", "sgd")])
    zhou = frame([("conv2", "kaiming_normal", None, 0.66, "finished", "sgd")])
    same, per_model = zhou_claims(popup, zhou)
    assert same.holds is None
    assert per_model.holds and per_model.evidence == "conv2: edge-popup U_k 75.0% vs Zhou N_k 66.0%"
    zhou.loc[0, "test_acc"] = 0.8
    assert zhou_claims(popup, zhou)[1].holds is False
    assert zhou_claims(popup, zhou.assign(status="missing"))[1].holds is None


def test_iterand_claims_compare_equal_widths_and_name_the_matching_wider_parent():
    """IteRand ahead at each width, reached by edge-popup one width later: both hold; an
    edge-popup width ahead of IteRand breaks both; one width alone judges neither ordering claim
    by construction."""
    from supermask.figures.claims import iterand_width_claims

    def runs(popup, iterand):
        rows = [(s, w, a) for s, accs in (("edge-popup", popup), ("iterand", iterand))
                for w, a in zip((0.25, 0.5, 1.0), accs)]
        return pd.DataFrame([{"series": s, "width": w, "test_acc": a, "status": "finished"}
                             for s, w, a in rows])

    beats, wider = iterand_width_claims(runs([0.60, 0.70, 0.75], [0.68, 0.74, 0.77]))
    assert beats.holds and beats.evidence.startswith("w=0.25: 68.0% vs 60.0%")
    assert wider.holds
    assert wider.evidence == ("IteRand w=0.25 matched by edge-popup at w=0.5; IteRand w=0.5 "
                              "matched by edge-popup at w=1; IteRand w=1 matched by edge-popup "
                              "at no width of the grid")
    beats, wider = iterand_width_claims(runs([0.60, 0.76, 0.78], [0.68, 0.74, 0.77]))
    assert beats.holds is False and wider.holds is False
    one = runs([0.60, 0.70, 0.75], [0.68, 0.74, 0.77]).query("width == 0.25")
    assert iterand_width_claims(one)[1].holds is None


def test_a_verdicts_margin_is_its_closest_comparison_or_its_furthest_failure():
    """Catches a margin taken from the wrong comparison: the best k is judged against the best
    k outside [0.3, 0.7], the worst against the worse end, the depth gap as a difference of gaps
    (four runs); a failing verdict needs every failing curve to flip."""
    from pytest import approx

    best, worst = best_k_claims(frame(curve("conv4", "signed_constant",
                                            [0.3, 0.6, 0.7, 0.6, 0.66])))
    assert best.holds and best.margin == approx(0.04) and best.terms == 2
    assert worst.holds and worst.margin == approx(0.3)  # 0.6 (k=0.3) against 0.3 (k=0.1)
    two = frame(curve("conv2", "signed_constant", [0.75, 0.6, 0.7, 0.6, 0.4])
                + curve("conv4", "signed_constant", [0.72, 0.6, 0.7, 0.6, 0.4]))
    best, _ = best_k_claims(two)
    assert best.holds is False and best.margin == approx(0.05)  # conv2's failure, the larger
    popup = frame(curve("conv2", "signed_constant", [0.3, 0.5, 0.6, 0.5, 0.4])
                  + curve("conv8", "signed_constant", [0.3, 0.7, 0.8, 0.7, 0.4]))
    dense = frame([("conv2", "-", 1.0, 0.7, "finished", "adam"),
                   ("conv8", "-", 1.0, 0.82, "finished", "adam")])
    gap = depth_gap_claim(popup, dense, ["conv2", "conv8"])
    assert gap.margin == approx(0.08) and gap.terms == 4


def test_a_margin_inside_the_seed_noise_says_needs_more_seeds():
    """Catches a threshold that ignores how many runs a comparison combines or how many seeds
    each accuracy averages, and a table that still decides on one seed."""
    from pytest import approx

    from supermask.figures.claims import Claim, SeedNoise

    noise = SeedNoise(std=0.005)  # half a point: 2 std of a pair is 1.41 points
    assert noise.threshold(2) == approx(0.01414, abs=1e-5)
    assert noise.threshold(4) == approx(0.02)
    assert SeedNoise(std=0.005, seeds=2).threshold(4) == approx(0.01414, abs=1e-5)
    close = Claim("A beats B", True, "A 70.0% vs B 69.0%", margin=0.01)
    wide = Claim("C beats D", False, "C 60.0% vs D 70.0%", margin=0.1)
    gap = Claim("gaps shrink", True, "", margin=0.015, terms=4)
    unjudged = Claim("E beats F", None, "", margin=None)
    timing = Claim("E is cheaper", True, "1 s vs 2 s", margin=None)
    table = to_markdown([close, wide, gap, unjudged, timing], noise=noise)
    assert ("| A beats B | needs more seeds (1 seed: holds by 1.0 pts, under 2 std of seed "
            "noise, 1.4 pts) |") in table
    assert "| C beats D | does not hold |" in table
    assert "| gaps shrink | needs more seeds (1 seed: holds by 1.5 pts" in table
    assert "| E beats F | not judged yet |" in table and "| E is cheaper | holds |" in table
    assert "needs more seeds" not in to_markdown([close, gap])  # no noise measured: decided


def test_every_claim_that_compares_accuracies_carries_its_margin():
    """Catches a claim function that forgets its margin: then no amount of noise would ever
    make it say "needs more seeds"."""
    from supermask.figures.claims import (fixed_size_claim, iterand_width_claims, pab_claims,
                                          width_gap_claim, zhou_claims)

    runs = frame(curve("conv4", "signed_constant", [0.3, 0.6, 0.7, 0.6, 0.4])
                 + curve("conv4", "kaiming_normal", [0.3, 0.6, 0.65, 0.6, 0.4])
                 + curve("conv4", "xavier_normal", [0.3, 0.4, 0.5, 0.4, 0.4])
                 + curve("conv4", "scaled_signed_constant", [0.3, 0.6, 0.71, 0.6, 0.4]))
    zhou = frame([("conv4", init, None, acc, "finished", "sgd") for init, acc in (
        ("kaiming_normal", 0.6), ("signed_constant", 0.62), ("xavier_normal", 0.5),
        ("signed_xavier_constant", 0.52))])
    widths = pd.DataFrame({"model": "conv4", "init": "signed_constant", "k": 0.5,
                           "width": [1.0, 2.0, 1.0, 2.0], "size": "s", "optimizer": "sgd",
                           "status": "finished", "test_acc": [0.6, 0.7, 0.72, 0.75]})
    popup, dense = widths.iloc[:2], widths.iloc[2:]
    series = pd.DataFrame({"series": ["pab", "edge-popup", "iterand", "edge-popup"],
                           "k": 0.5, "width": [1.0, 1.0, 2.0, 2.0], "status": "finished",
                           "test_acc": [0.7, 0.68, 0.75, 0.7], "wall_s": 10.0,
                           "epochs_run": 1})
    verdicts = [*distribution_claims(runs), *zhou_claims(runs, zhou), width_gap_claim(popup, dense),
                fixed_size_claim(popup), *pab_claims(series)[:1],
                *iterand_width_claims(series.iloc[2:])[:1]]
    assert len(verdicts) == 10 and all(c.holds is not None for c in verdicts)
    assert all(c.margin is not None and c.margin >= 0 for c in verdicts), [
        (c.statement, c.margin) for c in verdicts]
