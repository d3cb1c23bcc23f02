"""Text modality: GoEmotions → 7 classes, fine-tuned transformers, a multilingual head for Chinese,
a zero-shot comparator and speech-to-text.

Public verbs (imports are lazy, so ``import emokit.text`` is cheap):

- ``load_model(name_or_path=None)``: the best model of notebook 02 (``models/best.json``), cached;
- ``predict(texts, model=None) -> list[Prediction]`` (batched, never raises for one bad input);
- ``embed(texts, model=None) -> np.ndarray`` (N×D);
- ``train(stage, train_records, val_records, out_dir)``: Hugging Face ``Trainer`` fine-tuning
  (:mod:`.finetune`);
- ``transcribe(path_or_array, sr=16000, language=None) -> Transcript``: offline Whisper.
"""
from __future__ import annotations

from importlib import import_module

# name -> the module that defines it, imported on first use
_LAZY = {"load_model": ".classifier", "predict": ".classifier", "embed": ".classifier",
         "needs_multilingual": ".classifier", "train": ".finetune", "transcribe": ".asr", "Transcript": ".asr"}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
