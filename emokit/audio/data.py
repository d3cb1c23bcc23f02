"""The audio chapter's data: its corpora's records with speaker-disjoint splits, their labels and the
feature cache, in one :class:`AudioData` (what every training function reads)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..labels import LABELS7
from ..types import Record
from . import features as feat
from .cache import FeatureCache, build as build_cache
from .corpora import load_corpora, split_by_speaker


def load_records(params: dict) -> tuple[list[Record], dict]:
    from ..config import data_root

    root = data_root(params["data_root"])
    records, summary = load_corpora(list(params["corpora"]), root, params["max_per_speaker"])
    sp = params["split"]
    records = split_by_speaker(records, tuple(sp["fractions"]), seed=int(sp["seed"]))
    return records, summary


@dataclass
class AudioData:
    records: list[Record]
    y: np.ndarray
    split: np.ndarray
    source: np.ndarray
    cache: FeatureCache
    logmel_cfg: feat.LogMelConfig

    def idx(self, split: str, sources: list[str] | None = None, exclude: list[str] | None = None) -> np.ndarray:
        m = self.split == split
        if sources:
            m &= np.isin(self.source, sources)
        if exclude:
            m &= ~np.isin(self.source, exclude)
        return np.flatnonzero(m)

    def x(self, idx: np.ndarray) -> np.ndarray:
        return self.cache.logmel[idx].astype(np.float32)


def prepare(params: dict, cache_root: Path | None = None, progress: bool = True) -> AudioData:
    records, _ = load_records(params)
    cfg = feat.LogMelConfig.from_params(params["logmel"])
    cache = build_cache(records, cfg, tuple(params["feature_sets"]), root=cache_root,
                        progress=progress)
    y = np.array([LABELS7.index(r.label) for r in records])
    return AudioData(records, y, np.array([r.split for r in records]), np.array([r.source for r in records]),
                     cache, cfg)
