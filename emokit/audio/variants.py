"""Train one audio model and evaluate it on validation and test: a log-mel network
(:func:`train_crnn`) or a linear head on eGeMAPS / Whisper features (:func:`train_linear`); each can
save itself under ``<models_dir>/<name>/`` with a ``model_card.json``."""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..eval import confusion, metric_stats
from ..labels import LABELS7
from .data import AudioData
from .model_io import LinearHead, save_crnn, save_linear
from .models import build_model, n_params
from .training import TrainConfig, fit, is_collapsed, predict_logits

CHAPTER = "03_audio"


def _card(name: str, params: dict, data: AudioData, tr: np.ndarray, va: np.ndarray, te: np.ndarray,
          extra: dict) -> dict:
    return {"name": name, "chapter": CHAPTER, "profile": params["profile"],
            "data": {"corpora": sorted(set(data.source[tr].tolist())), "n_train": int(len(tr)),
                     "n_val": int(len(va)), "n_test": int(len(te)),
                     "split": params["split"], "splits_csv": "splits.csv"},
            "silence_db": params["silence_db"], "labels": list(LABELS7), **extra}


def train_crnn(name: str, spec: dict, params: dict, data: AudioData, models_dir: Path,
               tr: np.ndarray | None = None, va: np.ndarray | None = None, te: np.ndarray | None = None,
               save: bool = True, progress: bool = False) -> dict:
    """Train one log-mel network (``spec``: arch, arch_params, train, exclude_sources) and evaluate it."""
    import torch

    exclude = spec.get("exclude_sources") or []
    tr = data.idx("train", exclude=exclude) if tr is None else tr
    va = data.idx("val") if va is None else va
    te = data.idx("test") if te is None else te
    tcfg = TrainConfig.from_params({**params["train"], **spec["train"]})   # spec: a variant or a grid cell
    torch.manual_seed(tcfg.seed)
    net = build_model(spec["arch"], **spec["arch_params"])
    res = fit(net, data.x(tr), data.y[tr], data.x(va), data.y[va], tcfg,
              ckpt_dir=(Path(models_dir) / name / "ckpt") if (tcfg.resume or tcfg.checkpoint) else None, progress=progress)
    dev = next(net.parameters()).device
    pv = torch.softmax(torch.as_tensor(predict_logits(net, data.x(va), device=dev)), 1).numpy()
    pt = torch.softmax(torch.as_tensor(predict_logits(net, data.x(te), device=dev)), 1).numpy()
    m = {**metric_stats(data.y[va], pv, "val"), **metric_stats(data.y[te], pt, "test")}
    out = {"name": name, "arch": spec["arch"], "metrics": m, "history": res.history, "best_epoch": res.best_epoch,
           "best_val_accuracy": res.best_val_accuracy, "val_pred_counts": res.val_pred_counts,
           "collapsed": is_collapsed(res.val_pred_counts, params["collapse_share"]),
           "wall_s": res.wall_s, "train_samples_per_s": res.train_samples_per_s, "n_params": n_params(net),
           "confusion": confusion(data.y[te], pt), "test_probs": pt, "test_idx": te, "device": res.device}
    if save:
        net.cpu()
        card = _card(name, params, data, tr, va, te, {
            "arch": spec["arch"], "arch_params": spec["arch_params"], "train": asdict(tcfg),
            "logmel": data.logmel_cfg.to_dict(), "metrics": m, "best_epoch": res.best_epoch,
            "epochs_run": len(res.history), "wall_s": res.wall_s, "n_params": out["n_params"],
            "exclude_sources": exclude, "device": res.device})
        out["path"] = str(save_crnn(Path(models_dir) / name, net, card))
    out["net"] = net
    return out


def train_linear(name: str, feature: str, params: dict, data: AudioData, models_dir: Path,
                 tr: np.ndarray | None = None, va: np.ndarray | None = None, te: np.ndarray | None = None,
                 save: bool = True) -> dict:
    """eGeMAPS functionals or pooled Whisper-encoder embeddings + standardised logistic regression.

    C is chosen on validation from ``params.linear.C_grid``; the head is refit on train with it."""
    x = {"egemaps": data.cache.egemaps, "whisper": data.cache.whisper}[feature]
    if x is None:
        raise ValueError(f"the feature cache has no {feature!r} features (params feature_sets)")
    tr = data.idx("train") if tr is None else tr
    va = data.idx("val") if va is None else va
    te = data.idx("test") if te is None else te
    t0 = time.perf_counter()
    best = None
    for C in params["linear"]["C_grid"]:
        head = LinearHead.fit(x[tr], data.y[tr], C=float(C), seed=int(params["seed"]))
        acc = float((head.predict_proba(x[va]).argmax(1) == data.y[va]).mean())
        if best is None or acc > best[0]:
            best = (acc, float(C), head)
    acc, C, head = best
    pv, pt = head.predict_proba(x[va]), head.predict_proba(x[te])
    m = {**metric_stats(data.y[va], pv, "val"), **metric_stats(data.y[te], pt, "test")}
    wall = time.perf_counter() - t0
    out = {"name": name, "arch": f"{feature}+logreg", "metrics": m, "history": [], "best_val_accuracy": acc,
           "C": C, "wall_s": wall, "confusion": confusion(data.y[te], pt), "test_probs": pt, "test_idx": te,
           "collapsed": is_collapsed(np.bincount(pv.argmax(1), minlength=7).tolist(), params["collapse_share"]),
           "head": head}
    if save:
        card = _card(name, params, data, tr, va, te, {
            "features": feature, "C": C, "metrics": m, "wall_s": wall,
            "feature_note": {"egemaps": "openSMILE eGeMAPSv02 functionals (88), 16 kHz",
                             "whisper": "faster-whisper tiny.en encoder (CTranslate2 int8), mean+std over the clip's frames (768), 16 kHz"}[feature]})
        out["path"] = str(save_linear(Path(models_dir) / name, head, card))
    return out
