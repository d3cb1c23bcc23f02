"""The figures every chapter draws, drawn one way: confusion heatmaps and training curves.

Each function returns a matplotlib ``Figure`` (save it with :func:`emokit.pipeline.save_figure`);
``ax=`` draws into an existing axes instead (e.g. one panel per model).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .eval import confusion as _confusion
from .labels import LABELS7


def plot_confusion(y_true: Any = None, y_pred: Any = None, title: str = "", normalise: bool = True,
                   labels: Sequence[str] = LABELS7, cm: np.ndarray | None = None, ax=None, short: bool = False):
    """Heatmap of a confusion matrix (rows = true, columns = predicted), from labels/predictions
    (names, indices or scores, see :func:`emokit.eval.confusion`) or from counts ``cm``.
    ``normalise``: each row divided by its count (per-class recall on the diagonal)."""
    import matplotlib.pyplot as plt

    if cm is None:
        cm = _confusion(y_true, y_pred, labels)
    cm = np.asarray(cm, dtype=float)
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalise else cm
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.6, 4.8))
        own = True
    else:
        fig, own = ax.figure, False
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalise else None)
    names = [c[:3] for c in labels] if short else list(labels)
    fs = 7 if not short else 6
    ax.set_xticks(range(len(labels)), names, rotation=45 if not short else 0, ha="right" if not short else "center",
                  fontsize=fs + 1)
    ax.set_yticks(range(len(labels)), names, fontsize=fs + 1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = shown.max() if shown.size else 0
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i].sum() > 0:
                ax.text(j, i, f"{shown[i, j]:.2f}" if normalise else int(cm[i, j]), ha="center", va="center",
                        fontsize=fs, color="white" if top and shown[i, j] > 0.5 * top else "black")
    ax.set_title(title, fontsize=9)
    if own:
        fig.colorbar(im, ax=ax, fraction=0.046)
        fig.tight_layout()
    return fig


def plot_confusions(matrices: Mapping[str, np.ndarray], normalise: bool = False, labels: Sequence[str] = LABELS7,
                    titles: Mapping[str, str] | None = None, cols: int | None = None):
    """One confusion panel per entry (name -> counts), ``cols`` panels a row (default: all in one row)."""
    import matplotlib.pyplot as plt

    n = max(len(matrices), 1)
    cols = min(cols or n, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.8 * rows), squeeze=False)
    for ax, (name, cm) in zip(axes.flat, matrices.items()):
        plot_confusion(cm=cm, normalise=normalise, labels=labels, ax=ax, short=True,
                       title=(titles or {}).get(name, name))
    for ax in list(axes.flat)[len(matrices):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_curves(histories: Mapping[str, Sequence[Mapping[str, float]]], panels: Mapping[str, Sequence[str]],
                x: str = "epoch", title: str | None = None):
    """Training curves: one panel per entry of ``panels`` (panel title -> history keys to draw),
    one line per run (``histories``: run name -> list of per-epoch dicts) and key. Keys a run's
    history lacks are skipped; a ``val_`` key is dashed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), squeeze=False)
    for ax, (ptitle, keys) in zip(axes[0], panels.items()):
        for name, h in histories.items():
            rows = [r for r in h if x in r]
            for k in keys:
                pts = [(r[x], r[k]) for r in rows if r.get(k) is not None]
                if not pts:
                    continue
                xs, ys = zip(*pts)
                label = name if len(keys) == 1 else f"{name} {k}"
                ax.plot(xs, ys, "--" if k.startswith("val") else "-", marker="o" if len(pts) < 15 else None,
                        ms=3, label=label)
        ax.set_title(ptitle, fontsize=9)
        ax.set_xlabel(x)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
