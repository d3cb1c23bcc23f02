"""Live camera frames for the chat: detection + emotion per frame, with tracking in between.

``LiveAnalyzer.process(frame_rgb)`` returns a :class:`~emokit.types.Prediction` with ``box``
(x, y, w, h in the frame's pixels), ``face_source`` (``detector`` on a detection frame, ``tracked``
in between) and the emotion probabilities, exponentially smoothed over frames (``smooth``: weight of
the past, 0 = none). The Haar detector runs every ``detect_every`` frames on a grey copy scaled to
``max_side`` pixels; in between, the face is followed by normalised cross-correlation of its last
appearance inside a search window twice its size (a few hundred microseconds). A lost track (match
score under ``min_score``) forces a detection on the next frame. ``benchmarks/vision_live.py``
measures the frame rate at 640×480 on one core.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..labels import LABELS7
from ..types import Prediction
from .api import _resolve
from .faces import crop, detect_boxes, to_gray


class LiveAnalyzer:
    def __init__(self, backend=None, detect_every: int = 5, max_side: int = 240, min_face_frac: float = 0.15,
                 smooth: float = 0.6,
                 min_score: float = 0.5, track_scale: int = 4, name: str = "<camera>"):
        self.backend = _resolve(None, backend)
        self.detect_every = max(1, int(detect_every))
        self.max_side = max_side
        self.min_face_frac = min_face_frac
        self.smooth = float(smooth)
        self.min_score = float(min_score)
        self.track_scale = max(1, int(track_scale))
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.frame_no = 0
        self.box: tuple[int, int, int, int] | None = None
        self._tmpl: np.ndarray | None = None
        self.probs: np.ndarray | None = None
        self.since_detect = 0
        self.timings: dict[str, float] = {}

    # -- tracking on a down-scaled grey frame
    def _small(self, gray):
        import cv2

        s = self.track_scale
        return cv2.resize(gray, (gray.shape[1] // s, gray.shape[0] // s), interpolation=cv2.INTER_AREA)

    def _set_template(self, small, box):
        s = self.track_scale
        x, y, w, h = (v // s for v in box)
        t = small[y:y + h, x:x + w]
        self._tmpl = t.copy() if t.size and min(t.shape) >= 4 else None

    def _track(self, small) -> tuple[int, int, int, int] | None:
        import cv2

        if self.box is None or self._tmpl is None:
            return None
        s = self.track_scale
        x, y, w, h = (v // s for v in self.box)
        H, W = small.shape
        x0, y0 = max(0, x - w // 2), max(0, y - h // 2)
        x1, y1 = min(W, x + w + w // 2), min(H, y + h + h // 2)
        region = small[y0:y1, x0:x1]
        th, tw = self._tmpl.shape
        if region.shape[0] < th or region.shape[1] < tw:
            return None
        res = cv2.matchTemplate(region, self._tmpl, cv2.TM_CCOEFF_NORMED)
        _, score, _, loc = cv2.minMaxLoc(res)
        if score < self.min_score:
            return None
        nx, ny = (x0 + loc[0]) * s, (y0 + loc[1]) * s
        return (int(nx), int(ny), self.box[2], self.box[3])

    def process(self, frame_rgb: np.ndarray) -> Prediction:
        t0 = time.perf_counter()
        gray = to_gray(frame_rgb)
        small = self._small(gray)
        box, source = None, "tracked"
        if self.box is not None and self.since_detect < self.detect_every - 1:
            box = self._track(small)
        t1 = time.perf_counter()
        if box is None:
            boxes = detect_boxes(gray, max_side=self.max_side, min_side=0, min_face_frac=self.min_face_frac)
            box = boxes[0] if boxes else None
            source = "detector"
            self.since_detect = 0
        else:
            self.since_detect += 1
        t2 = time.perf_counter()
        self.frame_no += 1
        if box is None:
            self.box, self._tmpl = None, None
            self.timings = {"track_s": t1 - t0, "detect_s": t2 - t1, "emotion_s": 0.0}
            return Prediction.failed(self.name, "no_face", f"no face in frame {self.frame_no}", box=None,
                                     frame=self.frame_no, backend=self.backend.name)
        self.box = box
        self._set_template(small, box)
        p = self.backend.predict_faces([crop(gray, box)])[0]
        self.probs = p if self.probs is None or self.smooth <= 0 else self.smooth * self.probs + (1 - self.smooth) * p
        self.probs = self.probs / self.probs.sum()
        t3 = time.perf_counter()
        self.timings = {"track_s": t1 - t0, "detect_s": t2 - t1, "emotion_s": t3 - t2}
        return Prediction.from_probs(self.name, self.probs, box=list(box), face_source=source,
                                     frame=self.frame_no, backend=self.backend.name,
                                     raw={n: round(float(v), 4) for n, v in zip(LABELS7, p)})

    def stats(self) -> dict[str, Any]:
        return {"frames": self.frame_no, "last_timings": self.timings}
