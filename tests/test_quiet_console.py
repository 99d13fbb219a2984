"""What the development console shows: e-mails without their attachments' bytes, absolute links, no PDF noise."""

import io
import logging

from django.core.mail import EmailMessage
from django.template.loader import render_to_string

from core.mail import ConsoleEmailBackend


def test_the_console_backend_prints_an_email_without_its_pdf():
    # given
    stream = io.StringIO()
    message = EmailMessage("Report #1", "Online: http://assay.example/reports/1/", "assay@localhost",
                           ["ada@example.org"])
    message.attach("report-1.pdf", b"%PDF-1.7" + b"x" * 5000, "application/pdf")

    # when
    ConsoleEmailBackend(stream=stream).send_messages([message])

    # then: headers, body and one line for the attachment
    printed = stream.getvalue()
    assert "Subject: Report #1" in printed and "To: ada@example.org" in printed
    assert "[attachment report-1.pdf (application/pdf, 5008 bytes) not printed]" in printed
    assert "JVBER" not in printed and len(printed) < 600  # no base64 of "%PDF"


def test_it_links_an_email_to_the_report_with_an_absolute_url(settings):
    settings.ASSAY_BASE_URL = "https://assay.example.org"
    content = {"title": "Audit report", "system": {"id": 1, "name": "Scorer"}, "audit_log": {"ok": True, "entries": 3}}
    report = type("Report", (), {"pk": 7, "kind": "scheduled", "alerts": [], "changed": True, "sha256": "ab"})()
    body = render_to_string("reports/report_email.txt", {"report": report, "content": content,
                                                          "base_url": settings.ASSAY_BASE_URL})
    assert "Online: https://assay.example.org/reports/7/" in body


def test_weasyprint_and_fonttools_warnings_stay_off_the_console():
    assert not logging.getLogger("fontTools.subset").isEnabledFor(logging.WARNING)
    assert not logging.getLogger("weasyprint").isEnabledFor(logging.WARNING)
    assert logging.getLogger("weasyprint").isEnabledFor(logging.ERROR)
