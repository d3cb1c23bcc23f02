"""The pre-flight table (emokit.preflight) on a fixture data root, and `make report` stopping before any stage."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emokit import preflight as P

REPO = Path(__file__).resolve().parent.parent


def _touch(p: Path, data: bytes = b"x") -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache (the user's own is never read)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def _cache_model(cache: Path, repo_id: str) -> Path:
    """A model in the hub cache layout, as snapshot_download leaves it."""
    base = cache / ("models--" + repo_id.replace("/", "--"))
    sha = "a" * 40
    _touch(base / "refs" / "main", sha.encode())
    snap = base / "snapshots" / sha
    _touch(snap / "config.json", b"{}")
    _touch(snap / "model.safetensors")
    return snap


def _demo_root(root: Path) -> Path:
    """Every file the demo profile requires (dummies: the pre-flight checks presence, the readers check content)."""
    for s in ("train", "dev", "test"):
        _touch(root / "goemotions" / "original" / f"{s}.tsv")
        _touch(root / "meld" / "csv" / f"{s}_sent_emo.csv")
    _touch(root / "goemotions" / "ekman_mapping.json")
    _touch(root / "goemotions" / "group" / "train.tsv")
    _touch(root / "ravdess" / "Actor_01" / "03-01-01-01-01-01-01.wav")
    _touch(root / "emodb" / "wav" / "03a01Fa.wav")
    _touch(root / "fer2013" / "train" / "happy" / "1.jpg")
    _touch(root / "zh_text" / "smp2020_ewect" / "virus_train.txt")
    for rel in P.RISK_FILES + (P.RISK_CSSRS,):
        _touch(root / "risk_text" / rel)
    return root


def _row(needs, what):
    rows = [n for n in needs if n.what == what]
    assert len(rows) == 1, f"{what}: {len(rows)} rows in {[n.what for n in needs]}"
    return rows[0]


def test_full_profile_table_on_a_fixture_root(tmp_path, hf_cache):
    root = _demo_root(tmp_path / "data")
    _touch(root / "cremad" / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    _touch(root / "meld" / "MELD.Raw" / "dev_splits_complete" / "dia0_utt0.mp4")   # the default layout
    _cache_model(hf_cache, "roberta-large")
    needs, facts = P.collect("full", root, check_network=False)
    assert facts["profile"] == "full" and facts["data_root"] == str(root.resolve())
    # the stages come from dvc.yaml, every one has a rule (no 'rule' rows)
    assert facts["stages"] == P.pipeline_stages() and not [n for n in needs if n.kind == "rule"]
    # datasets: found where present, missing (with where to put them) where not
    cremad = _row(needs, "cremad")
    assert cremad.found and cremad.required and cremad.where == str(root.resolve() / "cremad" / "AudioWAV")
    tess = _row(needs, "tess")
    assert not tess.found and tess.required and tess.where.endswith("/tess") and "Borealis" in tess.get
    assert {"03_audio", "03_audio_features"} <= set(tess.stages)
    dev = _row(needs, "meld clips (dev)")
    assert dev.found and dev.where.endswith("meld/MELD.Raw/dev_splits_complete") and "04_late_fusion" in dev.stages
    test = _row(needs, "meld clips (test)")
    assert not test.found and test.required and test.where.endswith("MELD.Raw/output_repeated_splits_test")
    assert not _row(needs, "fer2013/test").found            # full: the official split needs both subsets
    assert _row(needs, "m3ed feature file").where == str(root.resolve() / "m3ed" / "features.pkl")
    # hub models from the text stages' params: one row per id, cached or not
    assert _row(needs, "roberta-large").found
    distil = _row(needs, "distilbert-base-uncased")
    assert not distil.found and distil.fetch == "python -m emokit models fetch --profile full"
    assert not _row(needs, "bhadresh-savani/distilbert-base-uncased-emotion").found
    resnet = _row(needs, "resnet18-f37072fd.pth")
    assert resnet.kind == "weights" and resnet.required and resnet.meta["url"] == P.RESNET18_URL
    assert not _row(needs, "DeepFace facial_expression_model_weights.pth").required  # backend D: optional
    rav = _row(needs, "ravdess")   # one wav of the full 1,440: runs, but flagged (the demo subsets are like this)
    assert rav.found and rav.status == "partial" and "1 of the 1440 .wav files" in rav.detail
    assert "warning: ravdess" in P.summary(needs, facts)
    gpu = _row(needs, "CUDA GPU")
    assert gpu.required and set(gpu.stages) == {"02_text", "03_audio_grid", "03_audio"}
    # one row per thing: a corpus two stages need is listed once with both stages
    assert len({(n.kind, n.where) for n in needs if n.kind == "dataset"}) == len([n for n in needs if n.kind == "dataset"])
    missing = P.required_missing(needs)
    assert {"tess", "meld clips (test)", "distilbert-base-uncased"} <= {n.what for n in missing}
    assert "cremad" not in {n.what for n in missing} and "ravdess" not in {n.what for n in missing}
    assert "stopping before any stage" in P.summary(needs, facts)
    table = P.markdown(needs)
    assert table.count("\n") == len(needs) + 1 and "| dataset | tess |" in table


def test_demo_profile_on_a_complete_fixture_root_passes(tmp_path, hf_cache):
    root = _demo_root(tmp_path / "data")
    needs, facts = P.collect("demo", root, check_network=False)
    assert not P.required_missing(needs), [n.what for n in P.required_missing(needs)]
    assert not [n for n in needs if n.kind in ("gpu", "model") and n.required]   # demo: no GPU, no hub
    shutil.rmtree(root / "zh_text")
    needs, _ = P.collect("demo", root, check_network=False)
    assert [n.what for n in P.required_missing(needs)] == ["zh_text"]


def test_no_data_root_and_unknown_stage_are_missing_rows(tmp_path, hf_cache, monkeypatch):
    monkeypatch.setenv("EMOKIT_DATA_ROOT", str(tmp_path / "nowhere"))
    needs, facts = P.collect("demo", None, stages=["02_text", "99_new_stage"], check_network=False)
    assert facts["data_root"] is None and "does not exist" in facts["data_root_error"]
    assert not _row(needs, "data root").found
    rule = _row(needs, "stage 99_new_stage")
    assert rule.kind == "rule" and rule.required and not rule.found


def test_network_row_is_required_only_while_a_hub_model_is_missing(tmp_path, hf_cache, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")   # nothing listens on the discard port
    root = _demo_root(tmp_path / "data")
    needs, _ = P.collect("full", root)
    net = _row(needs, "Hugging Face hub (http://127.0.0.1:9)")
    assert net.required and not net.found and net.stages == ["02_text"]
    for m in ("distilbert-base-uncased", "roberta-large", "bhadresh-savani/distilbert-base-uncased-emotion"):
        _cache_model(hf_cache, m)
    needs, _ = P.collect("full", root)
    assert not _row(needs, "Hugging Face hub (http://127.0.0.1:9)").required


def test_risk_files_are_the_ones_the_loader_opens():
    src = (REPO / "emokit" / "chat" / "risk.py").read_text(encoding="utf-8")
    for rel in P.RISK_FILES + (P.RISK_CSSRS,):
        folder, name = rel.split("/")
        assert folder in src and (name in src or re.sub(r"^(train|val|test)_", "{split}_", name) in src), rel


def _env(tmp_path, root: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "EMOKIT_DATA_ROOT": str(root), "HF_HOME": str(tmp_path / "hfhome"),
           "HF_ENDPOINT": "http://127.0.0.1:9", "DEEPFACE_HOME": str(tmp_path / "df"), "OMP_NUM_THREADS": "1"}
    env.pop("EMOKIT_PROFILE", None)
    env.pop("HF_HUB_CACHE", None)
    return env


def test_cli_exit_status_and_json(tmp_path):
    root = _demo_root(tmp_path / "data")
    cp = subprocess.run([sys.executable, "-m", "emokit", "preflight", "--profile", "full", "--json"],
                        capture_output=True, text=True, cwd=REPO, env=_env(tmp_path, root), timeout=120)
    assert cp.returncode == 2, cp.stderr
    out = json.loads(cp.stdout)
    assert out["ok"] is False and out["profile"] == "full"
    rows = {r["what"]: r for r in out["needs"]}
    assert rows["tess"]["status"] == "missing" and rows["ravdess"]["status"] == "partial" and rows["emodb"]["found"]
    assert "stopping before any stage" in cp.stderr
    cp = subprocess.run([sys.executable, "-m", "emokit", "preflight", "--profile", "demo"],
                        capture_output=True, text=True, cwd=REPO, env=_env(tmp_path, root), timeout=120)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "all " in cp.stdout and "required needs found" in cp.stdout


def _fake_dvc(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "dvc_calls.txt"
    dvc = tmp_path / "fake-dvc"
    dvc.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    dvc.chmod(0o755)
    return dvc, log


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_report_stops_before_any_stage_when_something_is_missing(tmp_path):
    root = _demo_root(tmp_path / "data")
    dvc, log = _fake_dvc(tmp_path)
    marker = tmp_path / "chat_setup_ran"
    cmd = ["make", "-s", "-o", "env", "report", "PROFILE=full", f"DVC={dvc}", f"CHAT_MODEL_SETUP=touch {marker}"]
    cp = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=_env(tmp_path, root), timeout=180)
    assert cp.returncode != 0
    assert "make report stops here, before any stage" in cp.stderr
    assert "| tess" not in cp.stdout and "tess" in cp.stdout and "missing" in cp.stdout   # the text table
    assert not log.exists() and not marker.exists(), "nothing may run after a failed pre-flight"
    # with everything the demo needs present, the same command reaches DVC with the standard override
    cmd = ["make", "-s", "-o", "env", "report", "PROFILE=demo", f"DVC={dvc}", f"CHAT_MODEL_SETUP=touch {marker}"]
    cp = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=_env(tmp_path, root), timeout=180)
    assert cp.returncode == 0, cp.stdout[-2000:] + cp.stderr[-2000:]
    assert "exp run -S params/profile.yaml:profile=demo" in log.read_text()
    assert marker.exists()


def test_full_defaults_follow_the_standard_layouts(tmp_path, monkeypatch):
    """No parameter to edit by hand: MELD.Raw's folders and the M3ED feature file default to places under the
    data root, the stages resolve them there, and a missing one is an error naming the path."""
    from emokit.chapters import hybrid_fusion, late_fusion
    from emokit.config import load_params
    from emokit.data.corpora import MELD_RAW_DIRS

    p4 = load_params("04_late_fusion", profile="full")
    root = tmp_path / "data"
    folders = late_fusion.meld_clip_folders(p4, root)
    assert folders == {s: root / "meld" / "MELD.Raw" / MELD_RAW_DIRS[s][0] for s in ("train", "dev", "test")}
    assert late_fusion.meld_clip_folders({"meld_clips": {"dev": "/abs/dev", "test": None}}, root) == {"dev": Path("/abs/dev")}
    _touch(root / "meld" / "MELD.Raw" / "dev_splits_complete" / "dia0_utt0.mp4")
    with pytest.raises(FileNotFoundError, match="output_repeated_splits_test: MELD test clip folder not found"):
        late_fusion.build_set(p4, root, tmp_path / "art", tmp_path / "cache")
    p5 = load_params("05_hybrid_fusion", profile="full")
    monkeypatch.setenv("EMOKIT_DATA_ROOT", str(root))
    with pytest.raises(FileNotFoundError, match=str(root / "m3ed" / "features.pkl")):
        hybrid_fusion.hybrid_data(p5, tmp_path / "art")
