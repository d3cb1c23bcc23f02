"""Faults of the chat (issue 15): bounded turn time and reply size, a history window that drops the
oldest turns, bad --session/--transcript paths caught before the turn, and the key never leaking.

Everything runs against emokit.testing.fake_openai_server on 127.0.0.1 with short timeouts (a few seconds in all).
"""
from __future__ import annotations

import json
import logging
import time

import pytest

from emokit import cli
from emokit.testing.fake_openai_server import FakeOpenAIServer
from emokit.chat.llm import LLMError, LLMService, window
from emokit.chat.redact import redact
from emokit.chat.session import ChatSession

SENTINEL = "sk-sentinel-LEAK-CHECK-7f3a9c21e0"


def _svc(srv, **kw):
    kw.setdefault("timeout_s", 0.5)
    kw.setdefault("backoff_s", 0.05)
    return LLMService(api_key=SENTINEL, base_url=srv.base_url, model="fake-model", **kw)


# ------------------------------------------------------------------ bounded time and size
def test_server_that_never_answers_is_bounded_by_the_deadline():
    with FakeOpenAIServer(default="hang") as srv:
        svc = _svc(srv, deadline_s=1.5, max_retries=10)
        svc._get_client()  # the SDK import is not the server's time
        t0 = time.perf_counter()
        with pytest.raises(LLMError) as ei:
            svc.chat("s", [], "hello")
        took = time.perf_counter() - t0
    assert ei.value.kind == "timeout" and "gave up" in str(ei.value)
    assert took < 2.2, took


def test_trickling_server_is_cut_at_the_deadline_and_keeps_what_arrived():
    with FakeOpenAIServer(default="trickle", trickle_s=0.8) as srv:
        svc = _svc(srv, deadline_s=1.2, timeout_s=5)
        svc._get_client()
        t0 = time.perf_counter()
        r = svc.chat("s", [], "hello")
        took = time.perf_counter() - t0
    assert took < 1.6, took  # the deadline, not the next token (at 1.6 s)
    assert r.interrupted and "deadline" in r.error and r.text.startswith("w0")


def test_huge_reply_is_capped_near_the_token_budget():
    with FakeOpenAIServer(default="huge", huge_chars=2_000_000) as srv:
        svc = _svc(srv, max_tokens=100, timeout_s=5)
        r = svc.chat("s", [], "hello")
    assert len(r.text) == svc.max_reply_chars == 800
    assert r.interrupted and r.finish_reason == "length" and "cut at 800" in r.error


def test_window_after_a_very_long_reply_keeps_the_recent_turns():
    msgs = []
    for i in range(6):
        msgs += [{"role": "user", "content": f"u{i}"}, {"role": "assistant", "content": f"a{i}"}]
    msgs[-1]["content"] = "x" * 1_000_000             # one 1 MB reply
    w = window(msgs, max_messages=20, max_chars=12_000)
    assert [m["content"] for m in w[:-1]] == ["u0", "a0", "u1", "a1", "u2", "a2", "u3", "a3", "u4", "a4", "u5"]
    assert len(w[-1]["content"]) <= 3_000 and "[...]" in w[-1]["content"]
    assert sum(len(m["content"]) for m in w) <= 12_000
    msgs[-2]["content"] = "y" * 500_000              # and a very long message before it
    w = window(msgs, max_messages=20, max_chars=12_000)
    assert w[0]["content"] == "u0" and w[-2]["role"] == "user" and len(w) == 12


def test_very_long_user_message_is_clipped_in_the_request():
    with FakeOpenAIServer() as srv:
        _svc(srv, max_user_chars=1000).chat("s", [], "z" * 50_000)
    sent = srv.requests[0]["body"]["messages"][-1]["content"]
    assert len(sent) <= 1000 and "[...]" in sent


# ------------------------------------------------------------------ the key never leaks
def test_redact_masks_key_bearer_and_key_like_fields():
    text = (f"Authorization: Bearer {SENTINEL}; api_key={SENTINEL[:20]}xyz; x-api-key: abcdefgh123; "
            f'"authorization": "Bearer tok_0123456789"')
    out = redact(text, [SENTINEL])
    assert SENTINEL not in out and "abcdefgh123" not in out and "tok_0123456789" not in out
    assert SENTINEL[:20] not in out and out.count("[REDACTED]") >= 4
    assert redact("nothing secret here") == "nothing secret here"


def test_echoed_key_never_reaches_error_log_session_or_transcript(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with FakeOpenAIServer(default="echo_headers") as srv:
        svc = _svc(srv)
        with pytest.raises(LLMError) as ei:
            svc.chat("s", [], "hello")
        assert ei.value.kind == "bad_request" and "headers were" in str(ei.value)
        assert SENTINEL not in str(ei.value)
        s = ChatSession(llm=svc, analyze=None, transcribe=None)
        t = s.turn(text="hello")
        paths = s.export(tmp_path)
    assert t.source == "offline-fallback" and "[REDACTED]" in t.llm_error and SENTINEL not in t.llm_error
    logging.getLogger("emokit.test").warning("server said: Authorization: Bearer %s", SENTINEL)
    assert SENTINEL not in caplog.text
    for p in paths.values():
        assert SENTINEL not in p.read_text()
    assert "[REDACTED]" in paths["json"].read_text()  # the error text is kept, the key is not
    assert SENTINEL not in s.transcript_json()


def test_cli_with_echoing_server_leaks_nothing(tmp_path, monkeypatch, capsys):
    with FakeOpenAIServer(script=["echo_headers"], default="ok") as srv:
        monkeypatch.setenv("DEEPSEEK_API_KEY", SENTINEL)
        monkeypatch.setenv("EMOKIT_LLM_BASE_URL", srv.base_url)
        rc = cli.main(["chat", "-m", "hi", "--no-perception", "--json", "--session", str(tmp_path / "s.json"),
                       "--transcript", str(tmp_path / "t")])
    out = capsys.readouterr()
    assert rc == 0 and SENTINEL not in out.out + out.err
    assert json.loads(out.out)["source"] == "offline-fallback"
    for p in [tmp_path / "s.json", *(tmp_path / "t").iterdir()]:
        assert SENTINEL not in p.read_text(), p


# ------------------------------------------------------------------ no traceback, no lost turn
@pytest.mark.parametrize("content, why", [("[1, 2]", "got a list"), ("null", "got null"), ("3", "got a number"),
                                          ('{"history": 5}', "'history' must be a list"),
                                          ('{"turns": [{"index": 0}]}', "turn 0 lacks"), ("{not json", "")])
def test_bad_session_file_is_a_clear_error_before_the_turn(tmp_path, capsys, content, why):
    f = tmp_path / "s.json"
    f.write_text(content)
    rc = cli.main(["chat", "-m", "hi", "--offline", "--no-perception", "--session", str(f)])
    err = capsys.readouterr().err
    assert rc == 2 and "not a saved chat session" in err and why in err and str(f) in err
    assert f.read_text() == content  # untouched


def test_session_folder_and_transcript_file_are_refused_before_the_turn(tmp_path, capsys, monkeypatch):
    turns = []
    monkeypatch.setattr(ChatSession, "turn", lambda self, **kw: turns.append(kw))
    (tmp_path / "d").mkdir()
    (tmp_path / "f.md").write_text("keep me")
    for args, msg in ((["--session", str(tmp_path / "d")], "is a folder"),
                      (["--transcript", str(tmp_path / "f.md")], "is a file"),
                      (["--session", str(tmp_path / "f.md" / "s.json")], "is a file")):
        rc = cli.main(["chat", "-m", "hi", "--offline", "--no-perception", *args])
        assert rc == 2 and msg in capsys.readouterr().err
    assert turns == [] and (tmp_path / "f.md").read_text() == "keep me"


def test_existing_transcript_folder_is_never_overwritten(tmp_path, capsys):
    d = tmp_path / "t"
    assert cli.main(["chat", "-m", "first conversation", "--offline", "--no-perception", "--transcript", str(d)]) == 0
    first = (d / "transcript.json").read_text()
    assert cli.main(["chat", "-m", "second one", "--offline", "--no-perception", "--transcript", str(d)]) == 0
    assert "transcript-2" in capsys.readouterr().err
    assert (d / "transcript.json").read_text() == first
    assert "second one" in (d / "transcript-2.json").read_text()
