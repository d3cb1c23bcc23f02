"""The LLM fault table: one chat turn against each kind of broken OpenAI-compatible server, with the
service's default limits (connect 5 s, read 20 s, deadline 45 s per reply, reply cut at max_tokens x 8
characters, 3 retries), timed, and checked for the key.

    .venv/bin/python benchmarks/llm_faults.py [--quick]

Every server is emokit.testing.fake_openai_server on 127.0.0.1 (no network). The key is a sentinel; each row says
whether it appeared anywhere (reply, error, notes, session JSON, transcript, log). ``--quick`` divides
every time limit by 10 (for a smoke check; the committed results are without it). Writes
benchmarks/results/llm_faults.json and prints the markdown table that docs/robustness.md shows.
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import socket
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.run_all import machine_info  # noqa: E402
from emokit.testing.fake_openai_server import FakeOpenAIServer  # noqa: E402
from emokit.chat.llm import LLMService  # noqa: E402
from emokit.chat.session import ChatSession  # noqa: E402

SENTINEL = "sk-sentinel-FAULT-TABLE-0123456789abcdef"

CASES = [  # (name, what the server does, script, default, server kwargs)
    ("normal", "answers, streamed", [], "ok", {}),
    ("never answers", "reads the request, sends nothing", [], "hang", {}),
    ("trickle", "one token every 20 s", [], "trickle", {"trickle_s": 20.0}),
    ("5 MB reply", "streams 5,000,000 characters, ignores max_tokens", [], "huge", {}),
    ("500 always", "HTTP 500 on every request", [], "500", {}),
    ("429 always", "HTTP 429, Retry-After: 0", [], "429", {}),
    ("500 then ok", "one 500, then answers", ["500"], "ok", {}),
    ("401", "rejects the key", [], "401", {}),
    ("404", "wrong base URL / model", [], "404", {}),
    ("cut mid-stream", "drops the connection after half the reply", [], "cut", {}),
    ("slow 10 s", "answers after 10 s", [], "slow", {"slow_s": 10.0}),
    ("echoes the key", "HTTP 400 whose message echoes the request headers", [], "echo_headers", {}),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_case(name: str, base_url: str | None, scale: float, srv_requests=None) -> dict:
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        svc = LLMService(api_key=SENTINEL, base_url=base_url, model="fake-model", timeout_s=20 * scale,
                         connect_timeout_s=5 * scale, deadline_s=45 * scale, backoff_s=1.0 * scale,
                         max_backoff_s=20 * scale)
        s = ChatSession(llm=svc, analyze=None, transcribe=None)
        t0 = time.perf_counter()
        t = s.turn(text="I failed my exam today and I feel awful")
        took = time.perf_counter() - t0
        files = s.transcript_json() + s.transcript_markdown()
    finally:
        logging.getLogger().removeHandler(handler)
    everything = " ".join([t.reply, t.llm_error, " ".join(t.notes), files, log.getvalue()])
    return {"case": name, "turn_s": round(took, 2), "source": t.source, "interrupted": t.interrupted,
            "reply_chars": len(t.reply), "llm_error": t.llm_error[:160], "key_leaked": SENTINEL in everything,
            "requests": len(srv_requests) if srv_requests is not None else None}


def history_after_long_reply(scale: float) -> dict:
    """After a 5 MB reply, the next request still carries the earlier turns (oldest dropped first)."""
    with FakeOpenAIServer(script=["ok", "ok", "huge", "ok"]) as srv:
        svc = LLMService(api_key=SENTINEL, base_url=srv.base_url, model="fake-model", deadline_s=45 * scale)
        s = ChatSession(llm=svc, analyze=None, transcribe=None)
        for msg in ("first message", "second message", "third message", "fourth message"):
            s.turn(text=msg)
        sent = srv.requests[-1]["body"]["messages"]
    return {"messages_in_4th_request": len(sent), "roles": [m["role"] for m in sent],
            "chars_in_4th_request": sum(len(m["content"]) for m in sent)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="every time limit / 10")
    args = ap.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    rows = []
    for name, what, script, default, kw in CASES:
        kw = {k: (v * scale if k.endswith("_s") else v) for k, v in kw.items()}
        with FakeOpenAIServer(script=script, default=default, lifetime_s=300, **kw) as srv:
            row = run_case(name, srv.base_url, scale, srv.requests)
        row["server"] = what
        rows.append(row)
        print(f"{name}: {row['turn_s']} s, {row['source']}", file=sys.stderr)
    row = run_case("connection refused", f"http://127.0.0.1:{_free_port()}/v1", scale)
    row["server"] = "nothing listens on the port"
    rows.append(row)
    hist = history_after_long_reply(scale)
    out = {"machine": machine_info(), "quick": args.quick,
           "limits": {"connect_s": 5 * scale, "read_s": 20 * scale, "deadline_s": 45 * scale, "max_retries": 3,
                      "max_reply_chars": 3200},
           "rows": rows, "history_after_5MB_reply": hist}
    if not args.quick:
        res = REPO / "benchmarks" / "results" / "llm_faults.json"
        res.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("| server | what it does | turn (s) | reply from | reply chars | cut | key in any output |")
    print("|---|---|---:|---|---:|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['server']} | {r['turn_s']:.2f} | {r['source']} | {r['reply_chars']} | "
              f"{'yes' if r['interrupted'] else 'no'} | {'**LEAKED**' if r['key_leaked'] else 'no'} |")
    print(f"\nAfter a 5 MB reply the 4th request carried {hist['messages_in_4th_request']} messages "
          f"({hist['chars_in_4th_request']} characters): {' '.join(hist['roles'])}")
    return 1 if any(r["key_leaked"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
