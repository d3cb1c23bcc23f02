"""emokit.text.asr.transcribe: when Whisper gives English and Chinese little of its language mass, the
clip is transcribed in both and the transcript Whisper finds likelier is kept (a fake model; no audio
model runs)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from emokit.text import asr


class FakeWhisper:
    def __init__(self, probs, logprob):
        self.probs, self.logprob, self.asked = probs, logprob, []

    def detect_language(self, audio):
        return None, None, list(self.probs.items())

    def transcribe(self, audio, language=None, **kw):
        self.asked.append(language)
        seg = SimpleNamespace(start=0.0, end=2.0, text=f"text in {language}", avg_logprob=self.logprob[language],
                              no_speech_prob=0.0, compression_ratio=1.0)
        return iter([seg]), SimpleNamespace(language=language, language_probability=0.5)


def _run(monkeypatch, probs, logprob):
    fake = FakeWhisper(probs, logprob)
    monkeypatch.setattr(asr, "load_asr", lambda model=None: fake)
    tr = asr.transcribe(np.zeros(16000, np.float32), model="base", languages=("en", "zh"))
    return tr, fake.asked


def test_ambiguous_language_is_decided_by_the_likelier_transcript(monkeypatch):
    tr, asked = _run(monkeypatch, {"en": 0.037, "zh": 0.030, "ko": 0.6}, {"en": -2.4, "zh": -0.9})
    assert asked == ["en", "zh"] and tr.language == "zh" and tr.text == "text in zh"


def test_a_clear_language_is_transcribed_once(monkeypatch):
    tr, asked = _run(monkeypatch, {"en": 0.9, "zh": 0.05}, {"en": -3.0, "zh": -0.1})
    assert asked == ["en"] and tr.language == "en"    # Whisper was sure: no second pass, whatever the logprob
    assert tr.language_probability > 0.9
