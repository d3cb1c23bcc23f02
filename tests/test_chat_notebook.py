"""Notebook 06 in its smoke configuration, through the pipeline runner (papermill), with an LLM key in
the environment pointing at the local fake server: the scripted demo goes through the LLM path, the
outputs are written, and the key appears in no file of the chapter's outputs (executed notebook,
transcripts, metrics)."""
from __future__ import annotations

import json

import pytest

from emokit.testing.fake_openai_server import FakeOpenAIServer
from emokit.pipeline import run_notebook

pytestmark = pytest.mark.smoke

KEY = "sk-notebook-SENTINEL-7f3a9c"


def test_notebook_smoke_with_llm_never_writes_key(tmp_path, monkeypatch):
    with FakeOpenAIServer(expect_key=KEY, lifetime_s=170) as srv:
        monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
        monkeypatch.setenv("EMOKIT_LLM_BASE_URL", srv.base_url)
        run_notebook("06_empathic_chat", profile="demo", smoke=True, artifacts=tmp_path, timeout=150)
        n_requests = len(srv.requests)
    out = tmp_path / "06_empathic_chat"
    m = json.loads((out / "metrics.json").read_text())
    assert m["demo.responder"] == "llm" and m["safety.pass_rate"] == 1.0 and m["llm_selftest.history_alternates"]
    assert n_requests >= 3 and all(r["key_ok"] for r in srv.requests)
    t = json.loads((out / "transcript.json").read_text())
    assert [x["source"] for x in t["turns"]][:2] == ["llm", "llm"] and t["turns"][2]["safety_triggered"]
    assert "findahelpline.com" in t["turns"][2]["reply"]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "06_empathic_chat.ipynb" for p in files) and (out / "figures" / "turn_latency.png").exists()
    for p in files:
        assert KEY.encode() not in p.read_bytes(), f"API key written to {p}"
