"""HTML → PDF with WeasyPrint: reports and checklist exports render one template for page and PDF."""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

from PIL import ImageFile


class PDFUnavailable(RuntimeError):
    """WeasyPrint or its system libraries (Pango) are missing."""


def html_to_pdf(html: str, *, base_url: str | None = None) -> bytes:
    """Return the PDF rendering of `html` (inline SVG charts and CSS supported; no network access)."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: Pango is not installed
        raise PDFUnavailable(f"PDF rendering needs WeasyPrint and Pango: {exc}") from None
    # Importing WeasyPrint turns on Pillow's LOAD_TRUNCATED_IMAGES for the whole process; uploads
    # must never be decoded that way, and reports embed no raster images, so turn it back off.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    # Only data: URLs load, so rendering never reaches out of the machine (nor into local files).
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols={"data"})
    return weasyprint.HTML(string=html, base_url=base_url, url_fetcher=fetcher).write_pdf()


# The CJK font every PDF embeds and the dashboard serves (a Noto Sans CJK SC subset under the OFL,
# built by core/fonts/build_subset.py), so that 生成 prints on a machine without CJK fonts.
CJK_FONT_PATH = Path(__file__).resolve().parent / "fonts" / "AssayCJKSans-Regular.otf"


@lru_cache(maxsize=1)
def cjk_font_data_url() -> str:
    """Return the shipped CJK font as a data URL for @font-face in a PDF's HTML."""
    return "data:font/otf;base64," + base64.b64encode(CJK_FONT_PATH.read_bytes()).decode()
