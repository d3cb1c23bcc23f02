"""The ``02_text_embeddings`` stage: sentence embeddings of every text row notebook 02 will ask for,
computed once into the store of :mod:`emokit.text.embeddings`.

    python -m emokit.chapters.text_embeddings [--smoke] [--out DIR]     # what the stage runs
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..config import data_root, load_params
from ..text import zh
from ..text.data import prepare_data, prepare_ekman
from ..text.embeddings import default_cache_root, encoder, load_store, text_key


def text_sets(params: Mapping, root: Path) -> dict[str, list[str]]:
    """``{encoder: texts}`` that notebook 02 will ask for with these params (the same functions
    choose the rows here and there, so the stage and the notebook agree)."""
    d = prepare_data(root, params)
    ek = prepare_ekman(root, params)
    # dev and test first: an interrupted build is already usable for choosing and scoring heads
    eng = [r.input for r in d.val + d.test + d.train] + [x.text for x in ek.dev + ek.test + ek.train]
    z = zh.prepare(root, params)
    e5 = [r.input for r in z.e5_rows()] + [r.input for r in zh.english_rows(d, params)]
    sets = {params["embeddings"]["english_encoder"]: eng}
    sets.setdefault("e5", [])
    sets["e5"] = sets["e5"] + e5
    return {k: list(dict.fromkeys(v)) for k, v in sets.items()}


def build(params: Mapping, root: Path, out: Path, log=print, only: Sequence[str] | None = None) -> dict:
    """Embed every text of :func:`text_sets` (reusing vectors already in ``out``) and write the stores."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = params["embeddings"]
    mpath = out / "manifest.json"
    manifest = json.loads(mpath.read_text()) if mpath.exists() else {}
    manifest.setdefault("encoders", {})
    for name, texts in text_sets(params, root).items():
        if only and name not in only:
            continue
        t0 = time.time()
        store = load_store(out, name)
        keys = [text_key(t) for t in texts]
        todo = [t for k, t in zip(keys, texts) if k not in store]
        log(f"{name}: {len(texts)} texts, {len(todo)} to embed")
        f = encoder(name, threads=cfg["threads"], batch_size=int(cfg["batch"]), dtype=cfg["dtype"])
        step = 2048
        keep = set(keys)

        def save() -> list[str]:
            ks = sorted(k for k in store if k in keep)
            tmp = out / f"{name}.tmp.npz"
            np.savez(tmp, keys=np.array(ks), emb=np.stack([store[k] for k in ks]).astype(np.float16))
            os.replace(tmp, out / f"{name}.npz")
            return ks

        for i in range(0, len(todo), step):
            chunk = todo[i:i + step]
            for t, v in zip(chunk, f(chunk)):
                store[text_key(t)] = v
            log(f"  {name}: {min(i + step, len(todo))}/{len(todo)} ({time.time() - t0:.0f} s)")
            if (i // step) % 3 == 2:
                save()  # an interrupted run keeps what it has embedded
        ks = save()
        wall = time.time() - t0
        manifest["encoders"][name] = {"texts": len(ks), "embedded_now": len(todo), "seconds": round(wall, 1),
                                      "dtype": getattr(f, "dtype", None),
                                      "texts_per_s": round(len(todo) / wall, 1) if todo and wall else None}
    # re-read before writing: another process may have built another encoder meanwhile
    latest = json.loads(mpath.read_text()) if mpath.exists() else {"encoders": {}}
    latest.setdefault("encoders", {}).update(manifest["encoders"])
    latest["smoke"] = bool(params["smoke"])
    mpath.write_text(json.dumps(latest, indent=2))
    return latest


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="the smoke sizes of params/02_text.yaml")
    ap.add_argument("--out", type=Path, default=None, help="cache folder (default artifacts/cache/text_embeddings)")
    ap.add_argument("--encoders", nargs="*", default=None, help="only these encoders (default: all the params need)")
    a = ap.parse_args(argv)
    params = load_params("02_text", smoke=a.smoke)
    t0 = time.time()
    m = build(params, data_root(params["data_root"]), a.out or default_cache_root(),
              log=lambda s: print(s, flush=True), only=a.encoders)
    print(json.dumps(m, indent=1), f"\ntotal {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
