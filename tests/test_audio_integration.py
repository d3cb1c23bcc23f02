"""Audio chapter on the real demo data in ../shared/data: corpora, speaker-independent split,
features of real clips (log-mel, eGeMAPS, Whisper encoder), a fast-dev-run of the chapter's
training path through the feature cache."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from emokit.audio import features as feat
from emokit.config import load_params


@pytest.fixture(scope="module")
def records(shared_data):
    from emokit.audio.data import load_records

    p = load_params("03_audio", profile="demo").to_dict()   # a copy this test points at the shared data
    p["data_root"] = str(shared_data)
    recs, summary = load_records(p)
    return recs, summary


def test_demo_corpora_counts_labels_and_speaker_independent_split(records):
    recs, summary = records
    by = Counter(r.source for r in recs)
    assert by == {"ravdess": 238, "emodb": 325}
    assert "L=53" in summary["emodb"]  # boredom dropped, counted
    assert not any(r.label == "Surprise" for r in recs if r.source == "emodb")
    split_of = {}
    for r in recs:
        assert split_of.setdefault(r.group, r.split) == r.split
    for src in ("ravdess", "emodb"):
        assert {r.split for r in recs if r.source == src} == {"train", "val", "test"}


def test_real_clip_features(records):
    from emokit.data import load_audio

    recs, _ = records
    path = next(r.input for r in recs if r.source == "ravdess")
    a = load_audio(path, sr=22050)
    assert abs(len(a) / 22050 - 2.389) < 0.01  # the source cut every RAVDESS clip to 114,688 samples at 48 kHz
    w = feat.windows(feat.logmel(a))
    assert w.shape == (1, 128, 130)
    a16 = load_audio(path, sr=16000)
    e = feat.egemaps(a16, 16000)
    assert e.shape == (88,) and np.isfinite(e).all()
    wh = feat.whisper_embed(a16)
    assert wh.shape == (768,) and np.isfinite(wh).all()


def test_fast_dev_run_on_real_clips_through_the_cache(shared_data, tmp_path):
    from emokit.audio.data import prepare
    from emokit.audio.variants import train_crnn, train_linear
    from emokit.chapters.audio import choose_best

    p = load_params("03_audio", profile="demo", smoke=True).to_dict()   # a copy this test changes
    p["data_root"] = str(shared_data)
    p["max_per_speaker"] = 2
    p["feature_sets"] = ["logmel"]
    data = prepare(p, cache_root=tmp_path / "cache", progress=False)
    assert data.cache.logmel.shape == (len(data.records), 128, 130)
    again = prepare(p, cache_root=tmp_path / "cache", progress=False)  # second call reads the cache
    assert again.cache.folder == data.cache.folder
    np.testing.assert_array_equal(again.cache.logmel, data.cache.logmel)
    spec = {**p["variants"]["v3"], "train": {"epochs": 1}}
    r = train_crnn("v3", spec, p, data, tmp_path / "models")
    assert 0 <= r["metrics"]["test.accuracy"] <= 1 and (tmp_path / "models" / "v3" / "model_card.json").exists()
    info = choose_best({"v3": r}, ["v1", "v3"], tmp_path / "models")
    assert info["chosen"] == "v3" and (tmp_path / "models" / "best" / "model.pt").exists()


def test_run_entry_point_trains_saves_and_resumes(shared_data, tmp_artifacts, monkeypatch):
    import json

    from emokit.audio.run import main

    monkeypatch.setenv("EMOKIT_DATA_ROOT", str(shared_data))
    out = tmp_artifacts / "03_audio"
    assert main(["v1", "--smoke", "--out", str(out)]) == 0
    card = json.loads((out / "models" / "v1" / "model_card.json").read_text())
    assert card["epochs_run"] == 1 and card["data"]["n_test"] > 0 and (out / "models" / "v1" / "ckpt" / "last.pt").exists()
    assert main(["v1", "--smoke", "--resume", "--out", str(out)]) == 0  # nothing left to do: 1 of 1 epochs done
