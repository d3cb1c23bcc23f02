"""benchmarks/gpu_check.py: the --tiny CPU mode runs every measurement path (text and audio training
throughput, a 2-process gloo DDP step whose ranks must end with identical weights), and without a
GPU the default run says "skipped: no GPU" without overwriting a recorded GPU run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_tiny_mode_measures_text_audio_and_a_ddp_step(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--tiny", "--out", str(out)], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=600)   # a hang guard (AVX2-only CPU: over 180 s)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    assert res["status"] == "ok" and res["device"] == "cpu" and res["machine"]["nproc"] >= 1
    for kind, key in (("text", "roberta_tiny_b4_fp32"), ("audio", "acrnn_v3_tiny_b8_fp32")):
        m = res[kind][key]
        assert isinstance(m, dict), m
        assert m["samples_per_s"] > 0 and m["finite_loss"] and m["n_params"] > 1000
    ddp = res["ddp"]
    assert ddp["world_size"] == 2 and ddp["backend"] == "gloo"
    assert ddp["params_identical_on_all_ranks"] is True, ddp   # the gradients were all-reduced
    assert {r["rank"] for r in ddp["ranks"]} == {0, 1}


def test_without_a_gpu_the_default_run_is_skipped_and_keeps_a_recorded_gpu_run(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the real check runs instead")
    from benchmarks import gpu_check

    out = tmp_path / "r.json"
    assert gpu_check.main(["--out", str(out)]) == 0
    assert "skipped: no GPU" in capsys.readouterr().out
    assert json.loads(out.read_text())["status"] == "skipped: no GPU"
    out.write_text(json.dumps({"status": "ok", "machine": {"utc": "then"}, "text": {"x": 1}}))
    assert gpu_check.main(["--out", str(out)]) == 0
    assert json.loads(out.read_text())["text"] == {"x": 1}


def test_report_sizes():
    from benchmarks import gpu_check

    arch = gpu_check.v3_report_arch()
    assert arch["widths"] == [64, 128, 256, 512] and arch["lstm_hidden"] == 128
    assert gpu_check.ROBERTA_LARGE["num_hidden_layers"] == 24 and gpu_check.ROBERTA_LARGE["hidden_size"] == 1024
