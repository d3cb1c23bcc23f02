"""``python -m emokit data check|fetch`` through the real argument parser."""
from __future__ import annotations

import json
import wave

from emokit.cli import main


def test_check_json_on_a_fixture_root(tmp_path, capsys):
    p = tmp_path / "cremad" / "AudioWAV" / "1001_DFA_ANG_XX.wav"
    p.parent.mkdir(parents=True)
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\0")
    assert main(["data", "check", "--root", str(tmp_path), "--json"]) == 0
    rows = {d["name"]: d for d in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["cremad"]["status"] == "ok" and rows["cremad"]["kept"] == {"Angry": 1}
    assert rows["goemotions"]["status"] == "missing" and rows["m3ed"]["status"] == "missing"


def test_check_reports_errors_and_unknowns(tmp_path, capsys):
    d = tmp_path / "cremad" / "AudioWAV"
    d.mkdir(parents=True)
    (d / "1001_DFA_XYZ_XX.wav").write_bytes(b"")
    assert main(["data", "check", "--root", str(tmp_path), "--only", "cremad"]) == 0
    out = capsys.readouterr().out
    assert "UNKNOWN XYZ=1" in out
    assert main(["data", "check", "--root", str(tmp_path), "--only", "cremad", "--strict"]) == 1
    assert "'XYZ'=1" in capsys.readouterr().out
    assert main(["data", "check", "--root", str(tmp_path), "--only", "nope"]) == 2


def test_check_shared_text(shared_data, capsys):
    assert main(["data", "check", "--root", str(shared_data), "--only", "emodb", "--only", "ravdess"]) == 0
    out = capsys.readouterr().out
    assert "emodb" in out and "325 records" in out and "dropped L=53" in out and "238 records" in out


def test_fetch_offline_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EMOKIT_OFFLINE", "1")
    assert main(["data", "fetch", "--dest", str(tmp_path), "--only", "emodb"]) == 1
    err = capsys.readouterr().err
    assert "emodb/wav/ (535 wavs)" in err and "emodb.bilderbar.info" in err
