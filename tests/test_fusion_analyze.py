"""analyze(): one turn's perception, with the modality functions monkeypatched (no models loaded)."""
from __future__ import annotations

import json
import subprocess
import sys
import types

import numpy as np
import pytest

from emokit.fusion import perception as an
from emokit.fusion.late import FusionError
from emokit.labels import LABELS7
from emokit.types import Prediction


def _onehot(label, p=0.7):
    v = np.full(7, (1 - p) / 6)
    v[LABELS7.index(label)] = p
    return v.tolist()


@pytest.fixture()
def fake(monkeypatch):
    """Fake modality modules: faces named 'noface*' have no face, audio named 'silent*' no speech."""
    calls = []
    vision = types.ModuleType("emokit.vision")
    audio = types.ModuleType("emokit.audio")
    text = types.ModuleType("emokit.text")

    def v_predict(paths, backend=None):
        calls.append(("vision", list(paths)))
        return [Prediction.failed(p, "no_face", f"{p}: no face found") if str(p).startswith("noface")
                else Prediction.from_probs(str(p), _onehot("Sad"), box=[1, 2, 3, 4]) for p in paths]

    def a_predict(paths, model=None):
        calls.append(("audio", list(paths)))
        return [Prediction.failed(p, "no_speech", f"{p}: silent") if str(p).startswith("silent")
                else Prediction.from_probs(str(p), _onehot("Angry")) for p in paths]

    def t_predict(texts, model=None):
        calls.append(("text", list(texts)))
        return [Prediction.from_probs(t, _onehot("Happy")) for t in texts]

    def transcribe(path, **kw):
        calls.append(("asr", path))
        return types.SimpleNamespace(text="" if str(path).startswith("silent") else "I am so glad")

    vision.predict, audio.predict, text.predict, text.transcribe = v_predict, a_predict, t_predict, transcribe
    import emokit

    for name, mod in (("vision", vision), ("audio", audio), ("text", text)):
        monkeypatch.setitem(sys.modules, f"emokit.{name}", mod)
        monkeypatch.setattr(emokit, name, mod, raising=False)
    return calls


W = {"vision": 0.2, "audio": 0.3, "text": 0.5}


def test_all_three_fused_with_latency(fake):
    r = an.analyze(face="f.jpg", audio="a.wav", text="hello", weights=W)
    d = r.to_dict()
    expect = 0.2 * np.array(_onehot("Sad")) + 0.3 * np.array(_onehot("Angry")) + 0.5 * np.array(_onehot("Happy"))
    assert np.allclose([d["probabilities"][k] for k in LABELS7], expect, atol=1e-6)
    assert d["label"] == "Happy" and d["status"] == "ok" and d["missing"] == {}
    assert set(d["modalities"]) == {"vision", "audio", "text"}
    assert d["modalities"]["vision"]["box"] == [1, 2, 3, 4]
    assert {"vision", "audio", "text", "fusion", "total"} <= set(d["latency_ms"])
    assert ("asr", "a.wav") not in fake  # typed text given: no transcription
    json.dumps(d)


def test_transcript_used_when_no_text(fake):
    d = an.analyze(audio="a.wav", weights=W).to_dict()
    assert d["transcript"] == "I am so glad" and "asr" in d["latency_ms"]
    assert d["missing"] == {"vision": "no face image given"}
    assert d["weights_used"] == pytest.approx({"audio": 0.3 / 0.8, "text": 0.5 / 0.8})


def test_missing_modalities_renormalise(fake):
    d = an.analyze(face="noface.jpg", audio="silent.wav", text="hi", weights=W).to_dict()
    assert d["missing"]["vision"].startswith("no_face")
    assert d["missing"]["audio"].startswith("no_speech")
    assert d["weights_used"] == {"text": 1.0}
    assert d["label"] == "Happy"
    d = an.analyze(face="f.jpg", text="   ", weights=W).to_dict()
    assert d["missing"]["text"].startswith("empty_text") and d["label"] == "Sad"


def test_all_missing_is_a_clear_error(fake):
    with pytest.raises(FusionError, match="vision: no_face.*audio: no_speech.*text: empty_text"):
        an.analyze(face="noface.jpg", audio="silent.wav", weights=W)
    with pytest.raises(FusionError, match="nothing to fuse"):
        an.analyze(weights=W)


def test_zero_weight_modality_alone_still_answers(fake):
    d = an.analyze(face="f.jpg", weights={"vision": 0.0, "audio": 0.3, "text": 0.7}).to_dict()
    assert d["label"] == "Sad" and d["weights_used"] == {"vision": 1.0}
    assert "weighted equally" in d["weights_source"]


def test_default_weights_from_chapter_file(fake, tmp_artifacts):
    _, _, src = an.load_weights()
    assert "report section 4" in src
    out = tmp_artifacts / "04_late_fusion"
    out.mkdir()
    (out / "fusion_weights.json").write_text(json.dumps(
        {"weights": {"vision": 0.1, "audio": 0.1, "text": 0.8}, "description": "dev-tuned",
         "temperatures": {"text": 2.0}, "use_temperatures": False}))
    d = an.analyze(face="f.jpg", text="x").to_dict()
    assert d["weights"] == {"vision": 0.1, "audio": 0.1, "text": 0.8} and "dev-tuned" in d["weights_source"]
    assert d["temperatures"] == {}


def test_cli_analyze_all_missing_exits_nonzero(tmp_artifacts):
    proc = subprocess.run([sys.executable, "-m", "emokit", "analyze", "--text", "  ", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "nothing to fuse" in proc.stderr and "empty_text" in proc.stderr
    d = json.loads(proc.stdout)   # --json: still one object, saying what was missing and why
    assert d["status"] == "nothing_to_fuse" and d["label"] is None
    assert d["missing"]["text"].startswith("empty_text") and set(d["missing"]) == {"vision", "audio", "text"}


def test_package_function_survives_repeated_calls(fake):
    from emokit import fusion

    for _ in range(2):  # a submodule named like the function would replace it after the first call
        assert fusion.analyze(text="x", weights=W).to_dict()["label"] == "Happy"


def test_analyze_with_the_real_default_models(shared_data):
    """Integration: the chapters' default models under artifacts/ (skipped before `dvc repro`)."""
    from emokit.config import artifacts_dir

    need = [artifacts_dir("02_text") / "models" / "best.json", artifacts_dir("03_audio") / "models" / "best.json"]
    if not all(p.exists() for p in need):
        pytest.skip("modality models not trained yet (run `dvc repro 03_audio 02_text`)")
    face = sorted((shared_data / "fer2013" / "train" / "sad").glob("*.jpg"))[0]
    voice = sorted((shared_data / "ravdess").glob("Actor_*/03-01-04-*.wav"))[0]
    d = an.analyze(face=str(face), audio=str(voice), text="I miss her so much.").to_dict()
    assert d["status"] == "ok" and d["label"] in LABELS7
    assert abs(sum(d["probabilities"].values()) - 1) < 1e-4
    assert set(d["modalities"]) <= {"vision", "audio", "text"} and "text" in d["modalities"]
    for m, p in d["modalities"].items():
        assert (p["status"] == "ok") == (m not in d["missing"])
    assert d["latency_ms"]["total"] > 0


def test_hear_is_the_one_speech_to_text_call_and_never_raises(fake):
    h = an.hear("a.wav")                                   # default engine: emokit.text.transcribe
    assert h == an.Heard("I am so glad", None, None, h.ms) and fake.count(("asr", "a.wav")) == 1
    assert an.hear("silent.wav").text is None              # no words: None, not ""
    assert an.hear("x", lambda a: {"text": "  hi ", "language": "en"}) == an.Heard("hi", None, "en", pytest.approx(0, abs=1e3))
    assert an.hear("x", lambda a: ["first", "second"]).text == "first"
    boom = an.hear("x", lambda a: (_ for _ in ()).throw(FileNotFoundError("x.webm: file not found\nmore")))
    assert boom.text is None and boom.error == "FileNotFoundError: x.webm: file not found"


def test_analyze_reports_speech_to_text_failure_and_silence(fake, monkeypatch):
    import emokit

    d = an.analyze(audio="silent.wav", face="f.jpg", weights=W).to_dict()
    assert d["missing"]["text"] == "empty_text: no words recognised in the recording" and d["transcript"] is None

    def broken(path, **kw):
        raise RuntimeError("whisper weights missing")

    monkeypatch.setattr(emokit.text, "transcribe", broken)
    d = an.analyze(audio="a.wav", weights=W).to_dict()
    assert d["missing"]["text"] == "speech-to-text failed: RuntimeError: whisper weights missing"


def test_chat_turn_transcribes_its_recording_once(fake):
    """The session hears the recording (one call), screens and shows the words, and fusion analyses
    those words without transcribing the recording again."""
    from emokit.chat.session import ChatSession, default_analyze

    heard = []
    s = ChatSession(analyze=default_analyze, transcribe=lambda a: heard.append(a) or "I am so glad", use_llm=False)
    t = s.turn(audio="a.wav", face="f.jpg")
    assert heard == ["a.wav"] and ("asr", "a.wav") not in fake
    assert ("text", ["I am so glad"]) in fake and t.transcript == "I am so glad"
    assert t.perception["transcript"] == "I am so glad"
    s2 = ChatSession(analyze=default_analyze, transcribe=lambda a: "", use_llm=False)
    t2 = s2.turn(audio="a.wav", face="f.jpg")
    assert t2.transcript is None and "no speech recognised in the recording" in t2.notes
    assert not any(c[0] == "asr" for c in fake) and "text" in t2.perception["missing"]
