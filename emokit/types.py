"""The two records every room of the house exchanges: a data Record and a Prediction."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Sequence

from .labels import LABELS7

Status = Literal["ok", "no_face", "no_speech", "empty_text", "error"]
STATUSES: tuple[str, ...] = ("ok", "no_face", "no_speech", "empty_text", "error")


@dataclass
class Record:
    """One labelled (or unlabelled) example from any dataset reader.

    ``input`` is a file path (audio, image, video) or the text itself; ``label`` is one of the 7
    classes or None; ``group`` is what splits must not share (speaker, actor, dialogue).
    """

    input: str
    label: str | None
    source: str
    group: str
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.label is not None and self.label not in LABELS7:
            raise ValueError(f"Record label {self.label!r} is not one of {LABELS7} ({self.source}: {self.input!r})")


@dataclass
class Prediction:
    """The answer of every modality model, of fusion, and of the CLI's --json (one per line)."""

    input: str
    label: str | None
    probabilities: list[float] | None
    status: str = "ok"
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} not in {STATUSES}")
        if self.probabilities is not None:
            probs = [float(p) for p in self.probabilities]
            if len(probs) != len(LABELS7):
                raise ValueError(f"probabilities need {len(LABELS7)} values, got {len(probs)}")
            if any(p < 0 or not math.isfinite(p) for p in probs):
                raise ValueError(f"probabilities must be finite and non-negative: {probs}")
            total = sum(probs)
            if not math.isclose(total, 1.0, abs_tol=1e-3):
                raise ValueError(f"probabilities must sum to 1 (got {total:.4f})")
            self.probabilities = probs
            if self.label is None:
                self.label = LABELS7[max(range(len(probs)), key=probs.__getitem__)]
        if self.status == "ok" and self.probabilities is None:
            raise ValueError("an 'ok' prediction needs probabilities")
        if self.status != "ok" and not self.detail:
            raise ValueError(f"a {self.status!r} prediction needs a detail saying why")

    @property
    def confidence(self) -> float | None:
        return max(self.probabilities) if self.probabilities else None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def from_probs(cls, input: str, probs: Sequence[float], **extra: Any) -> "Prediction":
        return cls(input=input, label=None, probabilities=list(probs), extra=dict(extra))

    @classmethod
    def failed(cls, input: str, status: str, detail: str, **extra: Any) -> "Prediction":
        return cls(input=input, label=None, probabilities=None, status=status, detail=detail, extra=dict(extra))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        d["confidence"] = self.confidence
        if self.probabilities is not None:
            d["probabilities"] = {name: round(p, 6) for name, p in zip(LABELS7, self.probabilities)}
        for k, v in extra.items():
            d.setdefault(k, v)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, default=_json_default)


def _json_default(obj: Any) -> Any:
    try:  # numpy scalars and arrays
        return obj.tolist()
    except AttributeError:
        return str(obj)
