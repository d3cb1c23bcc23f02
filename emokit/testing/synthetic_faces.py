"""Synthetic scenes from real face crops, for tests, the notebook's video demo and the live benchmark.

A 48×48 FER face is up-scaled and pasted on a plain canvas (e.g. 640×480, as a webcam frame);
:func:`write_video` writes RGB frames to an MP4 (MPEG-4 part 2) with PyAV, no ffmpeg binary.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def face_on_canvas(gray: np.ndarray, canvas_hw=(480, 640), face_px: int = 200, xy=None,
                   background: int = 90) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """RGB canvas with the face pasted (returns the frame and the pasted box x, y, w, h)."""
    import cv2

    H, W = canvas_hw
    face = cv2.resize(np.asarray(gray, dtype=np.uint8), (face_px, face_px), interpolation=cv2.INTER_CUBIC)
    frame = np.full((H, W), background, np.uint8)
    x, y = xy if xy is not None else ((W - face_px) // 2, (H - face_px) // 2)
    frame[y:y + face_px, x:x + face_px] = face
    return np.repeat(frame[..., None], 3, axis=2), (x, y, face_px, face_px)


def write_video(frames: Sequence[np.ndarray], path: str | Path, fps: int = 10) -> Path:
    """Write RGB uint8 frames (all the same even size) to ``path`` with PyAV."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = w - w % 2, h - h % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "3"}
        for fr in frames:
            fr = np.ascontiguousarray(fr[: stream.height, : stream.width], dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def face_video(faces: Sequence[np.ndarray], path: str | Path, frames_per_face: int = 4,
               canvas_hw=(240, 320), face_px: int = 144, blank_frames: int = 0, fps: int = 10) -> Path:
    """A clip showing each face for ``frames_per_face`` frames (optionally led by blank frames)."""
    H, W = canvas_hw
    frames = [np.full((H, W, 3), 90, np.uint8) for _ in range(blank_frames)]
    for i, g in enumerate(faces):
        dx = (i * 17) % max(1, W - face_px)  # the face moves a little between shots
        fr, _ = face_on_canvas(g, canvas_hw, face_px, xy=(dx, (H - face_px) // 2))
        frames.extend([fr] * frames_per_face)
    return write_video(frames, path, fps=fps)
