"""Chapters 04/05 end to end on shared data with fake modality models (no upstream models needed):
held-out pools from splits.csv files -> label-matched triples -> caches -> grids -> hybrid features."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emokit.chapters import hybrid_fusion, late_fusion
from emokit.config import load_params
from emokit.fusion import hybrid, late
from emokit.labels import INDEX7, LABELS7
from emokit.types import Prediction


def _fake(strength, label_of, fail=()):
    def predict(xs):
        out = []
        for x in xs:
            if x in fail:
                out.append(Prediction.failed(x, "no_face", "fake: none"))
                continue
            rng = np.random.default_rng(abs(hash(x)) % 2**32)
            z = rng.normal(size=7)
            z[INDEX7[label_of[x]]] += strength
            e = np.exp(z)
            out.append(Prediction.from_probs(x, e / e.sum()))
        return out

    def embed(xs):
        rows = []
        for x in xs:
            rng = np.random.default_rng(abs(hash(x)) % 2**32 + 1)
            v = rng.normal(size=12)
            v[INDEX7[label_of[x]]] += strength
            rows.append(v)
        return np.asarray(rows, np.float32)

    return predict, embed


@pytest.fixture()
def fake_world(shared_data, tmp_path, monkeypatch):
    from emokit.data.readers import read_emodb, read_fer2013_folders, read_ravdess

    art = tmp_path / "artifacts"
    label_of = {}
    for chap, recs in (("01_vision", read_fer2013_folders(shared_data)[0]),
                       ("03_audio", read_ravdess(shared_data)[0] + read_emodb(shared_data)[0])):
        rows = []
        for i, r in enumerate(recs):
            label_of[r.input] = r.label
            rows.append({"input": r.input, "label": r.label, "source": r.source, "group": r.group,
                         "split": "test" if i % 4 == 0 else "train"})
        (art / chap).mkdir(parents=True)
        pd.DataFrame(rows).to_csv(art / chap / "splits.csv", index=False)
    from emokit.fusion import trimodal

    for r in trimodal.meld_text_pool(shared_data, "test").itertuples():
        label_of[r.input] = r.label
    fail = {k for k in list(label_of)[:5]}  # a few faces the fake detector misses
    fakes = {"vision": _fake(0.8, label_of, fail), "audio": _fake(1.2, label_of), "text": _fake(1.6, label_of)}
    monkeypatch.setattr(late_fusion, "_modality", lambda m: fakes[m])
    return art


def test_chapter_04_and_05_pipeline_with_fake_models(fake_world, shared_data, tmp_path):
    params = load_params("04_late_fusion", profile="demo", smoke=True)
    out = tmp_path / "out04"
    cache = out / "cache"
    mt = late_fusion.meld_text_eval(params, shared_data, cache)
    assert mt["n"] == params["meld_text_eval"]["limit"] and 0 <= mt["f1_weighted"] <= 1
    df, info = late_fusion.build_set(params, shared_data, fake_world, cache)
    assert info["pool.vision.answered"] <= info["pool.vision.heldout"]
    assert df["label"].value_counts().max() <= params["max_per_class"]
    # every face and voice comes from the held-out rows only
    held = {m: set(pd.read_csv(fake_world / c / "splits.csv").query("split == 'test'")["input"])
            for m, c in (("vision", "01_vision"), ("audio", "03_audio"))}
    assert set(df["vision"]) <= held["vision"] and set(df["audio"]) <= held["audio"]
    probs, embs, _ = late_fusion.cache_modalities(df, params, cache)
    assert all(p.shape == (len(df), 7) for p in probs.values())
    path = late_fusion.save_features(df, embs, out)
    res = late_fusion.late_fusion_experiments(df, probs, params)
    assert len(res["grid_dev"].table) == len(late.simplex_grid(3, params["grid"]["step"]))
    assert res["n_dev"] + res["n_test"] + res["n_incomplete"] <= len(df)
    assert set(res["temperatures"]) == {"vision", "audio", "text"}
    late_fusion.write_weights(out, res["grid_dev"].best_weights, res["temperatures"], False, "test")
    # notebook 05 reads what 04 cached
    p5 = load_params("05_hybrid_fusion", profile="demo", smoke=True).to_dict()   # a copy this test changes
    p5["data"]["chapter"] = "out04"
    data = hybrid_fusion.hybrid_data(p5, tmp_path)
    assert path.exists() and len(data) == len(df) and data.dims == {"text": 12, "audio": 12, "vision": 12}
    r = hybrid.train(data, {**p5["train"], **p5["v0"], **p5["model"], "epochs": 2})
    assert len(r.history) == 2
