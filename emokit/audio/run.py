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
    params = load_params("03_audio", profile=args.profile, smoke=args.smoke).to_dict()   # this run's copy:
    params["train"]["checkpoint"] = True                                                  # the CLI's overrides
    unknown = [n for n in args.variants if n not in params["variants"]]
    if unknown:
        print(f"unknown variant {unknown[0]!r}; known: {', '.join(params['variants'])}", file=sys.stderr)
        return 2
    if args.resume:
        params["train"]["resume"] = True
    out = Path(args.out) if args.out else artifacts_dir("03_audio")
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    from .data import prepare
    from .training import _dist

    if world > 1:
        _dist()
        import torch.distributed as dist

        if rank == 0:
            prepare(params)
        dist.barrier()
    data = prepare(params, progress=rank == 0)
    train_variants(params, data, args.variants, out)
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return 0


def train_variants(params: dict, data, names: list[str], out: Path) -> dict[str, dict]:
    """Train each named variant; under torchrun every rank trains (DDP), only rank 0 saves the model
    (one ``<out>/models/<name>/``) and prints its one result line. Returns {name: train_crnn result}."""
    from .variants import train_crnn

    rank = int(os.environ.get("RANK", 0))
    results = {}
    for name in names:
        r = train_crnn(name, params["variants"][name], params, data, Path(out) / "models", save=rank == 0,
                       progress=rank == 0)
        results[name] = r
        if rank == 0:
            m = r["metrics"]
            print(f"{name}: val {m['val.accuracy']:.4f} test {m['test.accuracy']:.4f} "
                  f"macro-F1 {m['test.f1_macro']:.4f} ({r['wall_s']:.0f} s on {r['device']})", flush=True)
    return results


if __name__ == "__main__":
    sys.exit(main())
