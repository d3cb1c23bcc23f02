"""Text modality: GoEmotions → 7 classes, fine-tuned transformers, a multilingual head for Chinese,
a zero-shot comparator and speech-to-text.

Public verbs (imports are lazy, so ``import emokit.text`` is cheap):

- ``load_model(name_or_path=None)``: the best model of notebook 02 (``models/best.json``), cached;
- ``predict(texts, model=None) -> list[Prediction]`` (batched, never raises for one bad input);
- ``embed(texts, model=None) -> np.ndarray`` (N×D);
- ``train(stage, train_records, val_records, out_dir)``: Hugging Face ``Trainer`` fine-tuning;
- ``transcribe(path_or_array, sr=16000, language=None) -> Transcript``: offline Whisper.
"""
from __future__ import annotations

from typing import Any

__all__ = ["load_model", "predict", "embed", "train", "transcribe", "Transcript", "needs_multilingual"]


def load_model(name_or_path: Any = None):
    from .classifier import load_model as _f

    return _f(name_or_path)


def predict(texts, model: Any = None, batch_size: int = 64):
    from .classifier import predict as _f

    return _f(texts, model=model, batch_size=batch_size)


def embed(texts, model: Any = None, batch_size: int = 64):
    from .classifier import embed as _f

    return _f(texts, model=model, batch_size=batch_size)


def train(stage, train_records, val_records, out_dir, **kw):
    from .train import train as _f

    return _f(stage, train_records, val_records, out_dir, **kw)


def transcribe(path_or_array, sr: int = 16000, language: str | None = None, **kw):
    from .asr import transcribe as _f

    return _f(path_or_array, sr=sr, language=language, **kw)


def needs_multilingual(text: str) -> bool:
    from .classifier import needs_multilingual as _f

    return _f(text)


def __getattr__(name: str):
    if name == "Transcript":
        from .asr import Transcript

        return Transcript
    raise AttributeError(name)
