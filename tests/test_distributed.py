"""Multi-process training for real, on CPU with the gloo backend: the audio trainer under
``torchrun --nproc_per_node 2`` and the text trainer (HF Trainer) under ``accelerate launch
--num_processes 2``, each against the same run in one process on the same tiny data.

What must hold: the same numbers as one process within a stated tolerance, exactly one saved model
(and one checkpoint), every rank reporting the same history, and the result line / log lines printed
once, not once per process. ``-m "not distributed"`` deselects these (about 1 min in all on 2 cores).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.distributed
REPO = Path(__file__).resolve().parent.parent
WORKERS = REPO / "tests" / "workers"
BIN = Path(sys.executable).parent

# Tolerances (measured: audio train loss differs by <= 0.003 per epoch, accuracies equal; text: loss
# curves equal to 1e-6, metrics equal). Audio keeps per-rank BatchNorm statistics (SyncBatchNorm needs
# a GPU), so its two runs are close, not identical; the text model has no BatchNorm and no dropout here.
AUDIO_LOSS_TOL, AUDIO_ACC_TOL = 0.03, 0.1
TEXT_TOL = 1e-3


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    cp = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=_env(), timeout=timeout)
    assert cp.returncode == 0, f"{' '.join(cmd)} failed:\n{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}"
    return cp


def _tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not path:
        pytest.skip(f"{name} not installed")
    return str(path)


def _worker(name: str):
    import importlib

    if str(WORKERS) not in sys.path:
        sys.path.insert(0, str(WORKERS))
    return importlib.import_module(name)


def _files(root: Path, name: str) -> list[Path]:
    return sorted(root.rglob(name))


def test_audio_trainer_torchrun_two_processes_matches_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    audio_ddp = _worker("audio_ddp")

    audio_ddp.run(one)  # the one-process reference, in this process (saves a second interpreter start)
    cp = _run([_tool("torchrun"), "--nproc_per_node", "2", "--rdzv-backend", "c10d",
               f"--rdzv-endpoint=127.0.0.1:{_free_port()}", str(WORKERS / "audio_ddp.py"), "--out", str(two)])
    r1 = json.loads((one / "rank0.json").read_text())
    r2 = [json.loads((two / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert r1["world"] == 1 and r2[0]["world"] == 2
    assert r2[0]["history"] == r2[1]["history"], "ranks disagree: their histories must be the global ones"
    assert len(r1["history"]) == len(r2[0]["history"])
    for h1, h2 in zip(r1["history"], r2[0]["history"]):
        assert abs(h1["train_loss"] - h2["train_loss"]) <= AUDIO_LOSS_TOL, (h1, h2)
        assert abs(h1["val_accuracy"] - h2["val_accuracy"]) <= AUDIO_ACC_TOL, (h1, h2)
    for k in ("val.accuracy", "test.accuracy", "test.f1_macro"):
        assert abs(r1["metrics"][k] - r2[0]["metrics"][k]) <= AUDIO_ACC_TOL, k
    # one model, one checkpoint, one result line
    assert len(_files(two, "model.pt")) == 1 and len(_files(two, "last.pt")) == 1
    assert len(_files(two, "model_card.json")) == 1
    assert cp.stdout.count("tiny_v1: val") == 1, cp.stdout


def test_text_trainer_accelerate_two_processes_matches_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    text_ddp = _worker("text_ddp")

    text_ddp.run(one)
    # --multi_gpu is accelerate's torch.distributed launcher; with no GPU the processes use gloo on CPU
    cp = _run([_tool("accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
               str(WORKERS / "text_ddp.py"), "--out", str(two)])
    r1 = json.loads((one / "rank0.json").read_text())
    r2 = [json.loads((two / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert r1["card"]["world_size"] == 1 and r2[0]["card"]["world_size"] == 2
    # the report's effective batch 16 (4 x accumulation 4) is kept: 4 x 2 per process on 2 processes
    assert r1["card"]["effective_batch"] == r2[0]["card"]["effective_batch"] == 16
    assert (r2[0]["card"]["per_process_batch"], r2[0]["card"]["grad_accum_used"]) == (4, 2)
    assert r2[0]["metrics"] == r2[1]["metrics"]
    for k in ("val.accuracy", "val.f1_macro", "val.cross_entropy"):
        assert abs(r1["metrics"][k] - r2[0]["metrics"][k]) <= TEXT_TOL, (k, r1["metrics"], r2[0]["metrics"])
    loss1 = [h["loss"] for h in r1["history"] if "loss" in h]
    loss2 = [h["loss"] for h in r2[0]["history"] if "loss" in h]
    assert len(loss1) == len(loss2) > 1 and all(abs(a - b) <= TEXT_TOL for a, b in zip(loss1, loss2))
    assert len(_files(two, "model.safetensors")) == 1 and len(_files(two, "model_card.json")) == 1
    assert len(_files(two, "history.json")) == 1
    logged = [ln for ln in cp.stdout.splitlines() if ln.startswith("{'loss'")]
    assert len(logged) == len(loss1), f"log lines printed once, not per process:\n{cp.stdout[-2000:]}"
