"""The text trainer (HF Trainer) on tiny made-up data, as one process or under ``accelerate launch``.

    python tests/workers/text_ddp.py --out DIR
    accelerate launch --cpu --num_processes 2 tests/workers/text_ddp.py --out DIR

Trains the full profile's RoBERTa stage (its hyper-parameters from params/02_text.yaml) on a tiny
random-weight RoBERTa (no download, no dropout so one and two processes see the same computation)
through :func:`emokit.text.finetune.train`; every rank writes ``rank<r>.json`` (its final validation
metrics and log history) so the test can compare; only the main process saves the model.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TINY = {"model_type": "roberta", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 64, "max_position_embeddings": 40, "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0, "classifier_dropout": 0.0}


def records(n, split):
    from emokit.labels import LABELS7
    from emokit.types import Record

    words = {"Happy": "great lovely thanks", "Sad": "sad miss cry", "Angry": "hate stupid angry",
             "Fear": "scared afraid worried", "Surprise": "wow what really", "Disgust": "gross disgusting ew",
             "Neutral": "the table is there"}
    return [Record(input=f"{words[LABELS7[i % 7]]} number {i}", label=LABELS7[i % 7], source="tiny",
                   group=f"{split}{i}", split=split) for i in range(n)]


def run(out: Path, steps: int = 10) -> dict:
    """Train the tiny RoBERTa (one process, or this rank of a launched job); returns this rank's record."""
    import torch

    torch.set_num_threads(1)
    from emokit.config import load_params
    from emokit.text.finetune import train

    stage = dict(next(s for s in load_params("02_text", profile="full")["stages"]
                      if s["name"] == "stage2_roberta_large"))
    # the report's batch 4 x accumulation 4 = 16; 2 processes: 4 x 2 each (same effective batch)
    stage.update(random_init=TINY, max_steps=steps, logging_steps=2, max_len=32, lr=3e-3, warmup=0.0)
    res = train(stage, records(96, "train"), records(28, "val"), Path(out), profile="full")
    rank = int(os.environ.get("RANK", 0))
    rec = {"world": int(os.environ.get("WORLD_SIZE", 1)), "metrics": dict(res.card["metrics"]),
           "card": res.card, "history": res.history}
    (Path(out) / f"rank{rank}.json").write_text(json.dumps(rec, indent=1, default=str))
    return json.loads(json.dumps(rec, default=str))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    run(Path(args.out), args.steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
