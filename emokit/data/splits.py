"""Group-disjoint (speaker-independent) splits (``splits.csv`` itself: :mod:`emokit.artifacts`).

:func:`speaker_independent_split` assigns whole groups (``Record.group``: speaker, actor, dialogue)
to splits, so no group is ever in two splits. It is deterministic for a seed, and tries to reach
the requested fractions in *records* (groups differ in size), optionally per label.
"""
from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import replace
from typing import Iterable, Mapping, Sequence

from ..types import Record
from .readers import DataError

def _normalise(fractions: Mapping[str, float] | Sequence[float]) -> dict[str, float]:
    if not isinstance(fractions, Mapping):
        fractions = list(fractions)
        names = ("train", "val", "test")[: len(fractions)] if len(fractions) <= 3 else None
        if names is None:
            raise ValueError(f"give fractions as a mapping name -> fraction; got {fractions}")
        fractions = dict(zip(names, fractions))
    if not fractions or any(v < 0 for v in fractions.values()) or sum(fractions.values()) <= 0:
        raise ValueError(f"fractions must be non-negative and sum to more than 0, got {dict(fractions)}")
    total = float(sum(fractions.values()))
    return {k: v / total for k, v in fractions.items()}


def speaker_independent_split(records: Iterable[Record],
                              fractions: Mapping[str, float] | Sequence[float] = (0.8, 0.1, 0.1),
                              seed: int = 42, stratify: bool = True) -> list[Record]:
    """Copies of ``records`` with ``split`` set so that no ``group`` lies in two splits.

    Groups are visited in a seeded random order, largest first within ties broken by that order,
    and each goes to the split that is furthest below its target share (by record count, and with
    ``stratify`` by per-label counts too). Every split with a positive fraction gets at least one
    group when there are enough groups. Raises :class:`DataError` when there are fewer groups than
    splits with a positive fraction.
    """
    records = list(records)
    frac = _normalise(fractions)
    wanted = [k for k, v in frac.items() if v > 0]
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_group[r.group].append(i)
    if len(by_group) < len(wanted):
        raise DataError(f"{len(by_group)} groups cannot fill {len(wanted)} splits {wanted} without sharing a group")
    rng = random.Random(seed)
    groups = sorted(by_group)
    rng.shuffle(groups)
    groups.sort(key=lambda g: -len(by_group[g]))  # stable: size first, seeded order within a size

    n = len(records)
    label_totals = Counter(r.label for r in records)
    have = {k: 0 for k in frac}
    have_label = {k: Counter() for k in frac}
    assign: dict[str, str] = {}
    # first make sure every wanted split gets one group (the smallest ones, to disturb little)
    for name, g in zip(sorted(wanted, key=lambda k: frac[k]), reversed(groups)):
        assign[g] = name
    for g in groups:
        labels = Counter(records[i].label for i in by_group[g])
        if g not in assign:
            def deficit(name: str) -> float:
                d = frac[name] - have[name] / n
                if stratify:
                    d += sum(c * (frac[name] - have_label[name][lab] / label_totals[lab])
                             for lab, c in labels.items()) / max(1, sum(labels.values()))
                return d

            assign[g] = max(wanted, key=lambda k: (deficit(k), frac[k]))
        have[assign[g]] += len(by_group[g])
        have_label[assign[g]].update(labels)
    return [replace(r, split=assign[r.group], extra=dict(r.extra)) for r in records]


def check_group_disjoint(records: Iterable[Record]) -> None:
    """Raise :class:`DataError` when a group appears in more than one split (or a split is unset)."""
    seen: dict[str, str | None] = {}
    for r in records:
        if r.split is None:
            raise DataError(f"{r.source}: record {r.input!r} has no split")
        prev = seen.setdefault(r.group, r.split)
        if prev != r.split:
            raise DataError(f"group {r.group!r} is in two splits ({prev!r} and {r.split!r}), e.g. {r.input!r}")
