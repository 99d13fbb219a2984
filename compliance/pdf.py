"""Render an exportable compliance document (see services.live_document) as PDF with fpdf2; no Django.

Fonts: DejaVu Sans from matplotlib's bundled fonts (always installed with Assay) for Latin text,
plus a CJK font when one is found (the watermark app's shipped font, or a system Noto CJK), so
Chinese terms render; characters no font covers are replaced rather than dropped silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

STATUS_LABELS = {"met": "met", "partially_met": "partially met", "not_met": "not met",
                 "needs_attestation": "needs attestation", "no_evidence": "no evidence yet",
                 "not_applicable": "not applicable"}
CJK_CANDIDATES = ("watermark/fonts", "/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/noto")


def _dejavu() -> tuple[Path, Path]:
    import matplotlib

    base = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return base / "DejaVuSans.ttf", base / "DejaVuSans-Bold.ttf"


def _cjk_font() -> Path | None:
    root = Path(__file__).resolve().parents[1]
    for folder in CJK_CANDIDATES:
        path = Path(folder) if folder.startswith("/") else root / folder
        if path.is_dir():
            for pattern in ("*CJK*.otf", "*CJK*.ttf", "*SC*.otf", "*SC*.ttf", "*.ttf", "*.otf"):
                found = sorted(p for p in path.glob(pattern) if "Bold" not in p.name)
                if found:
                    return found[0]
    return None


class _Pdf(FPDF):
    def __init__(self, footer_text: str):
        super().__init__(orientation="L", unit="mm", format="A4")
        self.footer_text = footer_text
        regular, bold = _dejavu()
        self.add_font("Body", "", str(regular))
        self.add_font("Body", "B", str(bold))
        fallbacks = []
        cjk = _cjk_font()
        if cjk is not None:
            try:
                self.add_font("CJK", "", str(cjk))
                fallbacks.append("CJK")
            except Exception:  # an unreadable font file must not break the export
                pass
        if fallbacks:
            self.set_fallback_fonts(fallbacks, exact_match=False)
        self.set_auto_page_break(True, margin=14)

    def footer(self):
        self.set_y(-10)
        self.set_font("Body", "", 7)
        self.set_text_color(90)
        self.cell(0, 5, f"{self.footer_text}    page {self.page_no()}/{{nb}}", align="C")


def render(document: dict[str, Any]) -> bytes:
    """Return the PDF bytes of a compliance document: header, framework versions, one table per framework."""
    pdf = _Pdf(document["disclaimer"])
    pdf.alias_nb_pages()
    pdf.add_page()
    _header(pdf, document)
    for checklist in document["checklists"]:
        _checklist(pdf, checklist)
    return bytes(pdf.output())


def _header(pdf: _Pdf, document: dict[str, Any]) -> None:
    system = document["system"]
    pdf.set_font("Body", "B", 15)
    pdf.multi_cell(0, 8, f"Compliance checklist: {system['name']}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Body", "", 9)
    lines = [f"Evaluated on {document['evaluated_on']} (system #{system['id']})"]
    assessment = document.get("assessment")
    if assessment:
        lines.append(f"Assessment #{assessment['id']}, SHA-256 {assessment['sha256']}, "
                     f"integrity {'ok' if assessment['integrity_ok'] else 'BROKEN'}")
        lines.append(f"HMAC-SHA256 {assessment.get('content_hmac') or '-'}")
    else:
        lines.append("Live evaluation (not a recorded assessment)")
    cp = document.get("audit_log_checkpoint")
    if cp:
        lines.append(f"Audit-log checkpoint: entry {cp['seq']}, head {cp['head']}, {cp['created']}, "
                     f"signature {cp['signature']}")
    for line in lines:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(150, 0, 0)
    pdf.set_font("Body", "B", 9)
    pdf.multi_cell(0, 5, document["disclaimer"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)


def _checklist(pdf: _Pdf, checklist: dict[str, Any]) -> None:
    pdf.ln(3)
    pdf.set_font("Body", "B", 12)
    summary = checklist["summary"]
    pdf.multi_cell(0, 7, f"{checklist['framework_title']} ({checklist['framework']}): {summary['met']} met of "
                         f"{summary['applicable']} applicable", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Body", "", 8)
    for ver in checklist["framework_versions"]:
        pdf.multi_cell(0, 4, f"Framework version: {ver['file']} {ver['title']} v{ver['version']} "
                             f"(as of {ver['as_of']}, sha256 {ver['sha256'][:16]}…)", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    widths = (33, 28, 50, 22, 24, 30, 90)
    heading = ("Item", "Article", "Title", "Verification", "Status", "Applies from", "Why / evidence")
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=4, first_row_as_headings=True,
                   headings_style=FontFace(emphasis="BOLD", fill_color=(230, 230, 230))) as table:
        table.row(heading)
        for row in checklist["items"]:
            date = row["applies_from"] or "—"
            if row["applies"] and not row["in_force"]:
                date += " (not yet applicable)"
            table.row((row["id"], row["article"], row["title"], row["verification"],
                       STATUS_LABELS.get(row["status"], row["status"]), date, _why(row)))


def _why(row: dict[str, Any]) -> str:
    parts = [row["status_reason"]]
    for ev in row["evidence"][:3]:
        ref = ev.get("url") or ev.get("api") or ""
        parts.append(f"[{ev['kind']} {ev.get('id', '')}] {ref}".strip())
    if row["verification"] == "unverified":
        parts.append("Rests on an unverified reading of the law.")
    return "\n".join(p for p in parts if p)
