"""The crisis screen's cost per message on CPU (issue 11's budget: <= 30 ms per message on 2 cores):
keyword patterns + the learned risk model (emokit/chat/risk.py: n-gram TF-IDF and the e5 sentence
embedding, computed afresh for every message) + the session update, for short,
medium and long messages in English and Chinese (the project's 69-row table, the validation cases and
synthetic long messages up to the model's ``max_chars`` cut), plus the model's load time.

    python benchmarks/risk_screen.py [--reps 20]

Needs the trained model (``dvc repro 06_risk_model``). Writes benchmarks/results/risk_screen.json
with the machine's description. No dataset text is read.
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
            "p99_ms": round(xs[int(0.99 * (len(xs) - 1))] * 1000, 3), "max_ms": round(xs[-1] * 1000, 3), "n": len(xs)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "risk_screen.json")
    args = ap.parse_args(argv)

    from emokit.chat import risk
    from emokit.testing import safety_cases

    folder = risk.default_model_dir()
    t0 = time.perf_counter()
    try:
        model = risk.RiskModel.load(folder)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc} (run `dvc repro 06_risk_model`)", file=sys.stderr)
        return 2
    load_s = time.perf_counter() - t0
    screen = risk.RiskScreen(model, decay=model.card.get("session_decay", 0.6))
    cases = [c["text"] for c in risk.load_validation_cases(HERE.parent / "tests" / "data" / "risk_validation_cases.yaml")]
    groups = {
        "table_69": list(safety_cases.MUST_TRIGGER) + list(safety_cases.MUST_NOT_TRIGGER),
        "validation_cases": cases,
        "long_en_max_chars": [("I had a long day and I want to tell you about all of it. " * 40)[: model.max_chars + 200]],
        "long_zh_max_chars": [("今天发生了很多事情，我想慢慢地和你说一说。" * 80)[: model.max_chars + 200]],
    }
    screen.assess("warm-up")
    results = {}
    for name, msgs in groups.items():
        times, cpu = [], []
        for _ in range(args.reps):
            for m in msgs:
                risk._EMB_MEMO.clear()   # every message embedded afresh, as a new chat message is
                t0, c0 = time.perf_counter(), time.process_time()
                screen.assess(m)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        results[name] = _stats(times)
        # CPU time of this process per message: what the screen itself costs, without the wait for a
        # core on a loaded machine (the wall-clock numbers above include that wait)
        results[name]["cpu_median_ms"] = round(statistics.median(cpu) * 1000, 3)
        results[name]["cpu_p99_ms"] = round(sorted(cpu)[int(0.99 * (len(cpu) - 1))] * 1000, 3)
    out = {"what": "RiskScreen.assess per message (keyword screen + model + session update)",
           "model_load_s": round(load_s, 3), "model_card_train_s": model.card.get("wall_time_s"),
           "groups": results, "budget_ms": 30.0,
           "within_budget_median": max(r["median_ms"] for r in results.values()) <= 30.0,
           "within_budget_p90": max(r["p90_ms"] for r in results.values()) <= 30.0,
           "within_budget_p99": max(r["p99_ms"] for r in results.values()) <= 30.0,
           "within_budget_cpu_p99": max(r["cpu_p99_ms"] for r in results.values()) <= 30.0,
           "machine": machine_info()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(json.dumps(out["groups"], indent=1))
    print(f"model load {load_s:.2f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
