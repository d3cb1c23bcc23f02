"""Option A's features: dlib's 68 facial landmarks turned into pose-normalised geometry.

The shape predictor (``shape_predictor_68_face_landmarks.dat``, iBUG 300-W: non-commercial) ships in
``face-recognition-models``; it is located with ``importlib.util.find_spec`` (no ``pkg_resources``).
A face crop is up-scaled to ``size`` pixels and the predictor is given the crop's whole frame as the
face rectangle (the crops come from the Haar detector or are FER's own 48×48 crops).

Features (width 136 + 22 = 158): the 68 points centred on the eye midpoint, rotated so the eyes are
level and scaled by the inter-ocular distance (136 numbers), plus 22 named distances and ratios
(brow raise, eye opening, mouth width/opening, mouth-corner lift, nose-mouth distance ...).
"""
from __future__ import annotations

import functools
import os
from importlib.util import find_spec

import numpy as np

N_FEATURES = 158


def predictor_path() -> str:
    spec = find_spec("face_recognition_models")
    if spec is None or not spec.origin:
        raise RuntimeError("face-recognition-models is not installed (pip install face-recognition-models==0.3.0)")
    path = os.path.join(os.path.dirname(spec.origin), "models", "shape_predictor_68_face_landmarks.dat")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"dlib landmark model missing: {path}")
    return path


@functools.lru_cache(maxsize=1)
def _predictor():
    import dlib

    return dlib.shape_predictor(predictor_path())


def landmarks(gray: np.ndarray, size: int = 144, inset: float = 0.0) -> np.ndarray:
    """(68, 2) landmark coordinates in the ``size``×``size`` resized crop."""
    import cv2
    import dlib

    img = cv2.resize(np.ascontiguousarray(gray, dtype=np.uint8), (size, size), interpolation=cv2.INTER_LINEAR)
    d = int(size * inset)
    shape = _predictor()(img, dlib.rectangle(d, d, size - 1 - d, size - 1 - d))
    return np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=np.float32)


def _dist(p, a, b):
    return float(np.linalg.norm(p[a] - p[b]))


def geometry(pts: np.ndarray) -> np.ndarray:
    """The 158 features of one set of 68 points (see module doc)."""
    left_eye, right_eye = pts[36:42].mean(0), pts[42:48].mean(0)
    centre = (left_eye + right_eye) / 2
    v = right_eye - left_eye
    iod = float(np.linalg.norm(v)) or 1.0
    ang = np.arctan2(v[1], v[0])
    c, s = np.cos(-ang), np.sin(-ang)
    rot = np.array([[c, -s], [s, c]], dtype=np.float32)
    p = ((pts - centre) @ rot.T) / iod
    mouth_w = _dist(p, 48, 54)
    feats = [
        _dist(p, 19, 37), _dist(p, 24, 44),           # brow to upper eyelid
        _dist(p, 21, 22),                             # inner brows (frown)
        _dist(p, 17, 21), _dist(p, 22, 26),           # brow length
        p[19, 1] - p[17, 1], p[24, 1] - p[26, 1],     # brow arch
        _dist(p, 37, 41) + _dist(p, 38, 40),          # left eye opening
        _dist(p, 43, 47) + _dist(p, 44, 46),          # right eye opening
        mouth_w, _dist(p, 51, 57), _dist(p, 62, 66),  # mouth width, outer and inner opening
        _dist(p, 62, 66) / (mouth_w + 1e-6),
        p[48, 1] - p[51, 1], p[54, 1] - p[51, 1],     # mouth-corner lift vs upper lip
        p[48, 1] - p[57, 1], p[54, 1] - p[57, 1],
        _dist(p, 33, 51), _dist(p, 33, 62),           # nose to lip
        _dist(p, 8, 57),                              # chin to lower lip
        _dist(p, 31, 35),                             # nostril width
        _dist(p, 21, 27) + _dist(p, 22, 27),          # brows to nose bridge
    ]
    return np.concatenate([p.reshape(-1), np.asarray(feats, dtype=np.float32)]).astype(np.float32)


def features(gray: np.ndarray, size: int = 144, inset: float = 0.0) -> np.ndarray:
    return geometry(landmarks(gray, size=size, inset=inset))
