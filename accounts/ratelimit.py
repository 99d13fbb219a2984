"""Login limits on django-axes: what counts as the same username and address, and what a lockout says.

Every login goes through `django.contrib.auth.authenticate` with the request (the dashboard's
/login/, /admin/login/, POST /api/v1/auth/token), so axes' backend refuses a locked-out pair before
the password is checked and its signal handler counts each failure. The counts live in the
database (`axes.AccessAttempt`, updated with row locks), so every web worker and process shares
them; nothing depends on a per-process cache.

- A failure counts against the pair (normalised username, address): `"Alice "` and `"alice"` are
  one username. After `AXES_FAILURE_LIMIT` (10) failures in `ASSAY_LOGIN_WINDOW_S` (5 minutes since
  the last one) the pair is locked; the same account from another address is not.
- Every address also has a looser limit over all usernames (`ASSAY_LOGIN_ADDRESS_LIMIT`, 50), so
  one address cannot try a password on many accounts.
- A successful login clears its pair's count.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import JsonResponse
from django.shortcuts import render

MESSAGE = "Too many attempts; try again in a few minutes"


def login_limit() -> int:
    """Failed tries allowed per (username, address) pair in one window."""
    return settings.AXES_FAILURE_LIMIT


def cool_off(request=None) -> timedelta:
    """How long a lock lasts after the last failed try (AXES_COOLOFF_TIME)."""
    return timedelta(seconds=settings.ASSAY_LOGIN_WINDOW_S)


def normalise(username) -> str:
    """The form of a username that the limits count: no surrounding spaces, case-folded, bounded."""
    return str(username).replace("\0", "").strip().casefold()[:150]


def normalised_username(request, credentials: Mapping | None = None) -> str | None:
    """AXES_USERNAME_CALLABLE: the normalised username of the credentials, else of the posted data."""
    value = credentials.get("username") if credentials else None
    if value is None and request is not None:
        data = getattr(request, "data", None)
        if not isinstance(data, Mapping):
            data = getattr(request, "POST", {})
        value = data.get("username")
    return None if value is None else normalise(value)


def client_ip(request) -> str:
    """AXES_CLIENT_IP_CALLABLE: the peer address (no forwarded header is trusted)."""
    return request.META.get("REMOTE_ADDR", "") or "0.0.0.0"


def address_failures(request) -> int:
    """Failed tries from the request's address within the window, all usernames together."""
    recent = AccessAttempt.objects.filter(ip_address=request.axes_ip_address,
                                          attempt_time__gte=get_cool_off_threshold(request))
    return recent.aggregate(n=Sum("failures_since_start"))["n"] or 0


class LoginAttempts(AxesDatabaseHandler):
    """Axes' database handler, plus the looser per-address limit."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        failures = super().get_failures(request, credentials)
        if address_failures(request) >= settings.ASSAY_LOGIN_ADDRESS_LIMIT:
            return max(failures, get_failure_limit(request, credentials))
        return failures


def is_locked_out(request) -> bool:
    """True when axes refused or locked the login that this request just tried."""
    return bool(getattr(request, "axes_locked_out", False))


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: a 429 in the API's error shape, or the login page saying so."""
    retry = {"Retry-After": str(settings.ASSAY_LOGIN_WINDOW_S)}
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "throttled", "message": MESSAGE}}, status=429, headers=retry)
    response = render(request, "accounts/login.html", {"rate_limited": True, "next": ""}, status=429)
    for key, value in retry.items():
        response[key] = value
    return response
