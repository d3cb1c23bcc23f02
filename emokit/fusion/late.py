"""Late fusion (report section 4): a weighted sum of the modalities' 7-class probabilities.

* :func:`fuse` combines one vector per modality (or one row per example) with weights; a missing
  modality (``None``, or a row of NaN) has its weight shared out among the others
  (renormalisation); nothing left is a :class:`FusionError`.
* :func:`grid_search` scores every weighting on a simplex grid (step 0.02 and three modalities:
  1,326 weightings) at once, with NumPy: the probabilities are stacked, mixed by one matrix product
  per chunk of weightings, and the confusion matrices of all weightings are counted with one
  ``bincount``. :func:`grid_search_loop` is the plain Python loop the benchmark compares against.
* :func:`fit_temperature` / :func:`apply_temperature`: per-modality temperature scaling fitted on
  validation data (calibration before fusion; the report fuses raw probabilities).
* Figures: :func:`plot_ternary` (mpltern heatmap of the metric over the simplex, best point
  marked), :func:`plot_reliability` (the confusion heatmap: :func:`emokit.figures.plot_confusion`).
* Scores (one macro-F1 rule for every chapter): :mod:`emokit.eval`.

Modality names are free strings; the project uses ``vision``, ``audio``, ``text``.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..eval import confusion, scores_from_confusion
from ..labels import LABELS7

N_CLASSES = len(LABELS7)
METRICS = ("f1_weighted", "f1_macro", "accuracy")


class FusionError(ValueError):
    """Fusion cannot produce a result (e.g. every modality is missing). ``missing``: modality -> why."""

    def __init__(self, message: str, missing: dict[str, str] | None = None):
        super().__init__(message)
        self.missing = dict(missing or {})


# --------------------------------------------------------------------------- fuse
def _as_probs(name: str, p: Any) -> np.ndarray | None:
    if p is None:
        return None
    arr = np.asarray(p, dtype=np.float64)
    if arr.shape[-1] != N_CLASSES:
        raise ValueError(f"{name}: probabilities need {N_CLASSES} columns (order {LABELS7}), got shape {arr.shape}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name}: expected a vector or an N x {N_CLASSES} array, got shape {arr.shape}")
    return arr


def normalise_weights(weights: Mapping[str, float], present: Sequence[str]) -> dict[str, float]:
    """The weights of the ``present`` modalities rescaled to sum to 1 (the missing ones' share is
    spread in proportion). Raises :class:`FusionError` when nothing with a positive weight is left."""
    for k, w in weights.items():
        if not (w >= 0 and math.isfinite(w)):
            raise ValueError(f"weight of {k!r} must be finite and >= 0, got {w}")
    total = sum(float(weights.get(m, 0.0)) for m in present)
    if not present:
        raise FusionError("no modality available to fuse (all missing)")
    if total <= 0:
        raise FusionError(f"the available modalities {list(present)} all have weight 0 in {dict(weights)}")
    return {m: float(weights.get(m, 0.0)) / total for m in present}


def fuse(probs: Mapping[str, Any], weights: Mapping[str, float],
         temperatures: Mapping[str, float] | None = None) -> np.ndarray:
    """Weighted sum of per-modality probabilities in the canonical 7-class order.

    ``probs`` maps modality -> a 7-vector, an N x 7 array, or ``None`` (missing). In an N x 7 array
    a row of NaN marks that modality missing for that example only. Weights of missing modalities
    are redistributed over the present ones (renormalised per example). Modalities with no weight
    entry count as weight 0. Optional ``temperatures`` rescale each modality first (see
    :func:`apply_temperature`). Returns a 7-vector or an N x 7 array that sums to 1 per row.
    Raises :class:`FusionError` when, for some example, no weighted modality is present.
    """
    arrays = {m: _as_probs(m, p) for m, p in probs.items()}
    present = {m: a for m, a in arrays.items() if a is not None and float(weights.get(m, 0.0)) > 0}
    unknown = set(weights) - set(probs)
    if not arrays:
        raise FusionError("no modality given to fuse")
    if not present:
        missing = [m for m, a in arrays.items() if a is None]
        raise FusionError(f"no modality available to fuse: missing {missing}, "
                          f"zero weight {[m for m in arrays if m not in missing]}"
                          + (f" (weights also name {sorted(unknown)}, not given)" if unknown else ""))
    if temperatures:
        present = {m: (apply_temperature(a, temperatures[m]) if m in temperatures else a)
                   for m, a in present.items()}
    single = all(a.ndim == 1 for a in present.values())
    if single:
        w = normalise_weights(weights, list(present))
        out = sum(w[m] * present[m] for m in present)
        return out / out.sum()
    n = {a.shape[0] for a in present.values() if a.ndim == 2}
    if len(n) != 1:
        raise ValueError(f"modalities have different numbers of rows: { {m: a.shape for m, a in present.items()} }")
    n_rows = n.pop()
    stack = np.stack([np.broadcast_to(a, (n_rows, N_CLASSES)) for a in present.values()])  # M x N x 7
    avail = ~np.isnan(stack).any(axis=2)                                               # M x N
    w = np.array([float(weights.get(m, 0.0)) for m in present])[:, None] * avail        # M x N
    total = w.sum(axis=0)
    if (total <= 0).any():
        bad = np.flatnonzero(total <= 0)
        raise FusionError(f"{len(bad)} example(s) have no modality available to fuse (first rows: {bad[:5].tolist()})")
    out = np.einsum("mn,mnc->nc", w / total, np.nan_to_num(stack))
    return out / out.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- grid
def simplex_grid(n_modalities: int, step: float = 0.02) -> np.ndarray:
    """All weightings w_i = k_i * step (k_i >= 0 integers) with sum 1: C(1/step + M - 1, M - 1) rows."""
    n = round(1 / step)
    if not math.isclose(n * step, 1.0, abs_tol=1e-9):
        raise ValueError(f"step must divide 1 exactly, got {step}")
    rows = [c for c in itertools.product(range(n + 1), repeat=n_modalities - 1) if sum(c) <= n]
    ks = np.array([(*c, n - sum(c)) for c in rows], dtype=np.int64)
    return ks / n


@dataclass
class GridResult:
    """Result of :func:`grid_search`: the best weighting, its score and the whole table."""

    modalities: tuple[str, ...]
    metric: str
    best_weights: dict[str, float]
    best_score: float
    table: Any  # pandas.DataFrame: one row per weighting; modality columns + accuracy, f1_*
    elapsed_s: float
    n_examples: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"modalities": list(self.modalities), "metric": self.metric,
                "best_weights": self.best_weights, "best_score": self.best_score,
                "combinations": int(len(self.table)), "n_examples": self.n_examples,
                "elapsed_s": self.elapsed_s}


def _stack(probs: Mapping[str, np.ndarray], labels: np.ndarray) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    mods = tuple(probs)
    if len(mods) < 2:
        raise ValueError(f"grid search needs at least 2 modalities, got {mods}")
    arrs = [np.asarray(probs[m], dtype=np.float32) for m in mods]
    y = np.asarray(labels, dtype=np.int64)
    for m, a in zip(mods, arrs):
        if a.shape != (len(y), N_CLASSES):
            raise ValueError(f"{m}: expected shape ({len(y)}, {N_CLASSES}), got {a.shape}")
        if np.isnan(a).any():
            raise ValueError(f"{m}: probabilities contain NaN; grid search needs every modality for every example")
    if y.min() < 0 or y.max() >= N_CLASSES:
        raise ValueError(f"labels must be class indices 0..{N_CLASSES - 1}")
    return mods, np.stack(arrs), y


def _table(mods, grid, scores, metric):
    import pandas as pd

    df = pd.DataFrame(grid, columns=list(mods))
    for k in METRICS:
        df[k] = scores[k]
    return df


def _best(mods, grid, scores, metric):
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    vals = np.round(scores[metric], 12)  # ties: the first row in grid order wins (deterministic)
    i = int(np.argmax(vals))
    return {m: round(float(w), 6) for m, w in zip(mods, grid[i])}, float(scores[metric][i]), i


def candidate_classes(stack: np.ndarray) -> np.ndarray:
    """N x 7 mask of the classes that can win somewhere on the simplex for each example.

    A class strictly below another class in *every* modality is below it in every convex
    combination, so it never wins (ties included: a class tied with the winner somewhere is not
    strictly dominated by it). When all modalities agree, only their common top class is left.
    """
    beats = (stack[:, :, None, :] > stack[:, :, :, None]).all(axis=0)   # N x j x k: k beats j everywhere
    return ~beats.any(axis=2)


def _confusions(stack: np.ndarray, y: np.ndarray, wgrid: np.ndarray, chunk: int, prune: bool) -> np.ndarray:
    """G x 49 confusion counts of every weighting (rows of ``wgrid``)."""
    g_all, n_mod = wgrid.shape
    cc = N_CLASSES * N_CLASSES
    cms = np.zeros((g_all, cc), dtype=np.int64)
    if prune:
        cand = candidate_classes(stack)
        k_n = cand.sum(axis=1)
        groups = [(k, np.flatnonzero(k_n == k)) for k in range(1, N_CLASSES + 1)]
    else:
        groups = [(N_CLASSES, np.arange(len(y)))]
        cand = np.ones((len(y), N_CLASSES), dtype=bool)
    for k, rows in groups:
        if len(rows) == 0:
            continue
        cls = np.nonzero(cand[rows])[1].reshape(len(rows), k)              # ascending class ids
        yoff = y[rows] * N_CLASSES
        if k == 1:  # the same prediction under every weighting
            cms += np.bincount(yoff + cls[:, 0], minlength=cc)[None, :]
            continue
        sub = np.take_along_axis(stack[:, rows, :], np.broadcast_to(cls, (n_mod, *cls.shape)), axis=2)
        flat = sub.reshape(n_mod, -1)                                     # M x (n_k * k)
        step = max(1, chunk * N_CLASSES // k)
        for s in range(0, g_all, step):
            w = wgrid[s:s + step]
            g = len(w)
            local = (w @ flat).reshape(g, len(rows), k).argmax(axis=2)
            pred = np.take_along_axis(np.broadcast_to(cls, (g, *cls.shape)), local[:, :, None], axis=2)[:, :, 0]
            idx = (np.arange(g)[:, None] * cc + yoff[None, :] + pred).ravel()
            cms[s:s + g] += np.bincount(idx, minlength=g * cc).reshape(g, cc)
    return cms


_NUMBA_KERNEL = None


def _numba_kernel():
    """The compiled search kernel (numba ships with librosa); None when numba is unavailable."""
    global _NUMBA_KERNEL
    if _NUMBA_KERNEL is None:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is pinned in requirements.lock
            _NUMBA_KERNEL = False
            return None

        @numba.njit(cache=True, parallel=True)
        def kernel(stack, y, wgrid, row_start, row_end, cand, n_cand):  # pragma: no cover - compiled
            # Rows of the grid share the weights of all but the last two modalities; along a row
            # the prediction changes rarely, so counts are written as run-length differences
            # (+1 where a run starts, -1 where it ends) and summed per row at the end.
            g_all, n_mod = wgrid.shape
            n = y.shape[0]
            n_cls = stack.shape[2]
            cc = n_cls * n_cls
            diff = np.zeros((g_all, cc), dtype=np.int64)
            for r in numba.prange(row_start.shape[0]):
                g0 = row_start[r]  # rows come longest/shortest alternately: balanced threads
                g1 = row_end[r]
                base = np.zeros(n_cls)
                for i in range(n):
                    off = y[i] * n_cls
                    if n_cand[i] == 1:
                        diff[g0, off + cand[i, 0]] += 1
                        continue
                    for k in range(n_cand[i]):
                        c = cand[i, k]
                        f = 0.0
                        for m in range(n_mod - 2):
                            f += wgrid[g0, m] * stack[m, i, c]
                        base[k] = f
                    prev = -1
                    for g in range(g0, g1):
                        wa = wgrid[g, n_mod - 2]
                        wb = wgrid[g, n_mod - 1]
                        best = -1.0
                        arg = 0
                        for k in range(n_cand[i]):
                            c = cand[i, k]
                            f = base[k] + wa * stack[n_mod - 2, i, c] + wb * stack[n_mod - 1, i, c]
                            if f > best:
                                best = f
                                arg = c
                        if arg != prev:
                            if prev >= 0:
                                diff[g, off + prev] -= 1
                            diff[g, off + arg] += 1
                            prev = arg
                for g in range(g0 + 1, g1):
                    for j in range(cc):
                        diff[g, j] += diff[g - 1, j]
            return diff

        # compile now (or load numba's on-disk cache), so that timings measure the search itself
        st = np.random.default_rng(0).dirichlet(np.ones(N_CLASSES), (2, 3))
        kernel(st, np.zeros(3, np.int64), simplex_grid(2, 0.5), np.array([0]), np.array([3]),
               np.tile(np.arange(N_CLASSES), (3, 1)), np.full(3, N_CLASSES))
        _NUMBA_KERNEL = kernel
    return _NUMBA_KERNEL or None


def grid_search(probs: Mapping[str, np.ndarray], labels: np.ndarray, step: float = 0.02,
                metric: str = "f1_weighted", backend: str = "auto", chunk: int = 64,
                prune: bool = True) -> GridResult:
    """Score every weighting of the simplex grid on (cached) per-modality probabilities.

    ``probs``: modality -> N x 7 array (canonical class order); ``labels``: N class indices.
    Returns a :class:`GridResult` (``best_weights``, ``best_score``, ``table`` with one row per
    weighting and every metric). Ties go to the first weighting in grid order.

    Backends (same result): ``numpy`` (vectorised: per chunk of weightings one matrix product
    gives every fused probability, one ``argmax`` the predictions and one ``bincount`` all the
    confusion matrices; with ``prune``, exact, each example carries only the classes that can win
    somewhere on the simplex, see :func:`candidate_classes`), ``numba`` (the same counts from a
    compiled kernel parallel over weightings, which never materialises the G x N x 7 array) and
    ``auto`` (numba when importable). Examples whose modalities all agree are counted once.
    """
    kernel = _numba_kernel() if backend in ("auto", "numba") else None  # compiled before timing
    t0 = time.perf_counter()
    mods, stack, y = _stack(probs, labels)
    grid = simplex_grid(len(mods), step)
    if backend == "numba" and kernel is None:
        raise RuntimeError("backend='numba' but numba is not importable")
    if backend not in ("auto", "numba", "numpy"):
        raise ValueError(f"backend must be auto, numba or numpy, got {backend!r}")
    if kernel is not None:
        cand = candidate_classes(stack)
        n_cand = cand.sum(axis=1)
        order = np.argsort(~cand, axis=1, kind="stable")          # candidate class ids first, ascending
        rows = np.flatnonzero(np.r_[True, (np.diff(grid[:, :-2], axis=0) != 0).any(axis=1)]) \
            if len(mods) > 2 else np.array([0])
        row_end = np.r_[rows[1:], len(grid)]
        # rows shrink along the simplex: interleave long and short ones so that numba's static
        # split of the row loop gives each thread the same amount of work
        inter = np.ravel(np.column_stack([np.arange(len(rows)), np.arange(len(rows))[::-1]]))[:len(rows)]
        rows, row_end = rows[inter], row_end[inter]
        cms = kernel(stack.astype(np.float64), y, grid, rows, row_end, order, n_cand)
        used = "numba"
    else:
        cms = _confusions(stack, y, grid.astype(np.float32), chunk, prune)
        used = "numpy"
    scores = scores_from_confusion(cms.reshape(len(grid), N_CLASSES, N_CLASSES))
    best_w, best_s, i = _best(mods, grid, scores, metric)
    elapsed = time.perf_counter() - t0
    return GridResult(mods, metric, best_w, best_s, _table(mods, grid, scores, metric), elapsed, len(y),
                      extra={"best_index": i, "backend": used})


def grid_search_loop(probs: Mapping[str, np.ndarray], labels: np.ndarray, step: float = 0.02,
                     metric: str = "f1_weighted") -> GridResult:
    """The same search as :func:`grid_search` with a plain loop over weightings and
    scikit-learn's ``f1_score`` (the straightforward way; the benchmark's baseline)."""
    from sklearn.metrics import accuracy_score, f1_score

    t0 = time.perf_counter()
    mods, stack, y = _stack(probs, labels)
    grid = simplex_grid(len(mods), step)
    scores = {k: np.zeros(len(grid)) for k in METRICS}
    labels_all = list(range(N_CLASSES))
    for gi, w in enumerate(grid):
        fused = sum(float(wi) * stack[j] for j, wi in enumerate(w))
        pred = fused.argmax(axis=1)
        scores["accuracy"][gi] = accuracy_score(y, pred)
        present = sorted(set(y.tolist()) | set(pred.tolist()))
        scores["f1_weighted"][gi] = f1_score(y, pred, average="weighted", labels=labels_all, zero_division=0)
        scores["f1_macro"][gi] = f1_score(y, pred, average="macro", labels=present, zero_division=0)
    best_w, best_s, i = _best(mods, grid, scores, metric)
    elapsed = time.perf_counter() - t0
    return GridResult(mods, metric, best_w, best_s, _table(mods, grid, scores, metric), elapsed, len(y),
                      extra={"best_index": i})


def single_vs_fused(probs: Mapping[str, np.ndarray], labels: np.ndarray,
                    weights: Mapping[str, float], name: str = "fused") -> Any:
    """A table (DataFrame) of accuracy / F1 for each single modality and for the fused result."""
    import pandas as pd

    y = np.asarray(labels)
    rows = []
    for m, p in probs.items():
        s = scores_from_confusion(confusion(y, np.asarray(p).argmax(axis=1)))
        rows.append({"model": m, **{k: float(s[k]) for k in METRICS}})
    fused = fuse(probs, weights)
    s = scores_from_confusion(confusion(y, fused.argmax(axis=1)))
    wtxt = ", ".join(f"{m} {w:.2f}" for m, w in weights.items())
    rows.append({"model": f"{name} ({wtxt})", **{k: float(s[k]) for k in METRICS}})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- calibration
def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(p, dtype=np.float64), 1e-12, None))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): T > 1 softens, T < 1 sharpens; rows of NaN stay NaN."""
    z = _log(probs) / float(temperature)
    z = z - np.nanmax(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    p = np.asarray(probs)[np.arange(len(labels)), np.asarray(labels)]
    return float(-np.mean(np.log(np.clip(p, 1e-12, None))))


def fit_temperature(probs: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (fit on validation data)."""
    from scipy.optimize import minimize_scalar

    probs = np.asarray(probs)
    y = np.asarray(labels)
    keep = ~np.isnan(probs).any(axis=1)
    probs, y = probs[keep], y[keep]
    if len(y) == 0:
        raise ValueError("no examples to fit a temperature on")
    res = minimize_scalar(lambda lt: nll(apply_temperature(probs, math.exp(lt)), y),
                          bounds=(math.log(bounds[0]), math.log(bounds[1])), method="bounded")
    return float(math.exp(res.x))


def reliability(probs: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> dict[str, np.ndarray | float]:
    """Confidence-vs-accuracy bins and the expected calibration error (ECE, top-label)."""
    probs = np.asarray(probs)
    y = np.asarray(labels)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(float)
    acc = np.divide(np.bincount(which, weights=correct, minlength=n_bins), count,
                    out=np.full(n_bins, np.nan), where=count > 0)
    mconf = np.divide(np.bincount(which, weights=conf, minlength=n_bins), count,
                      out=np.full(n_bins, np.nan), where=count > 0)
    ece = float(np.nansum(np.abs(acc - mconf) * count) / max(len(y), 1))
    return {"edges": edges, "count": count, "accuracy": acc, "confidence": mconf, "ece": ece}


# --------------------------------------------------------------------------- figures
def plot_ternary(result: GridResult, title: str | None = None, order: Sequence[str] | None = None,
                 cmap: str = "viridis"):
    """Heatmap of ``result.metric`` over the simplex (mpltern), the best weighting marked."""
    import matplotlib.pyplot as plt
    import mpltern  # noqa: F401  (registers the 'ternary' projection)

    order = tuple(order or result.modalities)
    if len(order) != 3 or set(order) != set(result.modalities):
        raise ValueError(f"a ternary plot needs exactly 3 modalities, got {result.modalities}")
    df = result.table
    t, l, r = (df[m].to_numpy() for m in order)
    v = df[result.metric].to_numpy()
    fig = plt.figure(figsize=(6.2, 5.4))
    ax = fig.add_subplot(projection="ternary")
    pc = ax.tripcolor(t, l, r, v, cmap=cmap, shading="gouraud", rasterized=True)
    b = result.best_weights
    ax.scatter([b[order[0]]], [b[order[1]]], [b[order[2]]], marker="*", s=260, c="red",
               edgecolors="white", linewidths=1.0, zorder=5,
               label=f"best {result.metric} {result.best_score:.4f}\n"
                     + ", ".join(f"{m} {b[m]:.2f}" for m in order))
    ax.set_tlabel(f"{order[0]} weight")
    ax.set_llabel(f"{order[1]} weight")
    ax.set_rlabel(f"{order[2]} weight")
    ax.grid(alpha=0.3)
    cax = ax.inset_axes([1.05, 0.1, 0.05, 0.9], transform=ax.transAxes)
    fig.colorbar(pc, cax=cax, label=result.metric)
    ax.legend(loc="upper left", bbox_to_anchor=(-0.15, 1.12), fontsize=8, frameon=False)
    if title:
        ax.set_title(title, pad=28)
    return fig


def plot_reliability(curves: Mapping[str, Mapping[str, Any]], title: str = "Reliability"):
    """One panel per entry of ``curves`` (name -> :func:`reliability` output), bars = accuracy."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(3.1 * len(curves), 3.2), squeeze=False)
    for ax, (name, c) in zip(axes[0], curves.items()):
        edges = c["edges"]
        mids = (edges[:-1] + edges[1:]) / 2
        ax.bar(mids, np.nan_to_num(c["accuracy"]), width=edges[1] - edges[0], edgecolor="k",
               alpha=0.7, label="accuracy")
        ax.plot([0, 1], [0, 1], "--", color="grey")
        ax.set_title(f"{name}\nECE {c['ece']:.3f}", fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
    axes[0][0].set_ylabel("accuracy")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
