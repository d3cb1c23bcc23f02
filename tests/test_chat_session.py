"""The chat turn, personas, transcripts, the CLI and the never-write-the-key rule (no trained models:
perception and speech-to-text are injected)."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emokit.chat import offline, prompts
from emokit.testing.fake_openai_server import FakeOpenAIServer
from emokit.chat.llm import LLMService
from emokit.chat.session import ChatSession
from emokit.labels import LABELS7

KEY = "sk-test-SECRET-do-not-persist-42"
REPO = Path(__file__).resolve().parent.parent


def onehot(label, p=0.7):
    rest = (1 - p) / 6
    return [p if k == label else rest for k in LABELS7]


def fake_analyze(face=None, audio=None, text=None):
    """A fusion-shaped result: per-modality predictions, fused probabilities, missing modalities."""
    mods, missing = {}, []
    if face:
        mods["face"] = {"status": "ok", "label": "Happy", "probabilities": onehot("Happy", 0.8), "box": [10, 20, 50, 50]}
    else:
        missing.append("face")
    if audio:
        mods["audio"] = {"status": "ok", "label": "Angry", "probabilities": onehot("Angry", 0.5)}
    else:
        missing.append("audio")
    if text:
        mods["text"] = {"status": "ok", "label": "Sad", "probabilities": onehot("Sad", 0.6)}
    else:
        missing.append("text")
    fused = onehot("Happy", 0.55) if face else onehot("Sad", 0.6) if text else onehot("Neutral", 1 / 7)
    return {"modalities": mods, "fused": fused, "missing": missing}


def test_offline_turn_runs_every_stage_and_completes():
    stages = []
    s = ChatSession(persona="counselling_rogerian", analyze=fake_analyze,
                    transcribe=lambda a: "I lost my job today", use_llm=False)
    t = s.turn(text="", face="me.png", audio="turn.webm", on_stage=lambda n, d: stages.append(n))
    assert stages == ["transcribe", "transcript", "analyze", "perception", "reply"]
    assert t.transcript == "I lost my job today" and t.user_text == "I lost my job today"
    assert t.emotion == "Happy" and abs(t.confidence - 0.55) < 1e-9
    assert t.perception["modalities"]["face"]["label"] == "Happy" and t.perception["box"] == [10, 20, 50, 50]
    assert t.source == "offline" and t.reply.rstrip().endswith("?")
    assert "you lost your job today" in t.reply  # reflected (Rogerian)
    # the face (high reliability) disagrees with audio (low): the counsellor names the face
    assert "happy" in t.reply.lower()
    assert [m["role"] for m in s.history] == ["user", "assistant"]


@pytest.mark.parametrize("kw", [dict(text=""), dict(text="", face=None, audio="silence.wav"), dict(text="hi")])
def test_turn_with_missing_inputs_still_completes(kw):
    s = ChatSession(analyze=fake_analyze, transcribe=lambda a: "", use_llm=False)
    t = s.turn(**kw)
    assert t.reply.strip().endswith("?")
    assert "face" in t.perception["missing"]


def test_turn_survives_broken_perception_and_stt():
    def boom(**kw):
        raise RuntimeError("no trained model: run dvc repro 04_late_fusion")

    def stt(a):
        raise FileNotFoundError("x.webm: file not found")
    s = ChatSession(analyze=boom, transcribe=stt, use_llm=False)
    t = s.turn(text="hello", audio="x.webm")
    assert t.reply and any("perception unavailable" in n for n in t.notes)
    assert any("speech-to-text unavailable" in n for n in t.notes)
    assert t.perception["top"] is None


def test_short_input_is_not_closed_and_every_persona_asks():
    for key in prompts.persona_keys():
        s = ChatSession(persona=key, custom_persona="a cheerful pirate" if key == "user_defined" else None,
                        analyze=None, transcribe=None, use_llm=False)
        r = s.turn(text="ok").reply
        assert r.rstrip().endswith("?") and '"ok"' in r, (key, r)


def test_persona_switch_returns_greeting_in_voice():
    s = ChatSession(analyze=None, transcribe=None, use_llm=False)
    g = s.set_persona("mock_interview")
    assert g == prompts.PERSONAS["mock_interview"].greeting and "seat" in g
    assert s.set_persona("user_defined", "a grumpy wizard").startswith("(Playing: a grumpy wizard)")
    with pytest.raises(ValueError):
        s.set_persona("nope")
    with pytest.raises(ValueError):
        s.set_persona("user_defined", "   ")
    assert prompts.PERSONAS["mock_interview"].title in prompts.system_prompt("mock_interview")


def test_prompt_carries_perception_payload_and_world_view():
    p = prompts.normalize_perception(fake_analyze(face="f", audio="a", text="t"))
    line = prompts.perception_payload(p)
    assert line.startswith("PERCEPTION fused=Happy(0.55)") and "face=Happy(0.80)" in line
    assert "audio=Angry(0.50)" in line and "text_model=Sad(0.60)" in line and line.endswith("missing=none")
    p2 = prompts.normalize_perception(fake_analyze(text="t"))
    assert "face=absent(missing)" in prompts.perception_payload(p2) and "missing=face,audio" in prompts.perception_payload(p2)
    sp = prompts.system_prompt("daily_chat")
    assert "face" in sp and "HIGH" in sp and "LOW" in sp and "open question" in sp
    # an object with to_dict() (the fusion contract) works too
    class R:
        def to_dict(self):
            return {"label": "Fear", "confidence": 0.4, "probabilities": onehot("Fear", 0.4),
                    "predictions": {"text": {"status": "empty_text", "detail": "empty", "probabilities": None}}}
    q = prompts.normalize_perception(R())
    assert q["top"] == "Fear" and q["modalities"]["text"]["status"] == "empty_text" and "text" in q["missing"]


def test_llm_turns_history_and_interrupted_stream(caplog):
    caplog.set_level(logging.DEBUG)
    with FakeOpenAIServer(script=["ok", "cut", "500", "500", "ok"], expect_key=KEY) as srv:
        llm = LLMService(api_key=KEY, base_url=srv.base_url, model="fake", timeout_s=2, backoff_s=0.01, max_retries=1)
        s = ChatSession(persona="daily_chat", llm=llm, analyze=fake_analyze, transcribe=None)
        assert s.llm_active and "fake" in s.responder_label
        t1 = s.turn(text="my cat knocked over my coffee this morning")
        assert t1.source == "llm" and t1.reply.startswith("I hear you")
        t2 = s.turn(text="one two three four five six seven eight nine ten eleven")
        assert t2.source == "llm" and t2.interrupted and t2.reply and t2.notes
        t3 = s.turn(text="still there?")                  # 500, 500 -> gives up -> offline fallback
        assert t3.source == "offline-fallback" and "server" in t3.notes[0] and t3.reply.endswith("?")
        t4 = s.turn(text="I want to kill myself")        # LLM reply + guaranteed resources
        assert t4.source == "llm" and t4.safety_triggered and "findahelpline.com" in t4.reply
        sys_prompt = srv.requests[-1]["body"]["messages"][0]["content"]
        assert prompts.SAFETY_TURN_DIRECTIVE in sys_prompt
        # the 4th LLM request carried the whole (windowed) context, alternating roles
        sent = srv.requests[-1]["body"]["messages"]
        assert [m["role"] for m in sent] == ["system"] + ["user", "assistant"] * 3 + ["user"]
        assert sent[4]["content"] == t2.reply  # the partial reply is what history kept
        assert sent[1]["content"].startswith("PERCEPTION fused=")
    roles = [m["role"] for m in s.history]
    assert roles == ["user", "assistant"] * 4
    assert all(r["key_ok"] for r in srv.requests)
    assert KEY not in caplog.text


def test_key_never_written_to_transcript_or_logs(tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    with FakeOpenAIServer(expect_key=KEY) as srv:
        monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
        monkeypatch.setenv("EMOKIT_LLM_BASE_URL", srv.base_url)
        base_url = srv.base_url
        s = ChatSession(analyze=fake_analyze, transcribe=None)
        s.set_persona("counselling_rogerian")
        s.turn(text="hello")
        paths = s.export(tmp_path)
    assert s.greetings[-1]["source"] == "greeting-llm"
    for p in paths.values():
        assert KEY not in p.read_text()
    d = json.loads(paths["json"].read_text())
    assert d["responder"] == "llm" and d["llm"]["base_url"] == base_url and len(d["turns"]) == 1
    md = paths["markdown"].read_text()
    assert "## Turn 1" in md and "PERCEPTION" in md and "switched to counselling_rogerian" not in md
    assert KEY not in caplog.text and KEY not in repr(s.llm)


def _cli(args, env_extra=None, timeout=60):
    env = {k: v for k, v in os.environ.items() if k not in ("DEEPSEEK_API_KEY", "EMOKIT_LLM_API_KEY")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "emokit", "chat", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_cli_json_offline_and_llm(tmp_path):
    r = _cli(["--message", "I failed my exam today", "--persona", "counselling_rogerian", "--json",
              "--no-perception", "--transcript", str(tmp_path)])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"reply", "persona", "emotion", "safety_triggered"} <= set(out)
    assert out["persona"] == "counselling_rogerian" and out["responder"] == "offline" and not out["safety_triggered"]
    assert "Offline responder" in r.stderr and (tmp_path / "transcript.md").exists()
    r = _cli(["-m", "我想死", "--json", "--no-perception"])
    assert json.loads(r.stdout)["safety_triggered"] is True
    with FakeOpenAIServer(expect_key=KEY) as srv:
        r = _cli(["-m", "hello there", "--persona", "debate_opponent", "--no-perception", "--transcript", str(tmp_path)],
                 {"DEEPSEEK_API_KEY": KEY, "EMOKIT_LLM_BASE_URL": srv.base_url})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("I hear you: hello there") and "LLM:" in r.stderr
    assert KEY not in r.stdout + r.stderr
    assert all(KEY not in p.read_text() for p in tmp_path.iterdir())
    r = _cli(["--persona", "user_defined", "-m", "hi"])
    assert r.returncode == 2 and "--custom-persona" in r.stderr


def test_offline_reflection():
    assert offline.reflect("I miss my old friends") == "you miss your old friends"
    assert offline.reflect("are you a bot?") is None and offline.reflect("我很难过") is None
    assert offline.is_short("ok") and offline.is_short("嗯") and not offline.is_short("I had a long day at work")


def test_normalize_real_fusion_result_shape():
    """The shape of emokit.fusion.perception.AnalysisResult.to_dict()."""
    from emokit.types import Prediction

    d = {"status": "ok", "label": "Sad", "confidence": 0.5,
         "probabilities": dict(zip(LABELS7, onehot("Sad", 0.5))),
         "modalities": {"vision": Prediction.failed("f.png", "no_face", "no face found").to_dict(),
                        "text": Prediction.from_probs("t", onehot("Sad", 0.6)).to_dict()},
         "missing": {"vision": "no_face: no face found", "audio": "no recording given"},
         "transcript": None, "latency_ms": {"total": 12.0}}
    p = prompts.normalize_perception(d)
    assert p["top"] == "Sad" and p["missing"] == ["face", "audio"]
    assert p["modalities"]["face"]["status"] == "no_face" and p["modalities"]["audio"]["detail"] == "no recording given"
    assert p["modalities"]["text"]["label"] == "Sad" and abs(p["modalities"]["text"]["confidence"] - 0.6) < 1e-6
    assert "face=absent(no_face)" in prompts.perception_payload(p)


def test_perception_degrades_when_one_modality_model_is_missing():
    calls = []

    def analyze(face=None, audio=None, text=None):
        calls.append((face, audio, text))
        if audio is not None:
            raise FileNotFoundError("no audio model at artifacts/03_audio/models/best")
        return fake_analyze(face=face, text=text)
    s = ChatSession(analyze=analyze, transcribe=lambda a: "hello", use_llm=False)
    t = s.turn(text="hi", face="f.png", audio="a.wav")
    assert calls == [("f.png", "a.wav", "hi hello"), ("f.png", None, "hi hello")]
    assert t.emotion == "Happy" and "audio" in t.perception["missing"]
    assert t.perception["modalities"]["audio"]["status"] == "error" and "no audio model" in t.notes[0]


def test_cli_session_file_continues_the_conversation(tmp_path):
    f = tmp_path / "s.json"
    r = _cli(["-m", "I failed my exam", "--persona", "counselling_rogerian", "--no-perception", "--session", str(f)])
    assert r.returncode == 0, r.stderr
    r = _cli(["-m", "ok", "--no-perception", "--session", str(f), "--json"])
    assert json.loads(r.stdout)["persona"] == "counselling_rogerian"
    d = json.loads(f.read_text())
    assert len(d["turns"]) == 2 and [m["role"] for m in d["history"]] == ["user", "assistant"] * 2
    f.write_text("not json")
    assert _cli(["-m", "hi", "--no-perception", "--session", str(f)]).returncode == 2


def test_offline_replies_follow_the_users_language():
    s = ChatSession(persona="counselling_rogerian", analyze=fake_analyze, transcribe=None, use_llm=False)
    r = s.turn(text="我最近总是睡不好，很累").reply
    assert any("\u4e00" <= c <= "\u9fff" for c in r) and r.endswith("？") and "难过" in r   # fused Sad
    assert s.turn(text="嗯").reply.startswith("我能感受到") and "「嗯」" in s.turns[-1].reply


def test_offline_tone_follows_the_face_when_it_disagrees_with_fusion():
    def analyze(face=None, audio=None, text=None):
        d = fake_analyze(face=face, audio=audio, text=text)
        d["modalities"]["face"]["probabilities"] = onehot("Angry", 0.8)
        d["modalities"]["face"]["label"] = "Angry"
        return d                                   # fused says Happy, face says Angry
    s = ChatSession(persona="daily_chat", analyze=analyze, transcribe=lambda a: "hello", use_llm=False)
    r = s.turn(text="hi", face="f.png", audio="a.wav").reply
    assert "steaming" in r and "grin" not in r     # the Angry acknowledgement, not the Happy one
