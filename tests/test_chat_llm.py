"""LLMService against a local OpenAI-compatible server on 127.0.0.1 (emokit.testing.fake_openai_server)."""
from __future__ import annotations

import time

import pytest

from emokit.testing.fake_openai_server import FakeOpenAIServer
from emokit.chat.llm import LLMError, LLMService, window

KEY = "sk-test-NEVER-WRITE-ME-0123456789"


def _svc(srv, **kw):
    kw.setdefault("timeout_s", 0.6)
    kw.setdefault("backoff_s", 0.01)
    kw.setdefault("max_retries", 3)
    return LLMService(api_key=KEY, base_url=srv.base_url, model="fake-model", **kw)


def test_streaming_reply_arrives_in_pieces_with_full_context():
    with FakeOpenAIServer(script=["ok"], expect_key=KEY) as srv:
        tokens = []
        history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "reply one"}]
        r = _svc(srv).chat("SYSTEM PROMPT", history, "USER: my dog is sick", on_token=tokens.append)
    assert r.text.startswith("I hear you: my dog is sick") and r.text.endswith("?")
    assert len(tokens) > 2 and "".join(tokens) == r.text
    assert not r.interrupted and r.finish_reason == "stop" and r.attempts == 1
    req = srv.requests[0]
    assert req["key_ok"] is True and req["body"]["stream"] is True and req["body"]["model"] == "fake-model"
    sent = req["body"]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0]["content"] == "SYSTEM PROMPT" and sent[-1]["content"] == "USER: my dog is sick"


def test_429_then_success_retries_with_backoff():
    sleeps = []
    with FakeOpenAIServer(script=["429", "429", "ok"]) as srv:
        r = _svc(srv, sleep=sleeps.append).chat("s", [], "hello")
    assert r.attempts == 3 and r.text.startswith("I hear you")
    assert len(sleeps) == 2  # Retry-After: 0 honoured
    assert [q["behaviour"] for q in srv.requests] == ["429", "429", "ok"]


def test_500_retried_then_clear_error():
    sleeps = []
    with FakeOpenAIServer(default="500") as srv:
        with pytest.raises(LLMError) as ei:
            _svc(srv, max_retries=2, sleep=sleeps.append).chat("s", [], "hello")
    assert ei.value.kind == "server" and "500" in str(ei.value) and "3 attempts" in str(ei.value)
    assert sleeps == [0.01, 0.02] and len(srv.requests) == 3


def test_500_then_success():
    with FakeOpenAIServer(script=["500", "ok"]) as srv:
        r = _svc(srv).chat("s", [], "hi there")
    assert r.attempts == 2 and r.text


def test_timeout_is_retried_and_reported():
    with FakeOpenAIServer(script=["slow", "ok"], slow_s=1.5) as srv:
        r = _svc(srv, timeout_s=0.4).chat("s", [], "hello")
    assert r.attempts == 2
    with FakeOpenAIServer(default="slow", slow_s=1.5) as srv:
        t0 = time.time()
        with pytest.raises(LLMError) as ei:
            _svc(srv, timeout_s=0.3, max_retries=1).chat("s", [], "hello")
        assert time.time() - t0 < 3
    assert ei.value.kind == "timeout" and "0.3 s" in str(ei.value)


def test_401_fails_fast_with_clear_message_and_no_key():
    with FakeOpenAIServer(expect_key="the-right-key") as srv:
        with pytest.raises(LLMError) as ei:
            _svc(srv).chat("s", [], "hello")
    assert ei.value.kind == "auth" and "401" in str(ei.value) and "DEEPSEEK_API_KEY" in str(ei.value)
    assert KEY not in str(ei.value) and len(srv.requests) == 1  # no retry on 401


def test_404_names_base_url_and_model():
    with FakeOpenAIServer(script=["404"]) as srv:
        with pytest.raises(LLMError) as ei:
            _svc(srv).chat("s", [], "hello")
    assert ei.value.kind == "not_found" and "EMOKIT_LLM_BASE_URL" in str(ei.value) and "fake-model" in str(ei.value)


def test_stream_cut_midway_keeps_partial_text():
    with FakeOpenAIServer(script=["cut"]) as srv:
        tokens = []
        r = _svc(srv).chat("s", [], "one two three four five six seven eight nine ten", on_token=tokens.append)
    assert r.interrupted and r.text and r.text == "".join(tokens)
    full = "I hear you: one two three four five six seven eight nine ten."
    assert full.startswith(r.text.strip()) and len(r.text.strip()) < len(full)
    assert "stream broken" in r.error and len(srv.requests) == 1  # not re-sent after tokens arrived


def test_from_env_and_repr_never_show_key(monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    monkeypatch.setenv("EMOKIT_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("EMOKIT_LLM_MODEL", "local-model")
    svc = LLMService.from_env()
    assert svc.available and svc.model == "local-model" and svc.base_url == "http://127.0.0.1:9/v1"
    assert KEY not in repr(svc) and KEY not in str(svc.describe())
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    svc = LLMService.from_env()
    assert not svc.available
    with pytest.raises(LLMError) as ei:
        svc.chat("s", [], "x")
    assert ei.value.kind == "unavailable"


def test_history_window_is_bounded_and_starts_on_user():
    msgs = []
    for i in range(30):
        msgs += [{"role": "user", "content": f"u{i}"}, {"role": "assistant", "content": f"a{i}"}]
    w = window(msgs, max_messages=5, max_chars=10_000)
    assert w[0]["role"] == "user" and w[-1]["content"] == "a29" and len(w) == 4
    w = window(msgs, max_messages=100, max_chars=12)
    assert sum(len(m["content"]) for m in w) <= 12 and w[0]["role"] == "user"
    assert window(msgs, 100, 10_000) == msgs
