"""The ``03_audio_features`` stage: the audio feature cache (:mod:`emokit.audio.cache`) of every clip
the chapter reads, computed once.

    python -m emokit.chapters.audio_features [--smoke]        # what the DVC stage runs
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..audio import features as feat
from ..audio.cache import build
from ..audio.data import load_records
from ..config import load_params, offline_env


def main(argv=None) -> int:
    offline_env()
    ap = argparse.ArgumentParser(prog="python -m emokit.chapters.audio_features", description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--root", default=None, help="cache folder (default <artifacts_root>/cache/audio_features)")
    args = ap.parse_args(argv)
    params = load_params("03_audio", profile=args.profile, smoke=args.smoke)
    import torch

    torch.set_num_threads(int(params["threads"]))
    records, _ = load_records(params)
    t = time.perf_counter()
    c = build(records, feat.LogMelConfig.from_params(params["logmel"]), tuple(params["feature_sets"]),
              root=Path(args.root) if args.root else None)
    print(f"{len(c.inputs)} clips -> {c.folder} ({time.perf_counter() - t:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
