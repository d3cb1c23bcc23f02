"""Bad audio inputs (issue 15): noise, a pure tone, a 0.05 s clip and silence get no_speech (voice
activity detection before any model); speech after 35 s of silence is found; channels are mixed by
energy; Whisper features cover the whole recording in 30 s windows; Whisper writes nothing on silence.
Generated inputs only (emokit.data.speech.synthetic_vowels stands in for a voice)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from emokit import audio
from emokit.audio import features as feat
from emokit.audio.model_io import LinearHead, save_crnn, save_linear
from emokit.audio.models import build_model
from emokit.data.media import load_audio
from emokit.data.speech import detect_speech, mix_to_mono, synthetic_vowels

SR = 16000
V3 = dict(widths=[4, 8, 8, 8], stem_stride=2, pool=[[2, 2], [2, 1], [2, 1], [2, 1]], proj=16, mlp_hidden=16)


@pytest.fixture()
def tiny_model(tmp_artifacts):
    import torch

    torch.manual_seed(0)
    folder = tmp_artifacts / "03_audio" / "models" / "best"
    save_crnn(folder, build_model("v3", **V3), {"arch": "v3", "arch_params": V3,
                                                "logmel": feat.LogMelConfig().to_dict(), "silence_db": -50.0})
    audio.clear_cache()
    yield folder
    audio.clear_cache()


def _clips():
    rng = np.random.default_rng(0)
    t = np.arange(3 * SR) / SR
    return {"white_noise": (0.1 * rng.standard_normal(3 * SR)).astype(np.float32),
            "tone_440hz": (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
            "clip_0.05s": (0.3 * rng.standard_normal(int(0.05 * SR))).astype(np.float32),
            "hum_50hz": (0.3 * np.sin(2 * np.pi * 50 * t)).astype(np.float32),
            "clicks": np.where(np.arange(3 * SR) % 4000 == 0, 0.9, 0.0).astype(np.float32),
            "silence": np.zeros(3 * SR, np.float32)}


def test_nothing_there_is_no_speech(tiny_model, tmp_path):
    clips = _clips()
    paths = []
    for name, a in clips.items():
        p = tmp_path / f"{name}.wav"
        sf.write(p, a, SR)
        paths.append(str(p))
    preds = audio.predict(paths, model=tiny_model)
    assert [p.status for p in preds] == ["no_speech"] * len(clips), [p.detail for p in preds]
    assert all("no speech" in p.detail for p in preds)


def test_speech_after_35_s_of_silence_is_what_is_scored(tiny_model):
    a = np.concatenate([np.zeros(35 * SR, np.float32), synthetic_vowels(2.0)])
    (p,) = audio.predict([a], model=tiny_model)
    assert p.ok and p.extra["speech_regions"][0][0] >= 34.5 and p.extra["speech_s"] < 3
    assert p.extra["duration_s"] == pytest.approx(37.0, abs=0.01)


def test_channels_are_mixed_by_energy(tiny_model, tmp_path):
    v = synthetic_vowels(2.0)
    x = np.zeros((len(v), 8), np.float32)
    x[:, 5] = v
    f = tmp_path / "eight.wav"
    sf.write(f, x, SR)
    mono = load_audio(f)
    assert np.sqrt(np.mean(mono ** 2)) == pytest.approx(np.sqrt(np.mean(v ** 2)), rel=0.01)  # not -18 dB
    assert audio.predict([str(f)], model=tiny_model)[0].ok
    both = np.stack([v, v], 1)
    np.testing.assert_allclose(mix_to_mono(both), v, atol=1e-6)  # equal channels: their mean


def test_whisper_features_cover_the_whole_recording(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    head = LinearHead(np.zeros(768, np.float32), np.ones(768, np.float32), rng.normal(size=(7, 768)).astype(np.float32),
                      np.zeros(7, np.float32), np.arange(7))
    folder = save_linear(tmp_path / "whisper_lr", head, {"features": "whisper"})
    seen = []
    monkeypatch.setattr(feat, "whisper_embed", lambda a, **kw: seen.append(len(a)) or np.ones(768, np.float32))
    a = np.concatenate([synthetic_vowels(2.0), np.zeros(30 * SR, np.float32), synthetic_vowels(40.0, seed=1)])
    (p,) = audio.predict([a], model=folder)
    assert p.ok and p.extra["windows"] == len(seen) >= 2
    assert max(seen) <= 30 * SR and sum(seen) == pytest.approx(p.extra["speech_s"] * SR, rel=0.02)


def test_vad_on_generated_voice_and_non_speech():
    assert detect_speech(synthetic_vowels(2.0)).speech_s > 1.0
    for name, a in _clips().items():
        assert detect_speech(a).speech_s < 0.3, name


def test_whisper_writes_nothing_on_silence_or_noise():
    from emokit.text import transcribe

    rng = np.random.default_rng(0)
    assert transcribe(np.zeros(10 * SR, np.float32)).text == ""
    assert transcribe((0.1 * rng.standard_normal(3 * SR)).astype(np.float32)).text == ""
