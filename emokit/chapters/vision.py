"""The steps of notebook 01 (vision): the FER2013 faces and their split, backends A and C trained here
beside the others, every available backend on the same held-out faces, robustness, the report's
claims as numbers, the default backend (chosen on validation), video, live frames and backend E in
the browser.

Every step takes ``params`` (``params/01_vision.yaml``, merged) and returns plain results and the flat
metrics it measured; the notebook writes them (:func:`emokit.pipeline.write_metrics`) and draws the
figures.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..artifacts import write_splits
from ..labels import LABELS7
from ..types import Record
from ..vision.backends import SELECTABLE, Backend, BackendUnavailable, backend_status, build
from ..vision.evaluate import latency_ms, metrics, robustness
from ..vision.faces import detect_boxes, detect_boxes_hog, to_gray

CHAPTER = "01_vision"
CHANCE = 1 / 7
TEST_KEYS = ("accuracy", "f1_macro", "f1_weighted", "recall", "neutral_pred_share", "neutral_true_share",
             "neutral_bias", "mean_prob_neutral", "latency_ms", "embed_dim", "n")


# --------------------------------------------------------------------------- data and split
@dataclass
class Faces:
    """The chapter's faces: records, grey crops and labels of each split."""
    records: dict[str, list[Record]]
    faces: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def labels(self, split: str) -> list[str]:
        return [r.label for r in self.records[split]]

    def metrics(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"profile": params["profile"], **{f"data.n_{s}": len(self.records[s]) for s in ("train", "val", "test")},
                "data.source": "fer2013", "data.split_mode": params["data"]["split_mode"]}


def per_class_subset(records: Sequence[Record], n: int, rng: np.random.Generator, sort: bool = True) -> list[int]:
    """At most ``n`` indices per class, drawn with ``rng`` class by class in LABELS7 order; sorted, or
    grouped by class (``sort=False``)."""
    keep: list[int] = []
    for c in LABELS7:
        idx = [i for i, r in enumerate(records) if r.label == c]
        keep += [int(i) for i in rng.choice(idx, size=min(len(idx), int(n)), replace=False)]
    return sorted(keep) if sort else keep


def split_records(records: list[Record], dp: Mapping[str, Any], seed: int,
                  official_test: list[Record] | None = None) -> dict[str, list[Record]]:
    """``{train, val, test}``: the test faces are FER's test subset (``split_mode: official``) or a seeded
    stratified share; validation is a stratified share of the training faces (it chooses the default
    backend, so the test faces play no part)."""
    from sklearn.model_selection import train_test_split

    if dp["split_mode"] == "official":
        if official_test is None:
            raise ValueError("split_mode official needs the test subset's records")
        train, test = records, official_test
    elif dp["split_mode"] == "random":
        train, test = train_test_split(records, test_size=float(dp["test_size"]), random_state=seed,
                                       stratify=[r.label for r in records])
    else:
        raise ValueError(f"params/01_vision.yaml data.split_mode must be random or official, got {dp['split_mode']!r}")
    train, val = train_test_split(train, test_size=float(dp["val_size"]), random_state=seed,
                                  stratify=[r.label for r in train])
    return {"train": train, "val": val, "test": test}


def load_faces(params: Mapping[str, Any], root: Path, out_dir: Path) -> Faces:
    """Read FER2013, subsample ``data.per_class`` (when set), split, write ``splits.csv`` and read the
    crops as grey images."""
    from ..data.media import read_image
    from ..data.readers import read_fer2013_folders

    dp, seed = params["data"], int(params["seed"])
    records, report = read_fer2013_folders(root, dp["train_subset"])
    print("FER2013:", report.summary())
    if dp["per_class"]:
        records = [records[i] for i in per_class_subset(records, int(dp["per_class"]), np.random.default_rng(seed))]
    official = read_fer2013_folders(root, dp["test_subset"])[0] if dp["split_mode"] == "official" else None
    split = split_records(records, dp, seed, official)
    write_splits(Path(out_dir) / "splits.csv", split)
    return Faces(split, {s: [to_gray(read_image(r.input)) for r in recs] for s, recs in split.items()})


def detector_rates(faces: Sequence[np.ndarray]) -> dict[str, Any]:
    """How often the Haar cascade (and HOG as a fallback) finds a face in FER's tight crops."""
    haar = np.mean([len(detect_boxes(f)) > 0 for f in faces])
    hog = np.mean([len(detect_boxes(f)) > 0 or len(detect_boxes_hog(f)) > 0 for f in faces])
    return {"detect.haar_rate_on_crops": float(haar), "detect.haar_or_hog_rate_on_crops": float(hog),
            "detect.eval_policy": "whole 48x48 crop is the face"}


# --------------------------------------------------------------------------- A and C, trained here
def train_own(params: Mapping[str, Any], data: Faces) -> dict[str, tuple[Backend, dict[str, Any]]]:
    """``{"landmarks": (backend A, info), "resnet": (backend C, info)}`` trained on the training faces."""
    from ..vision.training import train_landmarks, train_resnet

    seed, faces, y = int(params["seed"]), data.faces["train"], data.labels("train")
    lp, rp = params["landmarks"], params["resnet"]
    out = {"landmarks": train_landmarks(faces, y, C=float(lp["C"]), size=int(lp["size"]), inset=float(lp["inset"]),
                                        seed=seed)}
    pretrained = os.path.expanduser(rp["pretrained"]) if rp["pretrained"] else None
    if pretrained and not Path(pretrained).is_file():
        raise FileNotFoundError(f"params resnet.pretrained = {pretrained} does not exist: the full profile needs "
                                "torchvision's resnet18 ImageNet state dict there (see docs/01_vision.md)")
    arch = {**rp["arch"], "layers": tuple(rp["arch"]["layers"])}
    out["resnet"] = train_resnet(faces, y, arch=arch, input_size=int(rp["input_size"]), epochs=int(rp["epochs"]),
                                 batch_size=int(rp["batch_size"]), lr=float(rp["lr"]),
                                 weight_decay=float(rp["weight_decay"]), label_smoothing=float(rp["label_smoothing"]),
                                 aug_shift=int(rp["aug_shift"]), aug_brightness=float(rp["aug_brightness"]),
                                 pretrained=pretrained, threads=int(params["threads"]), seed=seed,
                                 mean=float(rp["mean"]), std=float(rp["std"]))
    return out


# --------------------------------------------------------------------------- every backend, same faces
def collect_backends(names: Sequence[str], trained: Mapping[str, Backend]) -> tuple[dict[str, Backend], dict[str, Any]]:
    """The backends to compare (those trained here, then each other name that can be built) and the
    ``backends.<name>.available`` / ``.why`` metrics of every name."""
    backends, status = dict(trained), {}
    for name in names:
        if name in trained:
            status[name] = (True, "trained in this notebook")
            continue
        try:
            backends[name] = build(name)
            status[name] = (True, backend_status(name)[1])
        except BackendUnavailable as exc:
            status[name] = (False, str(exc))
    m: dict[str, Any] = {}
    for name, (ok, why) in status.items():
        print(f"{name:14s} {'available' if ok else 'NOT AVAILABLE'}: {why}")
        m[f"backends.{name}.available"] = ok
        if not ok:
            m[f"backends.{name}.why"] = why
    return backends, m


def evaluate(backends: Mapping[str, Backend], data: Faces, latency_faces: int) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """Test metrics of each backend (``metrics``, one-face latency, batch ms per face, embedding size) with
    its validation metrics under ``"val"``; and its test probabilities."""
    test, y_test = data.faces["test"], data.labels("test")
    results, probs_by = {}, {}
    for name, bk in backends.items():
        t0 = time.perf_counter()
        probs = bk.predict_faces(test)
        batch_ms = (time.perf_counter() - t0) / len(test) * 1000
        m = metrics(y_test, probs)
        m["latency_ms"] = latency_ms(bk.predict_faces, test, n=int(latency_faces))["median"]
        m["batch_ms_per_face"] = batch_ms
        m["embed_dim"] = bk.embed_dim
        m["val"] = metrics(data.labels("val"), bk.predict_faces(data.faces["val"]))
        results[name], probs_by[name] = m, probs
    return results, probs_by


def comparison_table(results: Mapping[str, dict]):
    """One row per backend: accuracy, F1s, recall per class, Neutral shares, latency, embedding size."""
    import pandas as pd

    return pd.DataFrame({n: {"accuracy": m["accuracy"], "macro-F1": m["f1_macro"], "weighted-F1": m["f1_weighted"],
                             **{f"recall {c}": m["recall"][c] for c in LABELS7},
                             "Neutral predicted": m["neutral_pred_share"], "Neutral true": m["neutral_true_share"],
                             "ms / face (1 thread)": m["latency_ms"], "embed dim": m["embed_dim"]}
                         for n, m in results.items()}).T


def test_metrics(results: Mapping[str, dict]) -> dict[str, Any]:
    return {f"test.{name}": {k: m[k] for k in TEST_KEYS} for name, m in results.items()}


# --------------------------------------------------------------------------- robustness
def robustness_rows(backends: Mapping[str, Backend], data: Faces, rb: Mapping[str, Any], seed: int):
    """``(rows, n_faces)``: each backend on a stratified subset of the test faces (``n_per_class``), perturbed at every level
    of ``rb["grid"]``: a DataFrame with ``clean_accuracy`` and ``retained``, the share of the clean
    accuracy *above chance* (1/7) that survives (1 = unharmed, 0 = down to chance; NaN near chance)."""
    import pandas as pd

    y_test = data.labels("test")
    sub = per_class_subset(data.records["test"], int(rb["n_per_class"]), np.random.default_rng(seed), sort=False)
    faces, y = [data.faces["test"][i] for i in sub], [y_test[i] for i in sub]
    grid = {k: list(v) for k, v in rb["grid"].items()}
    rows = []
    for name, bk in backends.items():
        clean_acc = metrics(y, bk.predict_faces(faces))["accuracy"]
        rows += [{"backend": name, "clean_accuracy": clean_acc, **r} for r in robustness(bk.predict_faces, faces, y, grid)]
    rob = pd.DataFrame(rows)
    denom = rob["clean_accuracy"] - CHANCE
    rob["retained"] = ((rob["accuracy"] - CHANCE) / denom).where(denom > 0.02)
    return rob, len(faces)


def finite(d: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics that could not be computed (NaN) are left out, as write_metrics requires."""
    return {k: v for k, v in d.items() if not (isinstance(v, float) and not np.isfinite(v))}


def robustness_summary(rob, n_faces: int) -> tuple[Any, dict[str, Any]]:
    """Per backend and kind: mean agreement with the clean prediction, mean retained, worst accuracy and
    drop, Neutral share; and the ``robust.*`` metrics (per kind and overall)."""
    summary = rob.groupby(["backend", "kind"]).agg(mean_agreement=("agreement", "mean"),
                                                    mean_retained=("retained", "mean"),
                                                    worst_accuracy=("accuracy", "min"),
                                                    neutral_share=("neutral_pred_share", "mean"),
                                                    clean_accuracy=("clean_accuracy", "first")).reset_index()
    summary["worst_drop"] = summary["clean_accuracy"] - summary["worst_accuracy"]
    m: dict[str, Any] = {}
    for _, s in summary.iterrows():
        p = f"robust.{s.backend}.{s.kind}"
        m.update(finite({f"{p}.mean_agreement": float(s.mean_agreement), f"{p}.mean_retained": float(s.mean_retained),
                         f"{p}.worst_drop": float(s.worst_drop), f"{p}.neutral_share": float(s.neutral_share)}))
    by = rob.groupby("backend")
    overall, retained, neutral = by["agreement"].mean(), by["retained"].mean(), by["neutral_pred_share"].mean()
    for b in overall.index:
        m.update(finite({f"robust.{b}.mean_agreement": float(overall[b]), f"robust.{b}.mean_retained": float(retained[b]),
                         f"robust.{b}.neutral_share_perturbed": float(neutral[b])}))
    m["robust.n_faces"] = int(n_faces)
    return summary, m


# --------------------------------------------------------------------------- the report's claims
def claims(results: Mapping[str, dict], rob, summary, backends: Sequence[str]) -> tuple[list[dict], dict[str, str]]:
    """The report's three claims about A, B and D as measured statements (``holds`` True/False or why it
    is undefined), and their ``claims.*`` metrics."""
    retained = rob.groupby("backend")["retained"].mean()
    neutral_perturbed = rob.groupby("backend")["neutral_pred_share"].mean()
    out = []
    light_pose = {b: float(summary[(summary.backend == b) & summary.kind.isin(["brightness", "rotation", "occlusion"])]
                           ["mean_retained"].mean()) for b in backends}
    if "landmarks" in results:
        others = [v for b, v in light_pose.items() if b != "landmarks" and np.isfinite(v)]
        out.append({"claim": "A (landmarks) is unstable under light, pose and occlusion",
                    "measure": "mean share of above-chance accuracy retained under brightness/rotation/occlusion",
                    "values": {b: round(v, 3) for b, v in light_pose.items() if np.isfinite(v)},
                    "holds": (light_pose["landmarks"] < min(others)) if others and np.isfinite(light_pose["landmarks"])
                    else "undefined: a clean accuracy too close to chance"})
    if "mini_xception" in results:
        mx = results["mini_xception"]
        out.append({"claim": "B (Mini-Xception) is biased towards Neutral",
                    "measure": "share of Neutral predictions, clean and mean over perturbations (true share "
                               f"{mx['neutral_true_share']:.3f})",
                    "values": {b: {"clean": round(m["neutral_pred_share"], 3),
                                   "perturbed": round(float(neutral_perturbed[b]), 3)} for b, m in results.items()},
                    "holds": mx["neutral_pred_share"] > mx["neutral_true_share"],
                    "more_than_others": all(mx["neutral_pred_share"] >= m["neutral_pred_share"]
                                            for b, m in results.items() if b != "mini_xception")})
    measured = retained.dropna()
    out.append({"claim": "D (DeepFace) is the most stable",
                "measure": "mean share of above-chance accuracy retained over all perturbations",
                "values": {b: round(float(v), 3) for b, v in measured.items()},
                "holds": ("deepface" in measured.index and retained.idxmax() == "deepface") if "deepface" in backends
                else "not measured: DeepFace weights are not available on this profile"})

    def holds(prefix: str) -> str:
        return str(next((c["holds"] for c in out if c["claim"].startswith(prefix)), "n/a"))

    return out, {"claims.landmarks_unstable": holds("A"), "claims.mini_xception_neutral_bias": holds("B"),
                 "claims.deepface_most_stable": str(out[-1]["holds"])}


# --------------------------------------------------------------------------- the default backend
def save_and_choose(params: Mapping[str, Any], trained: Mapping[str, tuple[Backend, dict]], results: Mapping[str, dict],
                    data: Faces, models_dir: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Save A and C with their model cards, then choose the CLI default among the selectable backends by
    ``val.<select_metric>`` (never a test score): ``(backend, best.json info, metrics)``."""
    from ..vision.training import write_best

    n = {s: len(data.records[s]) for s in ("train", "val", "test")}
    for name, (bk, info) in trained.items():
        bk.save(Path(models_dir) / name, {
            "data": {"source": "fer2013", "n_train": n["train"], "n_test": n["test"], "n_val": n["val"],
                     "split": params["data"]["split_mode"], "seed": int(params["seed"])},
            "metrics": {f"{s}.{k}": (results[name] if s == "test" else results[name]["val"])[k]
                        for s in ("val", "test") for k in ("accuracy", "f1_macro", "f1_weighted")},
            "wall_time_s": info["train_time_s"], "profile": params["profile"],
            "info": {k: v for k, v in info.items() if k != "history"}})
    sel = params["select_metric"]
    key = "val." + sel
    info = write_best(models_dir, key, {b: results[b]["val"][sel] for b in results if b in SELECTABLE})
    best = info["chosen"]
    m = {"best.backend": best, f"best.{key}": info["value"], f"best.test.{sel}": results[best][sel],
         **{f"val.{b}": {k: r["val"][k] for k in ("accuracy", "f1_macro", "f1_weighted", "n")} for b, r in results.items()}}
    return best, info, m


# --------------------------------------------------------------------------- video, live, backend E
def video_check(vp: Mapping[str, Any], data: Faces, backend: str, clips_dir: Path) -> dict[str, Any]:
    """Synthetic clips of held-out faces (one per label, ``demo_clips``) and a clip without a face through
    ``vision.predict`` with ``n_frames`` uniformly spaced frames."""
    from .. import vision
    from ..testing.synthetic_faces import face_video, write_video

    clips_dir.mkdir(parents=True, exist_ok=True)
    y_test, rows = data.labels("test"), []
    for k in range(int(vp["demo_clips"])):
        c = LABELS7[k % 7]
        idx = [i for i, y in enumerate(y_test) if y == c][:6]
        rows.append((c, face_video([data.faces["test"][i] for i in idx], clips_dir / f"clip_{c}.mp4",
                                   frames_per_face=3, blank_frames=3)))
    blank = write_video([np.full((240, 320, 3), 90, np.uint8)] * 8, clips_dir / "no_face.mp4")
    preds = vision.predict([p for _, p in rows] + [blank], backend=backend, n_frames=int(vp["n_frames"]))
    for (c, _), p in zip(rows + [("none", blank)], preds):
        print(f"true {c:9s} -> {p.status:8s} {p.label} frames used {p.extra.get('frames_used')}/{p.extra.get('frames_sampled')}")
    return {"video.n_frames": int(vp["n_frames"]), "video.clips": len(rows), "video.ok": sum(p.ok for p in preds[:-1]),
            "video.no_face_clip_status": preds[-1].status,
            "video.mean_frames_used": float(np.mean([p.extra.get("frames_used", 0) for p in preds[:-1]]))}


def live_check(lp: Mapping[str, Any], data: Faces, backend: str) -> dict[str, Any]:
    """``LiveAnalyzer.process`` frames per second on 640x480 synthetic frames (a held-out face moving),
    detecting on every frame and every ``detect_every`` frames (tracking between)."""
    from ..testing.synthetic_faces import face_on_canvas
    from ..vision.live import LiveAnalyzer

    faces = data.faces["test"]
    face = next((f for f in faces if detect_boxes(face_on_canvas(f)[0][..., 0], max_side=240, min_side=0,
                                                  min_face_frac=0.15)), faces[0])
    frames = [face_on_canvas(face, (480, 640), 200, xy=(220 + int(40 * np.sin(t / 20)), 140))[0]
              for t in range(int(lp["frames"]))]
    every = int(lp["detect_every"])
    live = {}
    for de in (1, every):
        la = LiveAnalyzer(backend=backend, detect_every=de)
        la.process(frames[0])
        la.reset()
        t0 = time.perf_counter()
        res = [la.process(f) for f in frames]
        live[de] = {"fps": len(frames) / (time.perf_counter() - t0), "with_face": sum(r.ok for r in res) / len(res)}
    print(live)
    return {"live.fps_detect_every_frame": live[1]["fps"], "live.fps": live[every]["fps"],
            "live.face_rate": live[every]["with_face"], "live.backend": backend, "live.detect_every": every}


def browser_check(faces: Sequence[np.ndarray], lp: Mapping[str, Any], fast_options: Mapping[str, Any] | None = None,
                  browser_backend: Backend | None = None) -> dict[str, Any]:
    """Backend E end to end: the app's camera widget on Chromium's fake camera, in which a held-out face
    travels across a 320x240 frame (:func:`emokit.vision.browser.moving_face_video`). Faces the tiny face
    detector finds in a still frame are tried in order, at most ``lp["candidates"]``, until one is found in
    at least half the updates (``live.browser_candidate_face``: its index among ``faces``). Returns the
    ``live.browser_*`` metrics (``live.browser_available`` False with the reason when it cannot run), plus
    E's in-browser expression time when ``browser_backend`` ran in this chapter."""
    out = _browser_live(faces, lp, fast_options)
    if browser_backend is not None:  # E's expression net alone, inside the browser (latency adds the page round trip)
        out["backends.browser.in_browser_ms_median"] = round(float(np.median(browser_backend.ms_log)), 3)
    return out


def _browser_live(faces: Sequence[np.ndarray], lp: Mapping[str, Any], fast_options: Mapping[str, Any] | None) -> dict[str, Any]:
    from ..testing.synthetic_faces import face_on_canvas
    from ..vision.browser import BrowserSession, moving_face_video, status

    ok, why = status()
    if not ok:
        return {"live.browser_available": False, "live.browser_why": why}
    fo = dict(fast_options or {})
    face_px, n = int(lp["face_px"]), int(lp["candidates"])
    # keep the held-out faces the detector finds in a still frame, in order (one Chromium, a few ms each)
    with BrowserSession() as s:
        found = s.detect([face_on_canvas(f, (240, 320), face_px)[0] for f in list(faces)[: 10 * n]],
                         int(fo.get("input_size", 160)))
    order = [i for i, d in enumerate(found) if d] or list(range(min(n, len(found))))
    best: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="emokit-e-") as tmp:
        for i in order[:n]:
            path, truth = moving_face_video(faces[i], Path(tmp) / f"face{i}.y4m", seconds=float(lp["clip_s"]),
                                            face_px=face_px)
            with BrowserSession(video=path) as s:
                r = s.widget(float(lp["seconds"]), {"fast_options": fo}, warm_s=float(lp["warm_s"]))
            xs = [b[0] + b[2] / 2 for b in truth]
            r["true_center_x_min"], r["true_center_x_max"] = float(min(xs)), float(max(xs))
            r["candidate"] = i
            if best is None or r["face_rate"] > best["face_rate"]:
                best = r
            if r["face_rate"] >= 0.5:
                break
    if best is None:
        return {"live.browser_available": False, "live.browser_why": "no held-out face to show the camera"}
    travel = None
    if best["box_center_x_min"] is not None:
        travel = (best["box_center_x_max"] - best["box_center_x_min"]) / (best["true_center_x_max"] - best["true_center_x_min"])
    return {"live.browser_available": True, "live.browser_updates_per_s": round(best["updates_per_s"], 2),
            "live.browser_face_rate": round(best["face_rate"], 3), "live.browser_backend": best["backend"],
            "live.browser_mode": best["mode"], "live.browser_seconds": round(best["seconds"], 2),
            "live.browser_box_travel": None if travel is None else round(travel, 3),
            "live.browser_candidate_face": best["candidate"], "live.browser_status": best["status"]}


# --------------------------------------------------------------------------- figures
def recall_figure(results: Mapping[str, dict]):
    """Per-class recall and the Neutral bias (predicted vs true Neutral share) of each backend."""
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    pd.DataFrame({n: m["recall"] for n, m in results.items()}).loc[list(LABELS7)].plot.bar(ax=axes[0], rot=30)
    axes[0].set_ylabel("recall")
    axes[0].set_title("Per-class recall on the held-out faces")
    pd.DataFrame({"predicted Neutral": {n: m["neutral_pred_share"] for n, m in results.items()},
                  "true Neutral": {n: m["neutral_true_share"] for n, m in results.items()}}).plot.bar(ax=axes[1], rot=0)
    axes[1].set_title("Neutral bias: share of Neutral predictions vs true share")
    fig.tight_layout()
    return fig


def robustness_figure(rob, backends: Sequence[str], kinds: Sequence[str]):
    """Accuracy against perturbation level, one panel per kind, one line per backend (clean at level 0,
    or 1 for contrast)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(kinds), figsize=(3.2 * len(kinds), 3), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, k in zip(axes, kinds):
        for name in backends:
            d = rob[(rob.backend == name) & (rob.kind == k)].sort_values("level")
            lv = [1.0 if k == "contrast" else 0.0] + list(d["level"])
            order = np.argsort(lv)
            ys = [d["clean_accuracy"].iloc[0]] + list(d["accuracy"])
            ax.plot(np.asarray(lv)[order], np.asarray(ys)[order], marker="o", label=name)
        ax.set_title(k)
        ax.set_xlabel("level")
    axes[0].set_ylabel("accuracy")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    return fig
