"""The reproduction scorecard: the report's numbers beside this run's.

Rows come from ``reference/scorecard/<chapter>.yaml`` (one file per chapter, written by the chapter)::

    rows:
      - id: text.stage2.accuracy                 # unique across all files
        what: "Text: stage 2 (RoBERTa-large) test accuracy"
        reference: 0.8806                        # the report's number, or a string claim
        reference_key: text.runs[1].accuracy     # where in reference/reference_numbers.yaml
        chapter: 02_text
        metric: test.accuracy                    # key in artifacts/<chapter>/metrics.json
        note: "why the demo differs"             # shown with "not yet" and beside the number
        tolerance: 0.05                          # optional: |run - reference| within it counts as reproduced
        data: "GoEmotions subset, 2,000 test rows"  # optional: which data the number came from

This run's side is read only from files the pipeline wrote: ``artifacts/<chapter>/metrics.json`` and
``artifacts/<chapter>/run.json``. A missing chapter gives ``not run``; a chapter that ran without the
metric gives ``not yet``. Reference numbers that no row claims are listed too, so the scorecard shows
every number of ``reference_numbers.yaml``.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..pipeline import CHAPTERS

ROW_FIELDS = ("id", "what", "reference", "reference_key", "chapter", "metric", "note", "tolerance", "data")
REQUIRED = ("id", "what", "chapter", "metric")


class ScorecardError(ValueError):
    """A scorecard file that is malformed (the message names the file and the row)."""


@dataclass
class ChapterRun:
    """What the pipeline left for one chapter under the artifacts root."""

    chapter: str
    state: str  # "ok", "incomplete" (no metrics.json), "failed", "not run"
    metrics: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    notebook: Path | None = None
    detail: str = ""

    @property
    def profile(self) -> str | None:
        p = self.run.get("profile")
        if p and self.run.get("smoke"):
            return f"{p} (smoke)"
        return p


@dataclass
class ScoreRow:
    id: str
    what: str
    chapter: str
    metric: str
    reference: Any = None
    reference_key: str | None = None
    note: str = ""
    tolerance: float | None = None
    data: str = ""
    source_file: str = ""
    # filled in from the run
    value: Any = None
    status: str = "not run"  # "reproduced", "measured", "not yet", "not run", "failed"
    difference: float | None = None
    relative: float | None = None
    profile: str | None = None
    data_root: str | None = None
    reference_check: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def display_value(self) -> str:
        if self.value is None and self.status in ("not run", "failed"):
            return self.status
        if self.value is None:
            return f"not yet — {self.note}" if self.note else "not yet"
        return fmt(self.value)


def fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10000 else str(v)
    if isinstance(v, float):
        if v == int(v) and abs(v) >= 100:
            return f"{int(v):,}"
        return f"{v:.4f}".rstrip("0").rstrip(".") if abs(v) < 100 else f"{v:,.1f}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def fmt_diff(d: float | None) -> str:
    """Signed difference: counts with thousands separators, fractions with 4 significant digits."""
    if d is None:
        return ""
    if abs(d) >= 1000 or (d == int(d) and abs(d) >= 10):
        return f"{d:+,.0f}"
    return f"{d:+.4g}"


# ---------------------------------------------------------------- reference numbers
_TOKEN = re.compile(r"""\.?([A-Za-z_][\w-]*)|\[(\d+)\]|\[["']([^"']+)["']\]""")


def resolve_key(data: Any, key: str) -> Any:
    """Follow ``text.runs[1].accuracy`` or ``audio.v3_grid.best_val_accuracy["1e-4/32/0.1"]``.

    A trailing comment in parentheses (``audio.v3_grid.best_val_accuracy (7 cells at 0.2563)``, for a
    number the row derives from that part of the file) is ignored. Raises KeyError naming the part
    that is missing.
    """
    key = strip_comment(key)
    pos, cur = 0, data
    while pos < len(key):
        m = _TOKEN.match(key, pos)
        if not m:
            raise KeyError(f"{key!r}: cannot parse at {key[pos:]!r}")
        name, idx, quoted = m.groups()
        try:
            if idx is not None:
                cur = cur[int(idx)]
            else:
                cur = cur[name if name is not None else quoted]
        except (KeyError, IndexError, TypeError):
            raise KeyError(f"{key!r}: no {key[:m.end()]!r} in reference_numbers.yaml") from None
        pos = m.end()
    return cur


def strip_comment(key: str) -> str:
    return re.sub(r"\s+\(.*\)\s*$", "", key.strip())


def reference_leaves(data: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Every number in the reference file, with its key (strings and label lists are not numbers)."""
    if isinstance(data, dict):
        for k, v in data.items():
            ks = str(k)
            part = f'["{ks}"]' if not re.fullmatch(r"[A-Za-z_][\w-]*", ks) else (f".{ks}" if prefix else ks)
            yield from reference_leaves(v, prefix + part)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from reference_leaves(v, f"{prefix}[{i}]")
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        yield prefix, data


# ---------------------------------------------------------------- loading
def load_rows(scorecard_dir: Path) -> list[ScoreRow]:
    rows: list[ScoreRow] = []
    seen: dict[str, str] = {}
    for path in sorted(Path(scorecard_dir).glob("*.y*ml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ScorecardError(f"{path}: not valid YAML: {exc}") from exc
        items = doc.get("rows", []) if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise ScorecardError(f"{path}: expected a mapping with a 'rows' list")
        for i, item in enumerate(items):
            where = f"{path.name} row {i + 1}"
            if not isinstance(item, dict):
                raise ScorecardError(f"{where}: expected a mapping, got {type(item).__name__}")
            missing = [k for k in REQUIRED if not item.get(k)]
            if missing:
                raise ScorecardError(f"{where}: missing {', '.join(missing)} (needs {', '.join(REQUIRED)})")
            unknown = set(item) - set(ROW_FIELDS)
            if unknown:
                raise ScorecardError(f"{where}: unknown fields {sorted(unknown)}; allowed: {', '.join(ROW_FIELDS)}")
            if item["chapter"] not in CHAPTERS:
                raise ScorecardError(f"{where}: chapter {item['chapter']!r} is not one of {CHAPTERS}")
            if item["id"] in seen:
                raise ScorecardError(f"{where}: id {item['id']!r} already used in {seen[item['id']]}")
            seen[item["id"]] = path.name
            tol = item.get("tolerance")
            rows.append(ScoreRow(
                id=str(item["id"]), what=str(item["what"]), chapter=item["chapter"], metric=str(item["metric"]),
                reference=item.get("reference"), reference_key=item.get("reference_key"),
                note=str(item.get("note") or ""), tolerance=float(tol) if tol is not None else None,
                data=str(item.get("data") or ""), source_file=path.name))
    return rows


def load_chapter(chapter: str, artifacts: Path) -> ChapterRun:
    d = Path(artifacts) / chapter
    if not d.is_dir():
        return ChapterRun(chapter, "not run", detail=f"{d} does not exist")
    run: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    detail = []
    try:
        if (d / "run.json").exists():
            run = json.loads((d / "run.json").read_text())
    except json.JSONDecodeError as exc:
        detail.append(f"run.json unreadable: {exc}")
    try:
        if (d / "metrics.json").exists():
            metrics = json.loads((d / "metrics.json").read_text())
        else:
            detail.append("no metrics.json")
    except json.JSONDecodeError as exc:
        detail.append(f"metrics.json unreadable: {exc}")
    nb = d / f"{chapter}.ipynb"
    state = "ok"
    if run.get("status") == "failed":
        state = "failed"
        detail.append(run.get("error") or "the notebook raised")
    elif not nb.exists():
        detail.append("no executed notebook")
        if not metrics:
            state = "not run"
    elif _papermill_failed(nb):
        state = "failed"
        detail.append("a cell of the executed notebook raised")
    elif not metrics:
        state = "incomplete"
    if not run and state != "not run":
        detail.append("no run.json (not written by the pipeline runner, or still running)")
    return ChapterRun(chapter, state, metrics, run, nb if nb.exists() else None, "; ".join(detail))


def _papermill_failed(nb_path: Path) -> bool:
    try:
        meta = json.loads(nb_path.read_text(encoding="utf-8")).get("metadata", {})
    except (json.JSONDecodeError, OSError):
        return True
    return bool(meta.get("papermill", {}).get("exception"))


# ---------------------------------------------------------------- scoring
def score(rows: list[ScoreRow], runs: dict[str, ChapterRun], reference: dict[str, Any]) -> list[ScoreRow]:
    for row in rows:
        # the report's side: the row's own number, checked against reference_numbers.yaml
        if row.reference_key:
            try:
                ref = resolve_key(reference, row.reference_key)
                if row.reference is None:
                    row.reference = ref
                elif _num(row.reference) is not None and _num(ref) is not None:
                    if not math.isclose(_num(row.reference), _num(ref), rel_tol=1e-9, abs_tol=1e-12):
                        row.reference_check = f"row says {fmt(row.reference)}, reference_numbers.yaml says {fmt(ref)}"
                elif _num(ref) is not None:  # the report has a number there; the row must copy it
                    row.reference_check = f"row says {row.reference!r}, reference_numbers.yaml says {fmt(ref)}"
                # a string claim may paraphrase the report's words: not checked
            except KeyError as exc:
                row.reference_check = str(exc).strip("'\"")
        run = runs.get(row.chapter) or ChapterRun(row.chapter, "not run")
        row.profile = run.profile
        row.data_root = run.run.get("data_root")
        if run.state == "not run":
            row.status = "not run"
            continue
        if run.state == "failed":
            row.status = "failed"
        value = run.metrics.get(row.metric)
        row.value = value
        if value is None:
            row.status = "failed" if run.state == "failed" else "not yet"
            continue
        if run.state != "failed":
            row.status = "measured"
        a, b = _num(value), _num(row.reference)
        if a is not None and b is not None:
            row.difference = a - b
            row.relative = (a - b) / abs(b) if b else None
            if row.tolerance is not None and abs(a - b) <= row.tolerance and run.state != "failed":
                row.status = "reproduced"
    return rows


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    return None


def unclaimed_reference_numbers(rows: list[ScoreRow], reference: dict[str, Any]) -> list[tuple[str, Any]]:
    """Numbers of reference_numbers.yaml that no scorecard row points at (via reference_key)."""
    claimed = {_norm_key(r.reference_key) for r in rows if r.reference_key}
    out = []
    for key, value in reference_leaves(reference):
        nk = _norm_key(key)
        if nk in claimed or any(nk.startswith(c + ".") or nk.startswith(c + "[") for c in claimed):
            continue
        out.append((key, value))
    return out


# Keys of reference_numbers.yaml that hold the report's *settings* (inputs of a run, e.g. a learning
# rate), not results: listed apart, since a run copies them through params/ rather than measuring them.
SETTING_WORDS = {"stage", "lr", "learning_rate", "weight_decay", "epochs", "batch", "batch_size", "grad_accum",
                 "warmup", "max_len", "seed", "label_smoothing", "grid_step", "input_shape", "projection_dim",
                 "aux_loss_weight", "regularisation_change", "feature_dims", "frames_per_video", "vision_dim"}


def is_setting(key: str) -> bool:
    return any(tok in SETTING_WORDS for tok in re.findall(r"[A-Za-z_][\w-]*", strip_comment(key)))


def _norm_key(key: str) -> str:
    return re.sub(r"\[['\"]([^'\"]+)['\"]\]", r'["\1"]', strip_comment(key))


# ---------------------------------------------------------------- writing
CSV_COLUMNS = ("id", "what", "chapter", "metric", "reference", "value", "difference", "relative",
               "status", "profile", "data_root", "data", "note", "reference_key", "reference_check")


def write_csv(rows: list[ScoreRow], path: Path) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            d = r.to_dict()
            w.writerow(["" if d.get(c) is None else (json.dumps(d[c], ensure_ascii=False)
                                                     if isinstance(d[c], (list, dict)) else d[c])
                        for c in CSV_COLUMNS])
    return path


def _md_cell(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: list[ScoreRow], runs: dict[str, ChapterRun],
                unclaimed: list[tuple[str, Any]]) -> str:
    lines = ["# Reproduction scorecard", "",
             "| what | report | this run | difference | status | profile | data | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        diff = fmt_diff(r.difference)
        data = r.data or (r.data_root or "")
        note = r.note + (f" [reference check: {r.reference_check}]" if r.reference_check else "")
        lines.append("| " + " | ".join(_md_cell(x) for x in (
            r.what, fmt(r.reference), r.display_value, diff, r.status, r.profile or "", data, note)) + " |")
    lines += ["", "## Chapters", "", "| chapter | state | profile | wall time (s) | data root | detail |",
              "|---|---|---|---|---|---|"]
    for ch in CHAPTERS:
        run = runs.get(ch) or ChapterRun(ch, "not run")
        lines.append("| " + " | ".join(_md_cell(x) for x in (
            ch, run.state, run.profile or "", fmt(run.run.get("wall_time_s")), run.run.get("data_root") or "",
            run.detail)) + " |")
    results = [(k, v) for k, v in unclaimed if not is_setting(k)]
    settings = [(k, v) for k, v in unclaimed if is_setting(k)]
    for title, items in ((f"Report results without a scorecard row yet ({len(results)}): not yet", results),
                         (f"Report settings (run inputs, copied through params/, not measured) ({len(settings)})",
                          settings)):
        if items:
            lines += ["", f"## {title}", "", "| reference key | report |", "|---|---|"]
            lines += [f"| `{_md_cell(k)}` | {_md_cell(fmt(v))} |" for k, v in items]
    return "\n".join(lines) + "\n"
