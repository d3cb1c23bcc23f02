"""The one artifact layer: ``splits.csv``, ``model_card.json``, ``best.json`` and the machine description.

- **splits** — :func:`write_splits` ``(path, records)`` / :func:`read_splits` ``(path)``: one CSV
  (``input,label,source,group,split``); every modality chapter writes it, fusion and the chat demo read it.
  ``records`` is an iterable of :class:`~emokit.types.Record` whose ``split`` is set, or a mapping
  ``{split name: records}``.
- **model card** — :func:`write_card` / :func:`read_card` / :func:`update_card`: one schema
  (:data:`CARD_FIELDS`) for every saved model of every chapter. The writer fills ``labels``,
  ``machine`` and ``schema``; the reader refuses a folder without a card, or a card without ``kind``.
- **best model** — :func:`choose_best` picks by a **validation** key only (a ``test.`` key is
  refused: the test split stays untouched while choosing); :func:`write_best` / :func:`read_best`
  keep the choice in ``<models_dir>/best.json`` in one schema (:data:`BEST_FIELDS`).
- **machine** — :func:`machine_info`: what every model card and every benchmark result records.
"""
from __future__ import annotations

import csv
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .labels import LABELS7
from .types import Record

SPLITS_COLUMNS = ["input", "label", "source", "group", "split"]

CARD_SCHEMA = 1
# Every model card has these keys (the writer fills defaults for those not given).
CARD_FIELDS = ("schema", "name", "kind", "labels", "profile", "data", "params", "metrics", "wall_time_s", "machine")
BEST_FIELDS = ("chosen", "path", "selected_by", "value", "candidates", "reason")


class ArtifactError(ValueError):
    """A chapter artifact is missing or malformed (the message names the file)."""


# --------------------------------------------------------------------------- json
def _jd(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def write_json(path: str | Path, obj: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=_jd), encoding="utf-8")
    return path


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from None


# --------------------------------------------------------------------------- splits
def write_splits(path: str | Path, records: Iterable[Record] | Mapping[str, Iterable[Record]]) -> int:
    """Write ``splits.csv``: which example went where. Returns the number of rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(records, Mapping):
        rows = [(r, split) for split, recs in records.items() for r in recs]
    else:
        rows = [(r, r.split) for r in records]
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SPLITS_COLUMNS)
        for r, split in rows:
            w.writerow([r.input, r.label if r.label is not None else "", r.source, r.group, split or ""])
    return len(rows)


def read_splits(path: str | Path, splits: Sequence[str] | None = None) -> list[Record]:
    """Records of a ``splits.csv`` (``extra`` empty), only those whose split is in ``splits`` if given."""
    from .data.readers import DataError

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: splits.csv not found")
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in SPLITS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing columns {missing}; expected {SPLITS_COLUMNS}")
        for lineno, row in enumerate(reader, start=2):
            if splits is not None and row["split"] not in splits:
                continue
            try:
                out.append(Record(input=row["input"], label=row["label"] or None, source=row["source"],
                                  group=row["group"], split=row["split"] or None))
            except ValueError as exc:
                raise DataError(f"{path}, row {lineno}: {exc}") from None
    return out


# --------------------------------------------------------------------------- model cards
def make_card(card: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """``card`` completed to the schema: every key of :data:`CARD_FIELDS` present."""
    out = dict(card)
    if not out.get("kind"):
        raise ArtifactError(f"model card {out.get('name', name)!r} has no 'kind'")
    out.setdefault("name", name)
    out.setdefault("labels", list(LABELS7))
    out.setdefault("profile", None)
    out.setdefault("data", {})
    out.setdefault("params", {})
    out.setdefault("metrics", {})
    out.setdefault("wall_time_s", None)
    out.setdefault("machine", machine_info(brief=True))
    out["schema"] = CARD_SCHEMA
    return {**{k: out[k] for k in CARD_FIELDS}, **{k: v for k, v in out.items() if k not in CARD_FIELDS}}


def write_card(folder: str | Path, card: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``<folder>/model_card.json`` in the one schema; returns the card as written."""
    folder = Path(folder)
    full = make_card(card, name=folder.name)
    write_json(folder / "model_card.json", full)
    return full


def read_card(folder: str | Path) -> dict[str, Any]:
    """The card of a model folder; a clear error when the folder holds none."""
    path = Path(folder) / "model_card.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no model_card.json (not a model folder)")
    card = read_json(path)
    if not isinstance(card, dict) or "kind" not in card:
        raise ArtifactError(f"{path}: a model card needs a 'kind'")
    return card


def update_card(folder: str | Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into a saved card (dicts merged one level deep, e.g. test metrics)."""
    card = read_card(folder)
    for k, v in fields.items():
        if isinstance(v, Mapping) and isinstance(card.get(k), dict):
            card[k].update(v)
        else:
            card[k] = v
    write_json(Path(folder) / "model_card.json", card)
    return card


# --------------------------------------------------------------------------- best model
def choose_best(scores: Mapping[str, Mapping[str, Any] | float], key: str) -> str:
    """The name with the highest ``key`` among ``scores`` (``{name: metrics dict}`` or
    ``{name: value}``); ties go to the first in order. Only validation keys are allowed."""
    if not (key.startswith("val.") or key.startswith("val_") or key == "val"):
        raise ValueError(f"models are chosen on validation only: {key!r} is not a validation key (val.…)")
    if not scores:
        raise ValueError("no candidate to choose from")
    best, best_v = None, None
    for name, m in scores.items():
        v = m if isinstance(m, (int, float)) else m[key]
        if best_v is None or float(v) > best_v:
            best, best_v = name, float(v)
    return best  # type: ignore[return-value]


def write_best(models_dir: str | Path, chosen: str, selected_by: str, candidates: Mapping[str, float],
               path: str | None = None, reason: str = "", **extra: Any) -> dict[str, Any]:
    """Write ``<models_dir>/best.json``: ``chosen`` (a name), ``path`` (its folder under
    ``models_dir``, or None for a model that needs no folder), the key and value it won by, every
    candidate's value, a sentence of ``reason``, and any ``extra`` fields."""
    if chosen not in candidates:
        raise ValueError(f"best model {chosen!r} is not among the candidates {sorted(candidates)}")
    info = {"chosen": chosen, "path": path, "selected_by": selected_by, "value": float(candidates[chosen]),
            "candidates": {k: float(v) for k, v in candidates.items()},
            "reason": reason or f"highest {selected_by} among {sorted(candidates)}", **extra}
    write_json(Path(models_dir) / "best.json", info)
    return info


def read_best(models_dir: str | Path) -> dict[str, Any] | None:
    """``<models_dir>/best.json`` (None when absent); an error naming the file when malformed."""
    path = Path(models_dir) / "best.json"
    if not path.is_file():
        return None
    info = read_json(path)
    missing = [k for k in BEST_FIELDS if not isinstance(info, dict) or k not in info]
    if missing:
        raise ArtifactError(f"{path}: missing {missing} (expected the fields {list(BEST_FIELDS)}); "
                            "re-run the chapter that writes it")
    return info


# --------------------------------------------------------------------------- machine
def _cpu_model() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def machine_info(brief: bool = False) -> dict[str, Any]:
    """nproc, CPU model, memory, Python/torch versions, GPU, load: what model cards and benchmark
    results record. ``brief`` leaves out what changes from minute to minute (load, time)."""
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    info: dict[str, Any] = {"nproc": os.cpu_count(), "cpu_model": _cpu_model(), "mem_gb": mem_gb,
                            "python": platform.python_version(), "platform": platform.platform(), "torch": None}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    if not brief:
        load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
        info.update({"load_avg_1m": load[0] if load else None, "load_average_1_5_15": load,
                     "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return info
