"""The shared evaluation and artifact layer: the one macro-F1 rule, class weights, splits, cards, best.json."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emokit import artifacts as A
from emokit import eval as E
from emokit.labels import LABELS7
from emokit.types import Record


def test_macro_f1_rule_is_the_union_of_true_and_predicted_classes():
    """A case where the two rules differ: 'Fear' is predicted but never true."""
    from sklearn.metrics import f1_score

    y = ["Happy", "Happy", "Sad", "Sad"]
    p = ["Happy", "Fear", "Sad", "Sad"]
    m = E.metric_stats(y, p, "test")
    # union {Happy, Sad, Fear}: F1 Happy 2/3, Sad 1, Fear 0 -> (2/3 + 1 + 0) / 3
    assert m["test.f1_macro"] == pytest.approx((2 / 3 + 1.0) / 3)
    # the other rule (classes in y_true only) would give (2/3 + 1) / 2; the union rule is sklearn's default
    assert m["test.f1_macro"] != pytest.approx((2 / 3 + 1.0) / 2)
    assert m["test.f1_macro"] == pytest.approx(f1_score(y, p, average="macro"))
    assert m["test.f1_weighted"] == pytest.approx(f1_score(y, p, average="weighted"))
    assert E.MACRO_F1_RULE == "union"


def test_metric_stats_inputs_agree_and_no_answer_counts_as_wrong():
    y = ["Happy", "Happy", "Sad", "Fear"]
    p = ["Happy", "Sad", "Sad", None]
    m = E.metric_stats(y, p, "test")
    assert m["test.accuracy"] == 0.5 and m["test.n"] == 4
    assert m["test.recall.Happy"] == 0.5 and m["test.recall.Sad"] == 1.0 and m["test.recall.Fear"] == 0.0
    assert "test.recall.Angry" not in m and m["test.precision.Sad"] == 0.5 and "test.precision.Fear" not in m
    # None is not a class: macro over {Happy, Sad, Fear} (Fear true but never answered: F1 0)
    assert m["test.f1_macro"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    idx = np.array([LABELS7.index(c) for c in y])
    probs = np.eye(7)[[LABELS7.index(c) for c in ["Happy", "Sad", "Sad", "Happy"]]]
    by_probs = E.metric_stats(idx, probs, "")
    assert by_probs["accuracy"] == 0.5 and "recall.Happy" in by_probs
    cm = E.confusion(y, p)
    assert cm.sum() == 3 and cm[0, 0] == 1 and cm[0, 1] == 1 and cm[1, 1] == 1
    with pytest.raises(ValueError, match="predictions"):
        E.metric_stats(y, p[:2])
    with pytest.raises(ValueError, match="not one of"):
        E.metric_stats(["Happy"], ["Joy"])


def test_vectorised_scores_match_metric_stats():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 5, 60), rng.integers(0, 7, 60)
    one = E.scores_from_confusion(E.confusion(y, p))
    many = E.scores_from_confusion(np.stack([E.confusion(y, p)] * 3))
    m = E.metric_stats(y, p, "")
    for k in ("accuracy", "f1_macro", "f1_weighted"):
        assert one[k] == pytest.approx(m[k]) and np.allclose(many[k], m[k])


def test_class_weights_one_rule_and_softmax():
    w = E.class_weights(np.array([0, 0, 0, 1]))
    assert w[0] == pytest.approx(4 / 6) and w[1] == pytest.approx(2.0) and w[2] == 0  # absent class: 0
    assert np.allclose(E.class_weights(["Happy"] * 8 + ["Sad"] * 2, "sqrt_balanced")[:2], [(10 / 16) ** 0.5, 2.5 ** 0.5])
    assert E.class_weights([0, 1], None) is None
    with pytest.raises(ValueError, match="balanced"):
        E.class_weights([0, 1], "bogus")
    s = E.softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3)]]))
    assert np.allclose(s, [[0.5, 0.5], [0.25, 0.75]])


def test_splits_cards_and_best(tmp_path):
    recs = [Record(f"a{i}.wav", "Happy", "toy", f"s{i}", "train" if i < 3 else "test") for i in range(5)]
    assert A.write_splits(tmp_path / "splits.csv", recs) == 5
    assert A.write_splits(tmp_path / "named.csv", {"val": recs[:2]}) == 2
    assert [r.split for r in A.read_splits(tmp_path / "named.csv")] == ["val", "val"]
    assert [r.input for r in A.read_splits(tmp_path / "splits.csv", splits=["test"])] == ["a3.wav", "a4.wav"]

    card = A.write_card(tmp_path / "m", {"kind": "toy", "metrics": {"val.accuracy": 0.5}})
    assert set(A.CARD_FIELDS) <= set(card) and card["name"] == "m" and card["labels"] == list(LABELS7)
    assert A.update_card(tmp_path / "m", metrics={"test.accuracy": 0.4})["metrics"] == {
        "val.accuracy": 0.5, "test.accuracy": 0.4}
    with pytest.raises(FileNotFoundError, match="no model_card.json"):
        A.read_card(tmp_path)
    with pytest.raises(A.ArtifactError, match="kind"):
        A.write_card(tmp_path / "x", {"name": "x"})

    assert A.choose_best({"a": {"val.f1_macro": 0.3}, "b": {"val.f1_macro": 0.3}, "c": {"val.f1_macro": 0.1}},
                         "val.f1_macro") == "a"  # ties: first in order
    with pytest.raises(ValueError, match="validation only"):
        A.choose_best({"a": 0.3}, "test.f1_macro")
    info = A.write_best(tmp_path / "models", "b", "val.accuracy", {"a": 0.1, "b": 0.2}, path="b", note="x")
    assert A.read_best(tmp_path / "models") == info and info["note"] == "x"
    assert A.read_best(tmp_path / "nowhere") is None
    (tmp_path / "models" / "best.json").write_text(json.dumps({"backend": "old"}))
    with pytest.raises(A.ArtifactError, match="best.json: missing"):
        A.read_best(tmp_path / "models")


def test_machine_info_is_one_function():
    from benchmarks import run_all

    assert run_all.machine_info is A.machine_info
    info = A.machine_info(brief=True)
    assert info["nproc"] >= 1 and "cpu_model" in info and "utc" not in info


def test_collapsed_runs_reference_counts_the_reports_cells():
    """The scorecard's reference for collapsed grid runs is the number of 25.63% cells in the report's grid."""
    import yaml

    from emokit.config import REPO_ROOT

    ref = yaml.safe_load((REPO_ROOT / "reference" / "reference_numbers.yaml").read_text())
    grid = ref["audio"]["v3_grid"]["best_val_accuracy"]
    rows = yaml.safe_load((REPO_ROOT / "reference" / "scorecard" / "03_audio.yaml").read_text())["rows"]
    row = next(r for r in rows if r["id"] == "audio.grid.collapsed_runs")
    assert row["reference"] == sum(v == 0.2563 for v in grid.values()) == 7


def test_rule_audit_records_only_the_macro_f1s_the_rule_moved(tmp_path, monkeypatch):
    import json

    from emokit.eval import RULE_AUDIT_ENV, metric_stats

    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv(RULE_AUDIT_ENV, str(log))
    metric_stats(["Happy", "Sad"], ["Happy", "Sad"], prefix="same")            # the rules agree: no line
    metric_stats(["Happy", "Happy", "Sad"], ["Happy", "Angry", "Sad"], prefix="moved")
    rows = [json.loads(l) for l in log.read_text().splitlines()]
    assert [r["prefix"] for r in rows] == ["moved"]
    r = rows[0]
    assert r["predicted_not_in_y_true"] == ["Angry"] and r["n"] == 3
    assert r["f1_macro_union"] == pytest.approx((2 / 3 + 1.0) / 3)
    assert r["f1_macro_y_true_only"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert r["caller"].startswith("test_eval.py:")
