"""Latency of one ``emokit.fusion.analyze`` call on CPU, broken down by modality.

    python benchmarks/fusion_analyze.py [--repeats 5] [--artifacts DIR]

Uses the chapters' default models under the artifacts root (01_vision, 02_text, 03_audio and the
04 weights) and real inputs from ../shared/data: a FER2013 face, a RAVDESS recording, and either a
typed sentence or the recording's Whisper transcript. The first call includes model loading
("cold"); the next ``--repeats`` calls are "warm". Writes benchmarks/results/fusion_analyze.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.run_all import machine_info  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--artifacts", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "fusion_analyze.json")
    args = ap.parse_args(argv)
    if args.artifacts:
        os.environ["EMOKIT_ARTIFACTS"] = str(args.artifacts.resolve())
    from emokit.config import data_root, offline_env

    offline_env()
    import torch

    torch.set_num_threads(2)
    from emokit.fusion import analyze

    root = data_root()
    face = str(sorted((root / "fer2013" / "train" / "happy").glob("*.jpg"))[0])
    voice = str(sorted((root / "ravdess").glob("Actor_*/03-01-03-*.wav"))[0])  # a happy recording
    cases = {
        "face+voice+typed_text": dict(face=face, audio=voice, text="That is wonderful news, I am so happy for you!"),
        "face+voice+transcript": dict(face=face, audio=voice),
        "typed_text_only": dict(text="I can't believe you did that to me."),
    }
    results = {}
    for name, kw in cases.items():
        runs = []
        for i in range(args.repeats + 1):
            t0 = time.perf_counter()
            d = analyze(**kw).to_dict()
            wall = (time.perf_counter() - t0) * 1000
            runs.append({"wall_ms": wall, **{f"{k}_ms": v for k, v in d["latency_ms"].items()}})
        cold, warm = runs[0], runs[1:]
        keys = sorted({k for r in warm for k in r})
        results[name] = {"cold": {k: round(v, 1) for k, v in cold.items()},
                         "warm_median": {k: round(float(np.median([r.get(k, np.nan) for r in warm])), 1) for k in keys},
                         "label": d["label"], "missing": d["missing"], "weights_source": d["weights_source"],
                         "transcript": d.get("transcript")}
        print(name, json.dumps(results[name]["warm_median"]), "| cold", json.dumps(results[name]["cold"]), flush=True)
    out = {"benchmark": "fusion_analyze", "inputs": {"face": face, "audio": voice}, "repeats": args.repeats,
           "results": results, "machine": machine_info(),
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
