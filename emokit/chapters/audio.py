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
                "train": {**g["train"], "lr": lr, "batch_size": bs, "label_smoothing": ls}}
        r = train_crnn(f"grid_{lr:g}_{bs}_{ls:g}", spec, params, data, Path("."), save=False)
        losses = [h["train_loss"] for h in r["history"]]
        drop = 1 - losses[-1] / losses[0] if len(losses) > 1 and losses[0] > 0 else 0.0
        rows.append({"lr": lr, "batch_size": bs, "label_smoothing": ls, "best_val_accuracy": r["best_val_accuracy"],
                     "best_epoch": r["best_epoch"], "epochs_run": len(r["history"]),
                     # one class predicted AND the training loss did not fall (>= 5%): diverged/stuck, the
                     # report's 25.63% cells; one class with a falling loss is only "not trained enough yet"
                     "one_class": r["collapsed"], "train_loss_drop": drop,
                     "collapsed": bool(r["collapsed"] and drop < params["collapse_min_loss_drop"]),
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
                spec = {"arch": "v3", "arch_params": cc["arch_params"], "train": cc["train"]}
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


# --------------------------------------------------------------------------- what the notebook runs and reports
def train_variants(params: dict, data: AudioData, models_dir: Path) -> tuple[dict[str, dict], float]:
    """The log-mel variants (``run_variants``, default all of ``variants``), each saved under
    ``models_dir``: ``({name: result}, seconds)``."""
    import time

    results, t = {}, time.perf_counter()
    for name in params["run_variants"] or list(params["variants"]):
        r = results[name] = train_crnn(name, params["variants"][name], params, data, models_dir)
        print(f"{name:15s} val {r['metrics']['val.accuracy']:.3f}  test {r['metrics']['test.accuracy']:.3f}  "
              f"macro-F1 {r['metrics']['test.f1_macro']:.3f}  epochs {len(r['history'])}  {r['wall_s']:.0f}s")
    return results, time.perf_counter() - t


def train_baselines(params: dict, data: AudioData, models_dir: Path) -> tuple[dict[str, dict], float]:
    """The linear baselines (``baselines``: ``<feature>_<head>``), each saved under ``models_dir``."""
    import time

    results, t = {}, time.perf_counter()
    for name in params["baselines"]:
        r = results[name] = train_linear(name, name.split("_")[0], params, data, models_dir)
        print(f"{name:15s} val {r['metrics']['val.accuracy']:.3f}  test {r['metrics']['test.accuracy']:.3f}  "
              f"macro-F1 {r['metrics']['test.f1_macro']:.3f}  C={r['C']}")
    return results, time.perf_counter() - t


def comparison_table(results: dict[str, dict]):
    import pandas as pd

    return pd.DataFrame([{
        "model": n, "arch": r["arch"], "params": r.get("n_params"),
        "val_acc": r["metrics"]["val.accuracy"], "test_acc": r["metrics"]["test.accuracy"],
        "test_f1_macro": r["metrics"]["test.f1_macro"], "test_f1_weighted": r["metrics"]["test.f1_weighted"],
        "collapsed": r["collapsed"], "train_s": round(r["wall_s"], 1)} for n, r in results.items()]).set_index("model")


def label_figure(stats):
    """Label distribution of the merged set, and each corpus's share per emotion."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    stats[list(LABELS7)].sum().plot.bar(ax=axes[0], color="tab:blue")
    axes[0].set_title("Label distribution of the merged audio set")
    axes[0].set_ylabel("clips")
    stats[list(LABELS7)].T.plot.bar(stacked=True, ax=axes[1])
    axes[1].set_title("Contribution of each corpus per emotion")
    fig.tight_layout()
    return fig


def logmel_figure(data: AudioData):
    """The first clip's log-mel window of each emotion."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 7, figsize=(16, 2.6), sharey=True)
    for ax, lab in zip(axes, LABELS7):
        idx = np.flatnonzero(data.y == LABELS7.index(lab))
        if len(idx):
            ax.imshow(data.cache.logmel[idx[0]].astype(np.float32), origin="lower", aspect="auto", cmap="magma")
            ax.set_title(f"{lab}\n{Path(data.records[idx[0]].input).name}", fontsize=8)
        else:
            ax.set_title(f"{lab}\n(no clip)", fontsize=8)
        ax.set_xlabel("frame")
    axes[0].set_ylabel("mel band")
    return fig


def grid_heatmap(grid_df, epochs: Any):
    """Best validation accuracy of each grid cell (lr rows; batch size x smoothing columns), collapsed
    cells marked."""
    import matplotlib.pyplot as plt

    pivot = grid_df.pivot_table(index="lr", columns=["batch_size", "label_smoothing"], values="best_val_accuracy")
    coll = grid_df.pivot_table(index="lr", columns=["batch_size", "label_smoothing"], values="collapsed", aggfunc="max")
    fig, ax = plt.subplots(figsize=(1.8 * pivot.shape[1] + 2, 0.8 * pivot.shape[0] + 1.5))
    top = float(np.nanmax(pivot.values))
    im = ax.imshow(pivot.values, cmap="viridis", vmin=0, vmax=max(0.01, top))
    for i in range(pivot.shape[0]):
        for j in range(pivot.shape[1]):
            v = pivot.values[i, j]
            ax.text(j, i, f"{v:.3f}" + ("\ncollapsed" if coll.values[i, j] else ""), ha="center", va="center",
                    color="white" if v < 0.5 * top else "black", fontsize=8)
    ax.set_xticks(range(pivot.shape[1]), [f"bs {b}\nls {s}" for b, s in pivot.columns])
    ax.set_yticks(range(pivot.shape[0]), [f"lr {lr:g}" for lr in pivot.index])
    fig.colorbar(im, ax=ax, label="best val accuracy")
    ax.set_title(f"v3 grid ({epochs} epochs per run)")
    return fig


def grid_frame(grid: list[dict]):
    """The grid's rows without their training histories (``grid.csv``)."""
    import pandas as pd

    return pd.DataFrame([{k: v for k, v in g.items() if k != "history"} for g in grid])


def best_cell(grid_df):
    """The grid cell with the best validation accuracy."""
    return grid_df.sort_values("best_val_accuracy", ascending=False).iloc[0]


def chapter_metrics(params: dict, data: AudioData, best: dict, results: dict[str, dict], grid: list[dict],
                    cross_rows: list[dict], timings: dict[str, float]) -> dict[str, Any]:
    """The chapter's ``metrics.json``: ``test.*`` and ``val.*`` of the default model, every model's
    (:func:`flat_metrics`), every grid cell and the best one, ``grid.collapsed_runs`` (cells that are
    one-class AND whose training loss barely fell: :func:`run_grid`), the cross-corpus runs, feature
    throughput and timings; NaN values left out."""
    m: dict[str, Any] = {"profile": params["profile"], "smoke": params["smoke"], "n_clips": len(data.records),
                         **{f"n_{s}": int(len(data.idx(s))) for s in ("train", "val", "test")},
                         "default.model": best["chosen"], "default.val_accuracy": best["value"]}
    m.update(results[best["chosen"]]["metrics"])
    for n, r in results.items():
        m.update(flat_metrics(n, r))
    for g in grid:
        key = f"grid.{g['lr']:g}_{g['batch_size']}_{g['label_smoothing']:g}"
        m[f"{key}.best_val_accuracy"] = g["best_val_accuracy"]
        m[f"{key}.collapsed"] = bool(g["collapsed"])
        m[f"{key}.one_class"] = bool(g["one_class"])
    grid_df = grid_frame(grid)
    top = best_cell(grid_df)
    m.update({"grid.best.lr": float(top["lr"]), "grid.best.batch_size": int(top["batch_size"]),
              "grid.best.label_smoothing": float(top["label_smoothing"]),
              "grid.best.val_accuracy": float(top["best_val_accuracy"]),
              "grid.collapsed_runs": int(grid_df["collapsed"].sum()),
              "grid.epochs": int(params["grid"]["train"]["epochs"])})
    for row in cross_rows:
        key = f"cross.{row['train']}_to_{row['test']}.{row['model']}"
        for k in ("in_corpus_accuracy", "in_corpus_f1_macro", "cross_accuracy", "cross_f1_macro"):
            m[f"{key}.{k}"] = row[k]
    for k, v in data.cache.meta["clips_per_s"].items():
        if v:
            m[f"features.{k}_clips_per_s"] = round(v, 2)
    m.update({f"time.{k}": round(v, 1) for k, v in timings.items()})
    return {k: v for k, v in m.items() if not (isinstance(v, float) and not np.isfinite(v))}
