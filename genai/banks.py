"""Bank items: parsing (CSV, XLSX, JSONL rows), validation and the coverage report. No Django.

A bank item is a dict with the fields of GENAI.md: id, kind, risk, language, text, updated.
Coverage is checked against `minimums.yaml` (per kind, per risk or aspect, freshness) and every
shortfall is named ("A.1.3: 12 of 50").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from functools import cache
from pathlib import Path

import yaml

KINDS = ("generated_content", "should_refuse", "should_not_refuse", "keyword")
RISKS = ([f"A.1.{i}" for i in range(1, 9)] + [f"A.2.{i}" for i in range(1, 10)] + [f"A.3.{i}" for i in range(1, 6)]
         + [f"A.4.{i}" for i in range(1, 8)] + ["A.5.1", "A.5.2"])
SEVENTEEN = RISKS[:17]
MAX_TEXT = 4000


class BankError(ValueError):
    """A bank file that cannot be used; the message names the first bad row."""


@cache
def minimums() -> dict:
    """Return the coverage minimums and sampling sizes (minimums.yaml)."""
    return yaml.safe_load((Path(__file__).parent / "minimums.yaml").read_text(encoding="utf-8"))


def aspects() -> list[str]:
    return list(minimums()["should_not_refuse"]["aspects"])


def parse_items(rows: list[dict], *, max_items: int = 200_000) -> list[dict]:
    """Return validated bank items from file rows, or raise BankError naming the first bad row."""
    if not rows:
        raise BankError("The bank is empty")
    if len(rows) > max_items:
        raise BankError(f"A bank holds at most {max_items} items; the file has {len(rows)}")
    items, seen = [], set()
    for n, row in enumerate(rows, 1):
        row = {str(k).strip().lower(): ("" if v is None else str(v).strip()) for k, v in row.items() if k}
        item = {"id": row.get("id") or str(n), "kind": row.get("kind", "").lower(), "risk": row.get("risk", ""),
                "language": row.get("language", "").lower(), "text": row.get("text", ""),
                "updated": row.get("updated", "")[:10]}
        problem = _problem(item)
        if problem:
            raise BankError(f"Row {n}: {problem}")
        if item["id"] in seen:
            raise BankError(f"Row {n}: the id {item['id']!r} is used twice")
        seen.add(item["id"])
        if item["kind"] != "should_not_refuse":
            item["risk"] = item["risk"].upper()
        items.append(item)
    return items


def _problem(item: dict) -> str | None:
    if item["kind"] not in KINDS:
        return f"kind must be one of {', '.join(KINDS)}, not {item['kind']!r}"
    if not item["text"]:
        return "the text is empty"
    if len(item["text"]) > MAX_TEXT:
        return f"the text is longer than {MAX_TEXT} characters"
    if item["kind"] == "should_not_refuse":
        if item["risk"].lower() not in aspects():
            return f"a should_not_refuse item names an aspect ({', '.join(aspects())}), not {item['risk']!r}"
        item["risk"] = item["risk"].lower()
    elif item["risk"].upper() not in RISKS:
        return f"unknown risk {item['risk']!r} (GB/T 45654 Appendix A codes A.1.1 … A.5.2)"
    if not item["language"]:
        return "the language is missing (BCP 47: zh, en …)"
    if item["updated"]:
        try:
            dt.date.fromisoformat(item["updated"])
        except ValueError:
            return f"updated must be a date (YYYY-MM-DD), not {item['updated']!r}"
    return None


def items_sha256(items: list[dict]) -> str:
    """Return the SHA-256 of the items in canonical JSON (the bank version's fingerprint)."""
    canonical = json.dumps(items, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _per_risk_minimum(spec: dict, risk: str) -> int:
    return int(spec["per_risk"].get(risk.rsplit(".", 1)[0], 0))


def coverage(items: list[dict], *, today: dt.date | None = None) -> dict:
    """Return the coverage report: per kind, counts per risk (or aspect), and every shortfall.

    `{"ok": bool, "missing": ["generated_content A.1.3: 12 of 50", …], "kinds": {kind: {"n", "minimum",
    "counts", "newest"}}}`; a kind absent from the bank is one shortfall of its own.
    """
    today = today or dt.date.today()
    mins, missing, kinds = minimums(), [], {}
    for kind in ("keyword", "generated_content", "should_refuse", "should_not_refuse"):
        spec = mins[kind]
        of_kind = [i for i in items if i["kind"] == kind]
        counts: dict[str, int] = {}
        for i in of_kind:
            counts[i["risk"]] = counts.get(i["risk"], 0) + 1
        dates = [i["updated"] for i in of_kind if i["updated"]]
        newest = max(dates) if dates else None
        kinds[kind] = {"n": len(of_kind), "minimum": spec["total"], "counts": dict(sorted(counts.items())),
                       "newest": newest}
        if not of_kind:
            missing.append(f"{kind}: none of {spec['total']}")
            continue
        if len(of_kind) < spec["total"]:
            missing.append(f"{kind}: {len(of_kind)} of {spec['total']}")
        if kind == "should_not_refuse":
            needed = {a: int(spec["per_aspect"]) for a in spec["aspects"]}
        else:
            risks = SEVENTEEN if spec["risks"] == "seventeen" else RISKS
            needed = {r: _per_risk_minimum(spec, r) for r in risks}
        for key, minimum in needed.items():
            if counts.get(key, 0) < max(minimum, 1):
                missing.append(f"{kind} {key}: {counts.get(key, 0)} of {max(minimum, 1)}")
        if spec.get("max_age_days"):
            if newest is None:
                missing.append(f"{kind}: no update dates (updated at least every {spec['max_age_days']} days)")
            elif (today - dt.date.fromisoformat(newest)).days > spec["max_age_days"]:
                missing.append(f"{kind}: last updated {newest}, more than {spec['max_age_days']} days ago")
    return {"ok": not missing, "missing": missing, "kinds": kinds}
