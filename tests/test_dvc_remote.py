"""Shared artifacts through a DVC remote (emokit/remote.py): a tiny DVC project with one stage pushes
its outputs to a local-folder remote, loses its cache and outputs, pulls them back byte for byte; a
fresh clone with only the one setting (EMOKIT_DVC_REMOTE) pulls the run and has nothing to reproduce.
Real git + DVC in a tmp folder, no network."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emokit import remote

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(not (BIN / "dvc").exists(), reason="dvc is not installed in this environment")

STAGE = """\
stages:
  train:
    cmd: python make_outputs.py
    deps: [make_outputs.py]
    params: [seed]
    outs: [out]
    metrics:
      - metrics.json:
          cache: false
"""
SCRIPT = """\
import json, os, random, yaml
seed = yaml.safe_load(open("params.yaml"))["seed"]
rng = random.Random(seed)
os.makedirs("out/models", exist_ok=True)
open("out/models/model.bin", "wb").write(bytes(rng.randrange(256) for _ in range(50_000)))
open("out/table.csv", "w").write("x,y\\n" + "".join(f"{i},{rng.random():.6f}\\n" for i in range(100)))
json.dump({"accuracy": round(rng.random(), 6)}, open("metrics.json", "w"))
"""


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMOKIT_", "DVC_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", DVC_NO_ANALYTICS="1",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    return env


def sh(cmd: str, cwd: Path, env: dict | None = None) -> str:
    r = subprocess.run(cmd, shell=True, cwd=cwd, env=env or _env(), text=True, capture_output=True, timeout=120)
    assert r.returncode == 0, f"{cmd!r} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r.stdout + r.stderr


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def project(tmp_path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "dvc.yaml").write_text(STAGE)
    (proj / "make_outputs.py").write_text(SCRIPT)
    (proj / "params.yaml").write_text("seed: 1\n")
    sh("git init -q", proj)
    from dvc.repo import Repo

    with Repo.init(str(proj)) as repo:
        _in(proj, repo.reproduce)
    sh("git add -A && git commit -qm run", proj)
    return proj


def _in(folder: Path, fn, *a, **kw):
    """Run a DVC API call with ``folder`` as the working directory (stage commands run there)."""
    old = os.getcwd()
    os.chdir(folder)
    try:
        return fn(*a, **kw)
    finally:
        os.chdir(old)


def status(folder: Path) -> dict:
    from dvc.repo import Repo

    with Repo(str(folder)) as repo:
        return _in(folder, repo.status)


def test_push_wipe_pull_restores_outputs_and_a_clone_pulls_instead_of_training(project, tmp_path, monkeypatch):
    store = tmp_path / "remote"
    before = digest(project / "out")
    assert len(before) == 2
    # the one setting, as `make remote URL=...` writes it (.dvc/config, committed for the class)
    assert remote.main(["--repo", str(project), "set", str(store)]) == 0
    assert f"url = {store}" in (project / ".dvc" / "config").read_text()
    sh("git commit -qam 'remote'", project)
    monkeypatch.delenv(remote.ENV, raising=False)
    assert remote.push(project) == 3      # the two files and the directory listing of out/
    assert any(p.is_file() for p in store.rglob("*")), "nothing reached the remote"

    shutil.rmtree(project / "out")
    shutil.rmtree(project / ".dvc" / "cache")
    assert status(project) == {"train": [{"changed outs": {"out": "not in cache"}}]}
    assert remote.pull(project)["fetched"] == 3
    assert digest(project / "out") == before
    assert status(project) == {}

    # a classroom machine: a clone without the remote in its config, one environment setting
    clone = tmp_path / "student"
    sh(f"git clone -q {project} {clone} && git -C {clone} checkout -q HEAD~1", tmp_path)
    assert "emokit" not in (clone / ".dvc" / "config").read_text()
    monkeypatch.setenv(remote.ENV, str(store))
    remote.pull(clone)
    assert digest(clone / "out") == before
    assert status(clone) == {}      # nothing to reproduce: `dvc repro` / `make report` would train nothing


def test_bad_remote_urls_are_refused_with_the_reason(tmp_path):
    with pytest.raises(remote.RemoteError, match="no remote URL"):
        remote.check_url("")
    with pytest.raises(remote.RemoteError, match="absolute path"):
        remote.check_url("relative/folder")
    with pytest.raises(remote.RemoteError, match="unknown scheme"):
        remote.check_url("ftp2://host/x")
    missing = [s for s, (mod, _) in remote.PLUGINS.items() if __import__("importlib").util.find_spec(mod) is None]
    if missing:
        with pytest.raises(remote.RemoteError, match=r"pip install dvc-"):
            remote.check_url(f"{missing[0]}://bucket/emokit")
    assert remote.check_url(str(tmp_path)) == str(tmp_path)
    assert remote.check_url(f"file://{tmp_path}") == str(tmp_path)
