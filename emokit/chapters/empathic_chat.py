"""The steps of notebook 06 (empathic chat), kept here so the notebook stays thin and the logic is tested.

- :func:`pick_inputs`: a few faces (FER2013) and speech clips (RAVDESS) from the *held-out* (test)
  rows of ``artifacts/01_vision/splits.csv`` and ``artifacts/03_audio/splits.csv``; when a chapter
  has not run yet, a seeded pick from the reader, flagged ``held_out=False``.
- :func:`run_script`: the scripted conversation through the app's own turn (persona switches
  included), with per-stage timings.
- :func:`safety_table`: the safety screen on the table of phrasings (:mod:`emokit.testing.safety_cases`), plus a
  check that every persona answers a flagged message with crisis resources.
- :func:`llm_selftest`: the real :class:`~emokit.chat.llm.LLMService` against the local fake
  OpenAI-compatible server (streaming, a 429 then success, a stream cut midway).
"""
from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any, Iterable

from ..artifacts import read_splits
from ..chat import prompts, safety
from ..chat.session import ChatSession
from ..testing import safety_cases


def _test_rows(splits_csv: Path, source: str) -> list[str]:
    if not splits_csv.is_file():
        return []
    return [r.input for r in read_splits(splits_csv, splits=["test"]) if r.source == source and Path(r.input).is_file()]


def pick_inputs(artifacts_root: str | Path, n_faces: int = 2, n_audio: int = 2, seed: int = 42,
                data_root: str | Path | None = None) -> dict[str, Any]:
    """``{"faces": [...], "audio": [...], "held_out": {"faces": bool, "audio": bool}, "notes": [...]}``."""
    from ..config import data_root as find_data_root

    rng = random.Random(seed)
    root = Path(artifacts_root)
    out: dict[str, Any] = {"faces": [], "audio": [], "held_out": {}, "notes": []}
    for kind, chapter, source, n in (("faces", "01_vision", "fer2013", n_faces), ("audio", "03_audio", "ravdess", n_audio)):
        rows = sorted(_test_rows(root / chapter / "splits.csv", source))
        if rows:
            out[kind] = rng.sample(rows, min(n, len(rows)))
            out["held_out"][kind] = True
            continue
        out["held_out"][kind] = False
        out["notes"].append(f"{chapter}/splits.csv has no test rows of {source}: seeded pick from the reader, "
                            "not guaranteed held out")
        try:
            from ..data import readers

            droot = find_data_root(data_root)
            recs = (readers.read_fer2013_folders(droot)[0] if source == "fer2013" else readers.read_ravdess(droot)[0])
            out[kind] = rng.sample(sorted(r.input for r in recs), min(n, len(recs)))
        except Exception as exc:  # noqa: BLE001 - the demo still runs text-only
            out["notes"].append(f"no {kind}: {exc}")
    return out


def run_script(app_or_session: Any, script: Iterable[dict[str, Any]], faces: list[str], audio: list[str]) -> list[dict[str, Any]]:
    """Run the scripted conversation; returns one row per turn (timings, emotion, source, safety)."""
    app = app_or_session if hasattr(app_or_session, "submit") else None
    session: ChatSession = app.session if app is not None else app_or_session
    rows = []
    for i, step in enumerate(script):
        if step.get("persona") and (step["persona"] != session.persona or step.get("custom")):
            if app is not None:
                if step.get("custom"):
                    app.custom.value = step["custom"]
                app._switch(step["persona"])
            else:
                session.set_persona(step["persona"], step.get("custom"))
        face = faces[step["face"]] if step.get("face") is not None and step["face"] < len(faces) else None
        clip = audio[step["audio"]] if step.get("audio") is not None and step["audio"] < len(audio) else None
        t0 = time.perf_counter()
        t = app.submit(text=step["text"], face=face, audio=clip) if app is not None else \
            session.turn(text=step["text"], face=face, audio=clip)
        wall = time.perf_counter() - t0
        rows.append({"turn": i + 1, "persona": t.persona, "text": step["text"], "face": Path(face).name if face else "",
                     "audio": Path(clip).name if clip else "", "transcript": t.transcript or "",
                     "emotion": t.emotion or "", "confidence": t.confidence, "voice": t.voice, "source": t.source,
                     "safety": t.safety_triggered, "ends_with_question": t.reply.rstrip().endswith(("?", "？")),
                     "notes": "; ".join(t.notes), "wall_s": wall, **t.timings})
    return rows


def safety_table() -> tuple[list[dict[str, Any]], dict[str, float]]:
    rows = []
    for text in safety_cases.MUST_TRIGGER:
        r = safety.check(text)
        rows.append({"text": text, "expected": True, "triggered": r.triggered, "pass": r.triggered, "match": ", ".join(r.matches)})
    for text in safety_cases.MUST_NOT_TRIGGER:
        r = safety.check(text)
        rows.append({"text": text, "expected": False, "triggered": r.triggered, "pass": not r.triggered, "match": ", ".join(r.matches)})
    pos = [r for r in rows if r["expected"]]
    neg = [r for r in rows if not r["expected"]]
    persona_ok = []
    for key in prompts.persona_keys():
        s = ChatSession(persona=key, custom_persona=safety_cases.HOSTILE_CUSTOM_PERSONA if key == prompts.USER_DEFINED else None,
                        analyze=None, transcribe=None, use_llm=False)
        persona_ok += [safety.has_resources(s.turn(text=m).reply) for m in safety_cases.PERSONA_PROBES]
    metrics = {
        "safety.cases": len(rows), "safety.must_trigger": len(pos), "safety.must_not_trigger": len(neg),
        "safety.recall": sum(r["pass"] for r in pos) / len(pos),
        "safety.specificity": sum(r["pass"] for r in neg) / len(neg),
        "safety.pass_rate": sum(r["pass"] for r in rows) / len(rows),
        "safety.persona_resources_rate": sum(persona_ok) / len(persona_ok),
    }
    return rows, metrics


def llm_selftest(params_llm: dict[str, Any] | None = None) -> dict[str, Any]:
    """The LLM service end to end against the local fake server: a normal streamed turn, a 429 then
    success, and a stream cut midway (history stays consistent). Uses a throwaway local key."""
    from ..chat.llm import LLMService
    from ..testing.fake_openai_server import FakeOpenAIServer

    kw = {k: v for k, v in (params_llm or {}).items() if k in ("temperature", "max_tokens", "history_messages", "history_chars")}
    local_key = "local-fake-server-key"  # not a secret: the fake server on 127.0.0.1 only
    with FakeOpenAIServer(script=["ok", "429", "ok", "cut"], expect_key=local_key, lifetime_s=60) as srv:
        llm = LLMService(api_key=local_key, base_url=srv.base_url, model="fake-model", timeout_s=5,
                         backoff_s=0.01, max_retries=2, **kw)
        s = ChatSession(persona="counselling_rogerian", llm=llm, analyze=None, transcribe=None)
        turns = [s.turn(text=m) for m in ("I had a rough day at work.", "My manager criticised me in front of everyone.",
                                          "And then on the way home it started raining and I missed the bus too.")]
        roles = [m["role"] for m in s.history]
    lat = [t.timings["reply_s"] for t in turns]
    return {
        "llm_selftest.turns": len(turns),
        "llm_selftest.all_llm": all(t.source == "llm" for t in turns),
        "llm_selftest.retry_attempts_turn2": 2 if srv.requests[1]["behaviour"] == "429" else 1,
        "llm_selftest.cut_kept_partial": bool(turns[2].interrupted and turns[2].reply),
        "llm_selftest.history_alternates": roles == ["user", "assistant"] * 3,
        "llm_selftest.requests": len(srv.requests),
        "llm_selftest.reply_latency_median_s": statistics.median(lat),
    }
