"""What each reader finds under a data root, label counts tables, and the GoEmotions cleanings.

Used by ``python -m emokit data check`` and by chapter 00 (notebooks/00_datasets.ipynb).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..labels import GOEMOTIONS_REPORT_NAMED, GOEMOTIONS_TO_7, LABELS7, MappingReport
from ..types import Record
from .corpora import CORPORA, CORPUS_FOLDERS, read_corpus
from .readers import DataError, read_goemotions_raw, read_m3ed_splits


@dataclass
class CorpusStatus:
    """One corpus under one data root: ``status`` is ok, missing, unlabelled or error."""

    name: str
    status: str
    path: str
    records: list[Record] = field(default_factory=list, repr=False)
    report: MappingReport = field(default_factory=MappingReport)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        splits = Counter(r.split for r in self.records if r.split)
        return {
            "name": self.name, "status": self.status, "path": self.path, "records": len(self.records),
            "groups": len({r.group for r in self.records}),
            "kept": {k: self.report.kept.get(k, 0) for k in LABELS7 if self.report.kept.get(k)},
            "dropped": dict(self.report.dropped.most_common()),
            "unknown": dict(self.report.unknown.most_common()),
            "splits": dict(splits), "detail": self.detail,
        }


def inventory(root: Path, corpora: Sequence[str] | None = None, strict: bool = False,
              options: Mapping[str, Mapping[str, Any]] | None = None) -> list[CorpusStatus]:
    """Run every reader (or those named) on ``root``; never raises for one corpus.

    ``strict=False`` lets readers skip (and count) unknown labels so one odd label does not hide
    a whole corpus; ``options`` passes reader keywords per corpus (e.g. label ``overrides``).
    """
    root = Path(root)
    out = []
    for name in corpora or CORPORA:
        path = root / CORPUS_FOLDERS[name]
        if not path.exists():
            if name == "m3ed" and (root / "m3ed" / "splitInfo").is_dir():
                sp = read_m3ed_splits(root)
                out.append(CorpusStatus(name, "unlabelled", str(path), detail=(
                    "annotation.json absent: only the official split lists are here ("
                    + ", ".join(f"{k} {len(v)} series" for k, v in sp.items()) + ")")))
            else:
                out.append(CorpusStatus(name, "missing", str(path), detail=f"{path} not found"))
            continue
        kw = dict((options or {}).get(name, {}))
        if name != "goemotions":  # GoEmotions ids index a fixed list: always strict
            kw.setdefault("strict", strict)
        try:
            recs, rep = read_corpus(name, root, **kw)
        except DataError as exc:
            out.append(CorpusStatus(name, "error", str(path), detail=str(exc)))
            continue
        out.append(CorpusStatus(name, "ok", str(path), recs, rep))
    return out


def label_counts_table(records_by_source: Mapping[str, Iterable[Record]]):
    """A pandas DataFrame: one row per source, one column per class (canonical order) + total."""
    import pandas as pd

    rows = {}
    for source, recs in records_by_source.items():
        c = Counter(r.label for r in recs if r.label is not None)
        rows[source] = [c.get(k, 0) for k in LABELS7]
    df = pd.DataFrame.from_dict(rows, orient="index", columns=list(LABELS7))
    df["total"] = df.sum(axis=1)
    df.index.name = "source"
    return df


# --------------------------------------------------------------------------- GoEmotions cleanings
GOEMOTIONS_NAMED_ONLY = {src: dst for dst, srcs in GOEMOTIONS_REPORT_NAMED.items() for src in srcs}


def _clean(rows, mode: str, table: Mapping[str, str], drop_neutral: bool = False,
           dedup: bool = False) -> Counter:
    out: Counter = Counter()
    seen: set[str] = set()
    for text, names, _ in rows:
        if mode == "single28":
            if len(names) != 1 or names[0] not in table:
                continue
            label = table[names[0]]
        else:  # single class after mapping; every label must be mapped
            mapped = {table.get(n) for n in names}
            if None in mapped or len(mapped) != 1:
                continue
            label = mapped.pop()
        if drop_neutral and label == "Neutral":
            continue
        if dedup:
            if text in seen:
                continue
            seen.add(text)
        out[label] += 1
    return out


GOEMOTIONS_CLEANINGS: tuple[tuple[str, str, str, dict], ...] = (
    ("single_label", "one of the 28 labels per row, our full 28->7 map (the pipeline's cleaning)",
     "single28", {}),
    ("single_after_map", "rows whose labels all map to one class (multi-label rows kept when they agree)",
     "after_map", {}),
    ("single_named_only", "one label per row, only labels the report names (its '等' members left out)",
     "single28_named", {}),
    ("single_no_neutral", "one label per row, Neutral rows dropped", "single28", {"drop_neutral": True}),
    ("single_named_no_neutral", "one report-named label per row, Neutral dropped", "single28_named",
     {"drop_neutral": True}),
    ("after_map_named_no_neutral", "all labels report-named and agreeing after mapping, Neutral dropped",
     "after_map_named", {"drop_neutral": True}),
    ("single_named_no_neutral_dedup", "as single_named_no_neutral, duplicate texts dropped", "single28_named",
     {"drop_neutral": True, "dedup": True}),
)


def goemotions_cleanings(root: Path, split_sets: Mapping[str, Sequence[str]] | None = None,
                         cap_per_class: Sequence[int] = ()):
    """Row counts of several plausible GoEmotions cleanings, per split set, against the report's 18,098.

    Returns a pandas DataFrame (one row per cleaning x split set, per-class counts + ``rows``).
    ``cap_per_class`` adds rows for "single_label, each class capped at N" variants.
    """
    import pandas as pd

    split_sets = split_sets or {"all": ("train", "dev", "test"), "train": ("train",)}
    raw = {s: read_goemotions_raw(root, s) for s in {x for v in split_sets.values() for x in v}}
    rows = []
    for set_name, splits in split_sets.items():
        data = [r for s in splits for r in raw[s]]
        for name, what, mode, kw in GOEMOTIONS_CLEANINGS:
            table = GOEMOTIONS_NAMED_ONLY if mode.endswith("_named") else GOEMOTIONS_TO_7
            c = _clean(data, mode.replace("_named", ""), table, **kw)
            rows.append({"cleaning": name, "splits": set_name, "what": what, **{k: c.get(k, 0) for k in LABELS7},
                         "rows": sum(c.values())})
        base = _clean(data, "single28", GOEMOTIONS_TO_7)
        for cap in cap_per_class:
            c = {k: min(base.get(k, 0), cap) for k in LABELS7}
            rows.append({"cleaning": f"single_label_cap{cap}", "splits": set_name,
                         "what": f"single_label with each class capped at {cap}", **c, "rows": sum(c.values())})
    return pd.DataFrame(rows)


def cap_for_total(counts: Mapping[str, int], total: int) -> int | None:
    """The per-class cap N with sum(min(c, N)) == total, or None when no integer cap hits it exactly."""
    lo, hi = 0, max(counts.values(), default=0)
    while lo <= hi:
        mid = (lo + hi) // 2
        s = sum(min(c, mid) for c in counts.values())
        if s == total:
            return mid
        if s < total:
            lo = mid + 1
        else:
            hi = mid - 1
    return None


def _key(name: str) -> str:
    """A metric-key-safe version of a raw label (``<multi-label>`` -> ``multi_label``)."""
    import re

    return re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_") or "blank"


def inventory_metrics(statuses: Sequence[CorpusStatus]) -> dict[str, Any]:
    """Flat metrics of an inventory: ``<dataset>.<label>``, ``.total``, ``.groups``, ``.dropped.<raw>``,
    ``.unknown.<raw>``, ``.split.<name>``, and ``datasets.available`` / ``datasets.missing``."""
    m: dict[str, Any] = {}
    for c in statuses:
        if c.status != "ok":
            continue
        d = c.to_dict()
        labels = Counter(r.label for r in c.records)
        for k in LABELS7:
            m[f"{c.name}.{k}"] = int(labels.get(k, 0))
        m[f"{c.name}.total"] = len(c.records)
        m[f"{c.name}.groups"] = d["groups"]
        for raw, v in d["dropped"].items():
            m[f"{c.name}.dropped.{_key(raw)}"] = int(v)
        for raw, v in d["unknown"].items():
            m[f"{c.name}.unknown.{_key(raw)}"] = int(v)
        for split, v in d["splits"].items():
            m[f"{c.name}.split.{_key(split)}"] = int(v)
    m["datasets.available"] = sum(c.status == "ok" for c in statuses)
    m["datasets.missing"] = sum(c.status == "missing" for c in statuses)
    m["datasets.unlabelled"] = sum(c.status == "unlabelled" for c in statuses)
    m["datasets.error"] = sum(c.status == "error" for c in statuses)
    return m
