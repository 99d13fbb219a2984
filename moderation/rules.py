"""The first insurance: a keyword library compiled into one Aho-Corasick automaton, regular
expressions, and the PII detectors, each hit with its span in the input. No Django.

Keywords and input go through the same normalisation (textnorm.normalise). A keyword made only of
ASCII letters and digits matches whole words only ("ass" does not fire inside "class"); any other
keyword (Chinese) matches anywhere. A Chinese keyword of two characters or more is also compiled,
spelt in pinyin, into a second automaton that runs over the input's pinyin view: its pinyin
spelling, homophones and mixtures match there. A pinyin match must cover whole syllables and, when
it covers no Chinese character, whole words of the input.

Regular expressions run with RE2 (linear time: a user's pattern cannot stall the server) over the
normalised text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import pii, textnorm

_WORD = re.compile(r"[0-9a-z]")
# Leetspeak: digits and symbols read as the letters they stand for (ASCII keywords only).
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i",
                      "|": "l"})
_LEET_CHARS = re.compile(r"[013457@$!|]")
MAX_REGEX_LENGTH = 1000


class RuleError(ValueError):
    """A keyword or pattern that cannot be compiled."""


@dataclass(frozen=True)
class Entry:
    """One keyword-library entry: the keyword (or regular expression) and what it means."""

    key: str  # the entry's id, as the API reports it
    text: str
    category: str
    risk: str = ""
    regex: bool = False


@dataclass(frozen=True)
class Hit:
    """A rule that matched: keyword, regex or PII, with its span [start, end) in the input."""

    type: str  # "keyword", "regex" or "pii"
    start: int
    end: int
    key: str = ""  # entry id (keyword, regex) or PII kind
    category: str = ""
    risk: str = ""
    variant: str = ""  # how a keyword matched: "text", "leet" or "pinyin"

    def as_dict(self, text: str) -> dict:
        out = {"type": self.type, "id": self.key, "category": self.category, "risk": self.risk,
               "span": [self.start, self.end], "match": text[self.start:self.end]}
        if self.variant:
            out["variant"] = self.variant
        return out


def _automaton(pairs):
    import ahocorasick

    automaton = ahocorasick.Automaton()
    grouped: dict[str, list[int]] = {}
    for word, index in pairs:
        grouped.setdefault(word, []).append(index)
    for word, indices in grouped.items():
        automaton.add_word(word, (len(word), tuple(indices)))
    if grouped:
        automaton.make_automaton()
    return automaton if grouped else None


def _compile_regex(pattern: str):
    import re2

    if len(pattern) > MAX_REGEX_LENGTH:
        raise RuleError(f"a regular expression is limited to {MAX_REGEX_LENGTH} characters")
    try:
        return re2.compile(pattern)
    except Exception as exc:  # re2.error and friends
        raise RuleError(f"the regular expression {pattern[:60]!r} does not compile: {exc}") from None


@dataclass
class _Text:
    """The input, its normalised form and (on first use) the maps back to input positions."""

    raw: str
    norm: str
    _bounds: list[int] | None = field(default=None, repr=False)
    _pinyin: str | None = field(default=None, repr=False)
    _pinyin_starts: list[int] | None = field(default=None, repr=False)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Return the input span of the normalised span [start, end)."""
        if self._bounds is None:
            self._bounds = textnorm.boundaries(self.raw)
        return bisect.bisect_right(self._bounds, start), bisect.bisect_right(self._bounds, end - 1) + 1

    @property
    def pinyin(self) -> str:
        if self._pinyin is None:
            self._pinyin = textnorm.pinyin_view(self.norm)
        return self._pinyin

    @property
    def pinyin_starts(self) -> list[int]:
        """Offsets in the pinyin view where each normalised character's piece starts (plus the end)."""
        if self._pinyin_starts is None:
            self._pinyin_starts = textnorm.pinyin_starts(self.norm)
        return self._pinyin_starts


def _word_bounded(norm: str, start: int, end: int) -> bool:
    return (start == 0 or not _WORD.match(norm[start - 1])) and (end == len(norm) or not _WORD.match(norm[end]))


class KeywordIndex:
    """Keywords and regular expressions compiled once; `find` returns every hit in a text."""

    def __init__(self, entries: Sequence[Entry]):
        self.entries = list(entries)
        words, spellings, regexes = [], [], []
        self._ascii: set[int] = set()
        for i, entry in enumerate(self.entries):
            if entry.regex:
                regexes.append((i, _compile_regex(entry.text)))
                continue
            word = textnorm.normalise(entry.text).strip()
            if not word:
                continue
            words.append((word, i))
            if word.isascii():
                self._ascii.add(i)
            if sum(textnorm.is_cjk(c) for c in word) >= 2:
                spellings.extend((s, i) for s in textnorm.keyword_pinyin(word) if len(s) >= 3)
        self._text = _automaton(words)
        self._ascii_text = _automaton([(w, i) for w, i in words if i in self._ascii])  # for the leet view
        self._pinyin = _automaton(spellings)
        self._regexes = regexes

    def __len__(self) -> int:
        return len(self.entries)

    def find(self, text: _Text) -> list[Hit]:
        hits: list[Hit] = []
        seen: set[tuple[int, int, int]] = set()
        if self._text is not None:
            for end, (length, indices) in self._text.iter(text.norm):
                start = end + 1 - length
                for i in indices:
                    if i in self._ascii and not _word_bounded(text.norm, start, end + 1):
                        continue
                    seen.add((i, start, end + 1))
                    hits.append(self._hit(i, text, start, end + 1, "text"))
        if self._ascii_text is not None and _LEET_CHARS.search(text.norm):
            hits.extend(self._leet_hits(text, seen))
        if self._pinyin is not None:
            hits.extend(self._pinyin_hits(text, seen))
        for i, pattern in self._regexes:
            for m in pattern.finditer(text.norm):
                if m.end() > m.start():
                    hits.append(self._hit(i, text, m.start(), m.end(), "", kind="regex"))
        return hits

    def _hit(self, i: int, text: _Text, start: int, end: int, variant: str, kind: str = "keyword") -> Hit:
        entry = self.entries[i]
        s, e = text.span(start, end)
        return Hit(kind, s, e, key=entry.key, category=entry.category, risk=entry.risk, variant=variant)

    def _leet_hits(self, text: _Text, seen: set) -> list[Hit]:
        """Return ASCII keywords spelt with digits or symbols for letters ("c0ca1ne"): the same automaton
        over the text with LEET applied (one character for one, so positions do not move); a match must
        hold a substituted character and be a whole word."""
        view = text.norm.translate(LEET)
        hits = []
        for end, (length, indices) in self._ascii_text.iter(view):
            start = end + 1 - length
            if not _LEET_CHARS.search(text.norm, start, end + 1) or not _word_bounded(view, start, end + 1):
                continue
            for i in indices:
                if (i, start, end + 1) not in seen:
                    hits.append(self._hit(i, text, start, end + 1, "leet"))
        return hits

    def _pinyin_hits(self, text: _Text, seen: set) -> list[Hit]:
        view = text.pinyin
        if not view:
            return []
        found = list(self._pinyin.iter(view))
        if not found:
            return []
        starts = text.pinyin_starts
        hits = []
        for end, (length, indices) in found:
            p_start, p_end = end + 1 - length, end + 1
            n_start = bisect.bisect_right(starts, p_start) - 1  # the character whose piece starts there
            n_end = bisect.bisect_left(starts, p_end)  # one past the character whose piece ends there
            if starts[n_start] != p_start or n_end >= len(starts) or starts[n_end] != p_end:
                continue  # starts or ends inside a syllable
            segment = text.norm[n_start:n_end]
            if not textnorm.has_cjk(segment) and not _word_bounded(text.norm, n_start, n_end):
                continue
            for i in indices:
                if any(j == i and s <= n_start and n_end <= e for j, s, e in seen):
                    continue  # the keyword itself matched here
                hits.append(self._hit(i, text, n_start, n_end, "pinyin"))
        return hits


@dataclass
class RuleResult:
    hits: list[Hit]
    normalised: str


def check(text: str, index: KeywordIndex | None, pii_kinds: Sequence[str] = pii.KINDS) -> RuleResult:
    """Return every keyword, regex and PII hit in `text`, spans in the input's coordinates."""
    t = _Text(text, textnorm.normalise(text))
    hits = index.find(t) if index is not None else []
    if pii_kinds:
        for f in pii.detect(t.norm, pii_kinds):
            s, e = t.span(f.start, f.end)
            hits.append(Hit("pii", s, e, key=f.kind, category="privacy", risk="A.4.4"))
    hits.sort(key=lambda h: (h.start, h.end))
    return RuleResult(hits=hits, normalised=t.norm)


def mask(text: str, hits: Sequence[Hit], char: str = "*") -> str:
    """Return `text` with the hits' spans replaced by `char` (one per character)."""
    chars = list(text)
    for h in hits:
        for i in range(h.start, h.end):
            if not chars[i].isspace():
                chars[i] = char
    return "".join(chars)
