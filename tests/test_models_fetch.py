"""`python -m emokit models fetch`: hub models through snapshot_download against a fake hub on 127.0.0.1
(the real client, the real cache layout), weights files from file:// URLs with their checksum, progress bars,
and the offline fail-fast."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from emokit import models as M
from emokit.data.fetch import FetchError
from emokit.preflight import Need, hub_snapshot

REPO = Path(__file__).resolve().parent.parent
SHA = "0123456789abcdef0123456789abcdef01234567"


def serve(repos: dict[str, dict[str, bytes]]):
    """A minimal hub: model info, file tree and resolve URLs of ``repos`` ({repo_id: {file: bytes}})."""

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _answer(self):
            path = self.path.split("?")[0]
            if path.startswith("/api/models/") and "/tree/" in path:
                repo = path[len("/api/models/"):].split("/tree/")[0]
                body = json.dumps([{"type": "file", "path": f, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                                   for f, b in repos.get(repo, {}).items()]).encode()
                return 200, body, {"Content-Type": "application/json"}
            if path.startswith("/api/models/"):
                repo = path[len("/api/models/"):].split("/revision/")[0]
                if repo not in repos:
                    return 404, b'{"error":"Repository not found"}', {"X-Error-Code": "RepositoryNotFound"}
                body = json.dumps({"id": repo, "modelId": repo, "sha": SHA, "private": False,
                                   "siblings": [{"rfilename": f} for f in repos[repo]]}).encode()
                return 200, body, {"Content-Type": "application/json"}
            if "/resolve/" in path:
                repo, rest = path[1:].split("/resolve/", 1)
                fname = rest.split("/", 1)[1]
                data = repos.get(repo, {}).get(fname)
                if data is None:
                    return 404, b"not found", {"X-Error-Code": "EntryNotFound"}
                return 200, data, {"X-Repo-Commit": SHA, "ETag": '"%s"' % hashlib.sha256(data).hexdigest()}
            return 404, b"?", {}

        def _send(self, head: bool):
            code, body, hdr = self._answer()
            self.server.log.append((self.command, self.path.split("?")[0]))
            self.send_response(code)
            for k, v in hdr.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def do_GET(self):
            self._send(False)

        def do_HEAD(self):
            self._send(True)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.log = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


@pytest.fixture
def online(monkeypatch):
    """The test session runs with HF_HUB_OFFLINE=1 (conftest); these tests talk to the fake hub only."""
    from huggingface_hub import constants

    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def hub(online):
    repos = {"org/tiny-bert": {"config.json": b'{"model_type": "bert"}', "model.safetensors": b"w" * 200_000,
                               "pytorch_model.bin": b"b" * 10, "tf_model.h5": b"t", "vocab.txt": b"[PAD]\n"},
             "org/bin-only": {"config.json": b"{}", "pytorch_model.bin": b"b" * 100},
             "org/no-weights": {"config.json": b"{}"}}
    srv, ep = serve(repos)
    yield srv, ep
    srv.shutdown()


def _hub_need(repo_id: str) -> Need:
    return Need("model", repo_id, ["02_text"], True, False, "HF cache", meta={"hub": repo_id})


def test_choose_files_takes_one_weights_format():
    names = ["config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5", "onnx/model.onnx", "vocab.txt"]
    assert M.choose_files(names) == ["config.json", "model.safetensors", "vocab.txt"]
    assert M.choose_files(["config.json", "pytorch_model.bin"]) == ["config.json", "pytorch_model.bin"]


def test_hub_models_in_one_step_with_progress(hub, tmp_path, capsys):
    srv, ep = hub
    cache = tmp_path / "hub"
    todo = [_hub_need("org/tiny-bert"), _hub_need("org/bin-only")]
    assert hub_snapshot("org/tiny-bert", cache_dir=cache) is None
    out = M.fetch_all(todo, endpoint=ep, cache_dir=cache, log=lambda m: None)
    snap = Path(out["org/tiny-bert"])
    assert snap == hub_snapshot("org/tiny-bert", cache_dir=cache)          # the standard cache layout
    assert sorted(p.name for p in snap.iterdir()) == ["config.json", "model.safetensors", "vocab.txt"]
    assert (snap / "model.safetensors").read_bytes() == b"w" * 200_000
    assert hub_snapshot("org/bin-only", cache_dir=cache) is not None
    got = [p for _, p in srv.log if "/resolve/" in p]
    assert not [p for p in got if p.endswith(("pytorch_model.bin", "tf_model.h5")) and "tiny-bert" in p]
    err = capsys.readouterr().err
    assert "models: 100%" in err and "2/2" in err                            # the progress bar (tqdm, stderr)


def test_a_repository_without_weights_is_an_error(hub, tmp_path):
    _, ep = hub
    with pytest.raises(FetchError, match="no .safetensors or pytorch_model.bin"):
        M.fetch_all([_hub_need("org/no-weights")], endpoint=ep, cache_dir=tmp_path, progress=False, log=lambda m: None)
    with pytest.raises(FetchError, match="org/missing: download from"):
        M.fetch_all([_hub_need("org/missing")], endpoint=ep, cache_dir=tmp_path, progress=False, log=lambda m: None)


def test_weights_file_checksum_and_mismatch(tmp_path, capsys):
    src = tmp_path / "resnet18-abc.pth"
    src.write_bytes(b"weights" * 1000)
    prefix = hashlib.sha256(src.read_bytes()).hexdigest()[:8]
    to = tmp_path / "cache" / "resnet18-abc.pth"
    good = Need("weights", to.name, ["01_vision"], True, False, str(to), meta={"url": src.as_uri(), "sha256_prefix": prefix})
    M.fetch_all([good], progress=True, log=lambda m: None)
    assert to.read_bytes() == src.read_bytes()
    assert "resnet18-abc.pth: 100%" in capsys.readouterr().err              # per-file byte progress
    to.unlink()
    bad = Need("weights", to.name, ["01_vision"], True, False, str(to), meta={"url": src.as_uri(), "sha256_prefix": "00000000"})
    with pytest.raises(FetchError, match="does not start with the recorded 00000000"):
        M.fetch_all([bad], progress=False, log=lambda m: None)
    assert not to.exists() and (to.parent / (to.name + ".sha256-mismatch")).exists()


def test_offline_fails_fast_before_any_download(tmp_path, monkeypatch, online):
    todo = [_hub_need("roberta-large")]
    with pytest.raises(FetchError) as e:
        M.fetch_all(todo, endpoint="http://127.0.0.1:9", cache_dir=tmp_path, progress=False)
    msg = str(e.value)
    assert "offline" in msg and "roberta-large" in msg and str(tmp_path) in msg and "copy the cache" in msg
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FetchError, match="HF_HUB_OFFLINE=1 is set"):
        M.fetch_all(todo, endpoint="http://127.0.0.1:9", cache_dir=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


def test_cli_offline_error(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": "http://127.0.0.1:9",
           "OMP_NUM_THREADS": "1"}
    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE"):
        env.pop(k, None)
    cp = subprocess.run([sys.executable, "-m", "emokit", "models", "fetch", "--profile", "full", "--timeout", "2"],
                        capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert "to fetch: " in cp.stdout and "roberta-large" in cp.stdout
    assert "error: cannot fetch models: offline" in cp.stderr and "distilbert-base-uncased" in cp.stderr
