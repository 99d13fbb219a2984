"""Render an exportable compliance document (see services.live_document) as PDF.

One engine for every PDF in Assay: the HTML export's template (templates/compliance/export.html,
with `pdf` set: landscape A4, readable status labels, a footer with the disclaimer and the page
numbers) rendered by WeasyPrint (core.pdf). Fonts come from the system through fontconfig: DejaVu
Sans for Latin text, and Noto Sans CJK when it is installed (Debian fonts-noto-cjk), so Chinese
terms render.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from core.pdf import html_to_pdf

STATUS_LABELS = {"met": "met", "partially_met": "partially met", "not_met": "not met",
                 "needs_attestation": "needs attestation", "no_evidence": "no evidence yet",
                 "not_applicable": "not applicable"}


def render(document: dict[str, Any]) -> bytes:
    """Return the PDF bytes of a compliance document: header, framework versions, one table per framework."""
    labelled = {**document, "checklists": [
        {**checklist, "items": [{**row, "status_label": STATUS_LABELS.get(row["status"], row["status"])}
                                for row in checklist["items"]]}
        for checklist in document["checklists"]]}
    return html_to_pdf(render_to_string("compliance/export.html", {"doc": labelled, "pdf": True}))
