"""Text normalisation before matching: what a keyword must survive. No Django.

Each character of the input maps to zero or more characters of the normalised text, independently
of its neighbours, so that a match in the normalised text maps back to a span of the input:

1. format characters (Unicode category Cf: zero-width space/joiners, bidi controls, the BOM, the
   soft hyphen) and variation selectors are removed;
2. compatibility decomposition (NFKD, then NFC): full-width Latin letters and digits become
   half-width, the ideographic space a space, ligatures their letters (this is NFKC, applied per
   character);
3. combining diacritical marks are removed (``ḱíll`` reads ``kill``);
4. case folding;
5. a few Cyrillic and Greek letters that look like Latin ones become the Latin letter;
6. traditional Chinese characters become simplified ones (OpenCC ``t2s``, per character: OpenCC's
   phrase table is not used, which only matters for the rare characters whose simplified form
   depends on the word).

The pinyin view (`pinyin_view`) spells each Chinese character in toneless pinyin (its first
reading, pypinyin's table) and keeps only letters and digits, so that a Chinese keyword also
matches its pinyin spelling ("zha dan"), homophones with another character (same first reading)
and mixtures ("炸dan").

Tables are built on first use and cached per process; `normalise` is a single ``str.translate``.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata

INVISIBLE = frozenset(
    [chr(c) for c in (0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0)]
    + [chr(c) for c in range(0xFE00, 0xFE10)]  # variation selectors
)
COMBINING_RANGES = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))
CONFUSABLES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g",
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
    "χ": "x",
}
CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2A6DF))


_CJK = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in CJK_RANGES) + "]")


def is_cjk(ch: str) -> bool:
    return _CJK.match(ch) is not None


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def _is_combining(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in COMBINING_RANGES)


@functools.cache
def t2s_table() -> dict[str, str]:
    """Return OpenCC's traditional → simplified mapping for every CJK character it changes."""
    import opencc

    converter = opencc.OpenCC("t2s")
    chars = [chr(c) for lo, hi in CJK_RANGES[:3] for c in range(lo, hi + 1)]
    converted = converter.convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):  # a phrase rule joined lines: fall back to one call per character
        converted = [converter.convert(c) for c in chars]
    return {c: s for c, s in zip(chars, converted, strict=True) if s != c}


def _normalise_char(ch: str) -> str:
    if ch.isspace():
        return " "  # tabs, line breaks, no-break and ideographic spaces read as a space
    if ch in INVISIBLE or unicodedata.category(ch) == "Cf" or _is_combining(ch):
        return ""
    decomposed = unicodedata.normalize("NFKD", ch)
    kept = "".join(c for c in decomposed if not _is_combining(c) and unicodedata.category(c) != "Cf")
    folded = unicodedata.normalize("NFC", kept).casefold()
    t2s = t2s_table()
    return "".join(CONFUSABLES.get(c) or t2s.get(c, c) for c in folded)


class _CharTable(dict):
    """ord(character) → normalised text, filled on first sight of each character (a str.translate table)."""

    def __missing__(self, code: int) -> str:
        value = _normalise_char(chr(code))
        self[code] = value
        return value


_TABLE = _CharTable({c: chr(c).lower() for c in range(0x20, 0x7F)})


def normalise(text: str) -> str:
    """Return `text` normalised for matching (see the module docstring)."""
    return text.translate(_TABLE)


def boundaries(text: str) -> list[int]:
    """Return where each input character's piece ends in normalise(text) (cumulative lengths).

    The input character behind normalised position p is bisect_right(boundaries, p).
    """
    return list(itertools.accumulate(map(len, map(_TABLE.__getitem__, map(ord, text)))))


#
# The pinyin view
#


@functools.cache
def _pinyin_dict() -> dict[int, str]:
    from pypinyin.pinyin_dict import pinyin_dict

    return pinyin_dict


def toneless_pinyin(ch: str) -> str:
    """Return a Chinese character's first reading in toneless pinyin (ü as v), or the character itself."""
    readings = _pinyin_dict().get(ord(ch))
    if not readings:
        return ch
    first = readings.split(",", 1)[0].replace("ü", "v")
    return "".join(c for c in unicodedata.normalize("NFKD", first) if not _is_combining(c)).lower()


class _PinyinTable(dict):
    def __missing__(self, code: int) -> str:
        ch = chr(code)
        value = toneless_pinyin(ch) if is_cjk(ch) else (ch if ch.isalnum() else "")
        self[code] = value
        return value


_PINYIN = _PinyinTable()


def pinyin_view(normalised: str) -> str:
    """Return the pinyin spelling of already normalised text: Chinese characters spelt, letters and
    digits kept, everything else (spaces, punctuation) dropped."""
    return normalised.translate(_PINYIN)


def pinyin_starts(normalised: str) -> list[int]:
    """Return where each character's piece starts in pinyin_view(normalised), plus the view's length."""
    return list(itertools.accumulate(map(len, map(_PINYIN.__getitem__, map(ord, normalised))), initial=0))


def keyword_pinyin(normalised: str) -> set[str]:
    """Return the pinyin spellings of a Chinese keyword: per character (as the view spells the input)
    and by pypinyin's phrase-aware reading (what a person typing pinyin writes)."""
    from pypinyin import Style, lazy_pinyin

    spellings = {pinyin_view(normalised)}
    phrase = "".join(lazy_pinyin(normalised, style=Style.NORMAL, errors="default")).replace("ü", "v")
    spellings.add(pinyin_view(phrase.lower()))
    return {s for s in spellings if s}
