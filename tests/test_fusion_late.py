"""Late fusion: fuse / renormalisation, the vectorised grid search against a plain loop, calibration."""
from __future__ import annotations

import numpy as np
import pytest

from emokit.eval import confusion, scores_from_confusion
from emokit.figures import plot_confusion
from emokit.fusion import late
from emokit.labels import LABELS7


def _probs(rng, y, strength, spread=1.0):
    z = rng.normal(size=(len(y), 7)) * spread
    z[np.arange(len(y)), y] += strength
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 7, 300)
    return {"vision": _probs(rng, y, 0.3), "audio": _probs(rng, y, 0.9), "text": _probs(rng, y, 1.6, 2.0)}, y


def test_fuse_weighted_sum_and_renormalisation():
    a = np.eye(7)[0]
    b = np.eye(7)[1]
    out = late.fuse({"audio": a, "text": b}, {"audio": 0.25, "text": 0.75})
    assert np.allclose(out, 0.25 * a + 0.75 * b)
    # text missing: audio gets all the weight; vision has no weight and no input
    out = late.fuse({"audio": a, "text": None, "vision": None}, {"audio": 0.28, "text": 0.66, "vision": 0.06})
    assert np.allclose(out, a)
    # per-row missing (NaN row) renormalises that row only
    rows = late.fuse({"audio": np.stack([a, a]), "text": np.stack([b, np.full(7, np.nan)])},
                     {"audio": 0.5, "text": 0.5})
    assert np.allclose(rows[0], 0.5 * a + 0.5 * b) and np.allclose(rows[1], a)


def test_fuse_all_missing_is_a_clear_error():
    with pytest.raises(late.FusionError, match="missing"):
        late.fuse({"audio": None, "text": None}, {"audio": 0.5, "text": 0.5})
    with pytest.raises(late.FusionError, match="no modality available"):
        late.fuse({"audio": np.full((1, 7), np.nan)}, {"audio": 1.0})
    with pytest.raises(ValueError, match="7 columns"):
        late.fuse({"audio": np.ones(5) / 5}, {"audio": 1.0})


def test_simplex_grid_has_1326_rows_summing_to_one():
    g = late.simplex_grid(3, 0.02)
    assert g.shape == (1326, 3)
    assert np.allclose(g.sum(1), 1) and (g >= 0).all()
    assert len({tuple(r) for r in np.round(g, 6)}) == 1326
    assert late.simplex_grid(2, 0.1).shape == (11, 2)


def test_scores_match_sklearn(toy):
    from sklearn.metrics import accuracy_score, f1_score

    probs, y = toy
    pred = probs["audio"].argmax(1)
    s = scores_from_confusion(confusion(y, pred))
    assert s["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert s["f1_weighted"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert s["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_grid_search_matches_plain_loop(toy, backend):
    probs, y = toy
    step = 0.05
    fast = late.grid_search(probs, y, step=step, backend=backend)
    slow = late.grid_search_loop(probs, y, step=step)
    assert fast.extra["backend"] == backend
    assert len(fast.table) == len(late.simplex_grid(3, step))
    cols = ["accuracy", "f1_weighted", "f1_macro"]
    assert np.allclose(fast.table[cols].to_numpy(), slow.table[cols].to_numpy())
    assert fast.best_weights == slow.best_weights
    assert fast.best_score == pytest.approx(slow.best_score)
    assert sum(fast.best_weights.values()) == pytest.approx(1.0)
    # the strongest modality dominates the best weighting of this toy problem
    assert fast.best_weights["text"] > fast.best_weights["vision"]


def test_grid_search_finds_planted_optimum():
    # labels are recoverable only by mixing audio and text 50/50: the search must find that region
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 7, n)
    noise = rng.random((n, 7))
    a = noise.copy()
    t = 1 - noise
    a[np.arange(n), y] = 0.9
    t[np.arange(n), y] = 0.9  # only the 50/50 mix puts y strictly on top everywhere
    a /= a.sum(1, keepdims=True)
    t /= t.sum(1, keepdims=True)
    v = rng.dirichlet(np.ones(7), n)
    r = late.grid_search({"audio": a, "text": t, "vision": v}, y, step=0.02, metric="accuracy")
    assert r.best_score > 0.9
    assert r.best_weights["vision"] <= 0.1


def test_grid_search_full_size_is_fast():
    """2,610 inputs x 1,326 weightings (MELD test size): timed loosely here, benchmarked properly
    in benchmarks/fusion_grid.py (the 50 ms target holds on a quiet machine)."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 7, 2610)
    probs = {m: _probs(rng, y, s, 2.0) for m, s in (("vision", 0.5), ("audio", 1.0), ("text", 2.0))}
    late.grid_search(probs, y)  # compile / warm up
    best = min(late.grid_search(probs, y).elapsed_s for _ in range(3))
    assert best < 1.0, best


def test_temperature_scaling_improves_nll_of_overconfident_model(toy):
    probs, y = toy
    over = late.apply_temperature(probs["audio"], 0.3)  # sharpen: overconfident
    t = late.fit_temperature(over, y)
    assert t > 1.5
    assert late.nll(late.apply_temperature(over, t), y) < late.nll(over, y)
    # argmax (hence accuracy) is unchanged by a temperature
    assert (late.apply_temperature(over, t).argmax(1) == over.argmax(1)).all()
    rel = late.reliability(over, y)
    assert 0 <= rel["ece"] <= 1 and rel["count"].sum() == len(y)


def test_single_vs_fused_and_figures(toy, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    probs, y = toy
    r = late.grid_search(probs, y, step=0.1)
    table = late.single_vs_fused(probs, y, r.best_weights)
    assert list(table["model"][:3]) == ["vision", "audio", "text"] and len(table) == 4
    assert table["f1_weighted"].iloc[-1] == pytest.approx(r.best_score)
    for fig in (late.plot_ternary(r, title="toy"), plot_confusion(y, probs["text"].argmax(1)),
                late.plot_reliability({"audio": late.reliability(probs["audio"], y)})):
        fig.savefig(tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000
    assert len(LABELS7) == 7
