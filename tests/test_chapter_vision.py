"""Chapter 01's steps (emokit/chapters/vision.py) on tiny made-up faces and results: the split, the
subsets, robustness aggregation, the claims and the default backend chosen on validation only."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emokit.chapters import vision as ch
from emokit.labels import LABELS7
from emokit.types import Record


def _records(n_per_class: int = 10) -> list[Record]:
    return [Record(input=f"{c}_{i}.jpg", label=c, source="fer2013", group=f"{c}_{i}")
            for c in LABELS7 for i in range(n_per_class)]


def test_per_class_subset_is_seeded_capped_and_ordered():
    recs = _records(5)
    a = ch.per_class_subset(recs, 3, np.random.default_rng(1))
    assert a == sorted(a) and len(a) == 21 and a == ch.per_class_subset(recs, 3, np.random.default_rng(1))
    grouped = ch.per_class_subset(recs, 3, np.random.default_rng(1), sort=False)
    assert sorted(grouped) == a and [recs[i].label for i in grouped] == [c for c in LABELS7 for _ in range(3)]
    assert len(ch.per_class_subset(recs, 99, np.random.default_rng(1))) == len(recs)


def test_split_is_stratified_disjoint_and_validation_comes_from_training():
    recs = _records(20)
    dp = {"split_mode": "random", "test_size": 0.3, "val_size": 0.2}
    s = ch.split_records(recs, dp, seed=42)
    ids = {k: {r.input for r in v} for k, v in s.items()}
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
    assert sum(len(v) for v in s.values()) == len(recs) and len(s["test"]) == 42
    assert {r.label for r in s["val"]} == set(LABELS7)
    official = _records(2)
    s2 = ch.split_records(recs, {**dp, "split_mode": "official"}, 42, official_test=official)
    assert s2["test"] == official and len(s2["train"]) + len(s2["val"]) == len(recs)
    with pytest.raises(ValueError, match="split_mode must be random or official"):
        ch.split_records(recs, {**dp, "split_mode": "by_subject"}, 42)
    with pytest.raises(ValueError, match="needs the test subset"):
        ch.split_records(recs, {**dp, "split_mode": "official"}, 42)


def _rob():
    rows = []
    for b, clean, acc in (("landmarks", 0.6, 0.2), ("resnet", 0.5, 0.45), ("near_chance", 0.15, 0.15)):
        for kind in ("brightness", "blur"):
            for lv in (0.2, 0.4):
                rows.append({"backend": b, "clean_accuracy": clean, "kind": kind, "level": lv, "accuracy": acc,
                             "f1_macro": acc, "agreement": 0.5, "neutral_pred_share": 0.1})
    rob = pd.DataFrame(rows)
    denom = rob["clean_accuracy"] - ch.CHANCE
    rob["retained"] = ((rob["accuracy"] - ch.CHANCE) / denom).where(denom > 0.02)
    return rob


def test_robustness_summary_metrics_and_near_chance_left_out():
    summary, m = ch.robustness_summary(_rob(), 14)
    assert m["robust.n_faces"] == 14
    r = (0.2 - 1 / 7) / (0.6 - 1 / 7)
    assert m["robust.landmarks.brightness.mean_retained"] == pytest.approx(r)
    assert m["robust.landmarks.brightness.worst_drop"] == pytest.approx(0.4)
    assert "robust.near_chance.mean_retained" not in m and "robust.near_chance.mean_agreement" in m
    assert all(np.isfinite(v) for v in m.values() if isinstance(v, float))
    json.dumps(m)


def test_claims_measured_not_asserted():
    rob = _rob()
    summary, _ = ch.robustness_summary(rob, 14)
    results = {b: {"neutral_pred_share": s, "neutral_true_share": 1 / 7}
               for b, s in (("landmarks", 0.1), ("resnet", 0.2), ("near_chance", 0.1))}
    claims, m = ch.claims(results, rob, summary, ["landmarks", "resnet", "near_chance"])
    assert m == {"claims.landmarks_unstable": "True", "claims.mini_xception_neutral_bias": "n/a",
                 "claims.deepface_most_stable": "not measured: DeepFace weights are not available on this profile"}
    assert claims[0]["values"]["landmarks"] < claims[0]["values"]["resnet"]


class _Bk:
    def __init__(self):
        self.saved = []

    def save(self, path, card):
        path.mkdir(parents=True, exist_ok=True)
        (path / "model_card.json").write_text(json.dumps(card))
        self.saved.append(path)


def test_default_backend_is_chosen_on_validation_not_test(tmp_path):
    """resnet wins on test, landmarks on validation: the default is landmarks."""
    recs = _records(1)
    data = ch.Faces({"train": recs, "val": recs, "test": recs})

    def res(val, test):
        m = {"accuracy": test, "f1_macro": test, "f1_weighted": test}
        return {**m, "val": {"accuracy": val, "f1_macro": val, "f1_weighted": val, "n": 7}}

    results = {"landmarks": res(0.6, 0.3), "resnet": res(0.4, 0.9), "browser": res(0.99, 0.99)}
    trained = {"landmarks": (_Bk(), {"train_time_s": 1.0}), "resnet": (_Bk(), {"train_time_s": 2.0})}
    params = {"data": {"split_mode": "random"}, "seed": 1, "profile": "demo", "select_metric": "f1_macro"}
    best, info, m = ch.save_and_choose(params, trained, results, data, tmp_path)
    assert best == "landmarks" and m["best.val.f1_macro"] == 0.6 and m["best.test.f1_macro"] == 0.3
    assert json.loads((tmp_path / "best.json").read_text())["chosen"] == "landmarks"   # E (browser) never chosen
    card = json.loads((tmp_path / "resnet" / "model_card.json").read_text())
    assert card["metrics"]["test.f1_macro"] == 0.9 and card["metrics"]["val.f1_macro"] == 0.4
    assert m["val.resnet"] == {"accuracy": 0.4, "f1_macro": 0.4, "f1_weighted": 0.4, "n": 7}
