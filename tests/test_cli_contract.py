"""The command line's common behaviour, independent of any model: verbs, --json lines in input order,
exit codes, and errors that say what went wrong. Modality models are replaced by fakes here; each
chapter tests its own verb with its real model."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emokit import cli
from emokit.labels import LABELS7
from emokit.types import Prediction

REPO = Path(__file__).resolve().parent.parent


def _fake_predict(inputs, model=None, backend=None):
    out = []
    for x in inputs:
        if x == "":
            out.append(Prediction.failed(x, "empty_text", "empty input"))
        elif str(x).startswith("missing"):
            out.append(Prediction.failed(x, "error", f"{x}: file not found"))
        else:
            probs = [0.0] * 7
            probs[len(str(x)) % 7] = 1.0
            out.append(Prediction.from_probs(x, probs))
    return out


@pytest.fixture()
def fake_modalities(monkeypatch):
    import emokit.audio
    import emokit.text
    import emokit.vision

    for mod in (emokit.text, emokit.audio, emokit.vision):
        monkeypatch.setattr(mod, "predict", _fake_predict, raising=False)


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_help_lists_every_verb():
    proc = subprocess.run([sys.executable, "-m", "emokit", "--help"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for verb in ("predict", "analyze", "chat", "data"):
        assert verb in proc.stdout


@pytest.mark.parametrize("modality", ["text", "audio", "face"])
def test_predict_subcommands_accept_json(modality):
    args = cli.build_parser().parse_args(["predict", modality, "x", "--json"])
    assert args.json is True and args.modality == modality


def test_text_json_one_line_per_input_in_order(fake_modalities, capsys):
    rc = cli.main(["predict", "text", "hello", "", "a longer text", "--json"])
    rows = _json_lines(capsys.readouterr().out)
    assert rc == 0
    assert [r["input"] for r in rows] == ["hello", "", "a longer text"]
    assert [r["status"] for r in rows] == ["ok", "empty_text", "ok"]
    for r in rows:
        if r["status"] == "ok":
            assert list(r["probabilities"]) == list(LABELS7)  # named, in canonical order
            assert abs(sum(r["probabilities"].values()) - 1) < 1e-6
            assert r["label"] in LABELS7
        else:
            assert r["detail"] and r["label"] is None


@pytest.mark.parametrize("modality", ["audio", "face"])
def test_some_bad_inputs_exit_zero_all_bad_exit_nonzero(fake_modalities, capsys, modality):
    assert cli.main(["predict", modality, "ok.wav", "missing.wav", "--json"]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert [r["status"] for r in rows] == ["ok", "error"] and "missing.wav" in rows[1]["detail"]
    assert cli.main(["predict", modality, "missing1", "missing2", "--json"]) == 1
    assert len(_json_lines(capsys.readouterr().out)) == 2


def test_text_from_file_with_bad_bytes(fake_modalities, capsys, tmp_path):
    f = tmp_path / "in.txt"
    f.write_bytes(b"good line\n\xff\xfe broken\n\n")
    assert cli.main(["predict", "text", "--file", str(f), "--json"]) == 0
    cap = capsys.readouterr()
    assert len(_json_lines(cap.out)) == 2  # the empty line is skipped without --keep-empty
    assert "not valid UTF-8" in cap.err and str(f) in cap.err


def test_text_without_input_says_so(fake_modalities):
    with pytest.raises(SystemExit, match="at least one text"):
        cli.main(["predict", "text"])


def test_plain_output_is_tab_separated(fake_modalities, capsys):
    cli.main(["predict", "text", "abc", ""])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[0] == "abc" and lines[0].split("\t")[1] in LABELS7
    assert "[empty_text]" in lines[1]


def test_missing_model_is_a_clear_error_not_a_traceback(monkeypatch, capsys):
    import emokit.text

    def no_model(inputs, model=None):
        raise FileNotFoundError("no trained text model at artifacts/02_text/models/best; run `dvc repro 02_text`")

    monkeypatch.setattr(emokit.text, "predict", no_model, raising=False)
    assert cli.main(["predict", "text", "hi"]) == 2
    assert "dvc repro 02_text" in capsys.readouterr().err


def test_unknown_verb_exits_with_usage():
    proc = subprocess.run([sys.executable, "-m", "emokit", "frobnicate"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
