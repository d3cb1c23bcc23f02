"""Text-only scores: the Ekman multi-label task (macro-F1, per-class thresholds) and the word error rate.

Single-label scores (accuracy, F1, recall, confusion) come from :mod:`emokit.eval`, as in every chapter."""
from __future__ import annotations

from typing import Sequence

import numpy as np


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


def char_error_rate(reference: str, hypothesis: str) -> tuple[int, int]:
    """(character edits, reference characters) after dropping whitespace and punctuation (Chinese
    and ASCII); the measure for Chinese, which has no spaces between words."""
    import unicodedata

    def norm(s: str) -> list[str]:
        return [c for c in s.lower() if not c.isspace() and not unicodedata.category(c).startswith("P")]

    r, h = norm(reference), norm(hypothesis)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev = cur
    return d[len(h)], len(r)
