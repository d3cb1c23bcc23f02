"""Reading a text file whose encoding nobody told us (``predict text --file``).

UTF-8 (with or without a BOM) and BOM-marked UTF-16/32 are read as such. Anything else goes to
charset-normalizer, which lists the encodings that decode the bytes with the least "chaos". A short
file is ambiguous (8 bytes of GBK also decode as Big5 or CP949), so among the candidates within
``chaos_slack`` of the best, the one whose text looks most like real text wins: ASCII, Latin letters,
the 3,755 common hanzi of GB2312 level 1, kana, Hangul and CJK punctuation count as plausible; rare
ideographs and symbols, which are what a wrong CJK codec produces, do not. The result always names
the encoding used and, when it was guessed, says so (the CLI puts that warning on every line's
prediction). Bytes no encoding decodes sensibly raise :class:`TextFileError`: the file gets one
``error``, never a line of replacement characters scored as text.
"""
from __future__ import annotations

import codecs
import unicodedata
from dataclasses import dataclass
from pathlib import Path


class TextFileError(ValueError):
    """A text input file that is missing, a folder, unreadable or undecodable."""


@dataclass
class DecodedText:
    text: str
    encoding: str
    guessed: bool

    @property
    def warning(self) -> str:
        if not self.guessed:
            return ""
        return (f"not valid UTF-8: decoded as {self.encoding} (guessed by charset-normalizer; "
                f"pass --encoding to be sure)")


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_CJK_PUNCT = set("，。！？、；：“”‘’（）《》【】…—～·「」『』")


def _encodes(c: str, enc: str) -> bool:
    try:
        c.encode(enc)
        return True
    except UnicodeEncodeError:
        return False


def _common_hanzi(c: str) -> bool:
    try:
        b = c.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return len(b) == 2 and 0xB0 <= b[0] <= 0xD7  # GB2312 level 1: the most frequent characters


def plausibility(text: str) -> float:
    """Share of the characters that real text is made of (see the module doc)."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 1.0
    good = 0
    for c in chars:
        o = ord(c)
        if 0x20 <= o < 0x7F or c in _CJK_PUNCT:
            good += 1
        elif 0xC0 <= o <= 0xFF and c.isalpha():           # Latin-1 letters with accents
            good += 1
        elif (0x100 <= o <= 0x24F or 0x370 <= o <= 0x4FF) and c.isalpha():  # other Latin, Greek, Cyrillic
            good += 0.9
        elif 0x3040 <= o <= 0x30FF and _encodes(c, "shift_jis"):   # kana
            good += 1
        elif 0xAC00 <= o <= 0xD7A3 and _encodes(c, "euc_kr"):      # the 2,350 common Hangul syllables
            good += 0.9
        elif 0x4E00 <= o <= 0x9FFF and _common_hanzi(c):
            good += 1
        elif unicodedata.category(c) in ("Po", "Pd", "Ps", "Pe", "Sc") and o < 0x2100:
            good += 0.5
    return good / len(chars)


def decode_bytes(raw: bytes, encoding: str | None = None, chaos_slack: float = 0.1,
                 max_chaos: float = 0.15, min_plausible: float = 0.6) -> DecodedText:
    """Decode ``raw`` (see the module doc); ``encoding`` forces one. Raises :class:`TextFileError`."""
    if encoding:
        try:
            return DecodedText(raw.decode(encoding), encoding, False)
        except (UnicodeDecodeError, LookupError) as exc:
            raise TextFileError(f"cannot decode as {encoding}: {exc}") from None
    for bom, enc in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw.decode(enc)
            except UnicodeDecodeError:
                break
            if plausibility(text) >= min_plausible:  # else a BOM by accident: guess below
                return DecodedText(text, enc, False)
            break
    try:
        return DecodedText(raw.decode("utf-8"), "utf-8", False)
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    import charset_normalizer

    matches = [m for m in charset_normalizer.from_bytes(raw) if m.chaos <= max_chaos]
    if not matches:
        raise TextFileError(f"not valid UTF-8 (first bad byte at {first_bad}) and no text encoding decodes it "
                            f"sensibly; pass --encoding")
    least = min(m.chaos for m in matches)
    near = [m for m in matches if m.chaos <= least + chaos_slack]
    scored = [(plausibility(str(m)), -i, m) for i, m in enumerate(near)]
    score, _, best = max(scored, key=lambda t: t[:2])
    if score < min_plausible:
        raise TextFileError(f"not valid UTF-8 (first bad byte at {first_bad}); the best guess ({best.encoding}) "
                            f"does not look like text; pass --encoding")
    return DecodedText(str(best), best.encoding, True)


def read_text_file(path: str | Path, encoding: str | None = None) -> DecodedText:
    """The decoded contents of ``path``; :class:`TextFileError` naming the file and the problem."""
    p = Path(path)
    if not p.exists():
        raise TextFileError(f"{p}: file not found")
    if p.is_dir():
        raise TextFileError(f"{p}: is a folder, not a text file")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise TextFileError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    try:
        return decode_bytes(raw, encoding)
    except TextFileError as exc:
        raise TextFileError(f"{p}: {exc}") from None
