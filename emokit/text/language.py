"""Which text model answers: language identification with ``py3langid`` (langid.py's maintained
fork, BSD-3; its naive-Bayes model over byte n-grams ships in the wheel, 97 languages, offline)
plus the scripts the text is written in.

Routes:

- ``zh``: Chinese (langid says a Chinese language: zh, or yue/wuu/... which langid keeps apart),
  or any text holding Han characters, mixed Chinese-English included (``mixed: true``): the
  Chinese model (multilingual e5 embeddings, trained on Weibo posts and English rows);
- ``multilingual``: another language langid is confident about (Japanese, Korean, French, ...):
  the same multilingual model, with a warning that it was trained on Chinese and English only;
- ``en``: English, and Latin-script text langid is unsure about (short phrases such as "ok",
  emoji-only input): the English model.

Text containing Han characters is never sent to the English model.
"""
from __future__ import annotations

import threading
import unicodedata
from dataclasses import asdict, dataclass
from typing import Mapping

CHINESE_CODES = frozenset({"zh", "yue", "wuu", "lzh", "gan", "hak", "nan", "cdo", "cjy", "hsn", "cmn", "cpx"})
DEFAULTS = {"min_other_confidence": 0.9,  # Latin text leaves the English route only when langid is this sure
            "min_other_chars": 12,        # ... and the text has at least this many letters
            "mixed_min_share": 0.2}       # two scripts with at least this share each (Latin letters / 3): "mixed"
_IDENT = None
_LOCK = threading.Lock()


@dataclass
class Language:
    language: str            # langid's ISO 639 code ('und' when there are no letters)
    confidence: float        # langid's normalised probability of that code
    route: str               # en | zh | multilingual
    mixed: bool              # two scripts (e.g. Han and Latin) each hold a sizeable share of the text
    scripts: dict            # letters per script: han, kana, hangul, latin, other

    def to_dict(self) -> dict:
        return asdict(self)


def identifier():
    """The py3langid identifier (loaded once, about 1.5 s; normalised probabilities)."""
    global _IDENT
    with _LOCK:
        if _IDENT is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _IDENT = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _IDENT


def scripts(text: str) -> dict[str, int]:
    out = {"han": 0, "kana": 0, "hangul": 0, "latin": 0, "other": 0}
    for c in text:
        o = ord(c)
        if 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FA1F:
            out["han"] += 1
        elif 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF:
            out["kana"] += 1
        elif 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF:
            out["hangul"] += 1
        elif c.isalpha():
            if c.isascii() or "LATIN" in unicodedata.name(c, ""):
                out["latin"] += 1
            else:
                out["other"] += 1
    return out


def detect(text: str, settings: Mapping | None = None) -> Language:
    """The route for one text (see the module docstring)."""
    cfg = {**DEFAULTS, **(settings or {})}
    sc = scripts(text)
    letters = sum(sc.values())
    if letters == 0:
        return Language("und", 0.0, "en", False, sc)
    lang, conf = identifier().classify(text)
    conf = float(conf)
    cjk = sc["han"] + sc["kana"] + sc["hangul"]
    # a Han/kana/hangul character carries about as much as a short Latin word: count Latin (and
    # other alphabetic) letters in thirds so that "今天的meeting让我很angry" is mixed
    units = {k: (v / 3 if k in ("latin", "other") else v) for k, v in sc.items()}
    total = sum(units.values())
    mixed = sum(1 for v in units.values() if v / total >= cfg["mixed_min_share"]) >= 2
    if sc["han"] > 0 and (lang in CHINESE_CODES or sc["kana"] + sc["hangul"] == 0):
        return Language(lang if lang in CHINESE_CODES else "zh", conf, "zh", mixed, sc)
    if cjk > 0 or (lang != "en" and conf >= cfg["min_other_confidence"] and letters >= cfg["min_other_chars"]):
        return Language(lang, conf, "multilingual", mixed, sc)
    return Language(lang, conf, "en", mixed, sc)
