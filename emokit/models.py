"""``python -m emokit models fetch [--profile full]``: the hub models and weights files a profile needs, in one step.

What to fetch comes from the pre-flight (:mod:`emokit.preflight`): every ``model`` row with a hub id
(the text stages' ``model:``, the zero-shot comparator) that is not in the Hugging Face cache, and every
``weights`` row with a download URL (the ImageNet ResNet-18 of chapter 01's option C). Hub models go
through :func:`huggingface_hub.snapshot_download` into the standard cache (``HF_HOME`` /
``HF_HUB_CACHE``, default ``~/.cache/huggingface/hub``), config + tokenizer + one weights format
(safetensors when the repository has it); weights files are streamed to the path params name,
SHA-256-checked (torchvision's 8-hex-digit prefix). Progress bars go to stderr (tqdm). Offline, or
with ``HF_HUB_OFFLINE=1``, it fails at once, before any download, saying what is missing and where it
goes.
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import os
import sys
from pathlib import Path
from typing import Callable, Iterable

from .data.fetch import FetchError, _download
from .preflight import Need, collect, reachable

# files of a transformers model repository worth downloading (one weights format is added per repo)
HUB_FILES = ("*.json", "*.txt", "*.model", "vocab.*", "merges.txt", "spiece.model", "sentencepiece.*")
WEIGHT_FORMATS = (("*.safetensors",), ("pytorch_model*.bin",))


def _endpoint(endpoint: str | None) -> str:
    if endpoint:
        return endpoint.rstrip("/")
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT", constants.ENDPOINT).rstrip("/")


def _offline_flag() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) set: the hub client itself would refuse every request."""
    from huggingface_hub import constants

    return constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def plan(profile: str | None = None, root: str | None = None) -> list[Need]:
    """The rows of the pre-flight this command can fetch and that are missing."""
    needs, _ = collect(profile, root, check_network=False, check_gpu=False)
    return [n for n in needs if not n.found and (n.meta.get("hub") or n.meta.get("url"))]


def choose_files(siblings: Iterable[str]) -> list[str]:
    """Config, tokenizer and the first weights format the repository has (safetensors, else .bin)."""
    names = list(siblings)
    keep = [n for n in names if "/" not in n and any(fnmatch.fnmatch(n, p) for p in HUB_FILES)]
    for fmt in WEIGHT_FORMATS:
        w = [n for n in names if "/" not in n and any(fnmatch.fnmatch(n, p) for p in fmt)]
        if w:
            return sorted(set(keep + w))
    return sorted(set(keep))


def fetch_hub(repo_id: str, endpoint: str, cache_dir: str | Path | None = None, progress: bool = True) -> Path:
    """Download one model into the HF cache; returns its snapshot folder (checked: config + weights)."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    from .preflight import hub_snapshot

    try:
        info = HfApi(endpoint=endpoint).model_info(repo_id)
        files = choose_files(s.rfilename for s in info.siblings or [])
        if not any(f.endswith((".safetensors", ".bin")) for f in files):
            raise FetchError(f"{repo_id}: the repository at {endpoint} has no .safetensors or pytorch_model.bin weights")
        if not progress:
            os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        folder = Path(snapshot_download(repo_id, allow_patterns=files, cache_dir=cache_dir,
                                        endpoint=endpoint))
    except (HfHubHTTPError, OSError) as exc:
        raise FetchError(f"{repo_id}: download from {endpoint} failed ({exc})") from None
    if hub_snapshot(repo_id, cache_dir=cache_dir) is None:
        raise FetchError(f"{repo_id}: {folder} lacks config.json or weights after the download")
    return folder


def fetch_weights(n: Need, timeout: float = 60.0, progress: bool = True) -> Path:
    """Stream a weights file to where params want it, then check its SHA-256 (prefix)."""
    to = Path(n.where)
    _download(n.meta["url"], to, timeout, progress=progress)
    h = hashlib.sha256(to.read_bytes()).hexdigest()
    want = n.meta.get("sha256") or n.meta.get("sha256_prefix")
    if want and not h.startswith(want):
        bad = to.with_name(to.name + ".sha256-mismatch")
        to.replace(bad)
        raise FetchError(f"{n.meta['url']}: SHA-256 {h} does not start with the recorded {want}; "
                         f"kept the download as {bad} for inspection")
    return to


def offline_message(todo: list[Need], why: str, cache: Path) -> str:
    lines = [f"cannot fetch models: {why}. Missing:"]
    for n in todo:
        if n.meta.get("hub"):
            lines.append(f"  - hub model {n.meta['hub']} ({','.join(n.stages)}) -> Hugging Face cache {cache}")
        else:
            lines.append(f"  - weights {n.what} ({','.join(n.stages)}) from {n.meta['url']} -> {n.where}")
    lines.append("On a machine that is online run `python -m emokit models fetch --profile full` and copy the cache "
                 "folder (HF_HOME / HF_HUB_CACHE) and the weights files to the same places here, or point a stage's "
                 "`model:` in params/02_text.yaml at a local folder.")
    return "\n".join(lines)


def fetch_all(todo: list[Need], endpoint: str | None = None, cache_dir: str | Path | None = None,
              progress: bool = True, log: Callable[[str], None] = print,
              timeout: float = 5.0) -> dict[str, str]:
    """Fetch every row of ``todo``; fails before any download when the hosts are not reachable."""
    from huggingface_hub import constants
    from tqdm.auto import tqdm

    ep = _endpoint(endpoint)
    cache = Path(cache_dir or constants.HF_HUB_CACHE)
    hub = [n for n in todo if n.meta.get("hub")]
    weights = [n for n in todo if n.meta.get("url") and not n.meta.get("hub")]
    if hub and _offline_flag():
        raise FetchError(offline_message(todo, "HF_HUB_OFFLINE=1 is set (unset it to download)", cache))
    down = [u for u in ([ep] if hub else []) + [n.meta["url"] for n in weights] if not reachable(u, timeout)]
    if down:
        raise FetchError(offline_message(todo, f"offline ({', '.join(sorted(set(down)))} not reachable)", cache))
    out: dict[str, str] = {}
    bar = tqdm(todo, desc="models", unit="model", disable=not progress, file=sys.stderr)
    for n in bar:
        bar.set_postfix_str(n.what)
        if n.meta.get("hub"):
            out[n.meta["hub"]] = str(fetch_hub(n.meta["hub"], ep, cache_dir=cache_dir, progress=progress))
        else:
            out[n.what] = str(fetch_weights(n, progress=progress))
        log(f"fetched {n.what} -> {out[n.meta.get('hub') or n.what]}")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", required=True)
    fe = sub.add_parser("fetch", help="download the hub models and weights files a profile needs (HF cache)")
    fe.add_argument("--profile", default=None, choices=("demo", "full"),
                    help="profile (default: EMOKIT_PROFILE, else params/profile.yaml)")
    fe.add_argument("--root", default=None, help="data root (only for the pre-flight's paths)")
    fe.add_argument("--no-progress", action="store_true", help="no progress bars")
    fe.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a host before calling it offline")


def run(args: argparse.Namespace) -> int:
    todo = plan(args.profile, args.root)
    if not todo:
        print("nothing to fetch: every hub model and weights file of the profile is present")
        return 0
    print("to fetch: " + ", ".join(n.what for n in todo), flush=True)
    try:
        fetch_all(todo, progress=not args.no_progress, timeout=args.timeout)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
