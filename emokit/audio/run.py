"""Train audio variants from the command line, on one device or data-parallel under torchrun.

    python -m emokit.audio.run v3 [v2_0_baseline ...] [--profile full] [--resume] [--out DIR]
    torchrun --nproc_per_node=4 -m emokit.audio.run v3 --profile full     # one process per GPU

Reads ``params/03_audio.yaml`` like the notebook, builds (rank 0) or reads the feature cache, trains
each named variant with early stopping on validation, and (rank 0) saves it under
``<out>/models/<name>/`` with its model card. The notebook (``dvc repro 03_audio``) runs the whole
chapter; this entry point is for long full-profile runs and multi-GPU.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv=None) -> int:
    from ..config import artifacts_dir, load_params, offline_env

    offline_env()
    ap = argparse.ArgumentParser(prog="python -m emokit.audio.run", description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="+", help="names under params variants (v1, v2_0_baseline, ..., v3)")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--resume", action="store_true", help="continue from models/<name>/ckpt/last.pt")
    ap.add_argument("--out", default=None, help="chapter output folder (default artifacts/03_audio)")
    args = ap.parse_args(argv)
    params = load_params("03_audio", profile=args.profile, smoke=args.smoke)
    params.setdefault("train", {})["checkpoint"] = True
    if args.resume:
        params["train"]["resume"] = True
    out = Path(args.out) if args.out else artifacts_dir("03_audio")
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    from .experiments import prepare, train_crnn
    from .training import _dist

    if world > 1:
        _dist()
        import torch.distributed as dist

        if rank == 0:
            prepare(params)
        dist.barrier()
    data = prepare(params, progress=rank == 0)
    for name in args.variants:
        if name not in params["variants"]:
            print(f"unknown variant {name!r}; known: {', '.join(params['variants'])}", file=sys.stderr)
            return 2
        r = train_crnn(name, params["variants"][name], params, data, out / "models", save=rank == 0,
                       progress=rank == 0)
        if rank == 0:
            m = r["metrics"]
            print(f"{name}: val {m['val.accuracy']:.4f} test {m['test.accuracy']:.4f} "
                  f"macro-F1 {m['test.f1_macro']:.4f} ({r['wall_s']:.0f} s on {r['device']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
