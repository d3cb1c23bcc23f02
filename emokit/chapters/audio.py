"""The steps of notebook 03 (audio): the grid, the cross-corpus check and the choice of the CLI's
default model, on top of :mod:`emokit.audio.data` (records, splits, feature cache) and
:mod:`emokit.audio.variants` (train and evaluate one model).

Every function takes the merged params of ``params/03_audio.yaml`` (or a slice of it) and returns
plain dicts/arrays the notebook turns into tables and figures; models are written under
``<out_dir>/models/<name>/`` with a ``model_card.json``.
"""
from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import choose_best as choose_best_by, update_card, write_best
from ..audio.data import AudioData
from ..audio.training import predict_logits
from ..audio.variants import train_crnn, train_linear
from ..eval import metric_stats
from ..labels import LABELS7

CHAPTER = "03_audio"


def run_grid(params: dict, data: AudioData, progress: bool = True) -> list[dict]:
    """The 16-run grid of report 3.3 (lr × batch × label smoothing) on v3, best validation accuracy."""
    g = params["grid"]
    rows = []
    combos = list(itertools.product(g["lr"], g["batch_size"], g["label_smoothing"]))
    it = combos
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(combos, desc="grid", unit="run")
    for lr, bs, ls in it:
        spec = {"arch": "v3", "arch_params": g["arch_params"],
                "train": {**g.get("train", {}), "lr": lr, "batch_size": bs, "label_smoothing": ls}}
        r = train_crnn(f"grid_{lr:g}_{bs}_{ls:g}", spec, params, data, Path("."), save=False)
        losses = [h["train_loss"] for h in r["history"]]
        drop = 1 - losses[-1] / losses[0] if len(losses) > 1 and losses[0] > 0 else 0.0
        rows.append({"lr": lr, "batch_size": bs, "label_smoothing": ls, "best_val_accuracy": r["best_val_accuracy"],
                     "best_epoch": r["best_epoch"], "epochs_run": len(r["history"]),
                     # one class predicted AND the training loss did not fall (>= 5%): diverged/stuck, the
                     # report's 25.63% cells; one class with a falling loss is only "not trained enough yet"
                     "one_class": r["collapsed"], "train_loss_drop": drop,
                     "collapsed": bool(r["collapsed"] and drop < params.get("collapse_min_loss_drop", 0.05)),
                     "val_pred_counts": r["val_pred_counts"],
                     "majority_share": max(r["val_pred_counts"]) / max(sum(r["val_pred_counts"]), 1),
                     "test_accuracy": r["metrics"]["test.accuracy"], "wall_s": r["wall_s"],
                     "history": r["history"]})
    return rows


def cross_corpus(params: dict, data: AudioData) -> list[dict]:
    """Train on one corpus (its train split, its val split for early stopping), test on the other
    corpus (all of its clips: none was seen) beside the in-corpus test split."""
    cc = params["cross_corpus"]
    rows = []
    for a, b in cc["pairs"]:
        tr, va = data.idx("train", [a]), data.idx("val", [a])
        te_in = data.idx("test", [a])
        te_out = np.flatnonzero(data.source == b)
        for model in cc["models"]:
            if model == "v3":
                spec = {"arch": "v3", "arch_params": cc["arch_params"], "train": cc.get("train", {})}
                r = train_crnn(f"cross_{a}_to_{b}", spec, params, data, Path("."), tr, va, te_in, save=False)
                import torch

                p_out = torch.softmax(torch.as_tensor(predict_logits(r["net"], data.x(te_out))), 1).numpy()
            else:
                r = train_linear(f"cross_{a}_to_{b}", model, params, data, Path("."), tr, va, te_in, save=False)
                p_out = r["head"].predict_proba({"egemaps": data.cache.egemaps, "whisper": data.cache.whisper}[model][te_out])
            m_out = metric_stats(data.y[te_out], p_out, prefix="")
            trained = sorted({LABELS7[i] for i in set(data.y[tr].tolist())})
            rows.append({"train": a, "test": b, "model": model,
                         "in_corpus_accuracy": r["metrics"]["test.accuracy"], "in_corpus_f1_macro": r["metrics"]["test.f1_macro"],
                         "cross_accuracy": m_out["accuracy"], "cross_f1_macro": m_out["f1_macro"],
                         "n_in": int(len(te_in)), "n_cross": int(len(te_out)),
                         "classes_trained": trained,
                         "cross_unseen_classes": sorted({LABELS7[i] for i in set(data.y[te_out].tolist())} - set(trained))})
    return rows


def choose_best(results: dict[str, dict], candidates: list[str], models_dir: Path,
                key: str = "val.accuracy") -> dict:
    """Copy the candidate with the best validation score to ``models/best`` (ties: list order) and
    record the choice in ``models/best.json`` (:func:`emokit.artifacts.write_best`)."""
    scores = {c: results[c]["metrics"][key] for c in candidates if c in results}
    if not scores:
        raise ValueError("no candidate model was trained")
    name = choose_best_by(scores, key)
    best = Path(models_dir) / "best"
    if best.exists():
        shutil.rmtree(best)
    shutil.copytree(Path(models_dir) / name, best, ignore=shutil.ignore_patterns("ckpt"))
    info = write_best(models_dir, name, key, scores, path="best")
    update_card(best, selected_as_default=info)
    return info


def flat_metrics(name: str, r: dict) -> dict[str, Any]:
    out = {f"{name}.{k}": v for k, v in r["metrics"].items()}
    out[f"{name}.best_val_accuracy"] = r["best_val_accuracy"]
    out[f"{name}.wall_s"] = round(r["wall_s"], 2)
    out[f"{name}.collapsed"] = bool(r["collapsed"])
    return out
