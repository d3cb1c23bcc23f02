"""The scripted evaluation of the local chat voice (emokit.chat.evaluate, scored automatically):
the dev turns (``--set dev``, what prompts and settings are tuned on) or the 32 evaluation turns
(``--set eval``, reported, never tuned on).

    OMP_NUM_THREADS=1 nice python benchmarks/chat_local_eval.py --set dev \
        --variants guided,guided+grammar,guided+grammar+t0.4,compact

A variant is a prompt style (full, compact, guided) with options joined by ``+``: ``grammar`` (the
llama.cpp question grammar), ``cut5`` (the reply cut after 5 sentences; the summary's ``raw_*``
columns score the text before the cut), ``t0.4`` (temperature). Writes
benchmarks/results/chat_local_eval.json (eval) or chat_local_dev.json (dev): every reply, its scores
and timings, a summary per variant (merged into what the file already holds), the machine's load.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.run_all import machine_info  # noqa: E402


def table(summaries: dict) -> str:
    from emokit.chat.evaluate import CRITERIA

    cols = [*CRITERIA, "all_criteria", "raw_all_criteria", "first_token_warm_median_s", "reply_warm_median_s"]
    lines = ["| prompt | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for style, s in summaries.items():
        lines.append(f"| {style} | " + " | ".join("-" if s.get(c) is None else f"{s[c]}" for c in cols) + " |")
    return "\n".join(lines)


def prompt_sha() -> str:
    """A short hash of the prompt texts (which version of prompts.py a result belongs to)."""
    import hashlib

    from emokit.chat import prompts

    text = json.dumps([prompts.GUIDED_HEAD, prompts.GUIDED_CUES, prompts.GUIDED_EXAMPLES, prompts.GUIDED_SAFETY_TURN,
                       prompts.COMPACT_RULES, prompts.COMPACT_WORLD_VIEW, prompts.CONSTRAINTS], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def parse_variant(v: str) -> dict:
    style, *opts = v.split("+")
    kw = {"prompt_style": style, "question_grammar": False, "max_sentences": 0}
    for o in opts:
        if o == "grammar":
            kw["question_grammar"] = True
        elif o.startswith("cut"):
            kw["max_sentences"] = int(o[3:])
        elif o.startswith("t"):
            kw["temperature"] = float(o[1:])
        else:
            raise SystemExit(f"unknown variant option {o!r} in {v!r}")
    return kw


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--set", choices=("dev", "eval"), default="eval")
    ap.add_argument("--variants", default="guided+grammar+cut5")
    ap.add_argument("--no-prewarm", action="store_true", help="do not pre-warm the persona slots first")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--deadline", type=float, default=300.0,
                    help="seconds one reply may take (the app's 45 s would cut replies on a loaded machine "
                         "and score the load, not the prompt)")
    ap.add_argument("--tag", default="", help="suffix of the variant's name in the results (e.g. v2)")
    ap.add_argument("--rescore", action="store_true",
                    help="no model: score the stored replies again with each post-step (none, cut5, cut5q)")
    args = ap.parse_args(argv)
    out = args.out or HERE / "results" / ("chat_local_eval.json" if args.set == "eval" else "chat_local_dev.json")

    import os
    import time

    from emokit.chat import evaluate, prompts
    from emokit.chat.local_llm import LocalLLMService
    from emokit.chat.session import ChatSession

    convs = evaluate.CONVERSATIONS if args.set == "eval" else evaluate.DEV_CONVERSATIONS
    res: dict = json.loads(out.read_text()) if out.is_file() else {}
    if args.rescore:
        from emokit.chat.local_llm import limit_sentences

        posts = {"none": None, "cut5": lambda t: limit_sentences(t, 5, keep_question=False),
                 "cut5q": lambda t: limit_sentences(t, 5, keep_question=True)}
        for name, v in res.get("styles", {}).items():
            if not any("raw_reply" in r or r.get("source") == "llm" for r in v["rows"]):
                continue
            for r in v["rows"]:   # rows of older runs have no cue key: the set's cue
                r.setdefault("cue", next((c.get("cue") for c in convs if c["persona"] == r["persona"]
                                          and any(t[0] == r["user"] for t in c["turns"])), None))
            v["post_steps"] = {p: evaluate.summarise(evaluate.rescore(v["rows"], f)) for p, f in posts.items()}
            print(f"## {name}")
            print(table({f"{name} / post-step {p}": s for p, s in v["post_steps"].items()}))
        out.write_text(json.dumps(res, indent=2, ensure_ascii=False))
        return 0
    res.update({"benchmark": "chat_local_eval", "set": args.set, "model": args.model})
    res.setdefault("styles", {})
    for variant in args.variants.split(","):
        kw = parse_variant(variant)
        svc = LocalLLMService(model=args.model, deadline_s=args.deadline, timeout_s=min(args.deadline, 120), **kw)
        name = variant + (f"@{args.tag}" if args.tag else "")
        prewarm_s = None
        if not args.no_prewarm and kw["prompt_style"] != "full":
            t0 = time.perf_counter()
            s0 = ChatSession(persona=convs[0]["persona"], llm=svc, analyze=None, transcribe=None)
            s0.prewarm_personas().join()
            prewarm_s = round(time.perf_counter() - t0, 1)

        def make(persona, custom):
            return ChatSession(persona=persona, custom_persona=custom, llm=svc, analyze=None, transcribe=None)

        load0 = [round(x, 2) for x in os.getloadavg()]
        rows = evaluate.run(make, conversations=convs,
                            on_turn=lambda r: print(f"[{variant}] {r['conversation']}.{r['turn']} "
                                                    f"{r['first_token_s'] or 0:.1f}s {r['reply'][:90]!r}", flush=True))
        res["styles"][name] = {"settings": kw, "prompt_sha": prompt_sha(), "prewarm_s": prewarm_s, "summary": evaluate.summarise(rows),
                                  "machine": {**machine_info(), "load_average_at_start": load0}, "rows": rows}
        svc.stop()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2, ensure_ascii=False))
        print(table({name: res["styles"][name]["summary"]}), flush=True)
    print(table({k: v["summary"] for k, v in res["styles"].items()}))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
