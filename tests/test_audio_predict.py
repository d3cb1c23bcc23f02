"""emokit.audio.predict / embed / load_model and `python -m emokit predict audio`: every format,
silence, corrupt and missing files, long clips. Uses a tiny untrained v3 saved as the default model."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emokit import audio
from emokit.audio import features as feat
from emokit.audio.model_io import LinearHead, save_crnn, save_linear
from emokit.audio.models import build_model
from emokit.labels import LABELS7

REPO = Path(__file__).resolve().parent.parent
V3 = dict(widths=[4, 8, 8, 8], stem_stride=2, pool=[[2, 2], [2, 1], [2, 1], [2, 1]], proj=16, mlp_hidden=16)


def voice(seconds=2.0, sr=16000, seed=0):
    """Speech-like vowels (voice activity detection accepts them; a plain tone is no_speech)."""
    from emokit.data.speech import synthetic_vowels

    return synthetic_vowels(seconds, sr, seed)


@pytest.fixture()
def default_model(tmp_artifacts):
    import torch

    torch.manual_seed(0)
    folder = tmp_artifacts / "03_audio" / "models"
    for name in ("best", "v3"):
        save_crnn(folder / name, build_model("v3", **V3), {"arch": "v3", "arch_params": V3,
                                                           "logmel": feat.LogMelConfig().to_dict(), "silence_db": -50.0})
    audio.clear_cache()
    yield folder / "best"
    audio.clear_cache()


def write_webm(path: Path, a: np.ndarray, sr: int = 48000):
    import av

    with av.open(str(path), "w", format="webm") as c:
        s = c.add_stream("libopus", rate=sr)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(a[None, :], format="flt", layout="mono")
        frame.sample_rate = sr
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)


@pytest.fixture()
def clips(tmp_path):
    a16 = voice(2.0, 16000)
    a44 = voice(2.0, 44100)
    files = {}
    files["wav16"] = tmp_path / "pcm16_16k.wav"; sf.write(files["wav16"], a16, 16000, subtype="PCM_16")
    files["wav8"] = tmp_path / "u8_8k.wav"; sf.write(files["wav8"], voice(2.0, 8000), 8000, subtype="PCM_U8")
    files["wav24_stereo"] = tmp_path / "s24_44k_stereo.wav"
    sf.write(files["wav24_stereo"], np.stack([a44, a44 * 0.5], 1), 44100, subtype="PCM_24")
    files["wav32"] = tmp_path / "s32_48k.wav"; sf.write(files["wav32"], voice(2.0, 48000), 48000, subtype="PCM_32")
    files["float"] = tmp_path / "float_22k.wav"; sf.write(files["float"], voice(2.0, 22050), 22050, subtype="FLOAT")
    files["flac"] = tmp_path / "c.flac"; sf.write(files["flac"], a16, 16000)
    files["ogg"] = tmp_path / "c.ogg"; sf.write(files["ogg"], a16, 16000)
    files["mp3"] = tmp_path / "c.mp3"; sf.write(files["mp3"], a44, 44100)
    files["webm"] = tmp_path / "browser.webm"; write_webm(files["webm"], voice(2.0, 48000))
    files["short"] = tmp_path / "short.wav"; sf.write(files["short"], voice(0.5, 16000), 16000)
    files["long"] = tmp_path / "long.wav"; sf.write(files["long"], voice(8.0, 16000), 16000)
    files["silent"] = tmp_path / "silent.wav"; sf.write(files["silent"], np.zeros(32000, np.float32), 16000)
    files["corrupt"] = tmp_path / "corrupt.wav"; files["corrupt"].write_bytes(b"RIFF\x00\x00garbage" * 10)
    files["missing"] = tmp_path / "missing.wav"
    return files


def test_predict_every_format_in_order_with_bad_inputs_isolated(default_model, clips):
    names = list(clips)
    preds = audio.predict([str(clips[n]) for n in names])
    assert [p.input for p in preds] == [str(clips[n]) for n in names]
    by = dict(zip(names, preds))
    for n in ("wav16", "wav8", "wav24_stereo", "wav32", "float", "flac", "ogg", "mp3", "webm", "short", "long"):
        p = by[n]
        assert p.status == "ok", (n, p.detail)
        assert len(p.probabilities) == 7 and abs(sum(p.probabilities) - 1) < 1e-4 and p.label in LABELS7
    assert by["short"].extra["windows"] == 1
    assert by["long"].extra["windows"] >= 3  # 8 s: sliding 3 s windows averaged
    assert by["silent"].status == "no_speech" and "no speech" in by["silent"].detail
    assert by["corrupt"].status == "error" and "corrupt.wav" in by["corrupt"].detail
    assert by["missing"].status == "error" and "not found" in by["missing"].detail


def test_predict_arrays_any_rate_and_resampling_consistency(default_model):
    a = voice(2.0, 16000)
    import soxr

    p16, p48, pst = audio.predict([a, (soxr.resample(a, 16000, 48000), 48000), np.stack([a, a])])
    assert p16.status == p48.status == pst.status == "ok"
    np.testing.assert_allclose(p16.probabilities, p48.probabilities, atol=0.05)
    np.testing.assert_allclose(p16.probabilities, pst.probabilities, atol=1e-5)
    assert p16.input == "<array 0>"


def test_embed_is_256d_v3_bilstm(default_model, clips):
    e = audio.embed([str(clips["wav16"]), str(clips["missing"]), str(clips["long"])])
    assert e.shape == (3, 256) and np.isfinite(e).all()
    assert np.all(e[1] == 0) and np.any(e[0] != 0)


def test_missing_default_model_says_how_to_build_it(tmp_artifacts):
    audio.clear_cache()
    with pytest.raises(FileNotFoundError, match="dvc repro 03_audio"):
        audio.load_model(None)


def test_linear_model_folder_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = np.repeat([0, 2, 6], 20)
    x[y == 2, 0] += 5
    x[y == 6, 1] += 5
    head = LinearHead.fit(x, y, C=1.0)
    save_linear(tmp_path / "lin", head, {"features": "egemaps"})
    back = LinearHead.load(tmp_path / "lin" / "head.npz")
    p = back.predict_proba(x)
    assert p.shape == (60, 7) and np.allclose(p.sum(1), 1)
    assert np.all(p[:, [1, 3, 4, 5]] == 0)  # classes never seen get 0
    assert (p.argmax(1) == y).mean() > 0.9


def test_cli_predict_audio_json(default_model, clips, tmp_artifacts):
    env = {**os.environ, "EMOKIT_ARTIFACTS": str(tmp_artifacts)}
    r = subprocess.run([sys.executable, "-m", "emokit", "predict", "audio", str(clips["wav16"]),
                        str(clips["missing"]), str(clips["silent"]), "--json"],
                       capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.strip().splitlines()]
    assert [d["input"] for d in lines] == [str(clips[k]) for k in ("wav16", "missing", "silent")]
    assert lines[0]["status"] == "ok" and set(lines[0]["probabilities"]) == set(LABELS7)
    assert lines[1]["status"] == "error" and lines[2]["status"] == "no_speech"
