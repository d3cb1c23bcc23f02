"""The audio verbs behind :mod:`emokit.audio`: ``load_model``, ``predict`` (speech activity first: a clip
without enough voice is ``no_speech``), ``embed`` and ``train``; the package re-exports them."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..types import Prediction

CHAPTER = "03_audio"
log = logging.getLogger(__name__)
_CACHE: dict[str, Any] = {}


def clear_cache() -> None:
    """Forget the loaded models (the next call loads them again, e.g. after retraining)."""
    _CACHE.clear()


def _models_dir() -> Path:
    from ..config import artifacts_dir

    return artifacts_dir(CHAPTER) / "models"


def load_model(name_or_path: str | Path | None = None):
    """An :class:`~emokit.audio.model_io.AudioModel`: a folder path, a model name under
    ``<artifacts>/03_audio/models/`` (``v3``, ``whisper_lr`` ...), or None for the default (``best``)."""
    from .model_io import AudioModel, load_folder

    if isinstance(name_or_path, AudioModel):
        return name_or_path
    key = str(name_or_path or "best")
    p = Path(key)
    folder = p if (p.is_dir() or p.is_absolute() or "/" in key) else _models_dir() / key
    folder = folder.resolve()
    cache_key = str(folder)
    if cache_key in _CACHE:
        return _CACHE[cache_key]
    if not (folder / "model_card.json").exists():
        raise FileNotFoundError(
            f"no audio model at {folder}. Train it with `dvc repro 03_audio` (or `make report`), or pass "
            f"--model PATH to a folder holding model_card.json.")
    model = load_folder(folder)
    _CACHE[cache_key] = model
    return model


def _read(inp: Any, sr_out: int, sr_in: int) -> tuple[str, np.ndarray]:
    from ..data import load_audio

    if isinstance(inp, (str, Path)):
        return str(inp), load_audio(inp, sr=sr_out)
    if isinstance(inp, (bytes, bytearray)):
        return "<bytes>", load_audio(bytes(inp), sr=sr_out)
    if isinstance(inp, tuple) and len(inp) == 2:  # (array, sample rate)
        arr, sr_in = inp
    else:
        arr = inp
    a = np.asarray(arr, dtype=np.float32)
    if a.ndim == 2:  # (channels, samples) or (samples, channels): mixed by energy
        from ..data.speech import mix_to_mono

        a = mix_to_mono(a.T if a.shape[0] < a.shape[1] else a)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"audio array must be 1-D (or 2-D multichannel) and non-empty, got shape {np.shape(arr)}")
    if int(sr_in) != sr_out:
        import soxr

        a = soxr.resample(a, int(sr_in), sr_out).astype(np.float32)
    return "<array>", a


MIN_SPEECH_S = 0.3   # less voice activity than this in a clip: no_speech


def _speech_part(audio: np.ndarray, sr: int):
    """(Speech regions, the samples inside them) of one mono clip at ``sr`` (VAD at 16 kHz)."""
    from ..data.speech import SR, detect_speech, speech_only

    a16 = audio
    if sr != SR:
        import soxr

        a16 = soxr.resample(audio, sr, SR).astype(np.float32)
    speech = detect_speech(a16)
    return speech, speech_only(audio, sr, speech)


def predict(inputs: Sequence[Any], model: Any = None, sr: int = 16000) -> list[Prediction]:
    """One :class:`Prediction` per input, in order. Inputs: paths (any format ``load_audio`` reads:
    WAV of any width, FLAC, MP3, OGG, WebM/Opus, MP4 audio), bytes, float arrays at ``sr`` Hz, or
    ``(array, sr)`` pairs. Silence, and clips where voice activity detection (Silero VAD) finds less
    than ``MIN_SPEECH_S`` of speech (noise, a tone, a 0.05 s clip), → status ``no_speech``;
    unreadable/missing → ``error`` for that input only. Only the speech regions are scored
    (``extra.speech_regions``), covered by windows over the whole of them (``extra.windows``)."""
    m = load_model(model)
    out: list[Prediction] = []
    for i, inp in enumerate(inputs):
        name = str(inp) if isinstance(inp, (str, Path)) else f"<array {i}>"
        try:
            name, audio = _read(inp, m.sr, sr)
            if name == "<array>":
                name = f"<array {i}>"
        except Exception as exc:  # one bad input never stops the others
            detail = str(exc) if str(inp) in str(exc) else f"{name}: {exc}"
            out.append(Prediction.failed(name, "error", detail))
            continue
        from .features import rms_dbfs

        dur = round(len(audio) / m.sr, 3)
        level = rms_dbfs(audio)
        if level < m.silence_db:
            out.append(Prediction.failed(name, "no_speech",
                                         f"{name}: no speech (loudest frame {level:.1f} dBFS < {m.silence_db:.0f} dBFS)",
                                         duration_s=dur))
            continue
        try:
            speech, heard = _speech_part(audio, m.sr)
        except Exception as exc:  # noqa: BLE001 - the VAD itself failed: say so, do not guess
            out.append(Prediction.failed(name, "error", f"{name}: voice activity detection failed ({exc})"))
            continue
        if speech.speech_s < MIN_SPEECH_S:
            out.append(Prediction.failed(
                name, "no_speech", f"{name}: no speech detected (voice activity {speech.speech_s:.2f} s of {dur:.2f} s; "
                f"at least {MIN_SPEECH_S:g} s needed)", duration_s=dur, speech_s=round(speech.speech_s, 3)))
            continue
        try:
            probs, n_win = m.predict_audio(heard)
        except Exception as exc:
            out.append(Prediction.failed(name, "error", f"{name}: model failed ({type(exc).__name__}: {exc})"))
            continue
        out.append(Prediction.from_probs(name, [float(p) for p in probs], model=m.name, windows=n_win,
                                         duration_s=dur, speech_s=round(speech.speech_s, 3),
                                         speech_regions=[[round(a, 2), round(b, 2)] for a, b in speech.regions]))
    return out


def embed(inputs: Sequence[Any], model: Any = None, sr: int = 16000) -> np.ndarray:
    """(N, D) embeddings; by default the v3 model's 256-d BiLSTM embedding (mean over time and over
    windows). An input that cannot be read or is silent gives a row of zeros (logged)."""
    m = load_model(model or "v3")
    rows = []
    for i, inp in enumerate(inputs):
        try:
            _, audio = _read(inp, m.sr, sr)
            rows.append(m.embed_audio(audio))
        except Exception as exc:
            log.warning("audio.embed: input %d (%s) gives zeros: %s", i, inp if isinstance(inp, (str, Path)) else "array", exc)
            rows.append(None)
    dim = next((r.shape[0] for r in rows if r is not None), getattr(m.net, "embed_dim", 256))
    return np.stack([r if r is not None else np.zeros(dim, np.float32) for r in rows]).astype(np.float32)


def train(params: dict | None = None, out_dir: str | Path | None = None, which: Sequence[str] = ("v3",)) -> dict:
    """Train the named variants of ``params['variants']`` (default: v3) and save them under
    ``<out_dir>/models/``; returns ``{name: result}``. The notebook runs the whole chapter."""
    from ..config import artifacts_dir, load_params
    from .data import prepare
    from .variants import train_crnn

    params = params or load_params(CHAPTER)
    out_dir = Path(out_dir) if out_dir else artifacts_dir(CHAPTER)
    data = prepare(params)
    return {n: train_crnn(n, params["variants"][n], params, data, out_dir / "models") for n in which}
