"""The sets late and hybrid fusion are measured on, and the cached per-modality outputs.

Full profile (the report's protocol): MELD itself. Each utterance's clip gives the face (5 frames)
and the voice, the CSV gives the sentence; dev tunes, test evaluates (:func:`meld_clip_set`).

Demo profile: MELD's clips are not available offline, so there is no real tri-modal recording.
:func:`draw_triples` builds a **label-matched tri-modal set** instead: each row pairs a held-out
FER2013 face, a held-out RAVDESS/EmoDB voice and a MELD-test sentence that carry the *same* label,
drawn with a fixed seed. The three signals come from different people, so the set measures how the
three models' errors combine, not how one person's face, voice and words interact; it is named
``label-matched triples`` everywhere it is reported. "Held-out" means the rows the modality
chapters list as ``test`` (or the splits named in params) in their ``splits.csv``.

Per-modality outputs are computed once and cached under ``<out_dir>/cache/`` (a DVC output):
``<modality>_probs.npz`` (inputs, N x 7 probabilities with NaN rows where the model gave no
answer, status, detail) and ``<modality>_embed.npz`` (inputs, N x D embeddings).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..artifacts import SPLITS_COLUMNS, read_splits
from ..labels import LABELS7

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------- pools
def read_heldout(chapter: str, artifacts_root: str | Path, splits: Sequence[str] = ("test",),
                 sources: Sequence[str] | None = None):
    """Rows of ``<artifacts_root>/<chapter>/splits.csv`` whose split is in ``splits`` (a DataFrame)."""
    import pandas as pd

    path = Path(artifacts_root) / chapter / "splits.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `dvc repro {chapter}` (or `python -m emokit.pipeline "
                                f"run {chapter}`) first; fusion draws only from the modality chapters' held-out rows")
    df = pd.DataFrame([{c: getattr(r, c) or "" for c in SPLITS_COLUMNS} for r in read_splits(path)],
                      columns=list(SPLITS_COLUMNS))
    keep = df["split"].isin(list(splits)) & df["label"].isin(LABELS7)
    if sources:
        keep &= df["source"].isin(list(sources))
    out = df[keep].reset_index(drop=True)
    if out.empty:
        raise ValueError(f"{path}: no rows with split in {list(splits)}"
                         + (f" and source in {list(sources)}" if sources else "")
                         + f" (splits present: {sorted(df['split'].unique())}, sources: {sorted(df['source'].unique())})")
    return out


def meld_text_pool(root: str | Path, split: str = "test"):
    """MELD utterances of one official split as a DataFrame (input = text, label, sentiment, group)."""
    import pandas as pd

    from ..data.readers import read_meld

    recs, _ = read_meld(Path(root), split)
    return pd.DataFrame({"input": [r.input for r in recs], "label": [r.label for r in recs],
                         "source": "meld", "group": [r.group for r in recs], "split": split,
                         "sentiment": [r.extra["sentiment"].capitalize() for r in recs]})


# --------------------------------------------------------------------------- triples
def _assign_groups(groups: Sequence[str], labels: Sequence[str], fractions: Mapping[str, float],
                   rng: np.random.Generator) -> dict[str, str]:
    """Whole groups to splits, per label in turn so every split gets each label where possible."""
    names = list(fractions)
    share = np.array([fractions[k] for k in names], dtype=float)
    share = share / share.sum()
    by_label: dict[str, list[str]] = {}
    for g, lab in zip(groups, labels):
        by_label.setdefault(lab, [])
        if g not in by_label[lab]:
            by_label[lab].append(g)
    out: dict[str, str] = {}
    for lab in sorted(by_label):
        gs = [g for g in by_label[lab] if g not in out]
        gs = [gs[i] for i in rng.permutation(len(gs))]
        counts = np.floor(share * len(gs)).astype(int)
        for i in np.argsort(-share):  # remainder to the largest shares first
            if counts.sum() >= len(gs):
                break
            counts[i] += 1
        # small classes: make sure the evaluation splits are not empty when there are >= 3 groups
        for i in range(len(names) - 1, 0, -1):
            if counts[i] == 0 and len(gs) >= len(names):
                j = int(np.argmax(counts))
                counts[j] -= 1
                counts[i] += 1
        pos = 0
        for name, c in zip(names, counts):
            for g in gs[pos:pos + c]:
                out[g] = name
            pos += c
    return out


def draw_triples(vision, audio, text, seed: int = 42, pairs_per_voice: int = 1,
                 max_per_class: int | None = None, fractions: Mapping[str, float] | None = None,
                 labels: Sequence[str] = LABELS7, group_by: str = "recording"):
    """Label-matched triples (a DataFrame) from three pools (DataFrames with input, label, group).

    Per label: every voice of that label is used ``pairs_per_voice`` times (each time with a
    different face and sentence); faces and sentences are drawn without replacement, so a label
    has ``min(voices * pairs_per_voice, faces, sentences)`` rows (capped by ``max_per_class``).
    Rows are assigned to ``fractions`` splits (default train/val/test 0.5/0.25/0.25), per label,
    by ``group_by``: ``recording`` (all rows of one voice recording land in one split; a speaker
    may appear in several: every voice is held out from the audio model either way) or ``speaker``
    (the audio pool's group: stricter, but a held-out pool of a few speakers then gives very uneven
    splits).
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    fractions = dict(fractions or {"train": 0.5, "val": 0.25, "test": 0.25})
    rows = []
    for lab in labels:
        v = vision[vision["label"] == lab]
        a = audio[audio["label"] == lab]
        t = text[text["label"] == lab]
        if len(v) == 0 or len(a) == 0 or len(t) == 0:
            log.info("draw_triples: no %s triple (faces %d, voices %d, sentences %d)", lab, len(v), len(a), len(t))
            continue
        n = min(len(a) * pairs_per_voice, len(v), len(t))
        if max_per_class:
            n = min(n, int(max_per_class))
        # spread the cut over voices: the first n of a voice-major interleave
        order = np.concatenate([rng.permutation(len(a)) for _ in range(pairs_per_voice)])[:n]
        fi = rng.permutation(len(v))[:n]
        ti = rng.permutation(len(t))[:n]
        for k in range(n):
            ar, vr, tr = a.iloc[order[k]], v.iloc[fi[k]], t.iloc[ti[k]]
            rows.append({"label": lab, "vision": vr["input"], "vision_source": vr.get("source", ""),
                         "audio": ar["input"], "audio_source": ar.get("source", ""), "audio_group": ar["group"],
                         "text": tr["input"], "text_source": tr.get("source", ""),
                         "sentiment": tr.get("sentiment", "")})
    if not rows:
        raise ValueError("no label has a face, a voice and a sentence: cannot build label-matched triples")
    df = pd.DataFrame(rows)
    if group_by not in ("recording", "speaker"):
        raise ValueError(f"group_by must be recording or speaker, got {group_by!r}")
    key = "audio" if group_by == "recording" else "audio_group"
    where = _assign_groups(df[key].tolist(), df["label"].tolist(), fractions, rng)
    df["split"] = df[key].map(where)
    df.insert(0, "id", [f"triple-{i:04d}" for i in range(len(df))])
    return df


def meld_clip_set(root: str | Path, clips: Mapping[str, str | Path], splits=("dev", "test")):
    """Full profile: MELD utterances whose clip exists (vision = audio = the clip, text = the CSV).
    ``clips`` maps split -> the MELD.Raw folder of that split (e.g. ``output_repeated_splits_test``).
    MELD dev becomes ``val`` (tuning), test stays ``test``; train (for the hybrid network) ``train``."""
    import pandas as pd

    from ..data.readers import read_meld

    rows = []
    for split in splits:
        if split not in clips:
            raise KeyError(f"no MELD.Raw clip folder given for split {split!r}")
        recs, _ = read_meld(Path(root), split, clips_dir=Path(clips[split]))
        have = [r for r in recs if r.extra.get("clip")]
        if not have:
            raise FileNotFoundError(f"{clips[split]}: no MELD clips (expected dia<D>_utt<U>.mp4) for {split}")
        for r in have:
            rows.append({"label": r.label, "vision": r.extra["clip"], "vision_source": "meld",
                         "audio": r.extra["clip"], "audio_source": "meld", "audio_group": r.group,
                         "text": r.input, "text_source": "meld", "sentiment": r.extra["sentiment"].capitalize(),
                         "split": {"dev": "val"}.get(split, split)})
    df = pd.DataFrame(rows)
    df.insert(0, "id", [f"meld-{i:05d}" for i in range(len(df))])
    return df


# --------------------------------------------------------------------------- caches
def _npz_path(cache_dir: Path, modality: str, kind: str) -> Path:
    return Path(cache_dir) / f"{modality}_{kind}.npz"


def cached_predictions(modality: str, inputs: Sequence[str], predict: Callable[[list[str]], list[Any]],
                       cache_dir: str | Path, batch: int = 64, refresh: bool = False) -> dict[str, Any]:
    """Probabilities of ``inputs`` (unique, in order), computed with ``predict`` for the inputs not yet
    in ``<cache_dir>/<modality>_probs.npz`` and saved back. Returns {inputs, probs, status, detail}
    for exactly ``inputs``; a failed input has a NaN row and its status/detail."""
    path = _npz_path(Path(cache_dir), modality, "probs")
    known: dict[str, tuple[np.ndarray, str, str]] = {}
    if path.exists() and not refresh:
        z = np.load(path, allow_pickle=False)
        for i, s, p, d in zip(z["inputs"], z["status"], z["probs"], z["detail"]):
            known[str(i)] = (p, str(s), str(d))
    todo = [x for x in dict.fromkeys(inputs) if x not in known]
    for s in range(0, len(todo), batch):
        chunk = todo[s:s + batch]
        preds = predict(chunk)
        if len(preds) != len(chunk):
            raise RuntimeError(f"{modality}.predict returned {len(preds)} predictions for {len(chunk)} inputs")
        for x, p in zip(chunk, preds):
            probs = np.asarray(p.probabilities, dtype=np.float64) if p.ok else np.full(len(LABELS7), np.nan)
            known[x] = (probs, p.status, p.detail)
    if todo or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(known)
        np.savez_compressed(path, inputs=np.asarray(keys, dtype=str),
                            probs=np.stack([known[k][0] for k in keys]),
                            status=np.asarray([known[k][1] for k in keys], dtype=str),
                            detail=np.asarray([known[k][2] for k in keys], dtype=str))
    inputs = list(inputs)
    return {"inputs": inputs, "probs": np.stack([known[x][0] for x in inputs]) if inputs else np.zeros((0, 7)),
            "status": [known[x][1] for x in inputs], "detail": [known[x][2] for x in inputs]}


def cached_embeddings(modality: str, inputs: Sequence[str], embed: Callable[[list[str]], np.ndarray],
                      cache_dir: str | Path, refresh: bool = False) -> np.ndarray:
    """N x D embeddings of ``inputs`` (cached in ``<cache_dir>/<modality>_embed.npz``)."""
    path = _npz_path(Path(cache_dir), modality, "embed")
    known: dict[str, np.ndarray] = {}
    if path.exists() and not refresh:
        z = np.load(path, allow_pickle=False)
        known = {str(i): e for i, e in zip(z["inputs"], z["emb"])}
    todo = [x for x in dict.fromkeys(inputs) if x not in known]
    if todo:
        emb = np.asarray(embed(todo), dtype=np.float32)
        if emb.shape[0] != len(todo):
            raise RuntimeError(f"{modality}.embed returned {emb.shape[0]} rows for {len(todo)} inputs")
        dims = {e.shape for e in known.values()}
        if dims and dims != {emb.shape[1:]}:
            raise RuntimeError(f"{path}: cached width {dims} differs from the model's {emb.shape[1:]}; refresh the cache")
        known.update(zip(todo, emb))
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(known)
        np.savez_compressed(path, inputs=np.asarray(keys, dtype=str), emb=np.stack([known[k] for k in keys]))
    return np.stack([known[x] for x in inputs]).astype(np.float32)
