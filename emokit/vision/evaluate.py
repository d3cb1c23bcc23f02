"""Chapter 01's measurements: classification metrics (via :mod:`emokit.eval`), the Neutral bias, latency and robustness.

Perturbations (applied to grey face crops; ``level`` 0 is the clean image):

- ``brightness``: add ``level`` × 255 (negative darkens), clipped;
- ``contrast``: scale around mid-grey by ``level`` (0.3 = 30% of the original contrast);
- ``blur``: Gaussian blur with sigma ``level`` pixels (on the 48×48 crop);
- ``rotation``: in-plane rotation by ``level`` degrees (border replicated);
- ``occlusion``: a grey bar covering the ``level`` fraction of the face height, from the bottom
  (mouth and chin first: a hand or a mask).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from ..eval import metric_stats, per_class
from ..labels import LABELS7


def metrics(y_true: Sequence[str], probs: np.ndarray) -> dict[str, Any]:
    """:func:`emokit.eval.metric_stats` (``recall`` as a dict) plus the Neutral-bias measures."""
    probs = np.asarray(probs)
    y_true = list(y_true)
    m = metric_stats(y_true, probs, prefix="", per_class=True)
    y_pred = probs.argmax(axis=1)
    neutral = LABELS7.index("Neutral")
    out: dict[str, Any] = {
        "accuracy": m["accuracy"], "f1_macro": m["f1_macro"], "f1_weighted": m["f1_weighted"],
        "recall": per_class(m, "recall"),
        "neutral_pred_share": float(np.mean(y_pred == neutral)),
        "neutral_true_share": float(np.mean([t == "Neutral" for t in y_true])),
        "mean_prob_neutral": float(probs[:, neutral].mean()),
        "n": len(y_true),
    }
    out["neutral_bias"] = out["neutral_pred_share"] / out["neutral_true_share"] if out["neutral_true_share"] else float("nan")
    return out


def perturb(gray: np.ndarray, kind: str, level: float) -> np.ndarray:
    import cv2

    g = np.asarray(gray, dtype=np.float32)
    if level == 0 and kind != "contrast" or (kind == "contrast" and level == 1):
        return np.asarray(gray, dtype=np.uint8)
    if kind == "brightness":
        out = g + level * 255.0
    elif kind == "contrast":
        out = (g - 127.5) * level + 127.5
    elif kind == "blur":
        out = cv2.GaussianBlur(g, (0, 0), sigmaX=float(level))
    elif kind == "rotation":
        h, w = g.shape
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(level), 1.0)
        out = cv2.warpAffine(g, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    elif kind == "occlusion":
        out = g.copy()
        h = g.shape[0]
        cut = int(round(h * (1 - float(level))))
        out[cut:, :] = 127.0
    else:
        raise ValueError(f"unknown perturbation {kind!r}")
    return np.clip(out, 0, 255).astype(np.uint8)


def robustness(predict_faces: Callable[[list[np.ndarray]], np.ndarray], faces: Sequence[np.ndarray],
               labels: Sequence[str], grid: dict[str, Sequence[float]]) -> list[dict[str, Any]]:
    """Accuracy, macro-F1 and agreement with the clean prediction for each perturbation level."""
    clean = np.asarray(predict_faces(list(faces))).argmax(axis=1)
    rows = []
    for kind, levels in grid.items():
        for lv in levels:
            probs = np.asarray(predict_faces([perturb(f, kind, lv) for f in faces]))
            m = metrics(labels, probs)
            rows.append({"kind": kind, "level": float(lv), "accuracy": m["accuracy"], "f1_macro": m["f1_macro"],
                         "agreement": float(np.mean(probs.argmax(axis=1) == clean)),
                         "neutral_pred_share": m["neutral_pred_share"]})
    return rows


def latency_ms(predict_faces: Callable[[list[np.ndarray]], np.ndarray], faces: Sequence[np.ndarray],
               n: int = 30, warmup: int = 3) -> dict[str, float]:
    """Per-face latency, one face per call (as in a live frame), on the current thread count."""
    faces = list(faces)
    for f in faces[:warmup]:
        predict_faces([f])
    ts = []
    for i in range(n):
        t0 = time.perf_counter()
        predict_faces([faces[i % len(faces)]])
        ts.append((time.perf_counter() - t0) * 1000)
    return {"median": float(np.median(ts)), "p90": float(np.percentile(ts, 90)), "n": n}
