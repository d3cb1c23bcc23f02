"""The steps of notebook 04 (late fusion), so the notebook stays thin: :func:`build_set` (demo: label-matched triples from the modality chapters' held-out
rows; full: MELD clips), :func:`cache_modalities` (each modality's probabilities and embeddings,
computed once into ``<out_dir>/cache``), :func:`meld_text_eval` (MELD test through the text
model), :func:`late_fusion_experiments` (single modalities, dev-tuned and test-tuned grids,
calibration), :func:`write_weights` (the weights ``analyze()`` uses).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..eval import confusion, score, scores_from_confusion
from ..labels import INDEX7, LABELS7
from ..fusion import late, trimodal
from ..fusion.hybrid import FEATURES_FILE, FusionData, save_feature_npz, sentiments_for

log = logging.getLogger(__name__)
MODALITIES = ("vision", "audio", "text")


def _modality(m: str):
    """(predict(list) -> list[Prediction], embed(list) -> array) of one modality package."""
    if m == "vision":
        from .. import vision as mod

        return (lambda xs: mod.predict(list(xs))), (lambda xs: mod.embed(list(xs)))
    if m == "audio":
        from .. import audio as mod
    else:
        from .. import text as mod
    return (lambda xs: mod.predict(list(xs))), (lambda xs: mod.embed(list(xs)))


# --------------------------------------------------------------------------- the set
def data_path(value: str | Path, root: str | Path) -> Path:
    """A data file or folder named in params: absolute (``~`` expanded) as given, relative under the data root."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else Path(root) / p


def meld_clip_folders(params: Mapping[str, Any], root: str | Path) -> dict[str, Path]:
    """``meld_clips`` of params/04_late_fusion.yaml resolved: split -> clip folder (splits set to null left out).
    The defaults are MELD.Raw's own layout under the data root (``meld/MELD.Raw/train_splits`` ...)."""
    return {s: data_path(v, root) for s, v in (params.get("meld_clips") or {}).items() if v}


def build_set(params: Mapping[str, Any], root: str | Path, artifacts_root: str | Path,
              cache_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """The tri-modal set of this profile (DataFrame: id, label, vision, audio, text, split, ...) and
    facts about how it was drawn. Demo: pools -> keep the inputs each model answers (a face the
    detector finds, a voice that is not silent) -> label-matched triples."""
    info: dict[str, Any] = {"set": params["set"]}
    if params["set"] == "meld_clips":
        clips = meld_clip_folders(params, root)
        if not all(clips.get(s) for s in ("dev", "test")):
            raise FileNotFoundError("full profile: params/04_late_fusion.yaml full.meld_clips.{dev,test} must name the "
                                    "MELD.Raw clip folders (default: meld/MELD.Raw/... under the data root; see "
                                    "docs/04_late_fusion.md)")
        for s, folder in clips.items():
            if s != "train" and not folder.is_dir():
                raise FileNotFoundError(f"{folder}: MELD {s} clip folder not found (params/04_late_fusion.yaml "
                                        f"full.meld_clips.{s}; `python -m emokit preflight --profile full` lists it)")
        clips = {s: f for s, f in clips.items() if s != "train" or f.is_dir()}
        df = trimodal.meld_clip_set(root, clips, splits=[s for s in ("train", "dev", "test") if s in clips])
        info["n"] = len(df)
        info["clips"] = {s: str(f) for s, f in clips.items()}
        return df, info
    if params["set"] != "label_matched_triples":
        raise ValueError(f"set must be label_matched_triples or meld_clips, got {params['set']!r}")
    pools = {
        "vision": trimodal.read_heldout(params["vision"]["chapter"], artifacts_root, params["vision"]["splits"],
                                        params["vision"]["sources"]),
        "audio": trimodal.read_heldout(params["audio"]["chapter"], artifacts_root, params["audio"]["splits"],
                                       params["audio"]["sources"]),
        "text": trimodal.meld_text_pool(root, params["text"]["split"]),
    }
    cap = params["pool_max_per_label"]
    if cap:  # smoke runs: predict only a few held-out inputs per label
        rng = np.random.default_rng(int(params["seed"]))
        for m, p in pools.items():
            keep = [i for lab in LABELS7 for i in
                    rng.permutation(np.flatnonzero(p["label"].to_numpy() == lab))[:int(cap)]]
            pools[m] = p.iloc[sorted(keep)].reset_index(drop=True)
    for m in ("vision", "audio"):
        predict, _ = _modality(m)
        out = trimodal.cached_predictions(m, pools[m]["input"].tolist(), predict, cache_dir,
                                          batch=int(params["batch_size"]))
        ok = np.array([s == "ok" for s in out["status"]])
        info[f"pool.{m}.heldout"] = int(len(ok))
        info[f"pool.{m}.answered"] = int(ok.sum())
        dropped = {}
        for s in out["status"]:
            if s != "ok":
                dropped[s] = dropped.get(s, 0) + 1
        info[f"pool.{m}.dropped"] = dropped
        pools[m] = pools[m][ok].reset_index(drop=True)
    info["pool.text.heldout"] = len(pools["text"])
    df = trimodal.draw_triples(pools["vision"], pools["audio"], pools["text"], seed=int(params["seed"]),
                               pairs_per_voice=int(params["pairs_per_voice"]),
                               max_per_class=params["max_per_class"], fractions=params["split_fractions"],
                               group_by=params["split_group"])
    info["n"] = len(df)
    info["per_label"] = {k: int(v) for k, v in df["label"].value_counts().reindex(LABELS7).fillna(0).items()}
    info["per_split"] = {k: int(v) for k, v in df["split"].value_counts().items()}
    return df, info


def cache_modalities(df, params: Mapping[str, Any], cache_dir: str | Path,
                     embeddings: bool = True) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float]]:
    """Probabilities (N x 7 per modality, NaN rows where a model gave no answer) and embeddings of
    every row of the set, through the caches; returns (probs, embeddings, seconds per modality)."""
    probs, embs, secs = {}, {}, {}
    for m in MODALITIES:
        predict, embed = _modality(m)
        t0 = time.perf_counter()
        inputs = df[m].tolist()
        probs[m] = trimodal.cached_predictions(m, inputs, predict, cache_dir,
                                               batch=int(params["batch_size"]))["probs"]
        if embeddings:
            embs[m] = trimodal.cached_embeddings(m, inputs, embed, cache_dir)
        secs[m] = time.perf_counter() - t0
    return probs, embs, secs


def save_features(df, embs: Mapping[str, np.ndarray], out_dir: str | Path) -> Path:
    """The hybrid network's input (``<out_dir>/cache/trimodal_features.npz``)."""
    y7 = np.asarray([INDEX7[x] for x in df["label"]], dtype=np.int64)
    sent = df["sentiment"].tolist() if "sentiment" in df else None
    data = FusionData(embs["text"], embs["audio"], embs["vision"], y7,
                      sentiments_for(df["label"].tolist(), sent), df["split"].to_numpy().astype(str),
                      df["id"].to_numpy().astype(str))
    return save_feature_npz(Path(out_dir) / "cache" / FEATURES_FILE, data)


# --------------------------------------------------------------------------- MELD text-only
def meld_text_eval(params: Mapping[str, Any], root: str | Path, cache_dir: str | Path) -> dict[str, Any]:
    """MELD test (2,610 utterances) through ``emokit.text.predict``: scores, confusion, timing."""
    cfg = params["meld_text_eval"]
    pool = trimodal.meld_text_pool(root, cfg["split"])
    if cfg["limit"]:
        pool = pool.sample(n=min(int(cfg["limit"]), len(pool)), random_state=int(params["seed"])).reset_index(drop=True)
    predict, _ = _modality("text")
    t0 = time.perf_counter()
    out = trimodal.cached_predictions("text", pool["input"].tolist(), predict, cache_dir,
                                      batch=int(params["batch_size"]))
    secs = time.perf_counter() - t0
    ok = ~np.isnan(out["probs"]).any(axis=1)
    y = np.asarray([INDEX7[x] for x in pool["label"]])
    pred = out["probs"][ok].argmax(1)
    s = scores_from_confusion(confusion(y[ok], pred))
    recall = {}
    cm = confusion(y[ok], pred)
    for i, lab in enumerate(LABELS7):
        if cm[i].sum():
            recall[lab] = float(cm[i, i] / cm[i].sum())
    return {"n": int(len(pool)), "n_answered": int(ok.sum()), "seconds": secs,
            **{k: float(v) for k, v in s.items()}, "recall": recall, "y": y[ok], "pred": pred,
            "status": {k: out["status"].count(k) for k in set(out["status"])}}


# --------------------------------------------------------------------------- experiments
def late_fusion_experiments(df, probs: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> dict[str, Any]:
    """Single modalities; grid tuned on dev (train+val) then scored on test (the sound protocol);
    grid tuned on test (the report's protocol, optimistic); the same after temperature scaling."""
    mods = tuple(params["modalities"])
    step, metric = float(params["grid"]["step"]), params["grid"]["metric"]
    complete = np.ones(len(df), bool)
    for m in mods:
        complete &= ~np.isnan(probs[m]).any(axis=1)
    y = np.asarray([INDEX7[x] for x in df["label"]])
    split = df["split"].to_numpy()
    dev = complete & np.isin(split, ["train", "val"])
    test = complete & (split == "test")
    if dev.sum() == 0 or test.sum() == 0:
        raise ValueError(f"need complete triples in dev and test (dev {dev.sum()}, test {test.sum()})")
    P = {m: np.asarray(probs[m]) for m in mods}
    res: dict[str, Any] = {"n_dev": int(dev.sum()), "n_test": int(test.sum()),
                           "n_incomplete": int((~complete).sum())}

    def on(mask):
        return {m: P[m][mask] for m in mods}

    res["single_test"] = {m: {k: float(v) for k, v in scores_from_confusion(
        confusion(y[test], P[m][test].argmax(1))).items()} for m in mods}
    g_dev = late.grid_search(on(dev), y[dev], step=step, metric=metric)
    g_test = late.grid_search(on(test), y[test], step=step, metric=metric)
    res["grid_dev"], res["grid_test"] = g_dev, g_test
    res["dev_tuned_on_test"] = score(y[test], late.fuse(on(test), g_dev.best_weights), metric)
    res["dev_tuned_on_test_all"] = {k: float(v) for k, v in scores_from_confusion(confusion(
        y[test], late.fuse(on(test), g_dev.best_weights).argmax(1))).items()}
    rw = params["report_weights"]
    if rw:
        res["report_weights_on_test"] = score(y[test], late.fuse(on(test), rw), metric)
    eq = {m: 1 / len(mods) for m in mods}
    res["equal_weights_on_test"] = score(y[test], late.fuse(on(test), eq), metric)
    # calibration: temperatures fitted on dev, per modality
    cal = params["calibration"]
    temps = {m: late.fit_temperature(P[m][dev], y[dev], tuple(cal["temperature_bounds"]))
             for m in mods}
    Pc = {m: late.apply_temperature(P[m], temps[m]) for m in mods}
    g_dev_cal = late.grid_search({m: Pc[m][dev] for m in mods}, y[dev], step=step, metric=metric)
    res["temperatures"] = temps
    res["grid_dev_calibrated"] = g_dev_cal
    res["calibrated_dev_tuned_on_test"] = score(
        y[test], late.fuse({m: Pc[m][test] for m in mods}, g_dev_cal.best_weights), metric)
    nb = int(cal["n_bins"])
    res["reliability_raw"] = {m: late.reliability(P[m][test], y[test], nb) for m in mods}
    res["reliability_cal"] = {m: late.reliability(Pc[m][test], y[test], nb) for m in mods}
    res["reliability_raw"]["fused"] = late.reliability(late.fuse(on(test), g_dev.best_weights), y[test], nb)
    res["reliability_cal"]["fused"] = late.reliability(
        late.fuse({m: Pc[m][test] for m in mods}, g_dev_cal.best_weights), y[test], nb)
    res["nll_test"] = {m: {"raw": late.nll(P[m][test], y[test]), "calibrated": late.nll(Pc[m][test], y[test])}
                       for m in mods}
    res["y_test"], res["mask_test"], res["mask_dev"], res["y"] = y[test], test, dev, y
    res["single_vs_fused"] = late.single_vs_fused(on(test), y[test], g_dev.best_weights, name="fused, dev-tuned")
    return res


def write_weights(out_dir: str | Path, weights: Mapping[str, float], temperatures: Mapping[str, float],
                  use_temperatures: bool, description: str) -> Path:
    """``<out_dir>/fusion_weights.json``: the weights ``analyze()`` uses by default."""
    path = Path(out_dir) / "fusion_weights.json"
    path.write_text(json.dumps({"weights": dict(weights), "temperatures": dict(temperatures),
                                "use_temperatures": bool(use_temperatures), "description": description},
                               indent=2))
    return path
