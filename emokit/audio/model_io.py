"""Saving and loading audio models, and one model's clip-level inference.

A model folder holds ``model_card.json`` (``kind``, data, params, metrics, wall time, profile) and:

* ``kind: crnn`` (v1 / v2 / v3 on log-mel): ``model.pt`` (state dict) + ``arch``/``arch_params``/``logmel``
  in the card;
* ``kind: linear`` (eGeMAPS or Whisper-embedding features + standardised logistic regression):
  ``head.npz`` (mean, scale, coef, intercept, classes) and ``features`` (``egemaps`` | ``whisper``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import read_card, write_card
from ..eval import softmax
from ..labels import LABELS7
from . import features as feat


@dataclass
class LinearHead:
    """StandardScaler + multinomial logistic regression, stored as plain arrays (no pickle)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray  # indices into LABELS7

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, C: float = 1.0, class_weight: str | None = "balanced",
            max_iter: int = 2000, seed: int = 42) -> "LinearHead":
        from sklearn.linear_model import LogisticRegression

        mean = x.mean(0)
        scale = x.std(0) + 1e-6
        lr = LogisticRegression(C=C, max_iter=max_iter, class_weight=class_weight, random_state=seed)
        lr.fit((x - mean) / scale, y)
        coef, icpt = lr.coef_, lr.intercept_
        if len(lr.classes_) == 2:  # sklearn stores one row for binary problems
            coef, icpt = np.vstack([-coef, coef]) / 2, np.array([-icpt[0], icpt[0]]) / 2
        return cls(mean.astype(np.float32), scale.astype(np.float32), coef.astype(np.float32),
                   icpt.astype(np.float32), lr.classes_.astype(np.int64))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = ((np.atleast_2d(x) - self.mean) / self.scale) @ self.coef.T + self.intercept
        p = softmax(z)
        out = np.zeros((len(p), len(LABELS7)), np.float64)
        out[:, self.classes] = p
        return out

    def save(self, path: Path) -> None:
        np.savez(path, mean=self.mean, scale=self.scale, coef=self.coef, intercept=self.intercept, classes=self.classes)

    @classmethod
    def load(cls, path: Path) -> "LinearHead":
        d = np.load(path)
        return cls(d["mean"], d["scale"], d["coef"], d["intercept"], d["classes"])


@dataclass
class AudioModel:
    """A loaded audio model: clip → 7 probabilities (windows averaged for long clips)."""

    path: Path | None
    card: dict[str, Any]
    net: Any = None
    head: LinearHead | None = None
    silence_db: float = -50.0
    extra: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.card["kind"]

    @property
    def sr(self) -> int:
        if self.kind == "crnn":
            return int(self.logmel_cfg.sr)
        return feat.WHISPER_SR

    @property
    def logmel_cfg(self) -> feat.LogMelConfig:
        return feat.LogMelConfig.from_params(self.card.get("logmel"))

    @property
    def name(self) -> str:
        return self.card.get("name", self.path.name if self.path else "audio-model")

    def windows(self, audio: np.ndarray) -> np.ndarray:
        return feat.windows(feat.logmel(audio, self.logmel_cfg), self.logmel_cfg)

    def predict_audio(self, audio: np.ndarray) -> tuple[np.ndarray, int]:
        """Probabilities (7,) of one mono clip at ``self.sr`` and the number of windows averaged."""
        if self.kind == "crnn":
            import torch

            w = self.windows(audio)
            self.net.eval()
            with torch.no_grad():
                logits = self.net(torch.from_numpy(w).unsqueeze(1))
            p = torch.softmax(logits.float(), dim=1).mean(0).numpy()
            return p / p.sum(), len(w)
        if self.kind == "linear":
            f = self.card["features"]
            if f == "egemaps":
                x = feat.egemaps(audio, self.sr)
            elif f == "whisper":
                # the encoder hears at most 30 s: cover the whole clip with equal windows of at most 30 s
                n = max(1, int(np.ceil(len(audio) / (feat.WHISPER_MAX_S * self.sr))))
                edges = np.linspace(0, len(audio), n + 1).astype(int)
                parts = [audio[a:b] for a, b in zip(edges[:-1], edges[1:])]
                P = np.stack([self.head.predict_proba(feat.whisper_embed(p))[0]
                              for p in parts])
                w = np.array([len(p) for p in parts], np.float64)
                p = (P * w[:, None]).sum(0) / w.sum()
                return p / p.sum(), len(parts)
            else:
                raise ValueError(f"unknown feature set {f!r} in {self.path}")
            return self.head.predict_proba(x)[0], 1
        raise ValueError(f"unknown model kind {self.kind!r} in {self.path}")

    def embed_audio(self, audio: np.ndarray) -> np.ndarray:
        """The network's embedding (v3: the 256-d BiLSTM mean), averaged over windows."""
        import torch

        if self.kind != "crnn":
            raise ValueError(f"{self.name}: embeddings come from a log-mel network, not a {self.kind} model")
        w = torch.from_numpy(self.windows(audio)).unsqueeze(1)
        self.net.eval()
        with torch.no_grad():
            e = self.net.embedding(w) if hasattr(self.net, "embedding") else self.net.features(w)
        return e.mean(0).numpy()


def save_crnn(folder: Path, net, card: dict) -> Path:
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), folder / "model.pt")
    write_card(folder, {"kind": "crnn", "name": folder.name, **card})
    return folder


def save_linear(folder: Path, head: LinearHead, card: dict) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    head.save(folder / "head.npz")
    write_card(folder, {"kind": "linear", "name": folder.name, **card})
    return folder


def load_folder(folder: Path, silence_db: float | None = None) -> AudioModel:
    folder = Path(folder)
    card_path = folder / "model_card.json"
    card = read_card(folder)
    sdb = silence_db if silence_db is not None else float(card.get("silence_db", -50.0))
    if card["kind"] == "crnn":
        import torch

        from .models import build_model

        net = build_model(card["arch"], **card.get("arch_params", {}))
        net.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
        net.eval()
        return AudioModel(folder, card, net=net, silence_db=sdb)
    if card["kind"] == "linear":
        return AudioModel(folder, card, head=LinearHead.load(folder / "head.npz"), silence_db=sdb)
    raise ValueError(f"{card_path}: unknown kind {card['kind']!r}")
