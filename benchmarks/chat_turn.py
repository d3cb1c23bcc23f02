"""The chat's own costs on CPU, without perception: safety screen, offline reply, prompt size, and the
LLM service's overhead against a local OpenAI-compatible server (streamed replies, SDK + HTTP only;
a real LLM adds its generation time on top).

    python benchmarks/chat_turn.py [--turns 30]

Writes benchmarks/results/chat_turn.json (with the machine's description). Perception latency is
measured by benchmarks/fusion_analyze.py; the live camera path by benchmarks/vision_live.py.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.run_all import machine_info  # noqa: E402


def _stats(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"median_ms": round(statistics.median(xs) * 1000, 3), "p90_ms": round(xs[int(0.9 * (len(xs) - 1))] * 1000, 3),
            "max_ms": round(xs[-1] * 1000, 3), "n": len(xs)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=30)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "chat_turn.json")
    args = ap.parse_args(argv)

    from emokit.chat import prompts, safety
    from emokit.testing import safety_cases
    from emokit.testing.fake_openai_server import FakeOpenAIServer
    from emokit.chat.llm import LLMService
    from emokit.chat.session import ChatSession

    messages = list(safety_cases.MUST_TRIGGER) + list(safety_cases.MUST_NOT_TRIGGER)
    t0 = time.perf_counter()
    reps = 200
    for _ in range(reps):
        for m in messages:
            safety.check(m)
    per_msg = (time.perf_counter() - t0) / (reps * len(messages))

    texts = ["I had a long day at work and my boss yelled at me.", "ok", "我今天很难过", "Remote work is better.",
             "I want to kill myself"]
    offline_t = []
    s = ChatSession(analyze=None, transcribe=None, use_llm=False)
    for i in range(args.turns):
        t = s.turn(text=texts[i % len(texts)])
        offline_t.append(t.timings["total_s"])

    llm_t, first_t = [], []
    with FakeOpenAIServer(expect_key="bench-local-key", chunk_words=2, lifetime_s=300) as srv:
        llm = LLMService(api_key="bench-local-key", base_url=srv.base_url, model="fake", timeout_s=10)
        s = ChatSession(persona="counselling_rogerian", llm=llm, analyze=None, transcribe=None)
        for i in range(args.turns):
            r = llm.chat(s.system_prompt(), s.history, prompts.user_content(texts[i % len(texts)], None))
            s.history += [{"role": "user", "content": texts[i % len(texts)]}, {"role": "assistant", "content": r.text}]
            llm_t.append(r.latency_s)
            first_t.append(r.first_token_s or r.latency_s)
        sent = srv.requests[-1]["body"]["messages"]
    sys_prompt = prompts.system_prompt("counselling_rogerian")
    result = {
        "machine": machine_info(),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "safety_check_us_per_message": round(per_msg * 1e6, 2),
        "safety_messages": len(messages),
        "offline_turn": _stats(offline_t),
        "llm_fake_server_turn": _stats(llm_t),
        "llm_fake_server_first_token": _stats(first_t),
        "llm_messages_sent_last_turn": len(sent),
        "history_window_messages": llm.history_messages,
        "system_prompt_chars": len(sys_prompt),
        "system_prompt_words": len(sys_prompt.split()),
        "note": ("fake server on 127.0.0.1 answers instantly: these are the SDK/HTTP/streaming overheads, "
                 "not an LLM's generation time; the first LLM turn includes importing the OpenAI SDK"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
