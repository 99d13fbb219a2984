"""Render an exportable compliance document (see services.live_document) as PDF.

One engine for every PDF in Assay: the HTML export's template (templates/compliance/export.html,
with `pdf` set: landscape A4, readable status labels, a footer with the disclaimer and the page
numbers) rendered by WeasyPrint (core.pdf). Latin text uses DejaVu Sans from the system; every
CJK character uses the font Assay ships (core/fonts/AssayCJKSans-Regular.otf, a subset of
Noto Sans CJK SC under the OFL), embedded in every PDF as a data URL, so that 生成 prints on a
machine without CJK fonts.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from core.pdf import CJK_FONT_PATH as FONT_PATH
from core.pdf import cjk_font_data_url as font_data_url
from core.pdf import html_to_pdf

__all__ = ["FONT_PATH", "font_data_url", "render"]


def render(document: dict[str, Any]) -> bytes:
    """Return the PDF bytes of a compliance document: header, legend, per framework in force / later / n/a."""
    from .exports import prepare

    html = render_to_string("compliance/export.html",
                            {"doc": prepare(document), "pdf": True, "font_data_url": font_data_url()})
    return html_to_pdf(html)
