"""Unit tests of the embedding heads, the language routing, the embedding cache and the Chinese
reader, on tiny made-up fixtures (random embeddings, fake encoders, files written here)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emokit.labels import LABELS7
from emokit.text import embeddings as emb
from emokit.text.classifier import TextEmotionModel, predict
from emokit.text.heads import (EmbeddingHead, LinearScorer, MLPScorer, TfidfScorer, _idx, fit_best, macro_f1, mix,
                               tune_offsets)
from emokit.text.language import detect
from emokit.text.metrics import char_error_rate
from emokit.types import Record


def _clusters(n_per, dim=16, seed=0, spread=0.35, sizes=None):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(7, dim))
    sizes = sizes or [n_per] * 7
    y = [LABELS7[k] for k, n in enumerate(sizes) for _ in range(n)]
    X = np.stack([centers[LABELS7.index(l)] + spread * rng.normal(size=dim) for l in y]).astype(np.float32)
    return X, y


def test_linear_and_mlp_heads_learn_separable_classes_and_fit_best_picks_on_validation():
    X, y = _clusters(30)
    Xv, yv = _clusters(10, seed=0)
    s, table = fit_best(X, y, Xv, yv, [{"kind": "linear", "C": 1.0},
                                       {"kind": "mlp", "hidden": 16, "epochs": 8, "batch": 32, "patience": 3}],
                        log=lambda *_: None)
    assert len(table) == 2 and {r["kind"] for r in table} == {"linear", "mlp"}
    assert max(r["val.f1_macro"] for r in table) == pytest.approx(macro_f1(_idx(yv), s.proba(Xv).argmax(1)))
    for scorer in (LinearScorer().fit(X, _idx(y)), MLPScorer(hidden=16, epochs=20, lr=1e-2, batch=32, patience=20).fit(X, _idx(y), Xv, _idx(yv))):
        P = scorer.proba(Xv)
        assert P.shape == (70, 7) and np.allclose(P.sum(1), 1)
        assert macro_f1(_idx(yv), P.argmax(1)) > 0.9
    with pytest.raises(ValueError):
        fit_best(X, y, Xv, yv, [{"kind": "forest"}], log=lambda *_: None)


def test_a_class_missing_from_training_gets_no_probability():
    X, y = _clusters(10, sizes=[10, 10, 0, 10, 10, 10, 10])
    P = LinearScorer().fit(X, _idx(y)).proba(X)
    assert P[:, 2].max() < 1e-6 and np.allclose(P.sum(1), 1)


def test_offsets_raise_macro_f1_when_one_class_is_swamped():
    rng = np.random.default_rng(3)
    y = np.array([6] * 300 + [3] * 30)            # Neutral swamps Fear
    P = np.full((330, 7), 0.01)
    P[:, 6] = 0.6                                  # the model always leans Neutral ...
    P[300:, 3] = 0.45 + 0.1 * rng.random(30)       # ... but Fear rows carry a Fear signal
    P[:300, 3] = 0.05 + 0.3 * rng.random(300)
    P /= P.sum(1, keepdims=True)
    before = macro_f1(y, P.argmax(1))
    b = tune_offsets(P, y)
    after = macro_f1(y, (np.log(P) + b).argmax(1))
    assert after > before + 0.2 and b[0] == 0.0    # classes absent from y keep offset 0


def test_mix_is_a_weighted_geometric_mean():
    P1 = np.array([[0.9, 0.1] + [0.0] * 5])
    P2 = np.array([[0.1, 0.9] + [0.0] * 5])
    assert np.allclose(mix(P1, P2, 1.0), P1)
    m = mix(P1 + 1e-9, P2 + 1e-9, 0.5)
    assert np.allclose(m[0, :2], [0.5, 0.5], atol=1e-6)


def test_embedding_head_save_load_predict_with_a_fake_encoder(tmp_path, monkeypatch):
    X, y = _clusters(20)
    texts = [f"{l} {i}" for i, l in enumerate(y)]
    table = dict(zip(texts, X))
    monkeypatch.setitem(emb._LOADED, "fake", lambda ts: np.stack([table[t] for t in ts]))
    tfs = TfidfScorer(ngram=(1, 2), min_df=1).fit(texts, _idx(y))
    head = EmbeddingHead("fake", LinearScorer().fit(X, _idx(y)), np.zeros(7), text_scorer=tfs, w=0.7,
                         card={"name": "fake_head"})
    P = head.predict_proba(texts)
    head.save(tmp_path / "h", card={"note": "test"})
    back = EmbeddingHead.load(tmp_path / "h")
    assert np.allclose(back.predict_proba(texts), P)
    card = json.loads((tmp_path / "h" / "model_card.json").read_text())
    assert card["kind"] == "embedding_head" and card["encoder"] == "fake" and card["text_weight"] == 0.3
    assert (P.argmax(1) == _idx(y)).mean() > 0.9


def test_embed_cached_computes_only_what_the_store_lacks(tmp_path, monkeypatch):
    calls = []

    def fake(ts):
        calls.append(list(ts))
        return np.stack([np.full(4, len(t), dtype=np.float32) for t in ts])

    monkeypatch.setitem(emb._LOADED, "fake", fake)
    store = {emb.text_key("aa"): np.full(4, 99, dtype=np.float32)}
    stats = {}
    E = emb.embed_cached("fake", ["aa", "bbb", "bbb", "c"], store=store, stats=stats)
    assert E[:, 0].tolist() == [99, 3, 3, 1]
    assert calls == [["c", "bbb"]] or sorted(calls[0]) == ["bbb", "c"]   # each missing text once
    assert stats["fake"] == {"requested": 4, "computed_here": 2}


def test_embeddings_dtype_auto_follows_the_cpu_and_bad_names_fail(monkeypatch):
    monkeypatch.setattr(emb, "_cpu_has_bf16", lambda: True)
    assert emb.resolve_dtype("auto") == emb.resolve_dtype(None) == "bfloat16"
    monkeypatch.setattr(emb, "_cpu_has_bf16", lambda: False)
    assert emb.resolve_dtype("auto") == "float32"          # emulated bf16 is slower than float32
    assert emb.resolve_dtype("bf16") == "bfloat16" and emb.resolve_dtype("FP32") == "float32"
    with pytest.raises(ValueError, match="float16"):
        emb.resolve_dtype("float16")


@pytest.mark.parametrize("text,route", [
    ("I am so happy today, thank you all", "en"),
    ("我今天特别难过。", "zh"),
    ("今天的meeting让我很angry", "zh"),              # mixed Chinese-English: the multilingual Chinese model
    ("I love 北京 very much indeed", "zh"),          # one Han word is enough to leave the English model
    ("Je suis vraiment très en colère contre toi", "multilingual"),
    ("오늘 정말 행복해요", "multilingual"),
    ("今日はとても嬉しいです", "multilingual"),
    ("ok", "en"), ("lol", "en"), ("😂😂😂", "en"), ("12345 !!!", "en"), ("", "en"),
])
def test_language_routes(text, route):
    lang = detect(text)
    assert lang.route == route, (text, lang)
    if route == "zh":
        assert lang.language in ("zh", "yue", "wuu") and lang.scripts["han"] > 0


def test_mixed_scripts_are_flagged():
    assert detect("今天的meeting让我很angry, what a waste of time").mixed
    assert not detect("我今天特别难过").mixed


class _Fake:
    def __init__(self, name, k, multilingual=False):
        self.name, self.k, self.multilingual, self.max_length, self.seen = name, k, multilingual, 64, []

    def predict_proba(self, texts, batch_size=64):
        self.seen += list(texts)
        P = np.full((len(texts), 7), 0.01)
        P[:, self.k] = 0.94
        return P

    def token_count(self, text):
        return len(text.split())

    def only_unknown_tokens(self, text):
        return False


def test_predict_says_which_route_answered_and_never_sends_chinese_to_english():
    en, zh = _Fake("en_head", 0), _Fake("zh_head", 1, multilingual=True)
    m = TextEmotionModel(en, zh)
    preds = predict(["what a lovely day", "我很难过", "今天的meeting让我很angry",
                     "Je suis vraiment très en colère contre toi"], model=m)
    assert [p.extra["route"] for p in preds] == ["en", "zh", "zh", "multilingual"]
    assert [p.extra["model"] for p in preds] == ["en_head", "zh_head", "zh_head", "zh_head"]
    assert en.seen == ["what a lovely day"]
    assert preds[2].extra["mixed_scripts"] is True
    assert "neither English nor Chinese" in preds[3].extra["warning"]
    # without a multilingual model, mixed text is an error, never an English guess
    p = predict(["今天的meeting让我很angry"], model=TextEmotionModel(_Fake("en_head", 0), None))[0]
    assert p.status == "error" and p.extra["route"] == "zh"


def test_char_error_rate_ignores_punctuation_and_spaces():
    assert char_error_rate("今天真开心。", "今天 真开心") == (0, 5)
    assert char_error_rate("今天真开心", "今天真不开心") == (1, 5)
    assert char_error_rate("你好", "") == (2, 2)


# --------------------------------------------------------------------------- the Chinese reader
def _zh_fixture(root):
    base = root / "zh_text"
    (base / "smp2020_ewect").mkdir(parents=True)
    (base / "clue_emotion2020").mkdir(parents=True)
    usual = [{"id": 1, "content": "今天好开心", "label": "happy"}, {"id": 2, "content": "无语", "label": "neutral"},
             {"id": 3, "content": "  ", "label": "sad"}]
    virus = [{"id": 1, "content": "好害怕", "label": "fear"}, {"id": 2, "content": "今天好开心", "label": "happy"}]
    (base / "smp2020_ewect" / "usual_eval_labeled.txt").write_text(json.dumps(usual, ensure_ascii=False), encoding="utf-8")
    (base / "smp2020_ewect" / "virus_train.txt").write_text(json.dumps(virus, ensure_ascii=False), encoding="utf-8")
    (base / "smp2020_ewect" / "virus_eval_labeled.txt").write_text("[]", encoding="utf-8")
    clue = [{"id": 0, "content": "好喜欢这只猫", "label": "like"}, {"id": 1, "content": "恶心死了", "label": "disgust"}]
    (base / "clue_emotion2020" / "valid.txt").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in clue) + "\n", encoding="utf-8")
    return base


def test_zh_reader_maps_labels_sources_and_groups(tmp_path):
    from emokit.data import read_zh_text

    _zh_fixture(tmp_path)
    recs, rep = read_zh_text(tmp_path)
    assert [(r.source, r.label) for r in recs] == [
        ("smp2020_usual", "Happy"), ("smp2020_usual", "Neutral"), ("smp2020_virus", "Fear"),
        ("smp2020_virus", "Happy"), ("clue2020", "Happy"), ("clue2020", "Disgust")]
    assert rep.dropped["<empty>"] == 1
    assert recs[0].group == recs[3].group           # the same post in two files: one group
    assert recs[4].extra["label_raw"] == "like"
    dropped, rep2 = read_zh_text(tmp_path, sources=["clue2020"], overrides={"like": None})
    assert [r.label for r in dropped] == ["Disgust"] and rep2.dropped["like"] == 1


def test_zh_reader_errors_name_the_file(tmp_path):
    from emokit.data import DataError, read_zh_text

    base = _zh_fixture(tmp_path)
    (base / "clue_emotion2020" / "valid.txt").write_text('{"id": 0, "content": "好", "label": "joy?"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="valid.txt, line 1"):
        read_zh_text(tmp_path, sources=["clue2020"])
    (base / "smp2020_ewect" / "usual_eval_labeled.txt").write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="usual_eval_labeled.txt: not valid JSON"):
        read_zh_text(tmp_path, sources=["smp2020_usual"])
    with pytest.raises(DataError, match="unknown source"):
        read_zh_text(tmp_path, sources=["weibo"])
    with pytest.raises(DataError, match="zh_text"):
        read_zh_text(tmp_path / "nowhere")


def test_zh_split_is_seeded_group_disjoint_and_stratified():
    from emokit.text.zh import split_by_group

    recs = [Record(input=f"t{i}", label=LABELS7[i % 3], source="a" if i % 2 else "b", group=f"g{i // 2}")
            for i in range(200)]
    a = split_by_group(recs, {"test": 0.2, "val": 0.1}, seed=1)
    b = split_by_group(recs, {"test": 0.2, "val": 0.1}, seed=1)
    assert [r.input for r in a["test"]] == [r.input for r in b["test"]]
    groups = {k: {r.group for r in v} for k, v in a.items()}
    assert not groups["test"] & groups["train"] and not groups["val"] & groups["train"]
    assert sum(len(v) for v in a.values()) == 200 and 30 <= len(a["test"]) <= 50
