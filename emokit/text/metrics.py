"""Scores every text run writes: accuracy, weighted/macro F1, per-class recall, confusion matrix."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..labels import LABELS7


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str | None],
                           prefix: str = "test", labels: Sequence[str] = LABELS7) -> dict[str, float]:
    """Flat dotted metrics (``<prefix>.accuracy``, ``.f1_weighted``, ``.f1_macro``, ``.recall.<cls>``,
    ``.n``). A ``None`` prediction (e.g. a comparator with no answer) counts as wrong."""
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    if not len(y_true):
        raise ValueError("no examples to score")
    pred = [p if p is not None else "<none>" for p in y_pred]
    present = [l for l in labels if l in set(y_true)]
    out = {
        f"{prefix}.n": float(len(y_true)),
        f"{prefix}.accuracy": float(accuracy_score(y_true, pred)),
        f"{prefix}.f1_weighted": float(f1_score(y_true, pred, labels=present, average="weighted", zero_division=0)),
        f"{prefix}.f1_macro": float(f1_score(y_true, pred, labels=present, average="macro", zero_division=0)),
    }
    rec = recall_score(y_true, pred, labels=present, average=None, zero_division=0)
    for lab, r in zip(present, rec):
        out[f"{prefix}.recall.{lab}"] = float(r)
    return out


def confusion(y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str] = LABELS7) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class (``None`` predictions are left out)."""
    idx = {l: i for i, l in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(y_true, y_pred):
        if p is not None and t in idx and p in idx:
            m[idx[t], idx[p]] += 1
    return m


def multilabel_macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def tune_thresholds(y_true: np.ndarray, scores: np.ndarray, grid: Sequence[float] = tuple(np.arange(0.05, 0.96, 0.05))) -> np.ndarray:
    """Per-class decision threshold maximising that class's F1 on a validation set."""
    from sklearn.metrics import f1_score

    th = np.full(scores.shape[1], 0.5)
    for j in range(scores.shape[1]):
        best = -1.0
        for t in grid:
            f = f1_score(y_true[:, j], scores[:, j] >= t, zero_division=0)
            if f > best:
                best, th[j] = f, t
    return th


def multilabel_predict(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Scores above the threshold; a row with none above gets its argmax (every row has a label)."""
    pred = (scores >= thresholds).astype(np.int8)
    empty = pred.sum(1) == 0
    pred[empty, scores[empty].argmax(1)] = 1
    return pred


def word_error_rate(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words) after lower-casing and dropping punctuation."""
    import re

    def norm(s: str) -> list[str]:
        return re.sub(r"[^\w\s']", " ", s.lower()).split()

    r, h = norm(reference), norm(hypothesis)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev = cur
    return d[len(h)], len(r)
