"""The 7 emotion classes, the 3 sentiments and every source label set's map onto them.

This module knows no files. Every map is a plain table so it can be read, reviewed and tested
exhaustively. A source label that maps to ``None`` is *outside* the 7 classes (EmoDB boredom,
RAVDESS calm, contempt, ...): it is dropped by default, and :func:`map_labels` counts it.

GoEmotions: report 3.2.1 lists the members of each target class followed by "等" ("etc."). The
labels it leaves unassigned (amusement, approval, caring, desire, excitement, gratitude,
embarrassment) are placed as the official GoEmotions Ekman mapping (``ekman_mapping.json``) places
them, which is also consistent with every label the report does name. See GOEMOTIONS_DECISIONS.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping

LABELS7: tuple[str, ...] = ("Happy", "Sad", "Angry", "Fear", "Surprise", "Disgust", "Neutral")
SENTIMENTS3: tuple[str, ...] = ("Positive", "Negative", "Neutral")
INDEX7: dict[str, int] = {name: i for i, name in enumerate(LABELS7)}

# Surprise can be pleasant or not (MELD annotates both): it has no fixed sentiment.
EMOTION_TO_SENTIMENT: dict[str, str | None] = {
    "Happy": "Positive",
    "Sad": "Negative",
    "Angry": "Negative",
    "Fear": "Negative",
    "Disgust": "Negative",
    "Neutral": "Neutral",
    "Surprise": None,
}

GOEMOTIONS28: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
    "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
    "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
    "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
)

# Labels the report names explicitly (report 3.2.1); the rest are our decision, see below.
GOEMOTIONS_REPORT_NAMED: dict[str, tuple[str, ...]] = {
    "Happy": ("joy", "love", "admiration", "optimism", "relief", "pride"),
    "Angry": ("anger", "annoyance", "disapproval"),
    "Sad": ("sadness", "disappointment", "grief", "remorse"),
    "Fear": ("fear", "nervousness"),
    "Surprise": ("surprise", "realization", "confusion", "curiosity"),
    "Disgust": ("disgust",),
    "Neutral": ("neutral",),
}
GOEMOTIONS_DECISIONS: dict[str, str] = {
    "amusement": "Happy",   # positive; Ekman 'joy'
    "approval": "Happy",    # positive; Ekman 'joy'
    "caring": "Happy",      # positive; Ekman 'joy'
    "desire": "Happy",      # positive; Ekman 'joy'
    "excitement": "Happy",  # positive; Ekman 'joy'
    "gratitude": "Happy",   # positive; Ekman 'joy'
    "embarrassment": "Sad",  # negative low-arousal; Ekman 'sadness'
}
GOEMOTIONS_TO_7: dict[str, str] = {
    **{src: dst for dst, srcs in GOEMOTIONS_REPORT_NAMED.items() for src in srcs},
    **GOEMOTIONS_DECISIONS,
}

# GoEmotions' own Ekman label names (ekman/labels.txt) onto ours.
GOEMOTIONS_EKMAN_TO_7: dict[str, str] = {
    "anger": "Angry", "disgust": "Disgust", "fear": "Fear", "joy": "Happy",
    "neutral": "Neutral", "sadness": "Sad", "surprise": "Surprise",
}

MELD_TO_7: dict[str, str] = {
    "neutral": "Neutral", "joy": "Happy", "surprise": "Surprise", "anger": "Angry",
    "sadness": "Sad", "disgust": "Disgust", "fear": "Fear",
}
MELD_SENTIMENT_TO_3: dict[str, str] = {"positive": "Positive", "negative": "Negative", "neutral": "Neutral"}

# M3ED README: {'Happy':0, 'Neutral':1, 'Sad':2, 'Disgust':3, 'Anger':4, 'Fear':5, 'Surprise':6}
M3ED_TO_7: dict[str, str] = {
    "Happy": "Happy", "Neutral": "Neutral", "Sad": "Sad", "Disgust": "Disgust",
    "Anger": "Angry", "Fear": "Fear", "Surprise": "Surprise",
}
M3ED_INDEX: tuple[str, ...] = ("Happy", "Neutral", "Sad", "Disgust", "Anger", "Fear", "Surprise")

# RAVDESS file-name emotion codes (03-01-EE-...).
RAVDESS_TO_7: dict[str, str | None] = {
    "01": "Neutral", "02": None, "03": "Happy", "04": "Sad", "05": "Angry",
    "06": "Fear", "07": "Disgust", "08": "Surprise",
}
RAVDESS_NAMES: dict[str, str] = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
    "06": "fearful", "07": "disgust", "08": "surprised",
}

# CREMA-D file names: 1001_DFA_ANG_XX.wav
CREMAD_TO_7: dict[str, str | None] = {
    "ANG": "Angry", "DIS": "Disgust", "FEA": "Fear", "HAP": "Happy", "NEU": "Neutral", "SAD": "Sad",
}

# TESS folder/file names: OAF_back_angry.wav; 'ps' is pleasant surprise.
TESS_TO_7: dict[str, str | None] = {
    "angry": "Angry", "disgust": "Disgust", "fear": "Fear", "happy": "Happy",
    "neutral": "Neutral", "ps": "Surprise", "pleasant_surprise": "Surprise",
    "pleasant_surprised": "Surprise", "sad": "Sad",
}

# SAVEE file names: DC_a01.wav ... prefix letters.
SAVEE_TO_7: dict[str, str | None] = {
    "a": "Angry", "d": "Disgust", "f": "Fear", "h": "Happy", "n": "Neutral",
    "sa": "Sad", "su": "Surprise",
}

# EmoDB file-name letters (SSTttEv.wav) and the English names used in shared/data manifests.
EMODB_TO_7: dict[str, str | None] = {
    "W": "Angry", "L": None, "E": "Disgust", "A": "Fear", "F": "Happy", "T": "Sad", "N": "Neutral",
}
EMODB_LETTER_NAMES: dict[str, str] = {
    "W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness",
    "N": "neutral",
}
EMODB_NAME_TO_7: dict[str, str | None] = {
    name: EMODB_TO_7[letter] for letter, name in EMODB_LETTER_NAMES.items()
}

# JL-Corpus: five primary emotions; 'excited' is high-arousal positive -> Happy. The five
# secondary ones (anxious, apologetic, assertive, concerned, encouraging) are outside the 7.
JL_TO_7: dict[str, str | None] = {
    "angry": "Angry", "sad": "Sad", "neutral": "Neutral", "happy": "Happy", "excited": "Happy",
    "anxious": None, "apologetic": None, "assertive": None, "concerned": None, "encouraging": None,
}

# ESD (English and Mandarin): five emotions.
ESD_TO_7: dict[str, str | None] = {
    "Neutral": "Neutral", "Happy": "Happy", "Angry": "Angry", "Sad": "Sad", "Surprise": "Surprise",
}

# IEMOCAP categorical labels; 'exc' joins 'hap' as is customary; frustration and 'other' are
# outside the 7 (merging frustration into anger is a choice some papers make: pass an override).
IEMOCAP_TO_7: dict[str, str | None] = {
    "neu": "Neutral", "hap": "Happy", "exc": "Happy", "sad": "Sad", "ang": "Angry",
    "fea": "Fear", "sur": "Surprise", "dis": "Disgust", "fru": None, "oth": None, "xxx": None,
}

# FER2013 folder names and the Kaggle CSV's integer codes.
FER2013_TO_7: dict[str, str] = {
    "angry": "Angry", "disgust": "Disgust", "fear": "Fear", "happy": "Happy", "sad": "Sad",
    "surprise": "Surprise", "neutral": "Neutral",
}
FER2013_CODES: tuple[str, ...] = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")

# DeepFace's emotion names (and the fer / Mini-Xception names are the same words).
DEEPFACE_TO_7: dict[str, str] = dict(FER2013_TO_7)

# Plutchik's 8 (the `nade` comparator): no Neutral; trust and anticipation have no counterpart.
PLUTCHIK_TO_7: dict[str, str | None] = {
    "joy": "Happy", "sadness": "Sad", "anger": "Angry", "fear": "Fear", "surprise": "Surprise",
    "disgust": "Disgust", "trust": None, "anticipation": None,
}

# Chinese Weibo emotion sets (../shared/data/zh_text). SMP2020-EWECT has no Disgust and CLUEmotion2020
# no Neutral. CLUE's "like" (喜好, liking/fondness) has no class of its own among the 7: it is mapped to
# Happy, as GoEmotions' love and admiration are (emokit.labels.GOEMOTIONS_TO_7); override with
# {"like": None} to drop it. SMP's "happy" is 积极 (positive), broader than joy: Happy as well.
SMP2020_TO_7: dict[str, str | None] = {
    "happy": "Happy", "sad": "Sad", "angry": "Angry", "fear": "Fear", "surprise": "Surprise",
    "neutral": "Neutral",
}
CLUE_EMOTION_TO_7: dict[str, str | None] = {
    "happiness": "Happy", "sadness": "Sad", "anger": "Angry", "fear": "Fear", "surprise": "Surprise",
    "disgust": "Disgust", "like": "Happy",
}

LABEL_MAPS: dict[str, Mapping[str, str | None]] = {
    "goemotions": GOEMOTIONS_TO_7,
    "goemotions_ekman": GOEMOTIONS_EKMAN_TO_7,
    "meld": MELD_TO_7,
    "m3ed": M3ED_TO_7,
    "ravdess": RAVDESS_TO_7,
    "cremad": CREMAD_TO_7,
    "tess": TESS_TO_7,
    "savee": SAVEE_TO_7,
    "emodb": EMODB_TO_7,
    "emodb_names": EMODB_NAME_TO_7,
    "jl": JL_TO_7,
    "esd": ESD_TO_7,
    "iemocap": IEMOCAP_TO_7,
    "fer2013": FER2013_TO_7,
    "deepface": DEEPFACE_TO_7,
    "plutchik": PLUTCHIK_TO_7,
    "smp2020": SMP2020_TO_7,
    "clue_emotion": CLUE_EMOTION_TO_7,
}


class UnknownLabelError(ValueError):
    """A label that is not in the source's table at all (not the same as 'outside the 7')."""


def map_label(source: str, label: str, overrides: Mapping[str, str | None] | None = None) -> str | None:
    """Map one source label to one of the 7 classes, or ``None`` when it is outside them.

    ``overrides`` (source label -> class or None) lets a run keep e.g. EmoDB boredom as Neutral.
    Raises :class:`UnknownLabelError` for a label the table does not know.
    """
    table = LABEL_MAPS.get(source)
    if table is None:
        raise KeyError(f"no label map for source {source!r}; known: {sorted(LABEL_MAPS)}")
    if overrides and label in overrides:
        target = overrides[label]
    elif label in table:
        target = table[label]
    else:
        raise UnknownLabelError(f"{source}: unknown label {label!r}; known: {sorted(table)}")
    if target is not None and target not in INDEX7:
        raise ValueError(f"{source}: override maps {label!r} to {target!r}, not one of {LABELS7}")
    return target


@dataclass
class MappingReport:
    """What happened to each source label when a set was mapped: kept, dropped, unknown."""

    kept: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    unknown: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        parts = [f"kept {sum(self.kept.values())}"]
        if self.dropped:
            parts.append("dropped (outside the 7) " + ", ".join(f"{k}={v}" for k, v in self.dropped.most_common()))
        if self.unknown:
            parts.append("UNKNOWN " + ", ".join(f"{k}={v}" for k, v in self.unknown.most_common()))
        return "; ".join(parts)


def map_labels(
    source: str,
    labels: Iterable[str],
    overrides: Mapping[str, str | None] | None = None,
    strict: bool = True,
) -> tuple[list[str | None], MappingReport]:
    """Map many labels; returns the mapped list (None where dropped) and the counts.

    With ``strict`` an unknown label raises after counting all of them, so the error lists every
    unknown label with its count rather than only the first.
    """
    report = MappingReport()
    out: list[str | None] = []
    for label in labels:
        try:
            target = map_label(source, label, overrides)
        except UnknownLabelError:
            report.unknown[label] += 1
            out.append(None)
            continue
        if target is None:
            report.dropped[label] += 1
        else:
            report.kept[target] += 1
        out.append(target)
    if strict and report.unknown:
        raise UnknownLabelError(f"{source}: unknown labels with counts: {dict(report.unknown)}")
    return out, report


def sentiment_of(label: str, ambiguous: str | None = None) -> str | None:
    """The sentiment of one of the 7 classes; Surprise gives ``ambiguous`` (None by default)."""
    if label not in EMOTION_TO_SENTIMENT:
        raise ValueError(f"{label!r} is not one of {LABELS7}")
    s = EMOTION_TO_SENTIMENT[label]
    return ambiguous if s is None else s


def index_of(label: str) -> int:
    try:
        return INDEX7[label]
    except KeyError:
        raise ValueError(f"{label!r} is not one of {LABELS7}") from None


def reorder_probabilities(probs: Mapping[str, float], source: str) -> list[float]:
    """Turn a {source label: probability} dict into the canonical 7-vector.

    Mass on labels outside the 7 is dropped and the rest renormalised; classes the source lacks
    get 0. Raises when nothing of the 7 is left.
    """
    vec = [0.0] * len(LABELS7)
    for name, p in probs.items():
        target = map_label(source, name)
        if target is not None:
            vec[INDEX7[target]] += float(p)
    total = sum(vec)
    if total <= 0:
        raise ValueError(f"{source}: no probability mass on the 7 classes in {dict(probs)}")
    return [v / total for v in vec]
