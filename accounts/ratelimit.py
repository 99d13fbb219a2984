"""A small fixed-window rate limiter on Django's cache, for logins and token requests."""

from __future__ import annotations

import hashlib

from django.core.cache import cache

LOGIN_LIMIT = 10  # attempts
LOGIN_WINDOW = 300  # seconds


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _key(scope: str, *parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    return f"assay:ratelimit:{scope}:{digest}"


def hit(scope: str, *parts: str, limit: int = LOGIN_LIMIT, window: int = LOGIN_WINDOW) -> bool:
    """Count one attempt; return True while the caller is still within `limit` per `window` seconds."""
    key = _key(scope, *parts)
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        count = 1
    return count <= limit
