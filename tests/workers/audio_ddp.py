"""The audio trainer on a tiny made-up task, as one process or under ``torchrun`` (tests/test_distributed.py).

    python tests/workers/audio_ddp.py --out DIR
    torchrun --standalone --nproc_per_node 2 tests/workers/audio_ddp.py --out DIR

Runs :func:`emokit.audio.run.train_variants` (the entry point of ``python -m emokit.audio.run``) on
synthetic log-mel windows; every rank writes ``rank<r>.json`` (its history and metrics) so the test can
check that the ranks agree, and rank 0 alone saves the model and its checkpoint.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def toy_data(n_train=64, n_val=32, n_test=32, frames=32, seed=0):
    from emokit.audio import features as feat
    from emokit.audio.cache import FeatureCache
    from emokit.audio.data import AudioData
    from emokit.labels import LABELS7
    from emokit.types import Record

    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    y = np.arange(n) % 3                       # Happy, Sad, Angry: a loud band each, plus noise
    x = rng.normal(-0.8, 0.35, (n, 128, frames)).astype(np.float32)
    for c in range(3):
        x[y == c, 40 * c:40 * c + 20] += 0.6
    split = np.array(["train"] * n_train + ["val"] * n_val + ["test"] * n_test)
    recs = [Record(input=f"clip{i}.wav", label=LABELS7[y[i]], source="toy", group=f"spk{i % 8}", split=split[i])
            for i in range(n)]
    cache = FeatureCache(Path("."), [r.input for r in recs], x, None, None, {})
    return AudioData(recs, y, split, np.array(["toy"] * n), cache, feat.LogMelConfig())


def run(out: Path, epochs: int = 3) -> dict:
    """Train the tiny variant (one process, or this rank of a torchrun job); returns this rank's record."""
    from emokit.audio.run import train_variants
    from emokit.audio.training import _dist

    world = int(os.environ.get("WORLD_SIZE", 1))
    rank, _ = _dist()
    from emokit.config import load_params

    params = load_params("03_audio", profile="demo").to_dict()   # the chapter's values, a tiny variant
    params["train"].update({"threads": 1, "checkpoint": True, "amp": False, "seed": 7})
    params["variants"] = {"tiny_v1": {"arch": "v1", "arch_params": {"widths": [4, 8, 8], "rnn_hidden": 8},
                                      "train": {"epochs": epochs, "batch_size": 16, "lr": 3e-3,
                                                "early_stop_patience": 50}}}
    res = train_variants(params, toy_data(), ["tiny_v1"], Path(out))["tiny_v1"]
    rec = {"world": world, "history": res["history"], "metrics": res["metrics"], "best_epoch": res["best_epoch"]}
    (Path(out) / f"rank{rank}.json").write_text(json.dumps(rec, indent=1))
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return rec


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    run(Path(args.out), args.epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
