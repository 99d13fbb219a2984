"""Documents as evidence: the section check for kinds with known contents, and the reviewer's approval.

An uploaded document is evidence only after a reviewer who is not the uploader approves it (who
and when go to the audit log, COMPLIANCE.md A2.2). For the kinds whose contents the law names
(Annex IV technical documentation, the FRIA of Art. 27(1), the risk-management file of Art. 9)
the text of the file is searched for each required section (by its usual headings, English or
Chinese); what is missing is listed, and an approved document with gaps is "partially met".
Text is read from PDF (pypdf), DOCX, HTML, Markdown and plain text; a file Assay cannot read is
reported as such, never as complete.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

# kind -> [(section, [phrases any of which marks it])]
REQUIRED_SECTIONS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "technical_documentation": [
        ("1. general description and intended purpose", ("general description", "intended purpose")),
        ("2. elements and development process", ("development process", "design specification", "architecture")),
        ("3. monitoring, functioning and control (human oversight)", ("human oversight", "monitoring, functioning")),
        ("4. appropriateness of the performance metrics", ("performance metric", "accuracy metric", "metrics")),
        ("5. risk-management system", ("risk management", "risk-management")),
        ("6. changes over the lifecycle", ("change log", "changes made", "lifecycle", "life cycle")),
        ("7. harmonised standards or other specifications applied", ("harmonised standard", "harmonized standard",
                                                                     "common specification")),
        ("8. EU declaration of conformity", ("declaration of conformity",)),
        ("9. post-market monitoring plan", ("post-market", "post market")),
    ],
    "fria": [
        ("(a) the deployer's processes using the system", ("process", "intended purpose")),
        ("(b) period and frequency of use", ("period", "frequency")),
        ("(c) categories of natural persons and groups affected", ("categories of", "affected persons",
                                                                  "affected groups", "persons affected")),
        ("(d) specific risks of harm", ("risk of harm", "risks of harm", "specific risk")),
        ("(e) human-oversight measures", ("human oversight",)),
        ("(f) measures if risks materialise, governance and complaints", ("complaint", "governance",
                                                                         "mitigation measure", "remed")),
    ],
    "risk_file": [
        ("identification and analysis of known and foreseeable risks", ("identification", "foreseeable risk",
                                                                          "known risk", "hazard")),
        ("estimation and evaluation of risks", ("estimation", "evaluation of risk", "risk evaluation", "likelihood",
                                                "severity")),
        ("risks from post-market monitoring data", ("post-market", "post market")),
        ("risk-management measures", ("mitigation", "risk management measure", "control measure")),
        ("testing against prior metrics and thresholds", ("testing", "test plan", "threshold")),
        ("residual risk", ("residual risk",)),
    ],
}
MAX_TEXT_CHARS = 2_000_000


def extract_text(data: bytes, filename: str = "") -> tuple[str, str]:
    """Return (text, "") or ("", why the text could not be read)."""
    name = filename.lower()
    try:
        if data[:5] == b"%PDF-" or name.endswith(".pdf"):
            from pypdf import PdfReader

            reader = PdfReader(io.BytesIO(data))
            return "\n".join((page.extract_text() or "") for page in reader.pages[:500])[:MAX_TEXT_CHARS], ""
        if data[:2] == b"PK" and (name.endswith(".docx") or not name):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                info = archive.getinfo("word/document.xml")
                if info.file_size > 50 * 1024 * 1024:
                    return "", "the DOCX text is too large to read"
                xml = archive.read(info).decode("utf-8", "replace")
            return re.sub(r"<[^>]+>", " ", xml.replace("</w:p>", "\n"))[:MAX_TEXT_CHARS], ""
        text = data[:MAX_TEXT_CHARS].decode("utf-8")
    except (UnicodeDecodeError, KeyError, zipfile.BadZipFile, ValueError, OSError) as exc:
        return "", f"the file's text could not be read ({type(exc).__name__})"
    except Exception as exc:  # noqa: BLE001 - a malformed PDF raises many kinds of errors
        return "", f"the file's text could not be read ({type(exc).__name__})"
    if name.endswith((".html", ".htm")):
        text = re.sub(r"<[^>]+>", " ", text)
    return text, ""


def section_check(kind: str, data: bytes | None, filename: str = "") -> dict[str, Any]:
    """Return {"required": [...], "found": [...], "missing": [...], "complete": bool} for kinds with known sections."""
    sections = REQUIRED_SECTIONS.get(kind)
    if not sections:
        return {}
    names = [name for name, _ in sections]
    if data is None:
        return {"required": names, "found": [], "missing": names, "complete": False,
                "note": "a reference without a file: the sections cannot be checked"}
    text, problem = extract_text(data, filename)
    if problem:
        return {"required": names, "found": [], "missing": names, "complete": False, "note": problem}
    lowered = " ".join(text.lower().split())
    found = [name for name, phrases in sections if any(p in lowered for p in phrases)]
    missing = [name for name in names if name not in found]
    return {"required": names, "found": found, "missing": missing, "complete": not missing,
            "characters": len(text)}
