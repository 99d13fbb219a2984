"""What moved between two reports, which statuses got worse, and how webhooks are signed; no Django.

A metric row is {"id", "name", "value", "status"}; statuses rank pass < warn < fail, and
not_applicable is unranked (a move to or from it is a change, never an alert): the ranking and
`status_change` are the read model's (audit/results.py), shared with `audit.jobs.compare`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Callable
from typing import Any

from audit.results import status_change

VALUE_TOLERANCE = 1e-9  # identical audits give identical numbers; anything beyond rounding noise moved
SIGNATURE_HEADER = "X-Assay-Signature"


def _moved(before: float | None, after: float | None) -> bool:
    if before is None or after is None:
        return before is not after
    return not math.isclose(before, after, rel_tol=0.0, abs_tol=VALUE_TOLERANCE)


def changes(previous: list[dict[str, Any]], current: list[dict[str, Any]], *,
            compare: Callable[[str | None, str | None], str] = status_change) -> list[dict[str, Any]]:
    """Return the metrics whose value or status moved, with both sides and the status change.

    `compare` ranks two statuses ("same", "worse", "better", "changed"): the audit's by default, an
    evaluation's rates pass their own (reports.evaluations.rate_change).
    """
    before = {row["id"]: row for row in previous}
    out = []
    for row in current:
        old = before.get(row["id"])
        if old is None:
            continue
        change = compare(old.get("status"), row.get("status"))
        if change != "same" or _moved(old.get("value"), row.get("value")):
            delta = (row["value"] - old["value"]) if isinstance(row.get("value"), int | float) and \
                isinstance(old.get("value"), int | float) else None
            out.append({"id": row["id"], "name": row.get("name", row["id"]),
                        "before": {"value": old.get("value"), "status": old.get("status")},
                        "after": {"value": row.get("value"), "status": row.get("status")},
                        "delta": delta, "status_change": change})
    return out


def worsened(moved: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the alerts: the changes whose status got worse (pass → warn → fail)."""
    return [{"metric": c["id"], "name": c["name"], "before": c["before"]["status"],
             "after": c["after"]["status"], "value_before": c["before"]["value"],
             "value_after": c["after"]["value"]} for c in moved if c["status_change"] == "worse"]


def webhook_body(payload: dict[str, Any]) -> bytes:
    """Return the canonical JSON bytes that are signed and sent."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, body: bytes) -> str:
    """Return the signature header value: "sha256=" + hex HMAC-SHA256 of the body under the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """Return True when `header` is the signature of `body` (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, body), header or "")
