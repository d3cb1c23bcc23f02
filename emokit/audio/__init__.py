"""Speech emotion recognition (report 3.3): log-mel ACRNN v1 → v2 → v3, plus an eGeMAPS and a
Whisper-embedding baseline; the CLI's default is whichever the pipeline chose on validation.

    from emokit import audio
    audio.predict(["clip.wav", "mic.webm"])      # -> list[Prediction], input order, never raises per input
    audio.embed(["clip.wav"])                    # -> (N, 256) v3 BiLSTM embeddings (hybrid fusion)

Importing this package is cheap: torch, librosa and the models load on first use (cached).
"""
from __future__ import annotations

from ..labels import LABELS7
from .api import CHAPTER, MIN_SPEECH_S, clear_cache, embed, load_model, predict, train

__all__ = ["LABELS7", "CHAPTER", "MIN_SPEECH_S", "clear_cache", "embed", "load_model", "predict", "train"]
