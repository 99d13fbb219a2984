"""Exports of a compliance document (live checklist or assessment): JSON, CSV, HTML and PDF."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string

from . import i18n, pdf

CONTENT_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8",
                 "pdf": "application/pdf"}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")
CSV_COLUMNS = ("framework_bundle", "id", "instrument", "article", "title", "verification", "applies",
               "applies_from", "in_force", "status", "status_reason", "applicability_reason", "evidence_type",
               "evidence", "source_url", "date_basis", "title_zh", "status_zh", "status_reason_zh")


def render(document: dict[str, Any], fmt: str) -> bytes:
    """Return the document in `fmt` (json, csv, html or pdf)."""
    return {"json": to_json, "csv": to_csv, "html": to_html, "pdf": pdf.render}[fmt](document)


def to_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False, cls=DjangoJSONEncoder).encode()


def to_csv(document: dict[str, Any]) -> bytes:
    """Return CSV: comment lines naming the disclaimer and framework versions, then one row per item."""
    out = io.StringIO()
    out.write(f"# {document['disclaimer']}\n")
    out.write(f"# system {document['system']['id']} {one_line(document['system']['name'])}; evaluated on "
              f"{document['evaluated_on']}\n")
    for line in integrity_lines(document):
        out.write(f"# {line}\n")
    for checklist in document["checklists"]:
        for ver in checklist["framework_versions"]:
            out.write(f"# framework {checklist['framework']}: {ver['file']} version {ver['version']} "
                      f"sha256 {ver['sha256']}\n")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for checklist in document["checklists"]:
        for row in checklist["items"]:
            links = "; ".join(f"{e['kind']}:{e.get('id', '')}" for e in row["evidence"])
            writer.writerow(safe_cell(value) for value in (
                checklist["framework"], row["id"], row["framework"], row["article"], row["title"],
                row["verification"], row["applies"], row["applies_from"] or "", row["in_force"],
                row["status"], row["status_reason"], row["applicability_reason"],
                row["evidence_type"], links, row["source_url"], row.get("date_basis", "law"),
                *(_zh_cells(row) if checklist["framework"] == "cn_genai" else ("", "", ""))))
    return out.getvalue().encode("utf-8")


def _zh_cells(row: dict[str, Any]) -> tuple[str, str, str]:
    return (row.get("title_zh") or "", i18n.STATUS.get(row["status"], ("", ""))[1], i18n.translate(row["status_reason"]))


def integrity_lines(document: dict[str, Any]) -> list[str]:
    """Return the assessment's hashes and the audit-log checkpoint the document carries, as text lines."""
    lines = []
    assessment = document.get("assessment")
    if assessment:
        lines.append(f"assessment {assessment['id']} sha256 {assessment['sha256']} hmac-sha256 "
                     f"{assessment.get('content_hmac') or '-'} integrity {'ok' if assessment['integrity_ok'] else 'BROKEN'}")
    cp = document.get("audit_log_checkpoint")
    if cp:
        lines.append(f"audit-log checkpoint: entry {cp['seq']} head {cp['head']} at {cp['created']} key {cp['key_id']} "
                     f"signature {cp['signature']}")
    return lines


def one_line(value: Any) -> str:
    """Return `value` as text on one line: every line break (CR, LF, U+2028 …) becomes a space."""
    return _LINE_BREAKS.sub(" ", "" if value is None else str(value))


def safe_cell(value: Any) -> str:
    """Return a CSV cell that a spreadsheet shows as text and that never breaks its line.

    A cell starting with =, +, -, @, a tab or a CR would be read as a formula (CSV injection): it
    gets a leading single quote. Line breaks inside a value become spaces.
    """
    text = "" if value is None else str(value)
    if text.lstrip(" ")[:1] in FORMULA_PREFIXES:  # " =1+2" is a formula too
        text = "'" + text
    return one_line(text)


def prepare(document: dict[str, Any]) -> dict[str, Any]:
    """Return the document as the export template reads it (HTML and PDF alike).

    Each checklist's items are split into "in force on the evaluation date", "applies later" and
    "not applicable"; labels come in English and, for the Chinese frameworks, in Chinese too; the
    legend explains the verification badges (the source of the rule, not a result).
    """
    checklists = []
    for checklist in document["checklists"]:
        zh = checklist["framework"] == "cn_genai"
        date = document.get("evaluated_on") or checklist.get("evaluated_on")
        rows = [{**row, "status_label": i18n.STATUS.get(row["status"], (row["status"], row["status"])),
                 "rule_label": i18n.VERIFICATION.get(row["verification"], (row["verification"],) * 3),
                 "reason_zh": i18n.translate(row["status_reason"]) if zh else "",
                 "applicability_zh": i18n.translate(row["applicability_reason"]) if zh else ""}
                for row in checklist["items"]]
        groups = [
            ("in_force", [r for r in rows if r["applies"] and r.get("in_force")]),
            ("later", [r for r in rows if r["applies"] and not r.get("in_force")]),
            ("not_applicable", [r for r in rows if not r["applies"]]),
        ]
        checklists.append({**checklist, "zh": zh, "zh_note": i18n.ZH_NOTE, "headers": list(i18n.HEADERS.values()),
                           "groups": [{"key": key, "items": items,
                                       "title": tuple(t.format(date=date) for t in i18n.SECTIONS[key])}
                                      for key, items in groups]})
    legend = {"title": i18n.LEGEND_TITLE, "note": i18n.LEGEND_NOTE, "badges": list(i18n.VERIFICATION.items())}
    return {**document, "checklists": checklists, "legend": legend, "any_zh": any(c["zh"] for c in checklists)}


def to_html(document: dict[str, Any]) -> bytes:
    return render_to_string("compliance/export.html", {"doc": prepare(document)}).encode()


def filename(document: dict[str, Any], fmt: str) -> str:
    assessment = document.get("assessment")
    stem = f"assessment-{assessment['id']}" if assessment else f"checklist-{document['system']['id']}"
    return f"{stem}.{fmt}"
