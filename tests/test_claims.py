import pandas as pd

from supermask.claims import best_k_claims, depth_gap_claim, distribution_claims, to_markdown


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


def test_diverged_runs_do_not_count():
    runs = frame(curve("conv4", "signed_constant", [0.3, 0.6, 0.7, 0.6, 0.4])
                 + [("conv4", "signed_constant", 0.9, 0.99, "diverged", "sgd")])
    assert best_k_claims(runs)[0].holds


def test_depth_gap():
    popup = frame(curve("conv2", "signed_constant", [0.3, 0.5, 0.6, 0.5, 0.4])
                  + curve("conv8", "signed_constant", [0.3, 0.7, 0.8, 0.7, 0.4]))
    dense = frame([("conv2", "-", 1.0, 0.7, "finished", "sgd"),
                   ("conv8", "-", 1.0, 0.82, "finished", "adam")])
    claim = depth_gap_claim(popup, dense, ["conv2", "conv4", "conv6", "conv8"])
    assert claim.holds and "conv2 +10.0 pts" in claim.evidence and "conv8 +2.0 pts" in claim.evidence
    dense.loc[1, "test_acc"] = 0.95
    assert not depth_gap_claim(popup, dense, ["conv2", "conv8"]).holds


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


def test_claims_without_runs_are_not_judged():
    """Catches a vacuous 'holds' (all() of nothing) when a panel has no finished run yet."""
    import pandas as pd

    from supermask.claims import fixed_size_claim, pab_claims, to_markdown, width_gap_claim

    empty = pd.DataFrame(columns=["model", "init", "k", "width", "size", "series", "optimizer",
                                  "status", "test_acc", "wall_s", "epochs_run"])
    verdicts = [*best_k_claims(empty), depth_gap_claim(empty, empty, ["conv2", "conv4"]),
                width_gap_claim(empty, empty), fixed_size_claim(empty), *pab_claims(empty)]
    assert all(claim.holds is None for claim in verdicts)
    assert to_markdown(verdicts).count("not judged yet") == len(verdicts)
