"""The feature cache: log-mel first windows, eGeMAPS functionals and Whisper embeddings of every clip,
computed once and stored under ``<artifacts_root>/cache/audio_features/`` (a DVC output of the
``03_audio_features`` stage, :mod:`emokit.chapters.audio_features`).

Layout: ``<cache>/<key>/{index.csv, logmel.npy (N,128,130) float16, egemaps.npy (N,88), whisper.npy
(N,768), meta.json}``; ``key`` is a hash of the clip list, the log-mel settings and the feature sets,
so a different subset (the smoke run) or setting never reads stale features.
"""
from __future__ import annotations

import csv
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..types import Record
from . import features as feat


@dataclass
class FeatureCache:
    folder: Path
    inputs: list[str]
    logmel: np.ndarray
    egemaps: np.ndarray | None
    whisper: np.ndarray | None
    meta: dict


def cache_key(inputs: list[str], cfg: feat.LogMelConfig, sets: tuple[str, ...]) -> str:
    h = hashlib.sha1()
    h.update(json.dumps([sorted(inputs), cfg.to_dict(), sorted(sets)]).encode())
    return h.hexdigest()[:12]


def default_cache_root() -> Path:
    from ..config import artifacts_root

    return artifacts_root() / "cache" / "audio_features"


def build(records: list[Record], cfg: feat.LogMelConfig, sets=("logmel", "egemaps", "whisper"),
          root: Path | None = None, progress: bool = True) -> FeatureCache:
    """Load the cache for these clips, computing (and storing) it when absent."""
    sets = tuple(sets)
    inputs = [r.input for r in records]
    root = Path(root) if root else default_cache_root()
    folder = root / cache_key(inputs, cfg, sets)
    if (folder / "meta.json").exists():
        return load(folder, inputs)
    folder.mkdir(parents=True, exist_ok=True)
    from ..data import load_audio

    n = len(inputs)
    logmel = np.zeros((n, cfg.n_mels, cfg.frames), np.float16)
    ege = np.zeros((n, 88), np.float32) if "egemaps" in sets else None
    wh = np.zeros((n, 768), np.float32) if "whisper" in sets else None
    timing = {"decode": 0.0, "logmel": 0.0, "egemaps": 0.0, "whisper": 0.0}
    it = range(n)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="audio features", unit="clip", mininterval=2.0)
    import soxr

    for i in it:
        t = time.perf_counter()
        audio = load_audio(inputs[i], sr=cfg.sr)
        a16 = soxr.resample(audio, cfg.sr, feat.WHISPER_SR).astype(np.float32) if (ege is not None or wh is not None) else None
        timing["decode"] += time.perf_counter() - t
        t = time.perf_counter()
        logmel[i] = feat.first_window(feat.logmel(audio, cfg), cfg)
        timing["logmel"] += time.perf_counter() - t
        if ege is not None:
            t = time.perf_counter()
            ege[i] = feat.egemaps(a16, feat.WHISPER_SR)
            timing["egemaps"] += time.perf_counter() - t
        if wh is not None:
            t = time.perf_counter()
            wh[i] = feat.whisper_embed(a16)
            timing["whisper"] += time.perf_counter() - t
    np.save(folder / "logmel.npy", logmel)
    if ege is not None:
        np.save(folder / "egemaps.npy", ege)
    if wh is not None:
        np.save(folder / "whisper.npy", wh)
    with (folder / "index.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["input", "label", "source", "group"])
        for r in records:
            w.writerow([r.input, r.label, r.source, r.group])
    meta = {"n": n, "logmel": cfg.to_dict(), "sets": list(sets), "seconds": timing,
            "clips_per_s": {k: (n / v if v else None) for k, v in timing.items()}}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return load(folder, inputs)


def load(folder: Path, inputs: list[str] | None = None) -> FeatureCache:
    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    with (folder / "index.csv").open(encoding="utf-8") as fh:
        stored = [row["input"] for row in csv.DictReader(fh)]
    logmel = np.load(folder / "logmel.npy")
    ege = np.load(folder / "egemaps.npy") if (folder / "egemaps.npy").exists() else None
    wh = np.load(folder / "whisper.npy") if (folder / "whisper.npy").exists() else None
    if inputs is not None and list(inputs) != stored:
        pos = {p: i for i, p in enumerate(stored)}
        missing = [p for p in inputs if p not in pos]
        if missing:
            raise ValueError(f"{folder}: feature cache lacks {len(missing)} clips (e.g. {missing[0]}); delete it to rebuild")
        order = np.array([pos[p] for p in inputs])
        logmel = logmel[order]
        ege = ege[order] if ege is not None else None
        wh = wh[order] if wh is not None else None
        stored = list(inputs)
    return FeatureCache(folder, stored, logmel, ege, wh, meta)
