"""What notebook 03 runs: data + splits + cache, the variants, the grid, the cross-corpus check,
the classical and pretrained baselines, and the choice of the CLI's default model.

Every function takes the merged params of ``params/03_audio.yaml`` (or a slice of it) and returns
plain dicts/arrays the notebook turns into tables and figures; models are written under
``<out_dir>/models/<name>/`` with a ``model_card.json``.
"""
from __future__ import annotations

import itertools
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import choose_best as choose_best_by, update_card, write_best
from ..eval import confusion, metric_stats
from ..labels import LABELS7
from ..types import Record
from . import features as feat
from .cache import FeatureCache, build as build_cache
from .corpora import load_corpora, split_by_speaker
from .model_io import LinearHead, save_crnn, save_linear
from .models import build_model, n_params
from .training import TrainConfig, fit, is_collapsed, predict_logits

CHAPTER = "03_audio"


def load_records(params: dict) -> tuple[list[Record], dict]:
    from ..config import data_root

    root = data_root(params.get("data_root"))
    records, summary = load_corpora(list(params["corpora"]), root, params.get("max_per_speaker"))
    sp = params.get("split", {})
    records = split_by_speaker(records, tuple(sp.get("fractions", (0.6, 0.2, 0.2))), seed=int(sp.get("seed", 42)))
    return records, summary


@dataclass
class AudioData:
    records: list[Record]
    y: np.ndarray
    split: np.ndarray
    source: np.ndarray
    cache: FeatureCache
    logmel_cfg: feat.LogMelConfig

    def idx(self, split: str, sources: list[str] | None = None, exclude: list[str] | None = None) -> np.ndarray:
        m = self.split == split
        if sources:
            m &= np.isin(self.source, sources)
        if exclude:
            m &= ~np.isin(self.source, exclude)
        return np.flatnonzero(m)

    def x(self, idx: np.ndarray) -> np.ndarray:
        return self.cache.logmel[idx].astype(np.float32)


def prepare(params: dict, cache_root: Path | None = None, progress: bool = True) -> AudioData:
    records, _ = load_records(params)
    cfg = feat.LogMelConfig.from_params(params.get("logmel"))
    cache = build_cache(records, cfg, tuple(params.get("feature_sets", ("logmel",))), root=cache_root,
                        progress=progress)
    y = np.array([LABELS7.index(r.label) for r in records])
    return AudioData(records, y, np.array([r.split for r in records]), np.array([r.source for r in records]),
                     cache, cfg)


def _card(name: str, params: dict, data: AudioData, tr: np.ndarray, va: np.ndarray, te: np.ndarray,
          extra: dict) -> dict:
    return {"name": name, "chapter": CHAPTER, "profile": params.get("profile"),
            "data": {"corpora": sorted(set(data.source[tr].tolist())), "n_train": int(len(tr)),
                     "n_val": int(len(va)), "n_test": int(len(te)),
                     "split": params.get("split"), "splits_csv": "splits.csv"},
            "silence_db": params.get("silence_db", -50.0), "labels": list(LABELS7), **extra}


def train_crnn(name: str, spec: dict, params: dict, data: AudioData, models_dir: Path,
               tr: np.ndarray | None = None, va: np.ndarray | None = None, te: np.ndarray | None = None,
               save: bool = True, progress: bool = False) -> dict:
    """Train one log-mel network (``spec``: arch, arch_params, train, exclude_sources) and evaluate it."""
    import torch

    exclude = spec.get("exclude_sources") or []
    tr = data.idx("train", exclude=exclude) if tr is None else tr
    va = data.idx("val") if va is None else va
    te = data.idx("test") if te is None else te
    tcfg = TrainConfig.from_params({**params.get("train", {}), **spec.get("train", {})})
    torch.manual_seed(tcfg.seed)
    net = build_model(spec["arch"], **spec.get("arch_params", {}))
    res = fit(net, data.x(tr), data.y[tr], data.x(va), data.y[va], tcfg,
              ckpt_dir=(Path(models_dir) / name / "ckpt") if (tcfg.resume or tcfg.checkpoint) else None, progress=progress)
    dev = next(net.parameters()).device
    pv = torch.softmax(torch.as_tensor(predict_logits(net, data.x(va), device=dev)), 1).numpy()
    pt = torch.softmax(torch.as_tensor(predict_logits(net, data.x(te), device=dev)), 1).numpy()
    m = {**metric_stats(data.y[va], pv, "val"), **metric_stats(data.y[te], pt, "test")}
    out = {"name": name, "arch": spec["arch"], "metrics": m, "history": res.history, "best_epoch": res.best_epoch,
           "best_val_accuracy": res.best_val_accuracy, "val_pred_counts": res.val_pred_counts,
           "collapsed": is_collapsed(res.val_pred_counts, params.get("collapse_share", 0.95)),
           "wall_s": res.wall_s, "train_samples_per_s": res.train_samples_per_s, "n_params": n_params(net),
           "confusion": confusion(data.y[te], pt), "test_probs": pt, "test_idx": te, "device": res.device}
    if save:
        net.cpu()
        card = _card(name, params, data, tr, va, te, {
            "arch": spec["arch"], "arch_params": spec.get("arch_params", {}), "train": asdict(tcfg),
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
    lp = params.get("linear", {})
    t0 = time.perf_counter()
    best = None
    for C in lp.get("C_grid", [0.01, 0.1, 1.0]):
        head = LinearHead.fit(x[tr], data.y[tr], C=float(C), seed=int(params.get("seed", 42)))
        acc = float((head.predict_proba(x[va]).argmax(1) == data.y[va]).mean())
        if best is None or acc > best[0]:
            best = (acc, float(C), head)
    acc, C, head = best
    pv, pt = head.predict_proba(x[va]), head.predict_proba(x[te])
    m = {**metric_stats(data.y[va], pv, "val"), **metric_stats(data.y[te], pt, "test")}
    wall = time.perf_counter() - t0
    out = {"name": name, "arch": f"{feature}+logreg", "metrics": m, "history": [], "best_val_accuracy": acc,
           "C": C, "wall_s": wall, "confusion": confusion(data.y[te], pt), "test_probs": pt, "test_idx": te,
           "collapsed": is_collapsed(np.bincount(pv.argmax(1), minlength=7).tolist(), params.get("collapse_share", 0.95)),
           "head": head}
    if save:
        card = _card(name, params, data, tr, va, te, {
            "features": feature, "C": C, "metrics": m, "wall_s": wall,
            "feature_note": {"egemaps": "openSMILE eGeMAPSv02 functionals (88), 16 kHz",
                             "whisper": "faster-whisper tiny.en encoder (CTranslate2 int8), mean+std over the clip's frames (768), 16 kHz"}[feature]})
        out["path"] = str(save_linear(Path(models_dir) / name, head, card))
    return out


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
