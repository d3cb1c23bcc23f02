"""Is anybody speaking? Voice activity with the Silero VAD that ships in faster-whisper (ONNX, offline).

Audio emotion models answer for any sound they get: white noise, a 440 Hz tone or 0.05 s of audio used
to come back as a confident emotion. :func:`detect_speech` runs Silero VAD (``faster_whisper.vad``) on
a 16 kHz mono clip and returns the speech regions; :func:`speech_only` keeps just those (so speech
after 35 s of silence is what a model hears). Clips with less than ``min_speech_s`` of speech get
``no_speech`` from :func:`emokit.audio.predict`.

Also here: :func:`mix_to_mono`, channel mixing by energy (an 8-channel recording with speech on one
channel is not averaged down by 18 dB).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SR = 16000


@dataclass
class Speech:
    regions: list[tuple[float, float]] = field(default_factory=list)  # seconds
    duration_s: float = 0.0

    @property
    def speech_s(self) -> float:
        return float(sum(e - s for s, e in self.regions))


def detect_speech(audio16k: np.ndarray, threshold: float = 0.5, min_speech_ms: int = 250,
                  min_silence_ms: int = 300, pad_ms: int = 100) -> Speech:
    """Speech regions of a 16 kHz mono clip (Silero VAD v6 via faster-whisper)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    a = np.ascontiguousarray(np.asarray(audio16k, np.float32).reshape(-1))
    dur = len(a) / SR
    if a.size < SR // 10:  # under 0.1 s: too short to hold a word
        return Speech([], dur)
    opts = VadOptions(threshold=threshold, min_speech_duration_ms=min_speech_ms,
                      min_silence_duration_ms=min_silence_ms, speech_pad_ms=pad_ms)
    ts = get_speech_timestamps(a, opts, sampling_rate=SR)
    return Speech([(t["start"] / SR, t["end"] / SR) for t in ts], dur)


def speech_only(audio: np.ndarray, sr: int, speech: Speech) -> np.ndarray:
    """The samples of ``audio`` (at ``sr``) inside the speech regions, joined."""
    parts = [audio[int(s * sr): int(np.ceil(e * sr))] for s, e in speech.regions]
    parts = [p for p in parts if p.size]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def mix_to_mono(x: np.ndarray) -> np.ndarray:
    """(samples, channels) -> mono, each channel weighted by its share of the energy.

    Equal channels give their mean (as plain averaging would); a loud channel beside silent ones is
    kept at its own level instead of being divided by the channel count."""
    x = np.asarray(x, np.float32)
    if x.ndim == 1:
        return x
    if x.shape[1] == 1:
        return x[:, 0]
    energy = np.mean(x.astype(np.float64) ** 2, axis=0)
    total = float(energy.sum())
    if total <= 0 or not np.isfinite(total):
        return x.mean(axis=1)
    w = (energy / total).astype(np.float32)
    return x @ w


def synthetic_vowels(seconds: float = 2.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A speech-like test signal that Silero VAD accepts throughout: syllables of a glottal pulse train
    (f0 100-160 Hz, falling, with jitter) through the formants of five vowels, each after a short
    fricative-like noise burst, with a pause every six syllables. For tests and the bad-input table (no
    recorded voice needed); it stands in for "speech", not for any emotion."""
    from scipy.signal import butter, lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros(n)
    formants = {"a": (730, 1090, 2440), "i": (270, 2290, 3010), "u": (300, 870, 2240),
                "e": (530, 1840, 2480), "o": (570, 840, 2410)}
    bh, ah = butter(4, [3500 / (SR / 2), 7000 / (SR / 2)], "band")
    pos, k = 0, 0
    while pos < n:
        c = int(rng.uniform(0.03, 0.08) * SR)
        burst = lfilter(bh, ah, rng.standard_normal(c)) * 0.15 * np.hanning(c)
        out[pos:pos + c] += burst[:max(0, min(c, n - pos))]
        pos += c
        length = min(int(rng.uniform(0.12, 0.3) * SR), n - pos)
        if length <= 1:
            break
        t = np.arange(length) / SR
        f0 = rng.uniform(100, 160) * (1 - 0.15 * t / t[-1]) * (
            1 + 0.01 * rng.standard_normal(length).cumsum() / np.sqrt(np.arange(1, length + 1)))
        src = (np.diff(np.floor(np.cumsum(f0) / SR), prepend=0) > 0) * (1 + 0.1 * rng.standard_normal(length))
        seg = lfilter([1], [1, -0.97], src) + 0.02 * rng.standard_normal(length)
        for f, bw in zip(formants["aiueo"[rng.integers(5)]], (80, 100, 120)):
            r, th = np.exp(-np.pi * bw / SR), 2 * np.pi * f / SR
            seg = lfilter([1 - r], [1, -2 * r * np.cos(th), r * r], seg)
        seg = seg / (np.abs(seg).max() or 1.0) * rng.uniform(0.2, 0.35) * np.sin(np.pi * np.linspace(0, 1, length)) ** 0.5
        out[pos:pos + length] += seg
        pos += length
        k += 1
        if k % 6 == 0:
            pos += int(rng.uniform(0.1, 0.3) * SR)
    out = out / (np.abs(out).max() or 1.0) * 0.3 + 0.002 * rng.standard_normal(n)
    if sr != SR:
        import soxr

        out = soxr.resample(out, SR, sr)
    return out.astype(np.float32)
