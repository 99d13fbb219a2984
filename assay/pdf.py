"""HTML → PDF with WeasyPrint: reports and checklist exports render one template for page and PDF."""

from __future__ import annotations

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
    return weasyprint.HTML(string=html, base_url=base_url, url_fetcher=_no_network).write_pdf()


def _no_network(url: str, timeout: int = 10, ssl_context=None):
    """Refuse every fetch but data: URLs, so a report can never reach out of the machine."""
    if url.startswith("data:"):
        from weasyprint.urls import default_url_fetcher

        return default_url_fetcher(url)
    raise ValueError(f"PDF rendering does not fetch external resources ({url[:60]})")
