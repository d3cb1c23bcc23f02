"""Readers for the full-size corpus layouts the ``full`` profile uses, and the :func:`read_corpus`
dispatcher that reads any known dataset by name.

Every reader returns ``(list[Record], MappingReport)`` like the readers in :mod:`.readers`:

* ``label`` is one of the 7 classes; records whose source label is outside the 7 are dropped by
  default (``keep_dropped=True`` keeps them with ``label=None``) and counted in ``report.dropped``;
* a label the source's table does not know is counted in ``report.unknown``; with ``strict=True``
  (the default) the reader raises :class:`DataError` *after* the whole pass, listing every unknown
  label with its count and one file where it occurs; with ``strict=False`` those records are left
  out and only counted (never silently);
* a malformed file name or row raises :class:`DataError` naming the file, the row and the
  expected pattern;
* ``group`` is what a split must not share (speaker, actor, or the TV series / dialogue).

Expected layouts under the data root (``<root>/<folder>/...``; the folder is a parameter):

=========== ================================================================================
cremad      ``cremad/AudioWAV/1001_DFA_ANG_XX.wav``
tess        ``tess/<Speaker>_<emotion>/OAF_back_angry.wav`` (any depth)
savee       ``savee/ALL/DC_a01.wav`` or ``savee/<speaker>/a01.wav``
jl          ``jl/**/female1_angry_1a_1.wav``
esd         ``esd/<0001..0020>/<Emotion>/[train|evaluation|test/]<spk>_<nnnnnn>.wav``
iemocap     ``iemocap/Session<n>/dialog/EmoEvaluation/*.txt`` (wavs in ``sentences/wav``)
meld_raw    ``meld/csv/*.csv`` + clips in ``meld/MELD.Raw/{train_splits,dev_splits_complete,
            output_repeated_splits_test}/dia{D}_utt{U}.mp4``
m3ed        ``m3ed/annotation.json`` + ``m3ed/splitInfo/movie_list_{train,val,test}.txt``
            (+ optional ``m3ed/modality_speech/<spk>_<utt>.wav``)
=========== ================================================================================
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Iterable, Mapping

from ..labels import MappingReport, UnknownLabelError, map_label
from ..types import Record
from .readers import (MELD_SPLIT_FILES, DataError, _require, read_emodb, read_fer2013_folders, read_zh_text,
                      read_goemotions, read_m3ed_splits, read_meld, read_ravdess)

Overrides = Mapping[str, "str | None"] | None


class _Collector:
    """Maps labels, counts them, and remembers where unknown labels occur (for one error at the end)."""

    def __init__(self, source: str, overrides: Overrides, strict: bool):
        self.source, self.overrides, self.strict = source, overrides, strict
        self.report = MappingReport()
        self.unknown_where: dict[str, str] = {}
        self.records: list[Record] = []

    def label(self, raw: str, where: str) -> tuple[bool, str | None]:
        """(known, target). Unknown labels are counted and their first location kept."""
        try:
            target = map_label(self.source, raw, self.overrides)
        except UnknownLabelError:
            self.report.unknown[raw] += 1
            self.unknown_where.setdefault(raw, where)
            return False, None
        if target is None:
            self.report.dropped[raw] += 1
        else:
            self.report.kept[target] += 1
        return True, target

    def add(self, raw: str, where: str, **record) -> None:
        known, target = self.label(raw, where)
        if known:
            self.records.append(Record(label=target, source=self.source, **record))

    def finish(self, keep_dropped: bool) -> tuple[list[Record], MappingReport]:
        if self.strict and self.report.unknown:
            listed = ", ".join(f"{k!r}={v} (e.g. {self.unknown_where[k]})"
                               for k, v in self.report.unknown.most_common())
            raise DataError(f"{self.source}: unknown labels with counts: {listed}; "
                            f"pass strict=False to skip them (they stay counted) or extend the label map")
        records = self.records if keep_dropped else [r for r in self.records if r.label is not None]
        return records, self.report


def _wavs(base: Path, pattern: str = "**/*.wav") -> list[Path]:
    files = sorted(p for p in base.glob(pattern) if p.is_file() and not p.name.startswith("._"))
    if not files:
        raise DataError(f"{base}: no .wav files found (pattern {pattern})")
    return files


# --------------------------------------------------------------------------- CREMA-D
CREMAD_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})\.wav$")


def read_cremad(root: Path, overrides: Overrides = None, keep_dropped: bool = False,
                strict: bool = True, folder: str = "cremad") -> tuple[list[Record], MappingReport]:
    """CREMA-D: ``AudioWAV/AAAA_SSS_EEE_II.wav`` (actor, sentence, emotion, intensity)."""
    base = _require(Path(root) / folder / "AudioWAV", "CREMA-D AudioWAV folder")
    col = _Collector("cremad", overrides, strict)
    for f in _wavs(base, "*.wav"):
        m = CREMAD_NAME.match(f.name)
        if not m:
            raise DataError(f"{f}: not a CREMA-D file name (expected AAAA_SSS_EEE_II.wav, "
                            f"e.g. 1001_DFA_ANG_XX.wav)")
        actor, sentence, emo, level = m.groups()
        col.add(emo, str(f), input=str(f), group=f"cremad-{actor}",
                extra={"actor": actor, "sentence": sentence, "emotion_raw": emo, "intensity": level})
    return col.finish(keep_dropped)


# --------------------------------------------------------------------------- TESS
TESS_NAME = re.compile(r"^(OAF|YAF)_([A-Za-z]+)_([A-Za-z_]+)\.wav$", re.IGNORECASE)


def read_tess(root: Path, overrides: Overrides = None, keep_dropped: bool = False,
              strict: bool = True, folder: str = "tess") -> tuple[list[Record], MappingReport]:
    """TESS: ``<Speaker>_<emotion>/OAF_back_angry.wav``; label = last name part (``ps`` = pleasant
    surprise). The two speakers (OAF older, YAF younger) are the groups."""
    base = _require(Path(root) / folder, "TESS folder")
    col = _Collector("tess", overrides, strict)
    for f in _wavs(base):
        m = TESS_NAME.match(f.name)
        if not m:
            raise DataError(f"{f}: not a TESS file name (expected OAF|YAF_<word>_<emotion>.wav, "
                            f"e.g. OAF_back_angry.wav)")
        spk, word, emo = m.group(1).upper(), m.group(2).lower(), m.group(3).lower()
        col.add(emo, str(f), input=str(f), group=f"tess-{spk}",
                extra={"speaker": spk, "word": word, "emotion_raw": emo})
    return col.finish(keep_dropped)


# --------------------------------------------------------------------------- SAVEE
SAVEE_NAME = re.compile(r"^(?:([A-Z]{2})_)?(sa|su|a|d|f|h|n)(\d\d)\.wav$")
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")


def read_savee(root: Path, overrides: Overrides = None, keep_dropped: bool = False,
               strict: bool = True, folder: str = "savee") -> tuple[list[Record], MappingReport]:
    """SAVEE: ``ALL/DC_a01.wav`` (speaker in the name) or ``<speaker>/a01.wav`` (speaker folder)."""
    base = _require(Path(root) / folder, "SAVEE folder")
    col = _Collector("savee", overrides, strict)
    for f in _wavs(base):
        m = SAVEE_NAME.match(f.name)
        if not m:
            raise DataError(f"{f}: not a SAVEE file name (expected [SP_]<a|d|f|h|n|sa|su><nn>.wav, "
                            f"e.g. DC_a01.wav or DC/a01.wav)")
        spk, emo, num = m.groups()
        spk = spk or f.parent.name
        if spk not in SAVEE_SPEAKERS:
            raise DataError(f"{f}: SAVEE speaker {spk!r} is not one of {SAVEE_SPEAKERS} "
                            f"(from the name prefix or the parent folder)")
        col.add(emo, str(f), input=str(f), group=f"savee-{spk}",
                extra={"speaker": spk, "emotion_raw": emo, "sentence": num})
    return col.finish(keep_dropped)


# --------------------------------------------------------------------------- JL-Corpus
JL_NAME = re.compile(r"^(female|male)(\d+)_([a-z]+)_(\d+[a-z]?)_(\d+)\.wav$")


def read_jl(root: Path, overrides: Overrides = None, keep_dropped: bool = False,
            strict: bool = True, folder: str = "jl") -> tuple[list[Record], MappingReport]:
    """JL-Corpus: ``female1_angry_1a_1.wav`` (speaker, emotion, sentence, take) at any depth.
    The five secondary emotions (anxious, apologetic, ...) are outside the 7 and dropped."""
    base = _require(Path(root) / folder, "JL-Corpus folder")
    col = _Collector("jl", overrides, strict)
    for f in _wavs(base):
        m = JL_NAME.match(f.name)
        if not m:
            raise DataError(f"{f}: not a JL-Corpus file name (expected <female|male><n>_<emotion>_"
                            f"<sentence>_<take>.wav, e.g. female1_angry_1a_1.wav)")
        gender, n, emo, sentence, take = m.groups()
        col.add(emo, str(f), input=str(f), group=f"jl-{gender}{n}",
                extra={"speaker": f"{gender}{n}", "gender": gender, "emotion_raw": emo,
                       "sentence": sentence, "take": take})
    return col.finish(keep_dropped)


# --------------------------------------------------------------------------- ESD
ESD_NAME = re.compile(r"^(\d{4})_(\d{6})\.wav$")
ESD_OFFICIAL = {"train": "train", "evaluation": "val", "test": "test"}


def read_esd(root: Path, overrides: Overrides = None, keep_dropped: bool = False,
             strict: bool = True, folder: str = "esd") -> tuple[list[Record], MappingReport]:
    """ESD: ``<spk>/<Emotion>/[train|evaluation|test/]<spk>_<nnnnnn>.wav``. Speakers 0001-0010 are
    Mandarin, 0011-0020 English; the official sub-split, when present, is kept in
    ``extra['official_split']``."""
    base = _require(Path(root) / folder, "ESD folder")
    col = _Collector("esd", overrides, strict)
    for f in _wavs(base):
        m = ESD_NAME.match(f.name)
        if not m:
            raise DataError(f"{f}: not an ESD file name (expected <spk>_<nnnnnn>.wav, e.g. 0001_000351.wav)")
        spk, num = m.groups()
        rel = f.relative_to(base).parts
        try:
            i = rel.index(spk)
            emo = rel[i + 1]
        except (ValueError, IndexError):
            raise DataError(f"{f}: ESD files must lie under <spk>/<Emotion>/ with <spk> = {spk}") from None
        official = rel[i + 2] if len(rel) > i + 3 else None
        if official is not None and official not in ESD_OFFICIAL:
            raise DataError(f"{f}: unexpected ESD sub-folder {official!r}; expected one of {tuple(ESD_OFFICIAL)}")
        col.add(emo, str(f), input=str(f), group=f"esd-{spk}",
                extra={"speaker": spk, "emotion_raw": emo, "utterance": num,
                       "language": "zh" if int(spk) <= 10 else "en",
                       "official_split": ESD_OFFICIAL.get(official) if official else None})
    return col.finish(keep_dropped)


# --------------------------------------------------------------------------- IEMOCAP
IEMOCAP_LINE = re.compile(r"^\[(\d+(?:\.\d+)?) - (\d+(?:\.\d+)?)\]\t(\S+)\t(\S+)\t\[")
IEMOCAP_TURN = re.compile(r"^(Ses0\d)([FM])_(.+)_([FM])(\d{3})$")


def read_iemocap(root: Path, overrides: Overrides = None, keep_dropped: bool = False,
                 strict: bool = True, folder: str = "iemocap") -> tuple[list[Record], MappingReport]:
    """IEMOCAP: the categorical label of each turn from ``Session*/dialog/EmoEvaluation/*.txt``
    (lines ``[start - end]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[v, a, d]``). ``input`` is the turn's
    wav (``Session*/sentences/wav/<dialog>/<turn>.wav``, which may be absent: see ``extra``);
    ``group`` is the speaker (session + gender)."""
    base = _require(Path(root) / folder, "IEMOCAP folder")
    files = sorted(p for p in base.glob("Session*/dialog/EmoEvaluation/*.txt") if not p.name.startswith("._"))
    if not files:
        raise DataError(f"{base}: no Session*/dialog/EmoEvaluation/*.txt files")
    col = _Collector("iemocap", overrides, strict)
    for path in files:
        session_dir = path.parents[2]
        for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.startswith("["):
                continue
            m = IEMOCAP_LINE.match(line)
            if not m:
                raise DataError(f"{path}, row {lineno}: expected '[start - end]<TAB>turn<TAB>label<TAB>[v, a, d]', "
                                f"got {line[:80]!r}")
            start, end, turn, emo = m.groups()
            t = IEMOCAP_TURN.match(turn)
            if not t:
                raise DataError(f"{path}, row {lineno}: turn name {turn!r} is not like Ses01F_impro01_F000")
            ses, _, dialog_rest, gender, _ = t.groups()
            dialog = turn.rsplit("_", 1)[0]
            wav = session_dir / "sentences" / "wav" / dialog / f"{turn}.wav"
            col.add(emo, f"{path}, row {lineno}", input=str(wav), group=f"iemocap-{ses}{gender}",
                    extra={"session": ses, "speaker": f"{ses}{gender}", "dialog": dialog, "turn": turn,
                           "start": float(start), "end": float(end), "emotion_raw": emo,
                           "wav_exists": wav.exists(), "improvised": "impro" in dialog_rest})
    return col.finish(keep_dropped)


# --------------------------------------------------------------------------- MELD raw clips
MELD_RAW_DIRS = {"train": ("train_splits", "train"), "dev": ("dev_splits_complete", "dev"),
                 "test": ("output_repeated_splits_test", "test")}


def meld_clips_dir(root: Path, split: str, raw_folder: str = "meld/MELD.Raw") -> Path | None:
    """The folder of one split's MELD.Raw clips (``dia{D}_utt{U}.mp4``), or None when absent."""
    base = Path(root) / raw_folder
    for name in MELD_RAW_DIRS[split]:
        if (base / name).is_dir():
            return base / name
    return None


def read_meld_raw(root: Path, splits: Iterable[str] = ("train", "dev", "test"), overrides: Overrides = None,
                  require_clips: bool = True, strict: bool = True,
                  raw_folder: str = "meld/MELD.Raw") -> tuple[list[Record], MappingReport]:
    """MELD utterances with their video clip (``extra['clip']``). With ``require_clips`` a split
    without a clip folder raises, and utterances whose clip is missing are left out and counted in
    ``report.dropped['<clip-missing>']`` (MELD.Raw lacks a few clips)."""
    records: list[Record] = []
    report = MappingReport()
    for split in splits:
        clips = meld_clips_dir(root, split, raw_folder)
        if clips is None and require_clips:
            raise DataError(f"{Path(root) / raw_folder}: no clip folder for MELD {split} "
                            f"(expected one of {MELD_RAW_DIRS[split]}; get MELD.Raw.tar.gz from "
                            f"https://affective-meld.github.io/)")
        recs, rep = read_meld(root, split, clips_dir=clips, overrides=overrides, strict=strict)
        _merge(report, rep)
        for r in recs:
            if require_clips and not r.extra.get("clip"):
                report.dropped["<clip-missing>"] += 1
                report.kept[r.label] -= 1
                continue
            records.append(r)
    report.kept = +report.kept
    return records, report


# --------------------------------------------------------------------------- M3ED
def read_m3ed(root: Path, overrides: Overrides = None, strict: bool = True,
              folder: str = "m3ed") -> tuple[list[Record], MappingReport]:
    """M3ED utterances from the authors' ``annotation.json``
    (``{series: {dialog: {"SpeakerInfo": {...}, "Dialog": {utt: {"Speaker", "Text",
    "EmoAnnotation": {"final_main_emo", ...}}}}}}``), labelled with ``final_main_emo`` and split by
    the official series lists in ``splitInfo``. ``input`` is the text; ``group`` is the series
    (the official split is by series), ``extra`` holds dialogue, speaker, the multi-label
    annotation and the speech wav when ``modality_speech/`` holds it."""
    base = _require(Path(root) / folder, "M3ED folder")
    ann = _require(base / "annotation.json", "M3ED annotation.json (from the authors, on request: "
                   "https://github.com/AIM3-RUC/RUCM3ED)")
    splits = read_m3ed_splits(root)
    split_of = {s: name for name, series in splits.items() for s in series}
    try:
        data = json.loads(ann.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{ann}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{ann}: expected an object {{series: {{dialog: ...}}}}, got {type(data).__name__}")
    speech = base / "modality_speech"
    col = _Collector("m3ed", overrides, strict)
    for series, dialogs in data.items():
        if series not in split_of:
            raise DataError(f"{ann}: series {series!r} is in no splitInfo list "
                            f"({base / 'splitInfo'}/movie_list_{{train,val,test}}.txt)")
        for dialog, d in dialogs.items():
            where = f"{ann}, {series}/{dialog}"
            if not isinstance(d, dict) or "Dialog" not in d:
                raise DataError(f"{where}: expected a dialogue object with a 'Dialog' field")
            names = {k: (v or {}).get("Name", k) for k, v in (d.get("SpeakerInfo") or {}).items()}
            for utt, u in d["Dialog"].items():
                try:
                    spk, text, emo = u["Speaker"], u["Text"], u["EmoAnnotation"]["final_main_emo"]
                except (KeyError, TypeError):
                    raise DataError(f"{where}, utterance {utt}: expected fields Speaker, Text and "
                                    f"EmoAnnotation.final_main_emo") from None
                wav = speech / f"{spk}_{utt}.wav"
                col.add(emo, f"{where}, utterance {utt}", input=text, group=f"m3ed-{series}",
                        split=split_of[series],
                        extra={"series": series, "dialogue": dialog, "utterance": utt, "speaker": spk,
                               "speaker_name": names.get(spk, spk), "emotion_raw": emo,
                               "multi_emotion": u["EmoAnnotation"].get("final_mul_emo"),
                               "audio": str(wav) if wav.exists() else None})
    return col.finish(keep_dropped=False)


# --------------------------------------------------------------------------- dispatcher
def _merge(into: MappingReport, other: MappingReport) -> MappingReport:
    into.kept.update(other.kept)
    into.dropped.update(other.dropped)
    into.unknown.update(other.unknown)
    return into


def _all_splits(reader: Callable, splits: Iterable[str]) -> Callable:
    def read(root: Path, **kw) -> tuple[list[Record], MappingReport]:
        records: list[Record] = []
        report = MappingReport()
        for split in splits:
            recs, rep = reader(root, split, **kw)
            records.extend(recs)
            _merge(report, rep)
        return records, report

    return read


CORPORA: dict[str, Callable[..., tuple[list[Record], MappingReport]]] = {
    "goemotions": _all_splits(read_goemotions, ("train", "dev", "test")),
    "meld": _all_splits(read_meld, tuple(MELD_SPLIT_FILES)),
    "meld_raw": read_meld_raw,
    "ravdess": read_ravdess,
    "emodb": read_emodb,
    "fer2013": read_fer2013_folders,
    "cremad": read_cremad,
    "tess": read_tess,
    "savee": read_savee,
    "jl": read_jl,
    "esd": read_esd,
    "iemocap": read_iemocap,
    "m3ed": read_m3ed,
    "zh_text": read_zh_text,
}
# The folder each corpus lives in under the data root (for `data check` and error messages).
CORPUS_FOLDERS: dict[str, str] = {
    "goemotions": "goemotions/original", "meld": "meld/csv", "meld_raw": "meld/MELD.Raw",
    "ravdess": "ravdess", "emodb": "emodb/wav", "fer2013": "fer2013", "cremad": "cremad/AudioWAV",
    "tess": "tess", "savee": "savee", "jl": "jl", "esd": "esd", "iemocap": "iemocap",
    "m3ed": "m3ed/annotation.json", "zh_text": "zh_text",
}


def read_corpus(name: str, root: Path, **kwargs) -> tuple[list[Record], MappingReport]:
    """Read any known corpus by name (see :data:`CORPORA`); keyword arguments go to its reader.

    GoEmotions and MELD are read over all official splits (``Record.split`` says which)."""
    try:
        reader = CORPORA[name]
    except KeyError:
        raise DataError(f"unknown corpus {name!r}; known: {sorted(CORPORA)}") from None
    return reader(Path(root), **kwargs)
