"""Hybrid fusion network of report section 4 (MulT-style cross attention + MISA-style gated residual).

    T  = proj_t(text)            A = proj_a(audio)            V = proj_v(vision)      (all -> 256)
    A' = MHA(query=T, key=value=A)        V' = MHA(query=T, key=value=V)         (text queries)
    alpha = sigmoid(W_a [T; A'])          beta = sigmoid(W_v [T; V'])
    F  = T + alpha * A' + beta * V'
    heads: 7 emotions and 3 sentiments;   loss = CE7(class weights) + 0.3 * CE3

Inputs are pooled vectors (B x D) or sequences (B x L x D: e.g. the 5 frames of a clip); widths come
from params. ``gate_override=0`` forces alpha = beta = 0, so F = T: the text-only path of the same
network (the report's "保底" fallback claim, measured by :func:`evaluate`). A modality missing for an
example (mask False) has its gate set to 0 for that example.

Data come as :class:`FusionData` (arrays + labels + split), from the demo tri-modal cache
(:func:`load_feature_npz`) or, on the full profile, from DialogueRNN-style feature pickles of MELD or
M3ED (:func:`load_dialogue_pickle`).
"""
from __future__ import annotations

import copy
import math
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..labels import INDEX7, LABELS7, SENTIMENTS3, sentiment_of

MODALITIES = ("text", "audio", "vision")
IGNORE = -100
FEATURES_FILE = "trimodal_features.npz"  # what notebook 04 caches for notebook 05 (<04 out>/cache/)


# --------------------------------------------------------------------------- data
@dataclass
class FusionData:
    """Feature arrays of one set. ``y3`` is -100 where the sentiment is unknown (e.g. Surprise
    without an annotation); ``split`` holds train/val/test per row; masks (optional) say which
    modality is present per row."""

    text: np.ndarray
    audio: np.ndarray
    vision: np.ndarray
    y7: np.ndarray
    y3: np.ndarray
    split: np.ndarray
    ids: np.ndarray | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.y7)
        for m in MODALITIES:
            a = getattr(self, m)
            if len(a) != n:
                raise ValueError(f"{self.source or 'FusionData'}: {m} has {len(a)} rows, labels {n}")
        if len(self.y3) != n or len(self.split) != n:
            raise ValueError(f"{self.source or 'FusionData'}: y3/split lengths differ from labels ({n})")
        if n and (self.y7.min() < 0 or self.y7.max() >= len(LABELS7)):
            raise ValueError("y7 must hold class indices 0..6 (canonical LABELS7 order)")

    @property
    def dims(self) -> dict[str, int]:
        return {m: int(getattr(self, m).shape[-1]) for m in MODALITIES}

    def subset(self, which: str | np.ndarray) -> "FusionData":
        idx = np.flatnonzero(self.split == which) if isinstance(which, str) else np.asarray(which)
        return FusionData(self.text[idx], self.audio[idx], self.vision[idx], self.y7[idx], self.y3[idx],
                          self.split[idx], None if self.ids is None else self.ids[idx],
                          {m: v[idx] for m, v in self.masks.items()}, self.source)

    def __len__(self) -> int:
        return len(self.y7)


def sentiments_for(labels7: Sequence[str], annotated: Sequence[str | None] | None = None) -> np.ndarray:
    """Sentiment class ids: the annotation where given, else the emotion's own sentiment
    (Surprise has none: -100, ignored by the auxiliary loss)."""
    out = []
    for i, lab in enumerate(labels7):
        s = annotated[i] if annotated is not None else None
        s = s if s in SENTIMENTS3 else sentiment_of(lab)
        out.append(SENTIMENTS3.index(s) if s is not None else IGNORE)
    return np.asarray(out, dtype=np.int64)


def save_feature_npz(path: str | Path, data: FusionData) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {f"mask_{m}": v for m, v in data.masks.items()}
    np.savez_compressed(path, text=data.text, audio=data.audio, vision=data.vision,
                        label=np.asarray([LABELS7[i] for i in data.y7]), y3=data.y3,
                        split=data.split.astype(str), ids=(data.ids if data.ids is not None
                                                           else np.arange(len(data))).astype(str),
                        **extra)
    return path


def load_feature_npz(path: str | Path, source: str | None = None) -> FusionData:
    """Arrays ``text``, ``audio``, ``vision``, ``label`` (names of the 7 classes), ``split``, and
    optionally ``y3`` (sentiment ids, -100 unknown) / ``sentiment`` (names), ``ids``, ``mask_<m>``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: feature file not found")
    z = np.load(path, allow_pickle=False)
    missing = [k for k in ("text", "audio", "vision", "label", "split") if k not in z.files]
    if missing:
        raise ValueError(f"{path}: missing arrays {missing}; has {z.files}")
    labels = [str(x) for x in z["label"]]
    bad = sorted({x for x in labels if x not in INDEX7})
    if bad:
        raise ValueError(f"{path}: labels {bad} are not among {LABELS7}")
    if "y3" in z.files:
        y3 = z["y3"].astype(np.int64)
    else:
        y3 = sentiments_for(labels, [str(s) for s in z["sentiment"]] if "sentiment" in z.files else None)
    masks = {k[5:]: z[k].astype(bool) for k in z.files if k.startswith("mask_")}
    return FusionData(z["text"].astype(np.float32), z["audio"].astype(np.float32), z["vision"].astype(np.float32),
                      np.asarray([INDEX7[x] for x in labels], dtype=np.int64), y3, z["split"].astype(str),
                      z["ids"].astype(str) if "ids" in z.files else None, masks, source or path.name)


# DialogueRNN-style pickles: a tuple whose fields are named here (MELD_features_raw.pkl has no vision;
# M3ED's release adds it). Field orders are params (full profile), these are the defaults.
DIALOGUE_FIELDS = {
    "meld": ("ids", "speakers", "labels", "text", "audio", "sentence", "train", "test"),
    "m3ed": ("ids", "speakers", "labels", "text", "audio", "vision", "sentence", "train", "val", "test"),
}
# Integer codes of those pickles -> our names (MELD: DialogueRNN/COSMIC order; M3ED: its README).
DIALOGUE_LABELS = {
    "meld": ("Neutral", "Surprise", "Fear", "Sad", "Happy", "Disgust", "Angry"),
    "m3ed": ("Happy", "Neutral", "Sad", "Disgust", "Angry", "Fear", "Surprise"),
}


def load_dialogue_pickle(path: str | Path, kind: str = "m3ed", fields: Sequence[str] | None = None,
                         label_order: Sequence[str] | None = None, val_fraction: float = 0.1,
                         seed: int = 42) -> FusionData:
    """Utterance features from a DialogueRNN-style pickle (dicts keyed by dialogue id, one list
    entry per utterance). A modality absent from the file (MELD has no vision features) becomes a
    1-wide zero column with its mask False. Without a ``val`` id list, ``val_fraction`` of the
    training dialogues (seeded) become validation."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: feature pickle not found (full profile: see docs/05_hybrid_fusion.md)")
    with path.open("rb") as fh:
        obj = pickle.load(fh, encoding="latin1")
    fields = tuple(fields or DIALOGUE_FIELDS[kind])
    label_order = tuple(label_order or DIALOGUE_LABELS[kind])
    if isinstance(obj, Mapping):
        parts = dict(obj)
    else:
        if len(obj) < len(fields):
            raise ValueError(f"{path}: pickle has {len(obj)} fields, expected at least {len(fields)} ({fields})")
        parts = dict(zip(fields, obj))
    for need in ("labels", "text", "train", "test"):
        if need not in parts:
            raise ValueError(f"{path}: no {need!r} field (fields {fields})")
    split_of: dict[Any, str] = {}
    train_ids = list(parts["train"])
    if "val" in parts and parts["val"] is not None and len(parts["val"]):
        split_of.update({d: "val" for d in parts["val"]})
    else:
        rng = np.random.default_rng(seed)
        n_val = max(1, int(round(val_fraction * len(train_ids))))
        split_of.update({train_ids[i]: "val" for i in rng.permutation(len(train_ids))[:n_val]})
    for d in train_ids:
        split_of.setdefault(d, "train")
    split_of.update({d: "test" for d in parts["test"]})
    rows: dict[str, list] = {m: [] for m in MODALITIES}
    y, split, ids = [], [], []
    present = {m: m in parts and parts[m] is not None for m in MODALITIES}
    for dia in [*train_ids, *[d for d in split_of if d not in train_ids]]:
        labs = list(parts["labels"][dia])
        for u, lab in enumerate(labs):
            name = label_order[int(lab)] if not isinstance(lab, str) else lab
            y.append(INDEX7[name])
            split.append(split_of[dia])
            ids.append(f"{dia}:{u}")
            for m in MODALITIES:
                rows[m].append(np.asarray(parts[m][dia][u], dtype=np.float32) if present[m] else np.zeros(1, np.float32))
    arrays = {m: np.stack(rows[m]) for m in MODALITIES}
    y7 = np.asarray(y, dtype=np.int64)
    masks = {m: np.full(len(y7), present[m]) for m in MODALITIES}
    return FusionData(arrays["text"], arrays["audio"], arrays["vision"], y7,
                      sentiments_for([LABELS7[i] for i in y7]), np.asarray(split), np.asarray(ids), masks,
                      f"{kind}:{path.name}")


# --------------------------------------------------------------------------- model
def _torch():
    import torch

    return torch


def build_model(dims: Mapping[str, int], d_model: int = 256, heads: int = 4, dropout: float = 0.3,
                n_classes: int = 7, n_sentiments: int = 3):
    """The network (a ``torch.nn.Module``); see the module docstring."""
    torch = _torch()
    nn = torch.nn

    class HybridFusion(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dims = dict(dims)
            self.proj = nn.ModuleDict({m: nn.Linear(int(dims[m]), d_model) for m in MODALITIES})
            self.drop = nn.Dropout(dropout)
            self.attn_a = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
            self.attn_v = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
            self.gate_a = nn.Linear(2 * d_model, 1)
            self.gate_v = nn.Linear(2 * d_model, 1)
            self.norm = nn.LayerNorm(d_model)
            self.head7 = nn.Linear(d_model, n_classes)
            self.head3 = nn.Linear(d_model, n_sentiments)
            for m in MODALITIES:  # input standardisation (set from the training split)
                self.register_buffer(f"mean_{m}", torch.zeros(int(dims[m])))
                self.register_buffer(f"std_{m}", torch.ones(int(dims[m])))

        def _seq(self, x, m):
            x = (x - getattr(self, f"mean_{m}")) / getattr(self, f"std_{m}")
            x = self.drop(self.proj[m](x))
            return x if x.dim() == 3 else x.unsqueeze(1)

        def forward(self, text, audio, vision, mask_a=None, mask_v=None, gate_override=None):
            t = self._seq(text, "text")
            a = self._seq(audio, "audio")
            v = self._seq(vision, "vision")
            a2, _ = self.attn_a(t, a, a, need_weights=False)
            v2, _ = self.attn_v(t, v, v, need_weights=False)
            t, a2, v2 = t.mean(1), a2.mean(1), v2.mean(1)
            alpha = torch.sigmoid(self.gate_a(torch.cat([t, a2], dim=-1)))
            beta = torch.sigmoid(self.gate_v(torch.cat([t, v2], dim=-1)))
            if gate_override is not None:
                alpha = torch.full_like(alpha, float(gate_override))
                beta = torch.full_like(beta, float(gate_override))
            if mask_a is not None:
                alpha = alpha * mask_a.view(-1, 1).to(alpha.dtype)
            if mask_v is not None:
                beta = beta * mask_v.view(-1, 1).to(beta.dtype)
            f = self.norm(t + alpha * a2 + beta * v2)
            f = self.drop(f)
            return self.head7(f), self.head3(f), alpha.squeeze(-1), beta.squeeze(-1)

    return HybridFusion()


def _tensors(data: FusionData):
    torch = _torch()
    t = {m: torch.as_tensor(getattr(data, m), dtype=torch.float32) for m in MODALITIES}
    ma = torch.as_tensor(data.masks.get("audio", np.ones(len(data), bool)))
    mv = torch.as_tensor(data.masks.get("vision", np.ones(len(data), bool)))
    return t, ma, mv, torch.as_tensor(data.y7), torch.as_tensor(data.y3)


def predict_proba(model, data: FusionData, gate_override: float | None = None, batch: int = 512):
    """(probs7 N x 7, probs3 N x 3, alpha N, beta N) in eval mode."""
    torch = _torch()
    model.eval()
    t, ma, mv, _, _ = _tensors(data)
    outs = []
    with torch.no_grad():
        for s in range(0, len(data), batch):
            sl = slice(s, s + batch)
            o = model(t["text"][sl], t["audio"][sl], t["vision"][sl], ma[sl], mv[sl], gate_override)
            outs.append([torch.softmax(o[0], -1), torch.softmax(o[1], -1), o[2], o[3]])
    return tuple(torch.cat([o[i] for o in outs]).numpy() for i in range(4))


def evaluate(model, data: FusionData, gate_override: float | None = None) -> dict[str, Any]:
    from ..eval import confusion, scores_from_confusion

    p7, p3, alpha, beta = predict_proba(model, data, gate_override)
    pred = p7.argmax(1)
    s = scores_from_confusion(confusion(data.y7, pred))
    known = data.y3 != IGNORE
    out = {k: float(v) for k, v in s.items()}
    out["sentiment_accuracy"] = float((p3.argmax(1)[known] == data.y3[known]).mean()) if known.any() else float("nan")
    out["gate_alpha_mean"] = float(alpha.mean()) if len(alpha) else float("nan")
    out["gate_beta_mean"] = float(beta.mean()) if len(beta) else float("nan")
    out["pred"] = pred
    out["probs"] = p7
    return out


@dataclass
class TrainResult:
    model: Any
    history: list[dict[str, float]]
    best_epoch: int
    best_val: dict[str, Any]
    wall_time_s: float
    config: dict[str, Any]


DEFAULT_CONFIG = {
    "d_model": 256, "heads": 4, "dropout": 0.3, "weight_decay": 1e-5, "lr": 1e-3, "epochs": 30,
    "batch_size": 32, "aux_weight": 0.3, "class_weights": "balanced", "seed": 42, "patience": 8,
    "select_on": "f1_weighted", "fixed_gate": None, "threads": 1,
}


def train(data: FusionData, config: Mapping[str, Any] | None = None, verbose: bool = False) -> TrainResult:
    """Train on ``split == 'train'``, select the epoch with the best validation ``select_on``
    (``split == 'val'``); returns the best model, the per-epoch history and the validation scores.
    ``fixed_gate`` (e.g. 0.0) trains with the gates forced to that value (a text-only baseline)."""
    torch = _torch()
    cfg = {**DEFAULT_CONFIG, **(config or {})}
    torch.manual_seed(int(cfg["seed"]))
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    tr, va = data.subset("train"), data.subset("val")
    if len(tr) == 0 or len(va) == 0:
        raise ValueError(f"{data.source}: need train and val rows (have {len(tr)} train, {len(va)} val)")
    model = build_model(data.dims, int(cfg["d_model"]), int(cfg["heads"]), float(cfg["dropout"]))
    for m in MODALITIES:
        x = getattr(tr, m).reshape(-1, data.dims[m])
        getattr(model, f"mean_{m}").copy_(torch.as_tensor(x.mean(0)))
        getattr(model, f"std_{m}").copy_(torch.as_tensor(x.std(0) + 1e-6))
    from ..eval import class_weights

    cw = class_weights(tr.y7, cfg["class_weights"])
    ce7 = torch.nn.CrossEntropyLoss(weight=None if cw is None else torch.as_tensor(cw, dtype=torch.float32))
    ce3 = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
    opt = torch.optim.AdamW(model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    t, ma, mv, y7, y3 = _tensors(tr)
    vt, vma, vmv, vy7, vy3 = _tensors(va)
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    fixed = cfg.get("fixed_gate")
    history: list[dict[str, float]] = []
    best = (-math.inf, -1, None, None)
    bad = 0
    t0 = time.perf_counter()

    def loss_of(o, a7, a3):
        l3 = ce3(o[1], a3) if (a3 != IGNORE).any() else o[1].sum() * 0
        return ce7(o[0], a7) + float(cfg["aux_weight"]) * l3

    for epoch in range(int(cfg["epochs"])):
        model.train()
        perm = torch.randperm(len(tr), generator=gen)
        total, seen = 0.0, 0
        for s in range(0, len(tr), int(cfg["batch_size"])):
            i = perm[s:s + int(cfg["batch_size"])]
            o = model(t["text"][i], t["audio"][i], t["vision"][i], ma[i], mv[i], fixed)
            loss = loss_of(o, y7[i], y3[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(i)
            seen += len(i)
        model.eval()
        with torch.no_grad():
            vo = model(vt["text"], vt["audio"], vt["vision"], vma, vmv, fixed)
            vloss = float(loss_of(vo, vy7, vy3))
        ev = evaluate(model, va, fixed)
        row = {"epoch": epoch + 1, "train_loss": total / max(seen, 1), "val_loss": vloss,
               "val_f1_weighted": ev["f1_weighted"], "val_accuracy": ev["accuracy"],
               "val_f1_macro": ev["f1_macro"], "gate_alpha": ev["gate_alpha_mean"], "gate_beta": ev["gate_beta_mean"]}
        history.append(row)
        if verbose:
            print(row)
        key = ev[cfg["select_on"]]
        if key > best[0] + 1e-9:
            best = (key, epoch + 1, copy.deepcopy(model.state_dict()), ev)
            bad = 0
        else:
            bad += 1
            if cfg.get("patience") and bad >= int(cfg["patience"]):
                break
    model.load_state_dict(best[2])
    model.eval()
    best_val = {k: v for k, v in best[3].items() if k not in ("pred", "probs")}
    return TrainResult(model, history, best[1], best_val, time.perf_counter() - t0, cfg)


def save_model(result: TrainResult, folder: str | Path, card: Mapping[str, Any]) -> Path:
    from ..artifacts import write_card

    torch = _torch()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(result.model.state_dict(), folder / "model.pt")
    write_card(folder, {"kind": "hybrid_fusion", "params": result.config, **card, "dims": result.model.dims,
                        "config": result.config, "best_epoch": result.best_epoch,
                        "metrics": {f"val.{k}": v for k, v in result.best_val.items()},
                        "val": result.best_val, "wall_time_s": round(result.wall_time_s, 2)})
    return folder


CURVE_PANELS = {"loss (CE7 + 0.3 CE3)": ["train_loss", "val_loss"], "validation weighted F1": ["val_f1_weighted"],
                "mean gate values (validation: alpha audio, beta vision)": ["gate_alpha", "gate_beta"]}
