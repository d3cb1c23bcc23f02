"""Synthesise the Chinese speech clips of emokit/text/resources/zh_speech/ with espeak-ng's Mandarin
voice, for the character error rate of notebook 02 (no real Chinese speech with known transcripts
is in ../shared/data). Run once; the clips are committed (FLAC, 16 kHz mono, ~1.5 MB in all).

    apt-get install espeak-ng        # Debian 12: espeak-ng 1.51
    pip install pypinyin==0.55.0     # only for this script
    python scripts/make_zh_speech.py

espeak-ng's ``cmn`` voice given Chinese characters reads part of them as English letters and tone
digits (``espeak-ng -v cmn -x`` shows ``(en)`` switches), which Whisper hears as English; the
sentences are therefore converted to tone-numbered pinyin with ``pypinyin`` and spoken with the
``cmn-latn-pinyin`` voice (Mandarin phonemes, the same synthesiser).

espeak-ng is a formant synthesiser: robotic, flat and without the tones' natural contours, so the
CER it gives is a pessimistic stand-in for real speech, not a measure of it. Two speaking rates
(140 and 175 words per minute) per sentence.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "emokit" / "text" / "resources" / "zh_speech"
SENTENCES = [  # (label a reader would give, sentence): written for this purpose by the emokit developers
    ("Happy", "今天我收到了录取通知书，真是太开心了。"),
    ("Sad", "我的小狗昨天去世了，我一直在哭。"),
    ("Angry", "你怎么又迟到了，我真的非常生气。"),
    ("Fear", "外面打雷了，我一个人在家很害怕。"),
    ("Surprise", "没想到你会突然来看我，真让我吃惊。"),
    ("Disgust", "这个菜闻起来太恶心了，我一口都吃不下。"),
    ("Neutral", "明天上午九点我们在会议室开会。"),
]
RATES = (140, 175)


def main() -> int:
    import soundfile as sf
    import soxr
    from pypinyin import Style, lazy_pinyin

    OUT.mkdir(parents=True, exist_ok=True)
    rows = ["file\tlabel\tvoice\trate_wpm\ttext"]
    for i, (label, text) in enumerate(SENTENCES, start=1):
        for rate in RATES:
            with tempfile.TemporaryDirectory() as tmp:
                wav = Path(tmp) / "x.wav"
                pinyin = " ".join(lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True))
                subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "-s", str(rate), "-w", str(wav), pinyin],
                               check=True)
                audio, sr = sf.read(wav, dtype="float32")
            audio = soxr.resample(audio, sr, 16000).astype(np.float32) if sr != 16000 else audio
            name = f"zh{i:02d}_{label.lower()}_{rate}.flac"
            sf.write(OUT / name, audio, 16000, format="FLAC")
            rows.append(f"{name}\t{label}\tespeak-ng cmn-latn-pinyin\t{rate}\t{text}")
    (OUT / "transcripts.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(f"{len(rows) - 1} clips in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
