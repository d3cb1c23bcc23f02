"""The eight speech-emotion corpora of report 3.3 for this chapter, on top of :mod:`emokit.data`.

Demo profile: the RAVDESS and EmoDB subsets in ``../shared/data``. Full profile: also CREMA-D, ESD,
JL-Corpus, MELD (``meld_raw``: audio decoded from the MP4 clips with PyAV at feature time), SAVEE and
TESS, each in the distributed layout :mod:`emokit.data.corpora` documents. Labels are mapped to the 7
classes by the shared readers (labels outside them dropped and counted).

Split rule (:func:`split_by_speaker`): per corpus, :func:`emokit.data.speaker_independent_split`
(seeded, whole speakers to one split, stratified by label) with the fractions from params, so every
corpus is in train, validation and test and no speaker is in two splits. MELD keeps its official
split (``dev`` becomes ``val``); its groups are dialogues.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from ..labels import LABELS7
from ..types import Record


def load_corpora(names: list[str], root: Path, max_per_speaker: int | None = None) -> tuple[list[Record], dict]:
    """Read the named corpora (keys of :data:`emokit.data.CORPORA`); audio path in ``input``.

    ``max_per_speaker`` keeps N clips per speaker (labels round-robin, starting at a different label
    for each speaker so every class appears), for smoke runs.
    Returns the records and ``{corpus: mapping summary}``.
    """
    from ..data import read_corpus

    records: list[Record] = []
    summary: dict[str, str] = {}
    for name in names:
        recs, rep = read_corpus(name, Path(root))
        if name in ("meld_raw", "meld"):
            recs = [replace(r, input=r.extra["clip"], source="meld",
                            split="val" if r.split == "dev" else r.split,
                            extra={**r.extra, "transcript": r.input})
                    for r in recs if r.extra.get("clip")]
        if max_per_speaker:
            recs = _limit(recs, max_per_speaker)
        summary[name] = rep.summary()
        records += recs
    return records, summary


def _limit(recs: list[Record], n: int) -> list[Record]:
    by: dict[str, list[Record]] = {}
    for r in recs:
        by.setdefault(r.group, []).append(r)
    out = []
    for gi, g in enumerate(sorted(by)):
        rs = sorted(by[g], key=lambda r: (LABELS7.index(r.label), r.input))
        labels = {}
        for r in rs:
            labels.setdefault(r.label, []).append(r)
        picked, k = [], gi  # start at a different class per speaker so all classes appear
        while len(picked) < n and any(labels.values()):
            lab = list(labels)[k % len(labels)]
            if labels[lab]:
                picked.append(labels[lab].pop(0))
            k += 1
        out += picked
    return out


def split_by_speaker(records: list[Record], fractions=(0.7, 0.15, 0.15), seed: int = 42) -> list[Record]:
    from ..data import check_group_disjoint, speaker_independent_split

    out: list[Record] = []
    for src in sorted({r.source for r in records}):
        rs = [r for r in records if r.source == src]
        if all(r.split for r in rs):  # official split (MELD)
            out += rs
        else:
            out += speaker_independent_split(rs, fractions, seed=seed)
    order = {r.input: i for i, r in enumerate(records)}
    out.sort(key=lambda r: order[r.input])
    check_group_disjoint(out)
    return out


def corpus_stats(records: list[Record]) -> list[dict]:
    """Per-corpus counts: clips, speakers, clips per split and per class (the 7, canonical order)."""
    rows = []
    for src in sorted({r.source for r in records}):
        rs = [r for r in records if r.source == src]
        c = Counter(r.label for r in rs)
        s = Counter(r.split for r in rs)
        rows.append({"corpus": src, "clips": len(rs), "speakers": len({r.group for r in rs}),
                     **{f"n_{k}": s.get(k, 0) for k in ("train", "val", "test")},
                     **{lab: c.get(lab, 0) for lab in LABELS7}})
    return rows
