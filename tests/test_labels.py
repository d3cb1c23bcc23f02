"""Every label map, exhaustively: each source label maps to one of the 7 or to None (outside)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from emokit import labels as L

REPO = Path(__file__).resolve().parent.parent

# The complete label vocabulary of every source, from each dataset's own documentation, with the
# class we expect (None = outside the 7, dropped by default and counted).
EXPECTED: dict[str, dict[str, str | None]] = {
    "meld": {"neutral": "Neutral", "joy": "Happy", "surprise": "Surprise", "anger": "Angry",
             "sadness": "Sad", "disgust": "Disgust", "fear": "Fear"},
    "m3ed": {"Happy": "Happy", "Neutral": "Neutral", "Sad": "Sad", "Disgust": "Disgust", "Anger": "Angry",
             "Fear": "Fear", "Surprise": "Surprise"},
    "ravdess": {"01": "Neutral", "02": None, "03": "Happy", "04": "Sad", "05": "Angry", "06": "Fear",
                "07": "Disgust", "08": "Surprise"},
    "cremad": {"ANG": "Angry", "DIS": "Disgust", "FEA": "Fear", "HAP": "Happy", "NEU": "Neutral", "SAD": "Sad"},
    "tess": {"angry": "Angry", "disgust": "Disgust", "fear": "Fear", "happy": "Happy", "neutral": "Neutral",
             "ps": "Surprise", "pleasant_surprise": "Surprise", "pleasant_surprised": "Surprise", "sad": "Sad"},
    "savee": {"a": "Angry", "d": "Disgust", "f": "Fear", "h": "Happy", "n": "Neutral", "sa": "Sad",
              "su": "Surprise"},
    "emodb": {"W": "Angry", "L": None, "E": "Disgust", "A": "Fear", "F": "Happy", "T": "Sad", "N": "Neutral"},
    "emodb_names": {"anger": "Angry", "boredom": None, "disgust": "Disgust", "fear": "Fear",
                    "happiness": "Happy", "sadness": "Sad", "neutral": "Neutral"},
    "jl": {"angry": "Angry", "sad": "Sad", "neutral": "Neutral", "happy": "Happy", "excited": "Happy",
           "anxious": None, "apologetic": None, "assertive": None, "concerned": None, "encouraging": None},
    "esd": {"Neutral": "Neutral", "Happy": "Happy", "Angry": "Angry", "Sad": "Sad", "Surprise": "Surprise"},
    "iemocap": {"neu": "Neutral", "hap": "Happy", "exc": "Happy", "sad": "Sad", "ang": "Angry", "fea": "Fear",
                "sur": "Surprise", "dis": "Disgust", "fru": None, "oth": None, "xxx": None},
    "fer2013": {"angry": "Angry", "disgust": "Disgust", "fear": "Fear", "happy": "Happy", "sad": "Sad",
                "surprise": "Surprise", "neutral": "Neutral"},
    "deepface": {"angry": "Angry", "disgust": "Disgust", "fear": "Fear", "happy": "Happy", "sad": "Sad",
                 "surprise": "Surprise", "neutral": "Neutral"},
    "goemotions_ekman": {"anger": "Angry", "disgust": "Disgust", "fear": "Fear", "joy": "Happy",
                         "neutral": "Neutral", "sadness": "Sad", "surprise": "Surprise"},
    "plutchik": {"joy": "Happy", "sadness": "Sad", "anger": "Angry", "fear": "Fear", "surprise": "Surprise",
                 "disgust": "Disgust", "trust": None, "anticipation": None},
    # ../shared/data/zh_text/SOURCE.md: SMP2020-EWECT has no Disgust; CLUEmotion2020 has no Neutral, and its
    # 'like' (喜好) has no counterpart: docs/02_text.md documents the decision to count it as Happy.
    "smp2020": {"happy": "Happy", "sad": "Sad", "angry": "Angry", "fear": "Fear", "surprise": "Surprise",
                "neutral": "Neutral"},
    "clue_emotion": {"happiness": "Happy", "sadness": "Sad", "anger": "Angry", "fear": "Fear",
                     "surprise": "Surprise", "disgust": "Disgust", "like": "Happy"},
}


def test_canonical_order():
    assert L.LABELS7 == ("Happy", "Sad", "Angry", "Fear", "Surprise", "Disgust", "Neutral")
    assert L.SENTIMENTS3 == ("Positive", "Negative", "Neutral")
    assert [L.index_of(x) for x in L.LABELS7] == list(range(7))
    with pytest.raises(ValueError):
        L.index_of("Calm")


def test_every_source_has_an_expected_table():
    assert set(L.LABEL_MAPS) == set(EXPECTED) | {"goemotions"}


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_map_is_exactly_the_documented_vocabulary(source):
    table = L.LABEL_MAPS[source]
    assert dict(table) == EXPECTED[source]
    for raw, target in table.items():
        assert target is None or target in L.LABELS7, (source, raw, target)
        assert L.map_label(source, raw) == target


@pytest.mark.parametrize("source", sorted(L.LABEL_MAPS))
def test_every_value_is_one_of_the_7_or_none(source):
    for raw, target in L.LABEL_MAPS[source].items():
        assert target is None or target in L.LABELS7, (source, raw, target)


def test_goemotions_28_all_covered_once():
    assert len(L.GOEMOTIONS28) == 28 and len(set(L.GOEMOTIONS28)) == 28
    assert set(L.GOEMOTIONS_TO_7) == set(L.GOEMOTIONS28)
    assert all(v in L.LABELS7 for v in L.GOEMOTIONS_TO_7.values())
    # each of the 7 gets at least one GoEmotions label
    assert set(L.GOEMOTIONS_TO_7.values()) == set(L.LABELS7)
    # named and decided labels do not overlap
    named = {s for srcs in L.GOEMOTIONS_REPORT_NAMED.values() for s in srcs}
    assert not named & set(L.GOEMOTIONS_DECISIONS)
    assert named | set(L.GOEMOTIONS_DECISIONS) == set(L.GOEMOTIONS28)


def test_report_named_members_are_where_the_report_puts_them():
    ref = yaml.safe_load((REPO / "reference" / "reference_numbers.yaml").read_text(encoding="utf-8"))
    mapping = ref["text"]["mapping"]
    for target, members in mapping.items():
        named = [m for m in members if m != "..."]
        assert tuple(named) == L.GOEMOTIONS_REPORT_NAMED[target], target
        for m in named:
            assert L.map_label("goemotions", m) == target, m
    # the report closes Disgust and Neutral (no "等"): nothing else may join them
    assert [k for k, v in L.GOEMOTIONS_TO_7.items() if v == "Disgust"] == ["disgust"]
    assert [k for k, v in L.GOEMOTIONS_TO_7.items() if v == "Neutral"] == ["neutral"]


def test_goemotions_decisions_agree_with_official_ekman_mapping(shared_data):
    ekman = json.loads((shared_data / "goemotions" / "ekman_mapping.json").read_text(encoding="utf-8"))
    for group, members in ekman.items():
        for m in members:
            assert L.map_label("goemotions", m) == L.GOEMOTIONS_EKMAN_TO_7[group], m
    assert {m for ms in ekman.values() for m in ms} | {"neutral"} == set(L.GOEMOTIONS28)


def test_unknown_label_raises_and_overrides_apply():
    with pytest.raises(L.UnknownLabelError, match="boredom"):
        L.map_label("ravdess", "boredom")
    with pytest.raises(KeyError, match="no label map"):
        L.map_label("nosuchsource", "x")
    assert L.map_label("emodb", "L") is None
    assert L.map_label("emodb", "L", {"L": "Neutral"}) == "Neutral"
    assert L.map_label("iemocap", "fru", {"fru": "Angry"}) == "Angry"
    assert L.map_label("meld", "joy", {"joy": None}) is None
    with pytest.raises(ValueError, match="not one of"):
        L.map_label("emodb", "L", {"L": "Bored"})


def test_map_labels_counts_kept_dropped_unknown():
    out, rep = L.map_labels("ravdess", ["01", "02", "02", "05", "99"], strict=False)
    assert out == ["Neutral", None, None, "Angry", None]
    assert rep.kept == {"Neutral": 1, "Angry": 1}
    assert rep.dropped == {"02": 2}
    assert rep.unknown == {"99": 1}
    assert "UNKNOWN 99=1" in rep.summary() and "02=2" in rep.summary()
    with pytest.raises(L.UnknownLabelError, match=r"'99': 2"):
        L.map_labels("ravdess", ["99", "01", "99"])


def test_sentiments():
    assert L.sentiment_of("Happy") == "Positive"
    assert L.sentiment_of("Neutral") == "Neutral"
    for x in ("Sad", "Angry", "Fear", "Disgust"):
        assert L.sentiment_of(x) == "Negative"
    assert L.sentiment_of("Surprise") is None
    assert L.sentiment_of("Surprise", ambiguous="Neutral") == "Neutral"
    assert set(L.MELD_SENTIMENT_TO_3.values()) == set(L.SENTIMENTS3)
    with pytest.raises(ValueError):
        L.sentiment_of("Calm")


def test_reorder_probabilities_to_canonical_order():
    probs = {"angry": 0.1, "disgust": 0.0, "fear": 0.1, "happy": 0.5, "sad": 0.1, "surprise": 0.1, "neutral": 0.1}
    vec = L.reorder_probabilities(probs, "deepface")
    assert vec == pytest.approx([0.5, 0.1, 0.1, 0.1, 0.1, 0.0, 0.1])
    # mass outside the 7 is dropped and the rest renormalised
    vec = L.reorder_probabilities({"trust": 0.5, "joy": 0.25, "fear": 0.25}, "plutchik")
    assert vec == pytest.approx([0.5, 0, 0, 0.5, 0, 0, 0])
    with pytest.raises(ValueError, match="no probability mass"):
        L.reorder_probabilities({"trust": 1.0}, "plutchik")
