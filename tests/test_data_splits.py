"""speaker_independent_split: no group in two splits, fractions roughly met, deterministic."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from emokit.artifacts import read_splits, write_splits
from emokit.data import DataError, check_group_disjoint, speaker_independent_split
from emokit.labels import LABELS7
from emokit.types import Record


def make(n_groups=24, per_group=(5, 30), seed=0):
    rng = random.Random(seed)
    out = []
    for g in range(n_groups):
        for i in range(rng.randint(*per_group)):
            out.append(Record(input=f"g{g}_{i}.wav", label=rng.choice(LABELS7), source="toy", group=f"spk{g}"))
    return out


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_group_in_two_splits_and_fractions(seed):
    recs = make(seed=seed)
    out = speaker_independent_split(recs, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=seed)
    assert len(out) == len(recs) and [r.input for r in out] == [r.input for r in recs]
    check_group_disjoint(out)
    share = {k: v / len(out) for k, v in Counter(r.split for r in out).items()}
    assert set(share) == {"train", "val", "test"}
    assert share["train"] == pytest.approx(0.7, abs=0.08)
    assert share["test"] == pytest.approx(0.15, abs=0.08)
    assert all(r.split is None for r in recs)  # inputs untouched


def test_deterministic_and_seed_dependent():
    recs = make()
    a = [r.split for r in speaker_independent_split(recs, (0.8, 0.1, 0.1), seed=3)]
    b = [r.split for r in speaker_independent_split(recs, (0.8, 0.1, 0.1), seed=3)]
    c = [r.split for r in speaker_independent_split(recs, (0.8, 0.1, 0.1), seed=4)]
    assert a == b and a != c


def test_few_groups_still_fill_every_split_or_fail_clearly():
    recs = make(n_groups=3)
    out = speaker_independent_split(recs, (0.8, 0.1, 0.1))
    assert {r.split for r in out} == {"train", "val", "test"}
    check_group_disjoint(out)
    with pytest.raises(DataError, match="2 groups cannot fill 3 splits"):
        speaker_independent_split(make(n_groups=2), (0.8, 0.1, 0.1))
    with pytest.raises(ValueError):
        speaker_independent_split(recs, {"train": -1, "test": 1})


def test_check_group_disjoint_catches_leaks():
    a = Record("a", "Happy", "toy", "spk1", split="train")
    b = Record("b", "Sad", "toy", "spk1", split="test")
    with pytest.raises(DataError, match="'spk1' is in two splits"):
        check_group_disjoint([a, b])
    with pytest.raises(DataError, match="has no split"):
        check_group_disjoint([Record("c", "Sad", "toy", "spk2")])


def test_splits_csv_roundtrip(tmp_path):
    out = speaker_independent_split(make(n_groups=5), (0.6, 0.2, 0.2))
    path = tmp_path / "x" / "splits.csv"
    assert write_splits(path, out) == len(out)
    assert path.read_text().splitlines()[0] == "input,label,source,group,split"
    back = read_splits(path)
    assert [(r.input, r.label, r.group, r.split) for r in back] == [(r.input, r.label, r.group, r.split) for r in out]
    (tmp_path / "bad.csv").write_text("input,label\nx,Happy\n")
    with pytest.raises(DataError, match="missing columns"):
        read_splits(tmp_path / "bad.csv")
