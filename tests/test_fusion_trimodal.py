"""The demo's label-matched tri-modal set and the per-modality caches."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emokit.fusion import trimodal
from emokit.labels import LABELS7
from emokit.types import Prediction


def _pool(prefix, per_label, groups=None, labels=LABELS7):
    rows = []
    for lab in labels:
        for i in range(per_label):
            g = f"{prefix}-{lab}-{i % groups}" if groups else f"{prefix}-{lab}-{i}"
            rows.append({"input": f"{prefix}/{lab}/{i}", "label": lab, "source": prefix, "group": g})
    return pd.DataFrame(rows)


def test_draw_triples_label_matched_without_reuse_and_grouped_splits():
    vision = _pool("fer", 20)
    audio = _pool("ravdess", 6, groups=3, labels=[l for l in LABELS7 if l != "Surprise"])
    text = _pool("meld", 30)
    df = trimodal.draw_triples(vision, audio, text, seed=1, pairs_per_voice=2)
    lab = {r["input"]: r["label"] for _, r in pd.concat([vision, audio, text]).iterrows()}
    assert all(lab[r.vision] == lab[r.audio] == lab[r.text] == r.label for r in df.itertuples())
    assert "Surprise" not in set(df["label"])            # no Surprise voice: no Surprise triple
    assert len(df) == 6 * 12                               # 6 voices x 2 pairs per label
    assert df["vision"].is_unique and df["text"].is_unique  # faces and sentences never reused
    assert df["audio"].value_counts().max() == 2
    # a recording never straddles splits (default), a speaker neither with group_by="speaker"
    assert (df.groupby("audio")["split"].nunique() == 1).all()
    assert set(df["split"]) == {"train", "val", "test"}
    by_spk = trimodal.draw_triples(vision, audio, text, seed=1, pairs_per_voice=2, group_by="speaker")
    assert (by_spk.groupby("audio_group")["split"].nunique() == 1).all()
    assert set(by_spk["split"]) == {"train", "val", "test"}
    again = trimodal.draw_triples(vision, audio, text, seed=1, pairs_per_voice=2)
    assert again.equals(df)                                # fixed seed: same set
    capped = trimodal.draw_triples(vision, audio, text, seed=1, pairs_per_voice=2, max_per_class=5)
    assert capped["label"].value_counts().max() == 5


def test_draw_triples_errors_when_nothing_matches():
    with pytest.raises(ValueError, match="label-matched"):
        trimodal.draw_triples(_pool("fer", 2, labels=["Happy"]), _pool("a", 2, labels=["Sad"]),
                              _pool("t", 2, labels=["Sad"]))


def test_read_heldout(tmp_path):
    d = tmp_path / "03_audio"
    d.mkdir()
    pd.DataFrame({"input": ["a", "b", "c"], "label": ["Sad", "Happy", "Sad"], "source": ["ravdess"] * 3,
                  "group": ["g1", "g2", "g3"], "split": ["train", "test", "test"]}).to_csv(d / "splits.csv", index=False)
    out = trimodal.read_heldout("03_audio", tmp_path)
    assert list(out["input"]) == ["b", "c"]
    with pytest.raises(FileNotFoundError, match="dvc repro 01_vision"):
        trimodal.read_heldout("01_vision", tmp_path)
    with pytest.raises(ValueError, match="no rows"):
        trimodal.read_heldout("03_audio", tmp_path, sources=["emodb"])


def test_meld_text_pool(shared_data):
    pool = trimodal.meld_text_pool(shared_data, "test")
    assert len(pool) == 2610 and set(pool["sentiment"]) == {"Positive", "Negative", "Neutral"}


def test_caches_compute_once(tmp_path):
    calls = []

    def predict(xs):
        calls.append(list(xs))
        return [Prediction.failed(x, "no_face", "none") if x == "bad" else
                Prediction.from_probs(x, np.eye(7)[len(x) % 7]) for x in xs]

    out = trimodal.cached_predictions("vision", ["a", "bb", "bad"], predict, tmp_path)
    assert np.isnan(out["probs"][2]).all() and out["status"] == ["ok", "ok", "no_face"]
    out2 = trimodal.cached_predictions("vision", ["bb", "a", "ccc"], predict, tmp_path)
    assert calls == [["a", "bb", "bad"], ["ccc"]]
    assert np.allclose(out2["probs"][1], out["probs"][0])
    emb = trimodal.cached_embeddings("text", ["x", "y"], lambda xs: np.ones((len(xs), 4)) * len(xs), tmp_path)
    emb2 = trimodal.cached_embeddings("text", ["y", "z"], lambda xs: np.zeros((len(xs), 4)), tmp_path)
    assert emb.shape == (2, 4) and (emb2[0] == 2).all() and (emb2[1] == 0).all()


def test_meld_clip_set_full_profile_layout(tmp_path):
    """Full profile: MELD rows whose MELD.Raw clip exists; dev -> val, clip is both face and voice."""
    cols = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime"
    csvdir = tmp_path / "meld" / "csv"
    csvdir.mkdir(parents=True)
    clips = {}
    for split, fname in (("dev", "dev_sent_emo.csv"), ("test", "test_sent_emo.csv")):
        rows = [cols, "1,Oh my God!,Rachel,surprise,positive,0,0,1,1,0,1", "2,Fine.,Ross,neutral,neutral,0,1,1,1,1,2",
                "3,Get out.,Monica,anger,negative,1,0,1,1,2,3"]
        (csvdir / fname).write_text("\n".join(rows) + "\n", encoding="utf-8")
        clips[split] = tmp_path / f"clips_{split}"
        clips[split].mkdir()
        for d, u in ((0, 0), (1, 0)):  # dia0_utt1 has no clip: left out
            (clips[split] / f"dia{d}_utt{u}.mp4").write_bytes(b"")
    df = trimodal.meld_clip_set(tmp_path, clips)
    assert len(df) == 4 and set(df["split"]) == {"val", "test"}
    assert (df["vision"] == df["audio"]).all() and df["vision"].str.endswith(".mp4").all()
    assert list(df["label"][:2]) == ["Surprise", "Angry"] and df["sentiment"][0] == "Positive"
    with pytest.raises(KeyError, match="train"):
        trimodal.meld_clip_set(tmp_path, clips, splits=("train", "test"))
