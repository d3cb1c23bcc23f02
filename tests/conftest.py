"""Shared test fixtures. Tests never touch the network and never write into artifacts/."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
# Chat sessions in tests never load the trained risk model from artifacts/ (present or not, the suite
# behaves the same): they run the keyword screen alone unless a test passes its own RiskScreen.
os.environ.setdefault("EMOKIT_RISK_MODEL", str(Path(__file__).resolve().parent / "data" / "no-risk-model"))
# A local chat model in the user's cache must not change what the chat tests expect (templates without
# a key); tests/test_chat_local_llm.py turns the local voice on where it tests it.
os.environ.setdefault("EMOKIT_LOCAL_LLM", "0")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("EMOKIT_DATA_ROOT", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data subsets in ../shared/data; integration tests skip when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"integration data not found at {SHARED_DATA} (set EMOKIT_DATA_ROOT)")
    return SHARED_DATA


@pytest.fixture()
def tmp_artifacts(tmp_path, monkeypatch) -> Path:
    """An empty artifacts root for one test (EMOKIT_ARTIFACTS points at it)."""
    root = tmp_path / "artifacts"
    root.mkdir()
    monkeypatch.setenv("EMOKIT_ARTIFACTS", str(root))
    return root
