"""GoEmotions for the text chapter: the report's cleaning, the splits, and the Ekman multi-label task.

Cleaning (report 3.2.1): keep rows with exactly one of the 28 labels and map it to the 7 classes
with :data:`emokit.labels.GOEMOTIONS_TO_7`. The official train/dev/test split is kept (seeded
subsamples of it are drawn where the demo needs fewer rows): the report used its own random
split of 18,098 rows that it does not publish, whereas the official test split makes every
number here comparable with published GoEmotions results.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..data.readers import read_goemotions, read_goemotions_raw
from ..labels import LABELS7, GOEMOTIONS_EKMAN_TO_7
from ..types import Record

RESOURCES = Path(__file__).resolve().parent / "resources"
ZH_TEST = RESOURCES / "zh_test.tsv"
EN_PLAIN = RESOURCES / "en_plain.tsv"

# Official Ekman grouping of the 28 labels (google-research goemotions/data/ekman_mapping.json).
EKMAN6 = ("anger", "disgust", "fear", "joy", "sadness", "surprise")
EKMAN_LABELS = EKMAN6 + ("neutral",)


def load_splits(root: Path) -> dict[str, list[Record]]:
    """The three official splits, cleaned and mapped to the 7 classes (single-label rows)."""
    return {split: read_goemotions(root, split)[0] for split in ("train", "dev", "test")}


def count_rows(root: Path) -> dict[str, int]:
    """Raw and cleaned row counts per split and in total (compared with the report's 18,098)."""
    out: dict[str, int] = {}
    for split in ("train", "dev", "test"):
        raw = read_goemotions_raw(root, split)
        recs, rep = read_goemotions(root, split)
        out[f"{split}.raw"] = len(raw)
        out[f"{split}.single_label"] = len(recs)
        out[f"{split}.multi_label_dropped"] = rep.dropped.get("<multi-label>", 0)
    out["total.raw"] = sum(out[f"{s}.raw"] for s in ("train", "dev", "test"))
    out["total.single_label"] = sum(out[f"{s}.single_label"] for s in ("train", "dev", "test"))
    return out


def stratified_subsample(records: Sequence[Record], n: int | None, seed: int) -> list[Record]:
    """A seeded subsample of ``n`` records keeping the class proportions (all when n is None)."""
    records = list(records)
    if n is None or n >= len(records):
        return records
    rng = random.Random(seed)
    by_class: dict[str, list[Record]] = {}
    for r in records:
        by_class.setdefault(r.label, []).append(r)
    out: list[Record] = []
    for label, group in sorted(by_class.items()):
        k = max(1, round(n * len(group) / len(records)))
        out.extend(rng.sample(group, min(k, len(group))))
    rng.shuffle(out)
    return out[:n]


@dataclass
class EkmanExample:
    text: str
    labels: tuple[str, ...]          # one or more of EKMAN_LABELS
    id: str


def read_ekman(root: Path, split: str) -> list[EkmanExample]:
    """The standard GoEmotions Ekman task: every row (multi-label kept), 28 labels grouped into
    Ekman's 6 + neutral with the official ``ekman_mapping.json``."""
    import json

    mapping_path = Path(root) / "goemotions" / "ekman_mapping.json"
    mapping = json.loads(mapping_path.read_text(encoding="utf-8"))
    to_ekman = {fine: group for group, fines in mapping.items() for fine in fines}
    to_ekman["neutral"] = "neutral"
    out = []
    for text, names, cid in read_goemotions_raw(root, split):
        groups = tuple(sorted({to_ekman[n] for n in names}))
        out.append(EkmanExample(text, groups, cid))
    return out


def ekman_matrix(examples: Sequence[EkmanExample]):
    import numpy as np

    y = np.zeros((len(examples), len(EKMAN_LABELS)), dtype=np.int8)
    idx = {n: i for i, n in enumerate(EKMAN_LABELS)}
    for i, ex in enumerate(examples):
        for lab in ex.labels:
            y[i, idx[lab]] = 1
    return y


def ekman_to_7(name: str) -> str:
    return GOEMOTIONS_EKMAN_TO_7[name]


def read_en_plain(path: Path | None = None) -> list[Record]:
    """Ten plain English sentences per class (``resources/en_plain.tsv``): the sanity table."""
    return read_zh_test(path or EN_PLAIN, source="en_plain")


def read_zh_test(path: Path | None = None, source: str = "zh_handlabelled") -> list[Record]:
    """The hand-labelled Chinese test set (``resources/zh_test.tsv``: ``label<TAB>text``)."""
    path = Path(path or ZH_TEST)
    out = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 2 or parts[0] not in LABELS7:
                raise ValueError(f"{path}, line {lineno}: expected 'Label<TAB>text' with a label in {LABELS7}")
            out.append(Record(input=parts[1], label=parts[0], source=source,
                              group=f"zh{lineno}", split="test"))
    return out


# --------------------------------------------------------------------------- what a run uses
@dataclass
class TextData:
    full: dict[str, list[Record]]            # cleaned official splits
    train: list[Record]                      # what fine-tuning sees
    val: list[Record]                        # model selection
    test: list[Record]                       # held-out scoring
    counts: dict[str, int]


def prepare_data(root: Path, p: Mapping[str, Any]) -> TextData:
    """Official splits kept; seeded stratified subsamples of train/dev(/test) sized by params."""
    full = load_splits(root)
    seed = int(p["seed"])
    sizes = p["data"]
    train = stratified_subsample(full["train"], sizes["n_train"], seed)
    val = stratified_subsample(full["dev"], sizes["n_val"], seed)
    test = stratified_subsample(full["test"], sizes["n_test"], seed)
    return TextData(full, train, val, test, count_rows(root))


@dataclass
class EkmanData:
    train: list
    dev: list
    test: list


def prepare_ekman(root: Path, p: Mapping[str, Any]) -> EkmanData:
    import random

    seed = int(p["seed"])
    e = p["ekman"]
    rng = random.Random(seed)

    def sub(rows, n):
        return rows if not n or n >= len(rows) else rng.sample(rows, n)

    return EkmanData(sub(read_ekman(root, "train"), e["n_train"]),
                     sub(read_ekman(root, "dev"), e["n_dev"]),
                     sub(read_ekman(root, "test"), e["n_test"]))
