"""The scripted evaluation of the local chat voice (emokit.chat.evaluate: 32 user turns, scored
automatically), with the compact prompt (the local default) and optionally the full prompt.

    OMP_NUM_THREADS=1 nice python benchmarks/chat_local_eval.py [--styles compact,full] [--model qwen2.5-coder-1.5b]

Writes benchmarks/results/chat_local_eval.json (every reply, its scores and timings, a summary per
prompt style, the machine's description) and prints the summary table in Markdown.
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

    cols = [*CRITERIA, "all_criteria", "first_token_warm_median_s", "reply_warm_median_s"]
    lines = ["| prompt | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for style, s in summaries.items():
        lines.append(f"| {style} | " + " | ".join("-" if s.get(c) is None else f"{s[c]}" for c in cols) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--styles", default="compact,full")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "chat_local_eval.json")
    args = ap.parse_args(argv)

    from emokit.chat import evaluate
    from emokit.chat.local_llm import LocalLLMService
    from emokit.chat.session import ChatSession

    svc = LocalLLMService(model=args.model)
    res: dict = {"benchmark": "chat_local_eval", "model": args.model, "machine": machine_info(), "styles": {}}
    for style in args.styles.split(","):
        svc.prompt_style = style

        def make(persona, custom):
            return ChatSession(persona=persona, custom_persona=custom, llm=svc, analyze=None, transcribe=None)

        rows = evaluate.run(make, on_turn=lambda r: print(f"[{style}] {r['conversation']}.{r['turn']} "
                                                          f"{r['first_token_s'] or 0:.1f}s {r['reply'][:70]!r}", flush=True))
        res["styles"][style] = {"summary": evaluate.summarise(rows), "rows": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2, ensure_ascii=False))
    svc.stop()
    print(table({k: v["summary"] for k, v in res["styles"].items()}))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
