"""The fetcher: verified downloads (file:// URLs stand in for the datasets' homes), offline fail-fast."""
from __future__ import annotations

import hashlib
import io
import wave
import zipfile
from pathlib import Path

import pytest

from emokit.data import fetch as F


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_table_covers_the_openly_downloadable_sets():
    assert {f.dataset for f in F.FILES} == {"goemotions", "meld"}
    assert {a.dataset for a in F.ARCHIVES} == {"ravdess", "emodb"}
    for f in F.FILES:
        assert f.sha256 and len(f.sha256) == 64 and f.url.startswith("https://")
    for a in F.ARCHIVES:  # unknown upstream sums are stated, and a structural check replaces them
        assert a.sha256 is None and "unknown" in a.note and a.expected_files > 0


def test_recorded_sums_match_the_shared_copies(shared_data):
    for f in F.FILES:
        assert F.file_status(shared_data, f) == "ok", f.dest


def test_fetch_file_verified_and_mismatch_kept_aside(tmp_path):
    src = tmp_path / "src.tsv"
    src.write_bytes(b"hello\t17\tid1\n")
    good = F.RemoteFile("goemotions", "goemotions/original/train.tsv", src.as_uri(), _sha(src.read_bytes()), "")
    dest = tmp_path / "data"
    res = F.fetch(dest, ["goemotions"], files=(good,), archives=(), log=lambda m: None)
    assert res == {"goemotions/original/train.tsv": "fetched"}
    assert (dest / good.dest).read_bytes() == src.read_bytes()
    # second run: verified in place, nothing downloaded
    assert F.fetch(dest, ["goemotions"], files=(good,), archives=(), log=lambda m: None) == {good.dest: "ok"}
    bad = F.RemoteFile("meld", "meld/csv/test_sent_emo.csv", src.as_uri(), "0" * 64, "")
    with pytest.raises(F.FetchError, match="does not match the recorded"):
        F.fetch(dest, ["meld"], files=(bad,), archives=(), log=lambda m: None)
    assert (dest / "meld/csv/test_sent_emo.csv.sha256-mismatch").exists()
    assert not (dest / "meld/csv/test_sent_emo.csv").exists()
    # a present file that differs from the recorded sum is never overwritten
    (dest / "meld/csv/test_sent_emo.csv").write_bytes(b"x")
    with pytest.raises(F.FetchError, match="Move it away"):
        F.fetch(dest, ["meld"], files=(bad,), archives=(), log=lambda m: None)


def _wav_bytes() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\0" * 8)
    return buf.getvalue()


def test_fetch_archive_extracts_and_checks_structure(tmp_path):
    z = tmp_path / "ravdess.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("Actor_01/03-01-01-01-01-01-01.wav", _wav_bytes())
        zf.writestr("Actor_02/03-01-05-02-01-01-02.wav", _wav_bytes())
        zf.writestr("README.txt", "ignored")
    a = F.RemoteArchive("ravdess", "ravdess", z.as_uri(), None, F.ARCHIVES[0].pattern, 2,
                        F._ravdess_member, "test")
    res = F.fetch(tmp_path / "data", ["ravdess"], files=(), archives=(a,), log=lambda m: None)
    assert res == {"ravdess": "fetched (2 wavs)"}
    assert sorted(p.name for p in (tmp_path / "data" / "ravdess").rglob("*.wav")) == [
        "03-01-01-01-01-01-01.wav", "03-01-05-02-01-01-02.wav"]
    short = F.RemoteArchive("ravdess", "ravdess2", z.as_uri(), None, a.pattern, 1440, F._ravdess_member, "test")
    with pytest.raises(F.FetchError, match="expected 1440"):
        F.fetch(tmp_path / "data", ["ravdess"], files=(), archives=(short,), log=lambda m: None)


def test_offline_fails_fast_saying_what_where(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOKIT_OFFLINE", "1")
    with pytest.raises(F.FetchError) as exc:
        F.fetch(tmp_path, log=lambda m: None)
    msg = str(exc.value)
    assert "goemotions/original/train.tsv" in msg and "meld/csv/test_sent_emo.csv" in msg
    assert "ravdess/ (1440 wavs)" in msg and "emodb/wav/ (535 wavs)" in msg
    assert "zenodo.org" in msg and "emodb.bilderbar.info" in msg and "EMOKIT_DATA_ROOT" in msg
    with pytest.raises(F.FetchError, match="not downloadable by this command"):
        F.fetch(tmp_path, ["iemocap"])


def test_unreachable_host_is_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(F, "_host_reachable", lambda url, timeout: False)
    with pytest.raises(F.FetchError, match="cannot download"):
        F.fetch(tmp_path, ["meld"], log=lambda m: None)


def test_fetch_shows_a_progress_bar_per_file(tmp_path, capsys):
    src = tmp_path / "src.tsv"
    src.write_bytes(b"row\t1\tid\n" * 5000)
    f = F.RemoteFile("goemotions", "goemotions/original/dev.tsv", src.as_uri(), _sha(src.read_bytes()), "")
    F.fetch(tmp_path / "data", ["goemotions"], files=(f,), archives=(), log=lambda m: None)
    err = capsys.readouterr().err
    assert "dev.tsv: 100%" in err and "43.9k/43.9k" in err    # bytes, total from Content-Length (45,000 B)
    F.fetch(tmp_path / "data2", ["goemotions"], files=(f,), archives=(), log=lambda m: None, progress=False)
    assert "dev.tsv" not in capsys.readouterr().err
