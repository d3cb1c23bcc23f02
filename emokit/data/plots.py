"""Figures of chapter 00: label distributions per dataset, of the fused pool, and per source corpus.

Each function takes the tables :mod:`emokit.data.inventory` builds and returns a matplotlib figure.
Colours are fixed per class so every figure of the report reads the same way.
"""
from __future__ import annotations

import math
from typing import Sequence

from ..labels import LABELS7

CLASS_COLOURS = {
    "Happy": "#f2b701", "Sad": "#3969ac", "Angry": "#e73f74", "Fear": "#7f3c8d",
    "Surprise": "#11a579", "Disgust": "#80ba5a", "Neutral": "#a5aa99",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_label_grid(counts, title: str = "Label distribution per dataset (7 classes, after mapping)"):
    """One small bar chart per dataset (rows of ``counts``: source x LABELS7 [+ total])."""
    plt = _plt()
    names = list(counts.index)
    ncols = min(3, max(1, len(names)))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.9 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        vals = [int(counts.loc[name, k]) for k in LABELS7]
        bars = ax.bar(range(7), vals, color=[CLASS_COLOURS[k] for k in LABELS7])
        ax.set_title(f"{name} (n={sum(vals):,})", fontsize=10)
        ax.set_xticks(range(7), [k[:3] for k in LABELS7], fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        for b, v in zip(bars, vals):
            if v:
                ax.annotate(f"{v:,}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=6)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_fused_distribution(counts, sources: Sequence[str], title: str | None = None):
    """The label distribution of the union of ``sources`` (the report's 最终融合数据集的标签分布)."""
    plt = _plt()
    present = [s for s in sources if s in counts.index]
    total = counts.loc[present, list(LABELS7)].sum(axis=0)
    n = int(total.sum())
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bars = ax.bar(list(LABELS7), [int(total[k]) for k in LABELS7], color=[CLASS_COLOURS[k] for k in LABELS7])
    for b, k in zip(bars, LABELS7):
        v = int(total[k])
        ax.annotate(f"{v:,}\n{v / n:.1%}" if n else "0", (b.get_x() + b.get_width() / 2, v),
                    ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("clips / utterances")
    ax.set_ylim(0, max(1, int(total.max())) * 1.22)
    ax.set_title(title or f"Fused pool label distribution: {' + '.join(present)} (n={n:,})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_source_emotion_stack(counts, sources: Sequence[str], normalise: bool = False, title: str | None = None):
    """Stacked bars, one per source corpus, stacks = the 7 classes (the report's v3_source_emotion_stack)."""
    plt = _plt()
    present = [s for s in sources if s in counts.index]
    data = counts.loc[present, list(LABELS7)].astype(float)
    if normalise:
        data = data.div(data.sum(axis=1).where(lambda s: s > 0, 1), axis=0)
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(present) + 3), 4))
    bottom = [0.0] * len(present)
    for k in LABELS7:
        vals = list(data[k])
        ax.bar(present, vals, bottom=bottom, color=CLASS_COLOURS[k], label=k)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("share of the corpus" if normalise else "clips / utterances")
    ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8)
    ax.set_title(title or ("Emotion mix per source corpus" + (" (shares)" if normalise else " (counts)")),
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_goemotions_cleanings(table, reference_rows: int | None, splits: str = "all"):
    """Rows kept by each GoEmotions cleaning, beside the report's figure (dashed line)."""
    plt = _plt()
    sub = table[table["splits"] == splits]
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(sub) + 1.2))
    ax.barh(list(sub["cleaning"]), list(sub["rows"]), color="#3969ac")
    for y, v in enumerate(sub["rows"]):
        ax.annotate(f"{int(v):,}", (v, y), va="center", fontsize=8, xytext=(3, 0), textcoords="offset points")
    if reference_rows:
        ax.axvline(reference_rows, color="#e73f74", ls="--", label=f"report: {reference_rows:,}")
        ax.legend(fontsize=8, loc="lower right")
    ax.invert_yaxis()
    ax.set_xlabel(f"rows kept (GoEmotions, splits: {splits})")
    ax.set_title("GoEmotions cleanings against the report's single-label count", fontsize=10)
    fig.tight_layout()
    return fig
