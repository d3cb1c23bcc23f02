"""Fine-tune the text stages from the command line, on one device or data-parallel under accelerate / torchrun.

    python -m emokit.text.run [stage1_distilbert ...] [--profile full] [--out DIR]
    accelerate launch --multi_gpu --num_processes 4 -m emokit.text.run --profile full   # one process per GPU
    torchrun --nproc_per_node 4 -m emokit.text.run --profile full                       # the same with torchrun

Reads ``params/02_text.yaml`` like the notebook (``stages``: the full profile's three report stages), the
official GoEmotions splits under the data root, and trains each named stage (default: all) with
:func:`emokit.text.finetune.train`, which keeps the stage's effective batch over the processes and lets only
the main process write ``<out>/models/<stage>/`` (model, tokenizer, history, model card) and print the
result line. The notebook (``dvc repro 02_text``) runs the whole chapter in one process; this entry
point is for long full-profile runs on several GPUs or machines.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv=None) -> int:
    from ..config import artifacts_dir, data_root, load_params

    ap = argparse.ArgumentParser(prog="python -m emokit.text.run", description=__doc__.splitlines()[0])
    ap.add_argument("stages", nargs="*", help="names under params stages (default: all of the profile's)")
    ap.add_argument("--profile", default=None, choices=("demo", "full"))
    ap.add_argument("--smoke", action="store_true", help="the smoke sizes (rows) of params/02_text.yaml")
    ap.add_argument("--out", default=None, help="chapter output folder (default artifacts/02_text)")
    args = ap.parse_args(argv)
    params = load_params("02_text", profile=args.profile, smoke=args.smoke)
    stages = {s["name"]: s for s in params["stages"]}
    if not stages:
        print(f"profile {params['profile']} has no fine-tuned stages (params/02_text.yaml {params['profile']}.stages "
              "is empty); the full profile lists the report's three: --profile full", file=sys.stderr)
        return 2
    names = args.stages or list(stages)
    unknown = [n for n in names if n not in stages]
    if unknown:
        print(f"unknown stage {unknown[0]!r}; known: {', '.join(stages)}", file=sys.stderr)
        return 2
    from .data import prepare_data
    from .finetune import train

    d = prepare_data(data_root(params["data_root"]), params)
    out = Path(args.out) if args.out else artifacts_dir("02_text")
    main_process = int(os.environ.get("RANK", 0)) == 0
    for name in names:
        note = (f"GoEmotions official train split, single-label rows mapped to 7 classes; "
                f"{len(d.train)} of {len(d.full['train'])} rows")
        tr = train(stages[name], d.train, d.val, out, profile=params["profile"], data_note=note)
        if main_process:
            m = tr.card.get("metrics", {})
            scores = ", ".join(f"{k} {v:.4f}" for k, v in m.items() if k.startswith("val.") and k != "val.loss")
            print(f"{name}: {scores} ({tr.wall_time_s:.0f} s, {tr.card.get('world_size', 1)} process(es)) -> {tr.path}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
