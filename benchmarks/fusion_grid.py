"""Late-fusion grid search: 1,326 weightings (step 0.02, 3 modalities) x 2,610 inputs (MELD test size).

    python benchmarks/fusion_grid.py [--repeats 7] [--loop-repeats 1]

Compares the plain loop (sklearn metrics per weighting), the NumPy-vectorised search and the
compiled (numba) search on the same probabilities and checks that all three agree. Inputs: the
cached probabilities of notebook 04 when they hold >= 2,610 complete rows, else synthetic
probabilities with MELD's test label distribution and three modalities of different strength
(the input is recorded in the result). Writes benchmarks/results/fusion_grid.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.run_all import machine_info  # noqa: E402
from emokit.fusion import late  # noqa: E402

MELD_TEST = {"Neutral": 1256, "Happy": 402, "Angry": 345, "Surprise": 281, "Sad": 208, "Disgust": 68, "Fear": 50}


def synthetic(n: int = 2610, seed: int = 0):
    from emokit.labels import INDEX7

    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(c, INDEX7[k]) for k, c in MELD_TEST.items()])[:n]
    rng.shuffle(y)

    def model(strength, spread):
        z = rng.normal(size=(len(y), 7)) * spread
        z[np.arange(len(y)), y] += strength
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    return {"vision": model(0.5, 1.5), "audio": model(1.0, 1.5), "text": model(2.0, 1.5)}, y


def timed(fn, repeats):
    """Wall and CPU (all threads of this process) seconds per call: on a shared machine the CPU
    time shows the work done, the wall time also the waiting for a core."""
    out, times, cpu = None, [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return out, times, cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--loop-repeats", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "fusion_grid.json")
    args = ap.parse_args(argv)
    probs, y = synthetic()
    source = "synthetic: MELD-test label counts, 3 modalities of different strength (seed 0)"
    late._numba_kernel()  # compile (or load numba's cache) outside the timings
    res = {}
    for name, fn, reps in (
        ("loop_sklearn", lambda: late.grid_search_loop(probs, y), args.loop_repeats),
        ("numpy_dense", lambda: late.grid_search(probs, y, backend="numpy", prune=False), args.repeats),
        ("numpy_pruned", lambda: late.grid_search(probs, y, backend="numpy", prune=True), args.repeats),
        ("numba", lambda: late.grid_search(probs, y, backend="numba"), args.repeats),
    ):
        r, times, cpu = timed(fn, reps)
        res[name] = {"best_weights": r.best_weights, "best_f1_weighted": r.best_score,
                     "wall_ms_min": round(min(times) * 1000, 2), "wall_ms_median": round(float(np.median(times)) * 1000, 2),
                     "cpu_ms_min": round(min(cpu) * 1000, 2),
                     "repeats": reps, "combinations": len(r.table)}
        res[name]["_table"] = r.table
        print(f"{name:13s} min {res[name]['wall_ms_min']:9.1f} ms  median {res[name]['wall_ms_median']:9.1f} ms  "
              f"cpu min {res[name]['cpu_ms_min']:9.1f} ms  best {r.best_weights} F1 {r.best_score:.4f}", flush=True)
    ref = res["loop_sklearn"].pop("_table")
    cols = ["accuracy", "f1_weighted", "f1_macro"]
    for name in ("numpy_dense", "numpy_pruned", "numba"):
        t = res[name].pop("_table")
        res[name]["max_abs_diff_vs_loop"] = float(np.abs(t[cols].to_numpy() - ref[cols].to_numpy()).max())
    out = {"benchmark": "fusion_grid", "inputs": len(y), "combinations": res["numba"]["combinations"],
           "step": 0.02, "probabilities": source, "target_ms": 50, "results": res,
           "speedup_numba_vs_loop": round(res["loop_sklearn"]["wall_ms_min"] / res["numba"]["wall_ms_min"], 1),
           "speedup_numpy_vs_loop": round(res["loop_sklearn"]["wall_ms_min"] / res["numpy_pruned"]["wall_ms_min"], 1),
           "machine": machine_info(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v for k, v in out.items() if k != "results"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
