"""One turn's whole perception: face + voice + words -> per-modality predictions -> fused emotion.

``analyze(face=None, audio=None, text=None, weights=None)`` calls the modality packages through
their contracts (``emokit.vision.predict``, ``emokit.audio.predict``, ``emokit.text.predict`` and,
when no text is typed but a recording is given, speech-to-text through :func:`hear`), fuses the available
probabilities with :func:`emokit.fusion.late.fuse` (missing modalities renormalise the weights) and
reports what was missing and why, and how long each part took. Every modality missing is a
:class:`~emokit.fusion.late.FusionError` naming each reason.

Default weights: ``<artifacts>/04_late_fusion/fusion_weights.json`` (written by notebook 04: the
weights tuned on the validation half of the demo tri-modal set), else the report's published MELD
weights (audio 0.28, text 0.66, vision 0.06), and the result says which.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..labels import LABELS7
from ..types import Prediction
from .late import FusionError, apply_temperature, fuse, normalise_weights

log = logging.getLogger(__name__)

MODALITIES = ("vision", "audio", "text")
REPORT_WEIGHTS = {"vision": 0.06, "audio": 0.28, "text": 0.66}  # report section 4, MELD test
WEIGHTS_FILE = "fusion_weights.json"


def load_weights(path: str | Path | None = None) -> tuple[dict[str, float], dict[str, float], str]:
    """(weights, temperatures, source). ``path`` or the 04 chapter's file; else the report's."""
    from ..config import artifacts_dir

    p = Path(path) if path else artifacts_dir("04_late_fusion") / WEIGHTS_FILE
    if p.exists():
        d = json.loads(p.read_text())
        w = {m: float(d["weights"].get(m, 0.0)) for m in MODALITIES}
        temps = {m: float(t) for m, t in (d.get("temperatures") or {}).items()} if d.get("use_temperatures") else {}
        return w, temps, f"{p} ({d.get('description', 'tuned weights')})"
    if path:
        raise FileNotFoundError(f"{p}: fusion weights file not found")
    return dict(REPORT_WEIGHTS), {}, ("report section 4 weights (MELD test); no "
                                      f"{p} yet: run `dvc repro 04_late_fusion`")


@dataclass(frozen=True)
class Heard:
    """What speech-to-text made of one turn's recording: the result of the turn's one call (:func:`hear`)."""

    text: str | None             # the words; None when none were recognised, or when speech-to-text failed
    error: str | None = None     # why speech-to-text failed ("<ExceptionType>: <first line>"), else None
    language: str | None = None
    ms: float = 0.0


def hear(audio: Any, transcribe: Callable[[Any], Any] | None = None) -> Heard:
    """The one place a turn's recording goes through speech-to-text. ``transcribe`` is the engine
    (default :func:`emokit.text.transcribe`); its answer may be a ``Transcript``, a string, a dict with
    ``text``, or a list of those (the first counts). Never raises: a failure is ``Heard.error``."""
    t0 = time.perf_counter()
    try:
        if transcribe is None:
            from .. import text as text_mod

            transcribe = text_mod.transcribe
        out = transcribe(audio)
    except Exception as exc:  # noqa: BLE001 - the turn goes on without words; the caller says why
        msg = str(exc).splitlines()[0] if str(exc) else ""
        return Heard(None, f"{type(exc).__name__}: {msg[:160]}" if msg else type(exc).__name__,
                     ms=(time.perf_counter() - t0) * 1000)
    if isinstance(out, (list, tuple)):
        out = out[0] if out else None
    if isinstance(out, dict):
        words, language = out.get("text") or out.get("transcript"), out.get("language")
    else:
        words, language = getattr(out, "text", out), getattr(out, "language", None)
    words = str(words).strip() if words is not None else ""
    return Heard(words or None, None, language, (time.perf_counter() - t0) * 1000)


@dataclass
class AnalysisResult:
    """The fused perception of one turn; :meth:`to_dict` is what ``analyze --json`` prints."""

    label: str
    probabilities: list[float]
    modalities: dict[str, Prediction]
    missing: dict[str, str]
    weights: dict[str, float]
    weights_used: dict[str, float]
    weights_source: str
    latency_ms: dict[str, float]
    transcript: str | None = None
    temperatures: dict[str, float] = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        return float(max(self.probabilities))

    def to_dict(self) -> dict[str, Any]:
        mods = {}
        for m, p in self.modalities.items():
            d = p.to_dict()
            d["latency_ms"] = self.latency_ms.get(m)
            mods[m] = d
        return {
            "status": "ok",
            "label": self.label,
            "confidence": round(self.confidence, 6),
            "probabilities": {n: round(float(v), 6) for n, v in zip(LABELS7, self.probabilities)},
            "modalities": mods,
            "missing": dict(self.missing),
            "weights": self.weights,
            "weights_used": {m: round(w, 6) for m, w in self.weights_used.items()},
            "weights_source": self.weights_source,
            "temperatures": self.temperatures,
            "transcript": self.transcript,
            "latency_ms": {k: round(v, 1) for k, v in self.latency_ms.items()},
        }


def _timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, (time.perf_counter() - t0) * 1000


def _one(preds, name: str, modality: str) -> Prediction:
    preds = list(preds)
    if len(preds) != 1:
        return Prediction.failed(name, "error", f"{modality}.predict returned {len(preds)} predictions for 1 input")
    return preds[0]


def analyze(face: Any = None, audio: Any = None, text: str | None = None,
            weights: Mapping[str, float] | None = None, transcribe: bool = True,
            temperatures: Mapping[str, float] | None = None) -> AnalysisResult:
    """Perceive one turn. ``face``: image/video path or RGB array; ``audio``: recording path;
    ``text``: the turn's words (None: the recording's, through :func:`hear`, when ``transcribe``; a
    caller that has already heard the recording, as the chat does, passes its words and
    ``transcribe=False``).

    A modality that is not given, or whose model answers ``no_face`` / ``no_speech`` /
    ``empty_text`` / ``error``, is missing: its weight is shared among the others. Raises
    :class:`FusionError` when nothing is left.
    """
    t_all = time.perf_counter()
    if weights is None:
        w, temps, source = load_weights()
    else:
        w, temps, source = {m: float(weights.get(m, 0.0)) for m in MODALITIES}, {}, "argument"
    if temperatures is not None:
        temps = dict(temperatures)
    preds: dict[str, Prediction] = {}
    missing: dict[str, str] = {}
    latency: dict[str, float] = {}
    transcript = None

    if face is not None:
        from .. import vision

        p, latency["vision"] = _timed(vision.predict, [face])
        preds["vision"] = _one(p, str(face) if not isinstance(face, np.ndarray) else "<image>", "vision")
    if audio is not None:
        from .. import audio as audio_mod

        p, latency["audio"] = _timed(audio_mod.predict, [audio])
        preds["audio"] = _one(p, str(audio), "audio")
    heard: Heard | None = None
    if text is None and audio is not None and transcribe:
        heard = hear(audio)
        latency["asr"] = heard.ms
        transcript = heard.text
        if heard.error:
            missing["text"] = f"speech-to-text failed: {heard.error}"
    if "text" not in missing and (text is not None or heard is not None):
        text_in = text if text is not None else (heard.text or "")
        if not str(text_in).strip():
            what = "typed text is empty" if text is not None else "no words recognised in the recording"
            preds["text"] = Prediction.failed(str(text_in), "empty_text", what)
        else:
            from .. import text as text_mod

            p, latency["text"] = _timed(text_mod.predict, [str(text_in)])
            preds["text"] = _one(p, str(text_in), "text")

    for m in MODALITIES:
        if m in missing:
            continue
        if m not in preds:
            missing[m] = {"vision": "no face image given", "audio": "no recording given",
                          "text": "no text given and no recording to transcribe" if transcribe or audio is None
                          else "no words typed or heard in the recording"}[m]
        elif not preds[m].ok:
            missing[m] = f"{preds[m].status}: {preds[m].detail}"
    available = {m: np.asarray(preds[m].probabilities) for m in MODALITIES if m not in missing}
    if not available:
        raise FusionError("nothing to fuse: " + "; ".join(f"{m}: {r}" for m, r in missing.items()), missing)
    t0 = time.perf_counter()
    if temps:
        available = {m: (apply_temperature(p, temps[m]) if m in temps else p) for m, p in available.items()}
    try:
        used = normalise_weights(w, list(available))
    except FusionError:
        # the present modalities all have weight 0 (e.g. a 0 vision weight and only a face):
        # fall back to equal weights rather than giving no answer, and say so
        used = {m: 1.0 / len(available) for m in available}
        source += "; the available modalities all had weight 0, so they were weighted equally"
    fused = fuse(available, used)
    latency["fusion"] = (time.perf_counter() - t0) * 1000
    latency["total"] = (time.perf_counter() - t_all) * 1000
    label = LABELS7[int(np.argmax(fused))]
    all_preds = {m: preds[m] for m in MODALITIES if m in preds}
    return AnalysisResult(label, [float(x) for x in fused], all_preds, missing, w, used, source, latency,
                          transcript, dict(temps))
