"""Shared media I/O: decode any audio to mono float32, read images, sample video frames.

Lives in ``data`` so that no modality imports another to open a file. Every failure raises
:class:`MediaError` naming the file and what was wrong.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Union

import numpy as np

PathOrBytes = Union[str, Path, bytes]


class MediaError(ValueError):
    """A media file that is missing, unreadable or empty."""


def _name(src: PathOrBytes) -> str:
    return "<bytes>" if isinstance(src, (bytes, bytearray)) else str(src)


def _check_exists(src: PathOrBytes) -> None:
    if not isinstance(src, (bytes, bytearray)):
        p = Path(src)
        if not p.exists():
            raise MediaError(f"{p}: file not found")
        if p.is_dir():
            raise MediaError(f"{p}: is a folder, not a media file")
        if p.stat().st_size == 0:
            raise MediaError(f"{p}: file is empty")


def load_audio(src: PathOrBytes, sr: int = 16000) -> np.ndarray:
    """Decode WAV (8/16/24/32-bit, float), FLAC, OGG, MP3, WebM/Opus ... to mono float32 at ``sr``.

    soundfile handles the libsndfile formats; anything else (WebM/Opus from a browser, MP3 on old
    libsndfile, MP4 audio) goes through PyAV, so no ffmpeg binary is needed.
    """
    _check_exists(src)
    audio: np.ndarray | None = None
    native_sr = 0
    try:
        import soundfile as sf

        data, native_sr = sf.read(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else str(src),
                                  dtype="float32", always_2d=True)
        audio = data.mean(axis=1)
    except Exception:
        audio = None
    if audio is None:
        audio, native_sr = _decode_with_av(src)
    if audio.size == 0:
        raise MediaError(f"{_name(src)}: decoded to zero samples")
    if native_sr != sr:
        import soxr

        audio = soxr.resample(audio, native_sr, sr).astype(np.float32)
    return np.ascontiguousarray(audio, dtype=np.float32)


def _decode_with_av(src: PathOrBytes) -> tuple[np.ndarray, int]:
    import av

    try:
        container = av.open(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else str(src))
    except Exception as exc:  # av raises many types (InvalidDataError, FFmpegError ...)
        raise MediaError(f"{_name(src)}: not a readable audio file ({type(exc).__name__}: {exc})") from exc
    try:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise MediaError(f"{_name(src)}: contains no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono")
        chunks: list[np.ndarray] = []
        rate = streams[0].rate or streams[0].codec_context.sample_rate
        try:
            for frame in container.decode(streams[0]):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except Exception as exc:
            if not chunks:
                raise MediaError(f"{_name(src)}: audio could not be decoded ({exc})") from exc
    finally:
        container.close()
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return audio.astype(np.float32), int(rate)


def read_image(src: PathOrBytes) -> np.ndarray:
    """An image as an RGB uint8 array (H, W, 3). Grey and RGBA inputs are converted."""
    _check_exists(src)
    from PIL import Image, ImageOps

    try:
        img = Image.open(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else str(src))
        img = ImageOps.exif_transpose(img)  # phone photos: honour the orientation tag
        return np.asarray(img.convert("RGB"))
    except Exception as exc:
        raise MediaError(f"{_name(src)}: not a readable image ({type(exc).__name__}: {exc})") from exc


VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def sample_video_frames(src: str | Path, n: int = 5) -> list[np.ndarray]:
    """``n`` uniformly spaced RGB frames of a video (report 4: 5 frames per clip), via PyAV.

    Frames are taken at the centres of ``n`` equal segments, so a short clip still yields distinct
    frames; a clip with fewer frames than ``n`` yields what it has.
    """
    _check_exists(src)
    import av

    try:
        container = av.open(str(src))
    except Exception as exc:
        raise MediaError(f"{src}: not a readable video ({type(exc).__name__}: {exc})") from exc
    try:
        vstreams = [s for s in container.streams if s.type == "video"]
        if not vstreams:
            raise MediaError(f"{src}: contains no video stream")
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(vstreams[0])]
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"{src}: video could not be decoded ({exc})") from exc
    finally:
        container.close()
    if not frames:
        raise MediaError(f"{src}: video has no frames")
    total = len(frames)
    if total <= n:
        return frames
    idx = [int((i + 0.5) * total / n) for i in range(n)]
    return [frames[i] for i in idx]
