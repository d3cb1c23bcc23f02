"""Would the check-in threshold be better set on the opened outsider sets alone? (issue 11) A
validation-only analysis behind ``check_in_sources`` in params/06_empathic_chat.yaml: what a threshold
chosen on the outsider sets would give an outsider set it was not chosen on, against the shipped rule
(recall 0.95 on each of the real posts, the writer folds and the outsider sets).

    python benchmarks/risk_check_in_rule.py [--targets 0.95 0.96 0.97 0.98]

The trained model (artifacts/06_risk_model) scores the opened outsider sets of ``outsider_validation``
(it never trained on them). For each recall target and language, each set is left out in turn: the
threshold at which keyword-OR-model reaches the target on the other sets pooled is applied to the left-out
set. The row reports the mean over left-out sets of recall and false alarms, their worst values, and, for
comparison, the same sets at the threshold the model ships with. A sealed set (not in
``outsider_validation``) is never read. Writes benchmarks/results/risk_check_in_rule.json (aggregates
only, no text).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.run_all import machine_info  # noqa: E402


def main(argv=None) -> int:
    from emokit.chat import risk
    from emokit.config import REPO_ROOT, load_params

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=float, nargs="+", default=[0.95, 0.96, 0.97, 0.98])
    ap.add_argument("--out", default=str(HERE / "results" / "risk_check_in_rule.json"))
    args = ap.parse_args(argv)

    cfg = load_params("06_empathic_chat")["risk"]
    versions = list(cfg.get("outsider_validation") or [])
    if len(versions) < 2:
        print("error: outsider_validation needs at least two opened sets", file=sys.stderr)
        return 2
    model = risk.RiskScreen.from_artifacts().model
    if model is None:
        print("error: no trained risk model (run: dvc repro 06_risk_model)", file=sys.stderr)
        return 2
    o = risk.outsider_rows(versions, REPO_ROOT / "tests" / "data")
    o = o.assign(score=model.score(o.text.tolist()), kw=risk.keyword_flags(o.text.tolist()))
    rows = []
    for lang in risk.LANGS:
        d = o[o.lang == lang]
        shipped = model.threshold(lang, "check_in")
        for target in args.targets:
            per_set = []
            for v in versions:
                rest, held = d[d.group != v], d[d.group == v]
                if not held.y.sum():
                    continue
                t = risk.recall_threshold(rest.score.values, rest.y.values, target, rest.kw.values)
                r = risk.rates(held.kw.values | (held.score.values >= t), held.y.values)
                r0 = risk.rates(held.kw.values | (held.score.values >= shipped), held.y.values)
                per_set.append({"set": v, "threshold": round(t, 4), "recall": r["recall"], "false_alarm": r["false_alarm"],
                                "shipped_recall": r0["recall"], "shipped_false_alarm": r0["false_alarm"],
                                "n_at_risk": r["n_pos"], "n_ordinary": r["n_neg"]})
            pooled_t = risk.recall_threshold(d.score.values, d.y.values, target, d.kw.values)
            rec = np.array([p["recall"] for p in per_set])
            fa = np.array([p["false_alarm"] for p in per_set])
            row = {"language": lang, "target": target, "pooled_threshold": round(pooled_t, 4),
                   "shipped_threshold": round(shipped, 4),
                   "left_out_recall_mean": round(float(rec.mean()), 4), "left_out_recall_min": round(float(rec.min()), 4),
                   "left_out_false_alarm_mean": round(float(fa.mean()), 4),
                   "left_out_false_alarm_max": round(float(fa.max()), 4),
                   "shipped_recall_mean": round(float(np.mean([p["shipped_recall"] for p in per_set])), 4),
                   "shipped_false_alarm_mean": round(float(np.mean([p["shipped_false_alarm"] for p in per_set])), 4),
                   "sets": per_set}
            rows.append(row)
            print(f"{lang} target {target:.2f}: pooled t {pooled_t:.3f} | left-out recall {rec.mean():.3f} "
                  f"(min {rec.min():.3f}) false alarm {fa.mean():.3f} (max {fa.max():.3f}) | shipped t {shipped:.3f}: "
                  f"recall {row['shipped_recall_mean']:.3f} false alarm {row['shipped_false_alarm_mean']:.3f}")
    out = {"sets": versions, "model": str(model.path), "rows": rows, "machine": machine_info()}
    Path(args.out).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
