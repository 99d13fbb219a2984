"""Strict JSON: no NaN or Infinity (nor numbers beyond a float's range), and a bounded nesting depth.

Python's json module accepts `NaN`, `Infinity` and `1e999` (a float overflowing to inf), which the
database and the JSON renderer then refuse (a 500); and a deeply nested array makes its decoder
raise RecursionError. Every JSON the API reads (request bodies, JSON given in form fields) goes
through `loads`, which answers all of them with a ValueError (a 400).
"""

from __future__ import annotations

import codecs
import json
import math
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 32  # objects and arrays inside each other; Assay's own documents need fewer than 10


class JSONError(ValueError):
    pass


def _refuse_constant(name: str):
    raise JSONError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONError(f"the number {text[:40]} is out of range")
    return value


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise JSONError when objects and arrays nest deeper than `limit` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            raise JSONError(f"objects and arrays nest more than {limit} deep")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def loads(text: str | bytes) -> Any:
    """json.loads that refuses NaN, Infinity, out-of-range numbers and deep nesting (JSONError)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise JSONError(f"objects and arrays nest more than {MAX_DEPTH} deep") from None
    check_depth(value)
    return value


class StrictJSONParser(parsers.JSONParser):
    """DRF's JSON parser with `loads`' rules and an object at the top: anything else is a 400 parse_error."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = loads(codecs.getreader(encoding)(stream).read())
        except ValueError as exc:  # JSONDecodeError, JSONError, UnicodeDecodeError
            raise ParseError(f"JSON parse error - {exc}") from None
        if not isinstance(data, dict):  # every endpoint takes an object; views may call request.data.get
            raise ParseError(f"JSON parse error - expected an object, got {type(data).__name__}")
        return data


DEFAULT_PARSERS = [StrictJSONParser, parsers.FormParser, parsers.MultiPartParser]
