"""DVC compares two runs the way dvc.yaml declares metrics and plots (per-stage, ``cache: false``,
files outside the output folders): a tiny project with one stage per kind, two parameter choices run
as experiments in temporary workspaces while another stage's output folder is absent from the cache
(a fresh clone), then `dvc metrics diff`, `dvc exp show` and `dvc plots diff` between them. Real DVC."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(not (BIN / "dvc").exists(), reason="dvc is not installed in this environment")

DVC_YAML = """\
stages:
  features:
    cmd: python -c "import os; os.makedirs('feat', exist_ok=True); open('feat/x.csv', 'w').write('a\\\\n1\\\\n')"
    outs: [feat]
  train:
    cmd: python train.py
    deps: [train.py]
    params: [lr]
    outs: [out]
    metrics:
      - out.metrics.json:
          cache: false
    plots:
      - plots/train/curve.csv:
          cache: false
          template: linear
          x: step
          y: loss
"""
TRAIN = """\
import json, os, yaml
lr = yaml.safe_load(open("params.yaml"))["lr"]
os.makedirs("out", exist_ok=True); os.makedirs("plots/train", exist_ok=True)
loss = [round(1.0 / (1 + lr * 100 * s), 4) for s in range(5)]
open("out/model.txt", "w").write(str(lr))
json.dump({"loss": loss[-1], "accuracy": round(1 - loss[-1], 4)}, open("out.metrics.json", "w"))
open("plots/train/curve.csv", "w").write("step,loss\\n" + "".join(f"{i},{v}\\n" for i, v in enumerate(loss)))
"""


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def test_two_parameter_choices_compare_with_metrics_diff_exp_show_and_plots_diff(tmp_path, monkeypatch):
    from dvc.repo import Repo

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "dvc.yaml").write_text(DVC_YAML)
    (proj / "train.py").write_text(TRAIN)
    (proj / "params.yaml").write_text("lr: 0.01\n")
    _git(proj, "init", "-q")
    for k, v in (("user.name", "t"), ("user.email", "t@t")):
        _git(proj, "config", k, v)
    monkeypatch.chdir(proj)
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    with Repo.init(str(proj)) as repo:
        repo.reproduce()
    _git(proj, "add", "-A")
    _git(proj, "commit", "-qm", "baseline lr 0.01")
    # a fresh clone's state: the other stage's output (and its cache object) is not here
    shutil.rmtree(proj / "feat")
    shutil.rmtree(proj / ".dvc" / "cache")

    with Repo(str(proj)) as repo:
        results = repo.experiments.run(targets=["train"], params=["lr=0.05"], tmp_dir=True, name="lr-005")
    (exp_rev,) = results
    with Repo(str(proj)) as repo:
        diff = repo.metrics.diff(a_rev="HEAD", b_rev=exp_rev)["diff"]["out.metrics.json"]
        assert diff["accuracy"]["old"] < diff["accuracy"]["new"] and diff["loss"]["diff"] < 0
        shown = json.dumps(repo.experiments.show(), default=str)
        assert "lr-005" in shown and "0.05" in shown
        pd = repo.plots.diff(revs=["HEAD", exp_rev])
    assert set(pd) == {"HEAD", exp_rev}
    for rev in pd:
        data = pd[rev]["sources"]["data"]["plots/train/curve.csv"]
        assert "error" not in data, data
        assert len(data["data"]) == 5          # the curve of that run, read from git without the cache
    assert pd["HEAD"]["sources"]["data"]["plots/train/curve.csv"]["data"] != \
        pd[exp_rev]["sources"]["data"]["plots/train/curve.csv"]["data"]

    # the CLI a user types, on the same two revisions
    r = subprocess.run([str(BIN / "dvc"), "metrics", "diff", "HEAD", exp_rev], cwd=proj, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "out.metrics.json" in r.stdout and "accuracy" in r.stdout
