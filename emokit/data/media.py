"""Shared media I/O: decode any audio to mono float32, read images, sample video frames.

Lives in ``data`` so that no modality imports another to open a file. Every failure raises
:class:`MediaError` naming the file and what was wrong.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Union

import numpy as np

from .speech import mix_to_mono

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
    Several channels are mixed by energy (:func:`emokit.data.speech.mix_to_mono`), not averaged.

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
        audio = mix_to_mono(data)
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
        resampler = av.AudioResampler(format="fltp")  # planar float, channels kept: mixed by energy below
        chunks: list[np.ndarray] = []
        rate = streams[0].rate or streams[0].codec_context.sample_rate
        try:
            for frame in container.decode(streams[0]):
                for out in resampler.resample(frame):
                    chunks.append(np.atleast_2d(out.to_ndarray()))
            for out in resampler.resample(None):
                chunks.append(np.atleast_2d(out.to_ndarray()))
        except Exception as exc:
            if not chunks:
                raise MediaError(f"{_name(src)}: audio could not be decoded ({exc})") from exc
    finally:
        container.close()
    chunks = [c for c in chunks if c.shape[0] == chunks[0].shape[0]] if chunks else []
    audio = mix_to_mono(np.concatenate(chunks, axis=1).T) if chunks else np.zeros(0, np.float32)
    return audio.astype(np.float32), int(rate)


def read_image(src: PathOrBytes) -> np.ndarray:
    """An image as an RGB uint8 array (H, W, 3). Grey and RGBA inputs are converted."""
    _check_exists(src)
    from PIL import Image, ImageOps

    try:
        img = Image.open(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else str(src))
        img = ImageOps.exif_transpose(img)  # phone photos: honour the orientation tag
        if img.mode.startswith("I") or img.mode == "F":  # 16/32-bit integer or float grey
            return _deep_grey_to_rgb8(img)
        return np.asarray(img.convert("RGB"))
    except Exception as exc:
        raise MediaError(f"{_name(src)}: not a readable image ({type(exc).__name__}: {exc})") from exc


def _deep_grey_to_rgb8(img) -> np.ndarray:
    """A 16-bit (``I;16``), 32-bit integer (``I``) or float (``F``) grey image as RGB uint8.

    Pillow's own ``convert("RGB")`` clips such values at 255, so a 16-bit PNG of a face comes out
    all white. Here the values are scaled from the range their type implies: 16-bit data by 1/257
    (65535 -> 255), 32-bit integers by their own maximum when above 65535, floats in [0, 1] by 255,
    other floats by their min-max range."""
    a = np.asarray(img)
    if a.dtype.kind == "f":
        a = a.astype(np.float64)
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if lo >= 0.0 and hi <= 1.0:
            a = a * 255.0
        elif hi > lo:
            a = (a - lo) * (255.0 / (hi - lo))
        a = np.nan_to_num(a, nan=0.0)
    else:
        a = a.astype(np.float64)
        hi = float(a.max()) if a.size else 0.0
        if img.mode.startswith("I;16") or a.dtype == np.uint16 or hi > 255:
            a = a / (257.0 if hi <= 65535 else hi / 255.0)
    g = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def sample_video_frames(src: str | Path, n: int = 5) -> list[np.ndarray]:
    """``n`` uniformly spaced RGB frames of a video (report 4: 5 frames per clip), via PyAV.

    Frames are taken at the centres of ``n`` equal segments, so a short clip still yields distinct
    frames; a clip with fewer frames than ``n`` yields what it has. Memory and time stay bounded
    whatever the length: with a known duration each target time is reached by seeking to the
    keyframe before it and decoding forward; otherwise the stream is decoded once, keeping at most
    ``4 n`` evenly spaced frames (a buffer that is thinned by half whenever it fills).
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
        stream = vstreams[0]
        frames: list[np.ndarray] | None = None
        if _duration_pts(container, stream) and not (0 < (stream.frames or 0) <= n):
            try:
                frames = _frames_by_seeking(container, stream, n)
            except MediaError:
                raise
            except Exception:  # noqa: BLE001 - an unseekable file: decode it once instead
                frames = None
            if not frames:
                container.close()
                container = av.open(str(src))
                stream = [s for s in container.streams if s.type == "video"][0]
                frames = None
        if frames is None:
            frames = _frames_by_streaming(container, stream, n)
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"{src}: video could not be decoded ({exc})") from exc
    finally:
        container.close()
    if not frames:
        raise MediaError(f"{src}: video has no frames")
    return frames


def _duration_pts(container, stream) -> int:
    if stream.duration and stream.time_base:
        return int(stream.duration)
    if container.duration and stream.time_base:  # microseconds -> stream ticks
        return int(container.duration / 1_000_000 / float(stream.time_base))
    return 0


def _frames_by_seeking(container, stream, n: int) -> list[np.ndarray]:
    dur = _duration_pts(container, stream)
    start = int(stream.start_time or 0)
    out: list[np.ndarray] = []
    last_pts = None
    total = int(stream.frames or 0)
    for i in range(n):
        if total > 0:  # the same frame index as decoding everything would pick: int((i + 0.5) * total / n)
            step = dur / total
            target = start + int(int((i + 0.5) * total / n) * step)
            accept = target - step / 2
        else:
            target = start + int((i + 0.5) * dur / n)
            accept = target
        container.seek(target, stream=stream, backward=True, any_frame=False)
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.pts is None or frame.pts >= accept:
                break
        if chosen is None:
            continue
        if chosen.pts is not None and chosen.pts == last_pts:  # fewer frames than n: no duplicates
            continue
        last_pts = chosen.pts
        out.append(chosen.to_ndarray(format="rgb24"))
    return out


def _frames_by_streaming(container, stream, n: int) -> list[np.ndarray]:
    cap = max(4 * n, 8)
    kept: list[tuple[int, np.ndarray]] = []
    step = 1
    for i, frame in enumerate(container.decode(stream)):
        if i % step:
            continue
        kept.append((i, frame.to_ndarray(format="rgb24")))
        if len(kept) >= cap:  # thin to every other kept frame
            step *= 2
            kept = [(j, f) for j, f in kept if j % step == 0]
    if len(kept) <= n:
        return [f for _, f in kept]
    idx = [int((k + 0.5) * len(kept) / n) for k in range(n)]
    return [kept[k][1] for k in idx]
