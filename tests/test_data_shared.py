"""Integration: the readers on the real subsets in ../shared/data give exactly the documented counts."""
from __future__ import annotations

from collections import Counter

import pytest

from emokit.data import (check_group_disjoint, read_corpus, read_emodb, read_fer2013_folders, read_goemotions,
                         read_m3ed_splits, read_meld, read_ravdess, speaker_independent_split)
from emokit.data.inventory import cap_for_total, goemotions_cleanings, inventory


def test_ravdess_238_balanced(shared_data):
    recs, rep = read_ravdess(shared_data)
    assert len(recs) == 238
    assert Counter(r.label for r in recs) == {k: 34 for k in ("Happy", "Sad", "Angry", "Fear", "Surprise",
                                                               "Disgust", "Neutral")}
    assert len({r.group for r in recs}) == 17 and not rep.dropped and not rep.unknown


def test_emodb_378_raw_325_kept(shared_data):
    recs, rep = read_emodb(shared_data, keep_dropped=True)
    assert len(recs) == 378
    recs, rep = read_emodb(shared_data)
    assert len(recs) == 325 and rep.dropped == {"L": 53}
    assert Counter(r.label for r in recs) == {"Angry": 93, "Disgust": 37, "Fear": 48, "Happy": 46,
                                              "Neutral": 56, "Sad": 45}
    assert {r.group for r in recs} == {f"emodb-{s}" for s in ("03", "09", "11", "12", "14", "15", "16")}


def test_fer_1050(shared_data):
    recs, _ = read_fer2013_folders(shared_data)
    assert len(recs) == 1050 and set(Counter(r.label for r in recs).values()) == {150}


def test_meld_counts(shared_data):
    recs, rep = read_meld(shared_data, "test")
    assert len(recs) == 2610
    assert rep.kept == {"Neutral": 1256, "Happy": 402, "Angry": 345, "Surprise": 281, "Sad": 208,
                        "Disgust": 68, "Fear": 50}
    assert len({r.group for r in recs}) == 280
    recs, _ = read_corpus("meld", shared_data)
    assert Counter(r.split for r in recs) == {"train": 9989, "dev": 1109, "test": 2610}
    check_group_disjoint(recs)  # official split, dialogue groups (split in the group name)


def test_goemotions_single_label(shared_data):
    recs, rep = read_goemotions(shared_data, "train")
    assert len(recs) == 36308 and rep.dropped == {"<multi-label>": 43410 - 36308}
    recs, _ = read_corpus("goemotions", shared_data)
    assert len(recs) == 45446
    assert Counter(r.label for r in recs) == {"Happy": 16191, "Neutral": 16021, "Angry": 4883, "Surprise": 4437,
                                              "Sad": 2621, "Fear": 658, "Disgust": 635}


def test_goemotions_cleanings_none_hits_18098(shared_data):
    df = goemotions_cleanings(shared_data)
    row = df[(df.cleaning == "single_label") & (df.splits == "all")].iloc[0]
    assert row["rows"] == 45446
    assert df[(df.cleaning == "single_label") & (df.splits == "train")].iloc[0]["rows"] == 36308
    assert df[(df.cleaning == "single_after_map") & (df.splits == "all")].iloc[0]["rows"] == 49469
    assert 18098 not in set(df["rows"])
    counts = {k: int(row[k]) for k in ("Happy", "Sad", "Angry", "Fear", "Surprise", "Disgust", "Neutral")}
    # a per-class cap can be tuned to any total: 3546 lands on 18,098 (arithmetic, not the report's rule)
    assert cap_for_total(counts, 18098) == 3546
    assert sum(min(c, 3546) for c in counts.values()) == 18098
    assert cap_for_total({"a": 10, "b": 3}, 9) == 6 and cap_for_total({"a": 10, "b": 3}, 14) is None


def test_m3ed_split_lists_only(shared_data):
    sp = read_m3ed_splits(shared_data)
    assert (len(sp["train"]), len(sp["val"]), len(sp["test"])) == (38, 7, 11)
    status = {c.name: c for c in inventory(shared_data, ["m3ed", "ravdess", "cremad"])}
    assert status["m3ed"].status == "unlabelled" and status["cremad"].status == "missing"
    assert status["ravdess"].status == "ok" and len(status["ravdess"].records) == 238


def test_speaker_split_on_ravdess(shared_data):
    recs, _ = read_ravdess(shared_data)
    out = speaker_independent_split(recs, (0.7, 0.15, 0.15), seed=42)
    check_group_disjoint(out)
    n = Counter(r.split for r in out)
    assert n["train"] == pytest.approx(0.7 * 238, abs=30)
