"""The Chinese route's data: Weibo posts of ``zh_text/`` split into train / val / test (seeded, by
text so that a repost never sits on two sides, stratified by source and class), and the English
GoEmotions rows that may be added to its training set.

The split is ours: neither SMP2020-EWECT's nor CLUEmotion2020's test files are public here. The test
split is only scored, never looked at while choosing the head (that happens on val).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from ..data.readers import read_zh_text
from ..types import Record
from . import data as tdata


@dataclass
class ZhData:
    train: list[Record]
    val: list[Record]
    test: list[Record]
    train_e5: list[Record]          # the training rows also embedded with e5 (all, or a seeded subset)

    def e5_rows(self) -> list[Record]:
        return self.train_e5 + self.val + self.test


def split_by_group(records: Sequence[Record], fractions: Mapping[str, float], seed: int) -> dict[str, list[Record]]:
    """Group-disjoint seeded split, stratified by (source, label) of each group's first record.

    ``fractions`` e.g. ``{"test": 0.2, "val": 0.1}``; the rest is ``train``. Every record of a group
    goes where its group goes."""
    groups: dict[str, list[Record]] = {}
    for r in records:
        groups.setdefault(r.group, []).append(r)
    strata: dict[tuple, list[str]] = {}
    for g, rs in sorted(groups.items()):
        strata.setdefault((rs[0].source, rs[0].label), []).append(g)
    rng = random.Random(seed)
    out: dict[str, list[Record]] = {k: [] for k in (*fractions, "train")}
    for key in sorted(strata):
        gs = strata[key]
        rng.shuffle(gs)
        start = 0
        for split, frac in fractions.items():
            k = int(round(frac * len(gs)))
            for g in gs[start:start + k]:
                out[split].extend(groups[g])
            start += k
        for g in gs[start:]:
            out["train"].extend(groups[g])
    for split, rs in out.items():
        for r in rs:
            r.split = split
    return out


def dedupe(records: Sequence[Record]) -> list[Record]:
    """One record per (text, label): exact reposts in one file count once."""
    seen, out = set(), []
    for r in records:
        k = (r.group, r.label)
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


def prepare(root: Path, params: Mapping) -> ZhData:
    z = params["zh"]
    seed = int(z["seed"])
    recs, _ = read_zh_text(root, overrides=z["label_overrides"] or None)
    recs = dedupe(recs)
    parts = split_by_group(recs, {"test": float(z["test_frac"]), "val": float(z["val_frac"])}, seed)
    train, val, test = parts["train"], parts["val"], parts["test"]
    # smoke/demo limits: seeded stratified subsamples (None = all)
    train = tdata.stratified_subsample(train, z["n_train"], seed)
    val = tdata.stratified_subsample(val, z["n_val"], seed)
    test = tdata.stratified_subsample(test, z["n_test"], seed)
    train_e5 = tdata.stratified_subsample(train, z["n_train_e5"], seed)
    return ZhData(train, val, test, train_e5)


def english_rows(d, params: Mapping) -> list[Record]:
    """English GoEmotions training rows (single-label, 7 classes) candidates for the Chinese route's
    training set: a seeded stratified subsample of ``zh.n_english`` rows (0 = none)."""
    n = int(params["zh"]["n_english"] or 0)
    if n <= 0:
        return []
    return tdata.stratified_subsample(d.full["train"], n, int(params["seed"]) + 1)
