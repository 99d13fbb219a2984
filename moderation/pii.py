"""Personal-information detectors: mainland resident ID numbers, mainland mobile numbers, bank card
numbers, e-mail and IPv4 addresses. No Django.

Each detector is a pattern plus a check, so that a near miss is not reported: an ID number whose
GB 11643-1999 check digit (ISO 7064 MOD 11-2) or date of birth is wrong, a card number that fails
the Luhn check, an "IP address" with an octet above 255 or a leading zero. Detectors run on the
normalised text (full-width digits and zero-width characters already gone); callers map the spans
back to the input.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10x98765432"  # remainder → check character (X written x: the text is case-folded)

KINDS = ("cn_id", "cn_mobile", "bank_card", "email", "ipv4")

_ID = re.compile(r"(?<![0-9a-z])[1-9]\d{16}[0-9x](?![0-9a-z])")
_MOBILE = re.compile(r"(?<![0-9+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9])")
_CARD = re.compile(r"(?<![0-9])(?:\d[ -]?){12,18}\d(?![0-9])")
_EMAIL = re.compile(r"(?<![\w.+-])[a-z0-9][a-z0-9._%+-]{0,63}@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}"
                    r"(?![\w-])")
_IPV4 = re.compile(r"(?<![0-9.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9]|\.[0-9])")


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int


def id_check_char(first17: str) -> str:
    """Return the GB 11643 check character (0-9 or x) of the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def is_cn_id(value: str) -> bool:
    """True for an 18-character mainland resident ID with a valid check character and date of birth."""
    value = value.lower()
    if len(value) != 18 or not value[:17].isdigit() or value[0] == "0":
        return False
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not dt.date(1900, 1, 1) <= born <= dt.date.today():
        return False
    return id_check_char(value[:17]) == value[17]


def luhn_ok(digits: str) -> bool:
    """True when a digit string passes the Luhn check (ISO/IEC 7812)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_card(text: str) -> bool:
    """True for 13-19 digits (spaces or dashes between them allowed) that pass Luhn and are not all one digit."""
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_ok(digits)


def is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) <= 255 and (p == "0" or not p.startswith("0"))
                                   for p in parts)


def _mobile_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return len(digits) == 11 or (len(digits) in (13, 15) and digits[-11] == "1")


DETECTORS: dict[str, tuple[re.Pattern, Callable[[str], bool]]] = {
    "cn_id": (_ID, is_cn_id),
    "cn_mobile": (_MOBILE, _mobile_ok),
    "bank_card": (_CARD, is_card),
    "email": (_EMAIL, lambda s: True),
    "ipv4": (_IPV4, is_ipv4),
}


_MAY_HOLD = {  # cheap tests that skip a detector on text that cannot hold its kind
    "cn_id": re.compile(r"\d{17}").search, "cn_mobile": re.compile(r"1[3-9]\d").search,
    "bank_card": re.compile(r"\d{4}").search, "email": lambda s: "@" in s, "ipv4": re.compile(r"\d\.\d").search,
}


def detect(normalised: str, kinds: Iterable[str] = KINDS) -> list[Finding]:
    """Return the personal information in already normalised text, ordered by position.

    A span found by an earlier detector (an ID number) is not reported again by a later one (the
    same digits read as a card number).
    """
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []
    wanted = set(kinds)
    for kind in KINDS:
        if kind not in wanted or not _MAY_HOLD[kind](normalised):
            continue
        pattern, check = DETECTORS[kind]
        for m in pattern.finditer(normalised):
            start, end = m.span()
            if check(m.group()) and not any(s < end and start < e for s, e in taken):
                found.append(Finding(kind, start, end))
                taken.append((start, end))
    return sorted(found, key=lambda f: f.start)
