"""The one evaluation layer every chapter, benchmark and the report score with.

Labels may be given as class names (``"Angry"``) or as indices into ``labels`` (default
:data:`emokit.labels.LABELS7`); predictions may also be a 2-D array of scores (argmax is taken).
A prediction of ``None`` (or index ``-1``) is "no answer": it counts as wrong and belongs to no class.

The macro-F1 rule (one rule, everywhere)
-----------------------------------------
**Macro-F1 averages the per-class F1 over the classes that occur in y_true or in y_pred** (the
union), restricted to ``labels``; "no answer" is not a class. This is scikit-learn's own rule
(``f1_score(y_true, y_pred, average="macro")`` with no ``labels=`` argument), so anyone re-scoring
saved predictions with scikit-learn gets the same number, and the fusion grid search's vectorised
confusion-count scorer implements the same rule. It was chosen over "classes present in y_true"
because that rule drops a class the model predicts but the test set lacks, so its false alarms
cost nothing in the average; under the union rule such a class enters with F1 = 0. When every class
occurs in y_true (most test sets here) the two rules agree.

Weighted F1 weights each class by its support (classes absent from y_true weigh 0, so the rule
above does not change it); per-class recall is reported for the classes present in y_true,
per-class precision for the classes predicted at least once (otherwise they are undefined).

Class weights: ``N / (K · n_c)`` over the K classes present in the training labels; **a class absent
from the training labels gets weight 0** (it has no examples whose loss could be weighted).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Sequence

import numpy as np

from .labels import LABELS7

MACRO_F1_RULE = "union"  # macro-F1 over the classes in y_true ∪ y_pred (scikit-learn's rule)
# When set, every macro-F1 that the older "classes in y_true only" rule would have scored differently is
# appended here as one JSON line (the pipeline sets it per chapter: artifacts/<chapter>/f1_rule_audit.jsonl),
# so a run says which of its numbers the one rule moved, and by how much.
RULE_AUDIT_ENV = "EMOKIT_F1_RULE_AUDIT"


# --------------------------------------------------------------------------- labels
def as_indices(y: Any, labels: Sequence[str] = LABELS7) -> np.ndarray:
    """Indices into ``labels`` (int64); ``None`` → -1. Accepts names, indices or a 2-D score array."""
    arr = y if isinstance(y, np.ndarray) else np.asarray(list(y), dtype=object)
    if arr.ndim == 2:
        return np.asarray(arr, dtype=np.float64).argmax(axis=1).astype(np.int64)
    if arr.dtype.kind in "iu":
        out = arr.astype(np.int64)
        if len(out) and (out.min() < -1 or out.max() >= len(labels)):
            raise ValueError(f"class indices outside 0..{len(labels) - 1}")
        return out
    idx = {l: i for i, l in enumerate(labels)}
    out = np.empty(len(arr), dtype=np.int64)
    for i, v in enumerate(arr):
        if v is None:
            out[i] = -1
        elif isinstance(v, (str, np.str_)):
            if v not in idx:
                raise ValueError(f"label {v!r} is not one of {list(labels)}")
            out[i] = idx[v]
        else:
            k = int(v)
            if not -1 <= k < len(labels):
                raise ValueError(f"class index {k} is outside 0..{len(labels) - 1}")
            out[i] = k
    return out


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``."""
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


# --------------------------------------------------------------------------- confusion and scores
def confusion(y_true: Any, y_pred: Any, labels: Sequence[str] = LABELS7) -> np.ndarray:
    """Counts (C x C), rows = true class, columns = predicted class, in ``labels`` order.
    "No answer" predictions are not counted (they still count as wrong in :func:`metric_stats`)."""
    t, p = as_indices(y_true, labels), as_indices(y_pred, labels)
    if len(t) != len(p):
        raise ValueError(f"{len(t)} labels but {len(p)} predictions")
    if (t < 0).any():
        raise ValueError("a true label is missing (None)")
    n = len(labels)
    ok = p >= 0
    return np.bincount(t[ok] * n + p[ok], minlength=n * n).reshape(n, n)


def _f1_parts(cm: np.ndarray, support: np.ndarray | None = None):
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(axis=-1) if support is None else np.asarray(support, dtype=np.float64)
    predicted = cm.sum(axis=-2)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return tp, support, predicted, f1, denom > 0


def scores_from_confusion(cm: np.ndarray, support: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """accuracy, f1_macro (the union rule, see the module docstring), f1_weighted for one (C x C) or
    many (G x C x C) confusion matrices. ``support`` (true counts per class) overrides the row sums
    when some examples have no prediction (they are then in the support but in no column)."""
    tp, support, _, f1, occurs = _f1_parts(cm, support)
    n = support.sum(axis=-1)
    safe = np.maximum(n, 1)
    return {
        "accuracy": tp.sum(axis=-1) / safe,
        "f1_weighted": (f1 * support).sum(axis=-1) / safe,
        "f1_macro": f1.sum(axis=-1) / np.maximum(occurs.sum(axis=-1), 1),
    }


def score(y_true: Any, y_pred: Any, metric: str = "f1_weighted", labels: Sequence[str] = LABELS7) -> float:
    """One of accuracy / f1_macro / f1_weighted."""
    return float(metric_stats(y_true, y_pred, prefix="", labels=labels, per_class=False)[metric])


def metric_stats(y_true: Any, y_pred: Any, prefix: str = "test", labels: Sequence[str] = LABELS7,
                 per_class: bool = True) -> dict[str, float]:
    """The flat dotted scores chapters write into ``metrics.json``: ``<prefix>.n``, ``.accuracy``,
    ``.f1_macro``, ``.f1_weighted``, ``.recall.<class>`` (classes in y_true), ``.precision.<class>``
    (classes predicted). ``prefix=""`` gives bare keys. ``y_pred`` may be names, indices, ``None``
    (no answer: wrong) or a 2-D score array."""
    t, p = as_indices(y_true, labels), as_indices(y_pred, labels)
    if len(t) != len(p):
        raise ValueError(f"{len(t)} labels but {len(p)} predictions")
    if not len(t):
        raise ValueError("no examples to score")
    cm = confusion(t, p, labels)
    support = np.bincount(t, minlength=len(labels)).astype(np.float64)
    s = scores_from_confusion(cm, support)
    _audit_rule(cm, support, prefix, float(s["f1_macro"]), labels)
    pre = f"{prefix}." if prefix else ""
    out = {f"{pre}n": float(len(t)), **{f"{pre}{k}": float(v) for k, v in s.items()}}
    if per_class:
        tp, _, predicted, _, _ = _f1_parts(cm, support)
        for i, lab in enumerate(labels):
            if support[i] > 0:
                out[f"{pre}recall.{lab}"] = float(tp[i] / support[i])
        for i, lab in enumerate(labels):
            if predicted[i] > 0:
                out[f"{pre}precision.{lab}"] = float(tp[i] / predicted[i])
    return out


def _audit_rule(cm: np.ndarray, support: np.ndarray, prefix: str, union: float, labels: Sequence[str]) -> None:
    path = os.environ.get(RULE_AUDIT_ENV)
    if not path:
        return
    _, _, predicted, f1, _ = _f1_parts(cm, support)
    present = support > 0
    y_true_only = float(f1[present].sum() / max(int(present.sum()), 1))
    if abs(y_true_only - union) < 1e-12:
        return
    frame, caller = sys._getframe(2), "?"   # metric_stats' caller (or score's)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    if frame is not None:
        caller = f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno} {frame.f_code.co_name}"
    row = {"prefix": prefix, "f1_macro_union": union, "f1_macro_y_true_only": y_true_only,
           "delta": union - y_true_only, "n": int(support.sum()), "caller": caller,
           "predicted_not_in_y_true": [labels[i] for i in range(len(labels)) if predicted[i] > 0 and not present[i]]}
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
    except OSError:   # an audit must never break a run
        pass


def per_class(stats: dict[str, float], what: str = "recall", prefix: str = "") -> dict[str, float]:
    """``{class: value}`` from :func:`metric_stats` output (e.g. the recall of each class)."""
    pre = f"{prefix}.{what}." if prefix else f"{what}."
    return {k[len(pre):]: v for k, v in stats.items() if k.startswith(pre)}


# --------------------------------------------------------------------------- training helpers
def class_weights(y: Any, mode: str | None = "balanced", labels: Sequence[str] = LABELS7) -> np.ndarray | None:
    """Per-class loss weights in ``labels`` order. ``balanced``: ``N / (K · n_c)`` over the K classes
    present; ``sqrt_balanced``: its square root (milder); ``None``/``False``: no weights (returns None).
    A class absent from ``y`` gets 0."""
    if not mode:
        return None
    if mode is True:
        mode = "balanced"
    if mode not in ("balanced", "sqrt_balanced"):
        raise ValueError(f"class weights must be balanced, sqrt_balanced or null, got {mode!r}")
    counts = np.bincount(as_indices(y, labels), minlength=len(labels)).astype(np.float64)
    present = counts > 0
    w = np.zeros(len(labels))
    w[present] = counts.sum() / (present.sum() * counts[present])
    return np.sqrt(w) if mode == "sqrt_balanced" else w
