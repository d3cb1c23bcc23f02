"""Audio chapter unit tests on tiny made-up inputs: features, networks, training loop, helpers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from emokit.audio import features as feat
from emokit.audio.models import build_model, n_params
from emokit.audio.training import TrainConfig, fit, is_collapsed

torch.set_num_threads(1)
CFG = feat.LogMelConfig()
NARROW_V3 = dict(widths=[4, 8, 8, 8], stem_stride=2, pool=[[2, 2], [2, 1], [2, 1], [2, 1]], proj=16, mlp_hidden=16)


def tone(seconds: float, sr: int = 22050, f: float = 220.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


def test_logmel_window_geometry():
    assert CFG.window_seconds == pytest.approx(3.02, abs=0.01)
    mel = feat.logmel(tone(3.0))
    assert mel.shape[0] == 128 and abs(mel.shape[1] - 130) <= 1
    assert mel.max() == pytest.approx(1.0, abs=1e-5) and mel.min() >= -1.0 - 1e-6


def test_short_clip_is_padded_at_the_end_with_the_floor():
    mel = feat.logmel(tone(1.0))
    w = feat.windows(mel)
    assert w.shape == (1, 128, 130)
    assert np.all(w[0, :, mel.shape[1]:] == -1.0)
    np.testing.assert_array_equal(w[0, :, : mel.shape[1]], mel)


def test_long_clip_is_covered_by_overlapping_windows_ending_at_the_clip_end():
    mel = feat.logmel(tone(7.0))
    w = feat.windows(mel)
    assert w.shape[1:] == (128, 130) and len(w) >= 3
    np.testing.assert_array_equal(w[-1], mel[:, -130:])
    np.testing.assert_array_equal(w[1], mel[:, 65:195])


def test_gain_invariance_and_silence():
    a = tone(2.0)
    np.testing.assert_allclose(feat.logmel(a), feat.logmel(a * 0.01), atol=1e-3)
    assert feat.is_silent(np.zeros(22050, np.float32))
    assert feat.is_silent(np.random.default_rng(0).normal(0, 1e-4, 22050).astype(np.float32))
    assert not feat.is_silent(a)


@pytest.mark.parametrize("arch,cfg", [("v1", dict(widths=[4, 8, 8], rnn_hidden=8)),
                                      ("v2", dict(widths=[4, 8, 8], rnn_hidden=8)),
                                      ("v3", NARROW_V3)])
def test_networks_map_logmel_to_seven_logits(arch, cfg):
    net = build_model(arch, **cfg).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 1, 128, 130))
    assert out.shape == (2, 7) and torch.isfinite(out).all()


def test_v3_embedding_is_the_256d_bilstm_output_and_report_size_builds():
    net = build_model("v3", **NARROW_V3).eval()
    with torch.no_grad():
        e = net.embedding(torch.randn(3, 1, 128, 130))
    assert e.shape == (3, 256)
    full = build_model("v3", widths=[64, 128, 256, 512], pool=[[2, 2], [2, 2], [2, 1], [2, 1]])
    chans = [b.body[0].out_channels for b in full.blocks]
    assert chans == [64, 128, 256, 512] and full.lstm.num_layers == 2 and full.lstm.bidirectional
    assert n_params(full) > 5_000_000
    with torch.no_grad():
        assert full.eval()(torch.randn(1, 1, 128, 130)).shape == (1, 7)


def _toy(n=24, seed=0, frames=32):
    """Two separable classes: loud low band vs loud high band (short windows keep the test fast)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(-0.8, 0.05, (n, 128, frames)).astype(np.float32)
    y = np.arange(n) % 2
    x[y == 0, :20] += 1.5
    x[y == 1, 100:] += 1.5
    return x, y


@pytest.mark.parametrize("arch,cfg", [("v1", dict(widths=[4, 8, 8], rnn_hidden=8)),
                                      ("v2", dict(widths=[4, 8, 8], rnn_hidden=8)),
                                      ("v3", NARROW_V3)])
def test_fast_dev_run_every_network(arch, cfg):
    x, y = _toy(16, frames=64)
    net = build_model(arch, **cfg)
    res = fit(net, x, y, x[:8], y[:8], TrainConfig(epochs=1, batch_size=8, lr=1e-3, mixup_alpha=0.2,
                                                   class_weights=True, label_smoothing=0.1, spec_augment=True))
    assert len(res.history) == 1 and res.best_epoch == 0
    assert np.isfinite(res.history[0]["train_loss"]) and sum(res.val_pred_counts) == 8
    assert res.device == "cpu" and res.train_samples_per_s > 0


def test_training_learns_toy_task_keeps_best_and_resumes(tmp_path):
    x, y = _toy(16)
    cfg = dict(batch_size=4, lr=3e-3, early_stop_patience=50, seed=1)
    net = build_model("v1", widths=[4, 8, 8], rnn_hidden=8)
    res = fit(net, x, y, x, y, TrainConfig(epochs=6, **cfg))
    assert res.best_val_accuracy >= 0.9
    assert res.best_val_accuracy == max(h["val_accuracy"] for h in res.history)
    # resumable: 2 epochs, then "resume" to 4 continues from the checkpoint
    net2 = build_model("v1", widths=[4, 8, 8], rnn_hidden=8)
    fit(net2, x, y, x, y, TrainConfig(epochs=1, **cfg), ckpt_dir=tmp_path)
    assert (tmp_path / "last.pt").exists()
    res2 = fit(net2, x, y, x, y, TrainConfig(epochs=2, resume=True, **cfg), ckpt_dir=tmp_path)
    assert [h["epoch"] for h in res2.history] == [0, 1]


def test_early_stopping_stops():
    x, y = _toy(16)  # validation labels are the opposite: the better it learns, the worse val gets
    res = fit(build_model("v1", widths=[4, 8, 8], rnn_hidden=8), x, y, x, 1 - y,
              TrainConfig(epochs=30, batch_size=4, lr=3e-3, early_stop_patience=2))
    assert len(res.history) < 30


def test_collapse_detection():
    assert is_collapsed([0, 0, 40, 0, 0, 1, 0])
    assert not is_collapsed([10, 10, 10, 0, 0, 0, 10])
