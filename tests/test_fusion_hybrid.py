"""Hybrid fusion network: shapes, gates, the gate-0 ablation, a CPU fast-dev-run, feature loaders."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emokit.figures import plot_curves  # noqa: E402
from emokit.fusion import hybrid  # noqa: E402
from emokit.labels import LABELS7  # noqa: E402


def _data(n=90, dims=(24, 12, 16), seed=0, seq_vision=False):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 7
    t = rng.normal(size=(n, dims[0])).astype(np.float32)
    t[np.arange(n), y] += 4.0  # text carries the label
    a = rng.normal(size=(n, dims[1])).astype(np.float32)
    v = rng.normal(size=(n, 5, dims[2]) if seq_vision else (n, dims[2])).astype(np.float32)
    split = np.array((["train"] * 6 + ["val"] * 2 + ["test"] * 2) * (n // 10 + 1))[:n]
    return hybrid.FusionData(t, a, v, y, hybrid.sentiments_for([LABELS7[i] for i in y]), split)


def test_forward_shapes_and_gate_override():
    torch.manual_seed(0)
    m = hybrid.build_model({"text": 24, "audio": 12, "vision": 16}, d_model=32, heads=4, dropout=0.0).eval()
    t, a, v = torch.randn(5, 24), torch.randn(5, 12), torch.randn(5, 3, 16)  # vision as a 3-frame sequence
    l7, l3, alpha, beta = m(t, a, v)
    assert l7.shape == (5, 7) and l3.shape == (5, 3) and alpha.shape == (5,)
    assert ((alpha > 0) & (alpha < 1)).all()
    # gates forced to 0: the output no longer depends on audio or vision at all (F = T)
    z7, *_ = m(t, a, v, gate_override=0.0)
    z7b, *_ = m(t, torch.randn(5, 12) * 10, torch.randn(5, 3, 16) * 10, gate_override=0.0)
    assert torch.allclose(z7, z7b, atol=1e-6)
    # a modality masked out for a row has its gate set to 0 for that row
    _, _, alpha_m, beta_m = m(t, a, v, mask_a=torch.tensor([1, 0, 1, 1, 1]), mask_v=torch.zeros(5))
    assert alpha_m[1] == 0 and (beta_m == 0).all() and alpha_m[0] > 0


def test_sentiments():
    s = hybrid.sentiments_for(["Happy", "Surprise", "Sad", "Surprise"], [None, "positive", None, "Negative"])
    assert list(s) == [0, hybrid.IGNORE, 1, 1]  # lower-case 'positive' is not a SENTIMENTS3 name


def test_fast_dev_run_trains_and_ablation_falls_back_to_text(tmp_path):
    data = _data()
    res = hybrid.train(data, {"epochs": 12, "d_model": 32, "heads": 2, "lr": 3e-3, "batch_size": 16,
                              "dropout": 0.1, "patience": 0})
    assert len(res.history) == 12 and 1 <= res.best_epoch <= 12
    assert {"train_loss", "val_loss", "val_f1_weighted", "gate_alpha"} <= set(res.history[0])
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    test = data.subset("test")
    full = hybrid.evaluate(res.model, test)
    ablated = hybrid.evaluate(res.model, test, gate_override=0.0)
    assert ablated["gate_alpha_mean"] == 0.0
    assert full["f1_weighted"] > 0.5  # text carries the label: the network learns it
    assert ablated["f1_weighted"] > 0.3  # and the text-only path still works on its own
    card = hybrid.save_model(res, tmp_path / "m", {"profile": "test"})
    assert (card / "model.pt").exists() and (card / "model_card.json").exists()
    fig = plot_curves({"v0": res.history}, hybrid.CURVE_PANELS)
    fig.savefig(tmp_path / "c.png")


def test_train_refuses_without_val():
    data = _data()
    data.split[:] = "train"
    with pytest.raises(ValueError, match="val"):
        hybrid.train(data, {"epochs": 1})


def test_npz_roundtrip(tmp_path):
    data = _data(n=20, seq_vision=True)
    path = hybrid.save_feature_npz(tmp_path / "f.npz", data)
    back = hybrid.load_feature_npz(path)
    assert back.dims == data.dims and (back.y7 == data.y7).all() and (back.y3 == data.y3).all()
    assert list(back.split) == list(data.split)
    np.savez(tmp_path / "bad.npz", text=np.zeros((2, 3)), audio=np.zeros((2, 3)), vision=np.zeros((2, 3)),
             label=np.array(["Happy", "Bored"]), split=np.array(["train", "val"]))
    with pytest.raises(ValueError, match="Bored"):
        hybrid.load_feature_npz(tmp_path / "bad.npz")


def _dialogue_pickle(path, with_vision: bool, with_val: bool):
    rng = np.random.default_rng(0)
    dias = ["d1", "d2", "d3", "d4"]
    labels = {d: [int(x) for x in rng.integers(0, 7, 3)] for d in dias}
    text = {d: [rng.normal(size=10) for _ in range(3)] for d in dias}
    audio = {d: [rng.normal(size=6) for _ in range(3)] for d in dias}
    vision = {d: [rng.normal(size=342) for _ in range(3)] for d in dias}
    speakers = {d: ["A", "B", "A"] for d in dias}
    sentence = {d: ["x", "y", "z"] for d in dias}
    if with_vision:  # M3ED-style: ids, speakers, labels, text, audio, vision, sentence, train, val, test
        obj = (dias, speakers, labels, text, audio, vision, sentence, ["d1", "d2"], ["d3"], ["d4"])
    else:  # MELD_features_raw.pkl-style: no vision, no val list
        obj = (dias, speakers, labels, text, audio, sentence, ["d1", "d2", "d3"], ["d4"])
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)
    return labels


def test_dialogue_pickle_loaders_m3ed_and_meld(tmp_path):
    labels = _dialogue_pickle(tmp_path / "m3ed.pkl", True, True)
    d = hybrid.load_dialogue_pickle(tmp_path / "m3ed.pkl", kind="m3ed")
    assert d.dims == {"text": 10, "audio": 6, "vision": 342} and len(d) == 12
    assert list(d.split).count("val") == 3 and list(d.split).count("test") == 3
    first = hybrid.DIALOGUE_LABELS["m3ed"][labels["d1"][0]]
    assert LABELS7[d.y7[0]] == first
    _dialogue_pickle(tmp_path / "meld.pkl", False, False)
    m = hybrid.load_dialogue_pickle(tmp_path / "meld.pkl", kind="meld")
    assert m.dims["vision"] == 1 and not m.masks["vision"].any()
    assert set(m.split) == {"train", "val", "test"}
    with pytest.raises(FileNotFoundError, match="not found"):
        hybrid.load_dialogue_pickle(tmp_path / "absent.pkl")
