"""Readers for the datasets in ``../shared/data`` (demo) and their full-size layouts (full).

Every reader returns ``list[Record]`` (see :mod:`emokit.types`) and a
:class:`~emokit.labels.MappingReport` of what was kept, dropped (outside the 7) and unknown.
Raw data is only read, never modified. Errors name the file, the row and what was expected.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Iterable, Mapping

from ..labels import (GOEMOTIONS28, MappingReport, UnknownLabelError, map_label)
from ..types import Record


class DataError(ValueError):
    """Missing or malformed data: the message names the file, the row and what was expected."""


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(f"{path}: {what} not found")
    return path


def _count(report: MappingReport, source: str, raw: str, overrides, where: str, strict: bool) -> str | None:
    try:
        target = map_label(source, raw, overrides)
    except UnknownLabelError as exc:
        report.unknown[raw] += 1
        if strict:
            raise DataError(f"{where}: {exc}") from None
        return None
    if target is None:
        report.dropped[raw] += 1
    else:
        report.kept[target] += 1
    return target


def _finish(records: list[Record], report: MappingReport, keep_dropped: bool) -> tuple[list[Record], MappingReport]:
    if not keep_dropped:
        records = [r for r in records if r.label is not None]
    return records, report


# --------------------------------------------------------------------------- GoEmotions
GOEMOTIONS_SPLITS = ("train", "dev", "test")


def read_goemotions_raw(root: Path, split: str) -> list[tuple[str, list[str], str]]:
    """The official TSV of one split: (text, [28-label names], comment id) per row."""
    if split not in GOEMOTIONS_SPLITS:
        raise DataError(f"GoEmotions split must be one of {GOEMOTIONS_SPLITS}, got {split!r}")
    path = _require(Path(root) / "goemotions" / "original" / f"{split}.tsv", "GoEmotions TSV")
    rows = []
    with path.open(encoding="utf-8", newline="") as fh:
        for lineno, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                raise DataError(f"{path}, row {lineno}: expected 3 tab-separated fields "
                                f"(text, label ids, comment id), got {len(parts)}")
            text, ids, cid = parts
            try:
                names = [GOEMOTIONS28[int(i)] for i in ids.split(",")]
            except (ValueError, IndexError):
                raise DataError(f"{path}, row {lineno}: label ids {ids!r} are not comma-separated "
                                f"integers in 0..27") from None
            rows.append((text, names, cid))
    return rows


def read_goemotions(root: Path, split: str, single_label: bool = True,
                    overrides: Mapping[str, str | None] | None = None,
                    keep_dropped: bool = False) -> tuple[list[Record], MappingReport]:
    """GoEmotions mapped to the 7 classes.

    ``single_label=True`` is the report's cleaning: keep rows with exactly one of the 28 labels
    (multi-label rows are counted in ``report.dropped['<multi-label>']``).
    """
    report = MappingReport()
    records: list[Record] = []
    path = Path(root) / "goemotions" / "original" / f"{split}.tsv"
    for i, (text, names, cid) in enumerate(read_goemotions_raw(root, split), start=1):
        if single_label and len(names) != 1:
            report.dropped["<multi-label>"] += 1
            continue
        mapped = {_count(MappingReport(), "goemotions", n, overrides, f"{path}, row {i}", True) for n in names}
        mapped.discard(None)
        if len(mapped) != 1:
            # several labels that map to different classes: ambiguous after mapping
            report.dropped["<conflicting-after-map>"] += 1
            continue
        label = mapped.pop()
        report.kept[label] += 1
        records.append(Record(input=text, label=label, source="goemotions", group=cid, split=split,
                              extra={"labels28": names, "id": cid}))
    return _finish(records, report, keep_dropped)


# --------------------------------------------------------------------------- MELD
MELD_SPLIT_FILES = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
MELD_COLUMNS = ("Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")


def read_meld(root: Path, split: str, clips_dir: Path | None = None,
              overrides: Mapping[str, str | None] | None = None,
              strict: bool = True) -> tuple[list[Record], MappingReport]:
    """MELD utterances of one official split (text in ``input``; clip path in ``extra['clip']``
    when ``clips_dir`` — the MELD.Raw folder of that split — is given and the clip exists).

    ``group`` is the dialogue (``meld-<split>-dia<D>``: dialogue ids restart in every split, so the
    split is part of the name): utterances of one dialogue must stay in one split.
    """
    if split not in MELD_SPLIT_FILES:
        raise DataError(f"MELD split must be one of {tuple(MELD_SPLIT_FILES)}, got {split!r}")
    path = _require(Path(root) / "meld" / "csv" / MELD_SPLIT_FILES[split], "MELD CSV")
    report = MappingReport()
    records: list[Record] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in MELD_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing columns {missing}; has {reader.fieldnames}")
        for lineno, row in enumerate(reader, start=2):
            label = _count(report, "meld", row["Emotion"], overrides, f"{path}, row {lineno}", strict)
            dia, utt = row["Dialogue_ID"], row["Utterance_ID"]
            extra = {"speaker": row["Speaker"], "sentiment": row["Sentiment"], "dialogue": dia,
                     "utterance": utt, "emotion_raw": row["Emotion"]}
            if clips_dir is not None:
                clip = Path(clips_dir) / f"dia{dia}_utt{utt}.mp4"
                extra["clip"] = str(clip) if clip.exists() else None
            records.append(Record(input=row["Utterance"], label=label, source="meld",
                                  group=f"meld-{split}-dia{dia}", split=split, extra=extra))
    return _finish(records, report, keep_dropped=False)


# --------------------------------------------------------------------------- RAVDESS
RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.wav$")


def parse_ravdess_name(name: str) -> dict[str, str]:
    m = RAVDESS_NAME.match(name)
    if not m:
        raise DataError(f"{name}: not a RAVDESS file name (expected MM-VC-EE-II-SS-RR-AA.wav)")
    keys = ("modality", "channel", "emotion", "intensity", "statement", "repetition", "actor")
    return dict(zip(keys, m.groups()))


def read_ravdess(root: Path, overrides: Mapping[str, str | None] | None = None,
                 keep_dropped: bool = False, strict: bool = True,
                 folder: str = "ravdess") -> tuple[list[Record], MappingReport]:
    """RAVDESS speech wavs under ``<root>/ravdess/Actor_XX/``; labels from the file names."""
    base = _require(Path(root) / folder, "RAVDESS folder")
    files = sorted(base.glob("Actor_*/*.wav"))
    if not files:
        raise DataError(f"{base}: no Actor_XX/*.wav files")
    report = MappingReport()
    records = []
    for f in files:
        meta = parse_ravdess_name(f.name)
        label = _count(report, "ravdess", meta["emotion"], overrides, str(f), strict)
        actor = meta["actor"]
        meta["gender"] = "male" if int(actor) % 2 else "female"
        records.append(Record(input=str(f), label=label, source="ravdess", group=f"ravdess-{actor}",
                              extra=meta))
    return _finish(records, report, keep_dropped)


# --------------------------------------------------------------------------- EmoDB
EMODB_NAME = re.compile(r"^(\d\d)([a-z]\d\d)([WLEAFTN])([a-z])\.wav$")
EMODB_MALE = {"03", "10", "11", "12", "15"}


def read_emodb(root: Path, overrides: Mapping[str, str | None] | None = None,
               keep_dropped: bool = False, strict: bool = True) -> tuple[list[Record], MappingReport]:
    """EmoDB wavs (``SSTttEv.wav``); boredom (L) is outside the 7 and dropped unless overridden."""
    base = _require(Path(root) / "emodb" / "wav", "EmoDB wav folder")
    files = sorted(base.glob("*.wav"))
    if not files:
        raise DataError(f"{base}: no .wav files")
    report = MappingReport()
    records = []
    for f in files:
        m = EMODB_NAME.match(f.name)
        if not m:
            raise DataError(f"{f}: not an EmoDB file name (expected SSTttEv.wav, e.g. 03a01Fa.wav)")
        spk, text, letter, version = m.groups()
        label = _count(report, "emodb", letter, overrides, str(f), strict)
        records.append(Record(input=str(f), label=label, source="emodb", group=f"emodb-{spk}",
                              extra={"speaker": spk, "text": text, "letter": letter, "version": version,
                                     "gender": "male" if spk in EMODB_MALE else "female"}))
    return _finish(records, report, keep_dropped)


# --------------------------------------------------------------------------- FER2013
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def read_fer2013_folders(root: Path, subset: str = "train",
                         strict: bool = True) -> tuple[list[Record], MappingReport]:
    """FER2013 in the Kaggle folder layout ``fer2013/<subset>/<emotion>/*.jpg``.

    FER2013 has no subject ids; ``group`` is the image itself, and the Kaggle file name prefix
    (Training / PublicTest / PrivateTest) is kept as the official split.
    """
    base = _require(Path(root) / "fer2013" / subset, "FER2013 folder")
    report = MappingReport()
    records = []
    for d in sorted(p for p in base.iterdir() if p.is_dir()):
        folder_report = MappingReport()
        label = _count(folder_report, "fer2013", d.name, None, str(d), strict)
        for f in sorted(d.iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if label is None:
                report.dropped[d.name] += 1
            else:
                report.kept[label] += 1
            official = f.name.split("_", 1)[0]
            records.append(Record(input=str(f), label=label, source="fer2013", group=f.stem,
                                  extra={"official_split": {"Training": "train"}.get(official, "test"),
                                         "emotion_raw": d.name}))
    if not records:
        raise DataError(f"{base}: no images in <emotion>/ subfolders")
    return _finish(records, report, keep_dropped=False)


# --------------------------------------------------------------------------- M3ED
def read_m3ed_splits(root: Path) -> dict[str, list[str]]:
    """The official M3ED split: series ids for train / val / test (from ``splitInfo``)."""
    base = _require(Path(root) / "m3ed" / "splitInfo", "M3ED splitInfo folder")
    out = {}
    for split in ("train", "val", "test"):
        path = _require(base / f"movie_list_{split}.txt", "M3ED split list")
        out[split] = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return out


# --------------------------------------------------------------------------- Chinese Weibo (zh_text)
# name: (file under zh_text/, label table in emokit.labels, format, Record.source). The two files of
# SMP's epidemic ("virus") domain are one source.
ZH_TEXT_FILES: dict[str, tuple[str, str, str, str]] = {
    "smp2020_usual": ("smp2020_ewect/usual_eval_labeled.txt", "smp2020", "json", "smp2020_usual"),
    "smp2020_virus_train": ("smp2020_ewect/virus_train.txt", "smp2020", "json", "smp2020_virus"),
    "smp2020_virus_eval": ("smp2020_ewect/virus_eval_labeled.txt", "smp2020", "json", "smp2020_virus"),
    "clue2020": ("clue_emotion2020/valid.txt", "clue_emotion", "jsonl", "clue2020"),
}
ZH_SOURCES = ("smp2020_usual", "smp2020_virus", "clue2020")


def read_zh_text(root: Path, sources: Iterable[str] | None = None,
                 overrides: Mapping[str, str | None] | None = None,
                 strict: bool = True) -> tuple[list[Record], MappingReport]:
    """Chinese Weibo posts of ``zh_text/`` (SMP2020-EWECT and CLUEmotion2020) mapped to the 7 classes.

    ``sources`` selects files by the keys of :data:`ZH_TEXT_FILES` (default: all four).
    ``Record.source`` is ``smp2020_usual``, ``smp2020_virus`` (both epidemic-domain files) or
    ``clue2020``; ``extra['file']`` the file's key; ``group`` is the text itself, hashed, so that a post
    repeated in several files (reposts) can never sit on both sides of a split. SMP has no Disgust
    and CLUE no Neutral: scores per source are computed over the classes that source has. CLUE's
    ``like`` maps to Happy (see :data:`emokit.labels.CLUE_EMOTION_TO_7`; ``overrides={"like": None}``
    drops it). Texts that are empty after stripping are dropped (``report.dropped['<empty>']``).
    """
    import hashlib
    import json

    base = _require(Path(root) / "zh_text", "Chinese text folder (zh_text)")
    names = list(sources or ZH_TEXT_FILES)
    report = MappingReport()
    records: list[Record] = []
    for name in names:
        if name not in ZH_TEXT_FILES:
            raise DataError(f"zh_text: unknown source {name!r}; known: {sorted(ZH_TEXT_FILES)}")
        rel, table, fmt, source = ZH_TEXT_FILES[name]
        path = _require(base / rel, f"zh_text file of {name}")
        text = path.read_text(encoding="utf-8")
        try:
            if fmt == "json":
                rows = json.loads(text)
                if not isinstance(rows, list):
                    raise DataError(f"{path}: expected a JSON array of objects, got {type(rows).__name__}")
                located = [(f"{path}, item {i}", r) for i, r in enumerate(rows, start=1)]
            else:
                located = [(f"{path}, line {i}", json.loads(ln)) for i, ln in enumerate(text.splitlines(), start=1)
                           if ln.strip()]
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from None
        for where, row in located:
            if not isinstance(row, dict) or not isinstance(row.get("content"), str) or "label" not in row:
                raise DataError(f"{where}: expected an object with 'content' (text) and 'label'")
            content = row["content"].strip()
            if not content:
                report.dropped["<empty>"] += 1
                continue
            target = _count(report, table, str(row["label"]), overrides, where, strict)
            if target is None:
                continue
            digest = hashlib.sha1(content.encode("utf-8")).hexdigest()[:16]
            records.append(Record(input=content, label=target, source=source, group=f"zh-{digest}",
                                  extra={"id": row.get("id"), "label_raw": row["label"], "file": name}))
    return _finish(records, report, keep_dropped=False)


def label_counts(records: Iterable[Record]) -> dict[str, int]:
    from collections import Counter

    return dict(Counter(r.label for r in records))
