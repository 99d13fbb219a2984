"""Audit reports: gather the facts of one audit, render one template to PDF, store, e-mail, webhook.

The same template (templates/reports/report_body.html) renders the dashboard page and the PDF. A
report keeps the facts it was rendered from (`content`), the alerts (metrics whose status got
worse since the previous report of the same schedule, or of the system for unscheduled reports),
and the SHA-256 of its PDF, which lives encrypted in the artifact store. Its JSON content and its
PDF are also signed with the audit-log key (`content_hmac`, `pdf_hmac`), and the content embeds a
signed checkpoint of the organisation's audit-log chain (`audit_log_checkpoint`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from audit.choices import JobStatus
from audit.metrics.catalog import CATALOG
from audit.models import AISystem, AuditRun
from compliance import services as compliance
from core import artifacts, auditlog, charts, outbound
from core.errors import AssayError
from core.jobs import readable_error
from core.pdf import html_to_pdf

from . import alerts
from .choices import DeliveryChannel, DeliveryStatus, ReportKind, ScheduleKind
from .models import Report, ReportDelivery, ScheduledRun
from .queue import EMAIL, WEBHOOK, send_later, send_now

logger = logging.getLogger(__name__)
FRAMEWORKS = ("eu_ai_act", "cn_genai")
WEBHOOK_TIMEOUT_S = 5
WEBHOOK_MAX_ATTEMPTS = 3
WEBHOOK_BACKOFF_S = (10, 60)  # before the 2nd and the 3rd attempt


class ReportError(AssayError):
    """A report request was refused; `fields` maps input fields to messages."""


#
# Facts
#


def metric_rows(run: AuditRun) -> list[dict[str, Any]]:
    """Return the 23 metrics of a run in catalog order: value, status, thresholds, reason."""
    rows = []
    for mid, spec in CATALOG.items():
        m = run.metric(mid)
        op = "≤" if spec.direction == "lower" else "≥"
        rows.append({"id": mid, "name": spec.name, "dimension": spec.dimension, "value": m.value if m else None,
                     "status": m.status if m else None, "reason": (m.reason if m else None) or "",
                     "thresholds": f"pass {op} {spec.pass_threshold:g}, warn {op} {spec.warn_threshold:g}"})
    return rows


def fairness_chart(run: AuditRun) -> str:
    """Return the per-group selection-rate chart of FAIR-01 (one bar per attribute=group), or "".

    A multi-class audit shows the table of its worst class.
    """
    labels, values, klass = [], [], None
    for attribute, table in run.group_table("FAIR-01").items():
        klass = table.cls
        for group, rate in table.column("selection_rate").items():
            labels.append(f"{attribute}={group}")
            values.append(rate)
    if not labels:
        return ""
    title = "Selection rate per group (FAIR-01" + (f", class {klass})" if klass is not None else ")")
    return charts.bar_chart(labels, values, title=title, xlabel="selection rate")


def attribution_chart(run: AuditRun, top: int = 10) -> str:
    """Return the top feature attributions of EXPL-01 (mean |attribution|), or ""."""
    metric = run.metric("EXPL-01")
    importance = metric.importance if metric is not None else {}
    if not importance:
        return ""
    return charts.bar_chart(list(importance), list(importance.values()), limit=top,
                            title=f"Top {min(top, len(importance))} attributions (EXPL-01)",
                            xlabel="mean |attribution|")


def compliance_summaries(system: AISystem) -> dict[str, Any]:
    """Return the summary of both frameworks' checklists (or the reason it could not be evaluated)."""
    out = {}
    for bundle in FRAMEWORKS:
        try:
            checklist = compliance.evaluate(system, bundle)
            out[bundle] = {"title": checklist["framework_title"], **checklist["summary"]}
        except Exception as exc:  # a broken framework file must not stop the report
            logger.exception("Compliance evaluation failed for %s", bundle)
            out[bundle] = {"title": bundle, "error": f"{type(exc).__name__}: {exc}"}
    return out


def previous_report(system: AISystem, schedule_id: int | None) -> Report | None:
    """Return the latest audit report of the same schedule (or, unscheduled, of the same system)."""
    reports = Report.objects.filter(system=system, kind=ReportKind.AUDIT)
    reports = reports.filter(schedule_id=schedule_id) if schedule_id else reports
    return reports.order_by("-created", "-id").first()


def build_content(system: AISystem, run: AuditRun | None, *, schedule=None, error: str = "",
                  previous: Report | None = None, render_failed: bool = False) -> dict[str, Any]:
    """Return every fact the report shows, charts included (SVG text).

    `render_failed`: the full report could not be rendered; this one says so (with `error`) and
    shows no metrics or charts, so that it renders and is sent as a failure.
    """
    now = timezone.now()
    failed = render_failed or run is None or run.status != JobStatus.SUCCEEDED
    content: dict[str, Any] = {
        "kind": ReportKind.FAILURE if failed else ReportKind.AUDIT,
        "title": f"{'Failed audit' if failed else 'Audit report'}: {system.name}",
        "generated": now.isoformat(), "date": now.strftime("%Y-%m-%d %H:%M:%S UTC"), "system": {"id": system.pk, "name": system.name},
        "schedule": {"id": schedule.pk, "name": schedule.name, "timing": schedule.timing} if schedule else None,
        "audit_run": _run_facts(run), "error": error or (run.error if run is not None and failed else ""),
        "compliance": compliance_summaries(system), "audit_log": auditlog.verify(system.organization_id),
        "audit_log_checkpoint": auditlog.checkpoint(system.organization_id),
        "previous": {"id": previous.pk, "created": previous.created.isoformat()} if previous else None,
        "metrics": [], "dimensions": {}, "charts": {}, "changes": [], "alerts": [],
    }
    if render_failed:
        content.update(title=f"Report failed: {system.name}", render_failed=True)
    if failed:
        content["error"] = content["error"] or f"The audit ended {run.status if run else 'before it started'}"
        return content
    rows = metric_rows(run)
    moved = alerts.changes(previous.content.get("metrics", []), rows) if previous else []
    content.update({
        "metrics": rows, "dimensions": dict(run.dimension_scores), "changes": moved,
        "alerts": alerts.worsened(moved),
        "charts": {"dimensions": charts.dimension_chart(run.dimension_scores) if run.dimension_scores else "",
                   "fairness": fairness_chart(run), "attributions": attribution_chart(run)},
    })
    return content


def _run_facts(run: AuditRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    mv, ds = run.model_version, run.dataset_version
    return {"id": run.pk, "status": run.status, "device": run.device or "—",
            "model_version": {"id": mv.pk, "label": str(mv), "sha256": mv.artifact.sha256},
            "dataset": {"id": ds.pk, "label": str(ds), "rows": ds.rows},
            "started": run.started.isoformat() if run.started else None,
            "finished": run.finished.isoformat() if run.finished else None}


#
# Rendering and storing
#


def render_html(content: dict[str, Any]) -> str:
    """Return the standalone HTML document of a report (the PDF's source)."""
    return render_to_string("reports/report_pdf.html", {"report": content})


def create_report(system: AISystem, run: AuditRun | None, *, user=None, schedule=None, scheduled_run=None,
                  error: str = "", render_failed: bool = False) -> Report:
    """Render, hash and store a report; return it (the caller enqueues delivery).

    `user` is the requesting user, or a name for the audit log ("cli"); None means the worker.
    """
    previous = previous_report(system, schedule.pk if schedule else None)
    content = build_content(system, run, schedule=schedule, error=error, previous=previous,
                            render_failed=render_failed)
    content = json.loads(auditlog.canonical_json(content))  # what the JSON field gives back, as signed
    pdf = html_to_pdf(render_html(content))
    return store_report(system, content, pdf, audit_run=run, user=user, schedule=schedule,
                        scheduled_run=scheduled_run, previous=previous)


def store_report(system: AISystem, content: dict[str, Any], pdf: bytes, *, audit_run: AuditRun | None = None,
                 evaluation=None, user=None, schedule=None, scheduled_run=None,
                 previous: Report | None = None) -> Report:
    """Store a rendered report: its PDF (encrypted, hashed, signed), its signed facts, the audit-log entry."""
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    with transaction.atomic():
        artifact = artifacts.store(pdf, organization=system.organization, filename=f"report-{system.pk}-{stamp}.pdf")
        report = Report.objects.create(
            organization=system.organization, system=system, schedule=schedule, scheduled_run=scheduled_run,
            audit_run=audit_run, evaluation=evaluation, previous=previous, kind=content["kind"],
            title=content["title"][:300], content=content, alerts=content["alerts"], changed=bool(content["changes"]),
            artifact=artifact, sha256=hashlib.sha256(pdf).hexdigest(), pdf_hmac=auditlog.sign_bytes(pdf),
            content_hmac=auditlog.sign_content(content), created_by=user if getattr(user, "pk", None) else None,
        )
        ran = {"evaluation": evaluation.pk} if evaluation is not None else \
            {"audit_run": audit_run.pk if audit_run else None}
        auditlog.record("report.create", organization=system.organization, actor=user or "worker", obj=report,
                        payload={"kind": report.kind, **ran, "sha256": report.sha256,
                                 "content_hmac": report.content_hmac, "pdf_hmac": report.pdf_hmac,
                                 "alerts": [a["metric"] for a in report.alerts], "schedule": report.schedule_id})
        auditlog.write_checkpoint_on_commit(system.organization_id)
    return report


def verify_report(report: Report, pdf: bytes | None = None) -> dict[str, bool]:
    """Return whether the report's JSON content and its PDF still match their keyed hashes."""
    if pdf is None:
        try:
            pdf = artifacts.read(report.artifact)
        except artifacts.ArtifactIntegrityError:
            pdf = None
    return {"content": auditlog.check_content(report.content, report.content_hmac),
            "pdf": pdf is not None and hashlib.sha256(pdf).hexdigest() == report.sha256
            and auditlog.check_bytes(pdf, report.pdf_hmac)}


def report_for_scheduled_run(scheduled_run_id: int) -> Report | None:
    """Create the report of one firing (once: a second call finds it) and enqueue its delivery."""
    fired = ScheduledRun.objects.select_related("schedule", "system", "audit_run__model_version__artifact",
                                                "audit_run__dataset_version", "evaluation__target",
                                                "evaluation__system").filter(pk=scheduled_run_id).first()
    if fired is None or Report.objects.filter(scheduled_run=fired).exists():
        return None
    run, make = _report_maker(fired)
    if run is not None and run.status not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
        return None  # not finished yet: its own hook will come back
    try:
        report = make(error=fired.error)
    except IntegrityError:  # a concurrent delivery of the same task won
        return None
    except Exception as exc:  # whatever broke the rendering, the firing must end with a report
        logger.exception("The report of scheduled run %s could not be rendered", fired.pk)
        report = _failed_render_report(fired, make, exc)
        if report is None:
            return None
    transaction.on_commit(lambda: _enqueue_delivery(report.pk))
    return report


def _report_maker(fired: ScheduledRun):
    """Return (the job the firing started or None, a function that renders and stores its report)."""
    from . import evaluations

    if fired.evaluation_id is not None or (fired.schedule is not None and fired.schedule.kind == ScheduleKind.GENAI):
        def make(**kwargs) -> Report:
            return evaluations.create_report(fired.system, fired.evaluation, schedule=fired.schedule,
                                             scheduled_run=fired, **kwargs)

        return fired.evaluation, make

    def make_audit(**kwargs) -> Report:
        return create_report(fired.system, fired.audit_run, schedule=fired.schedule, scheduled_run=fired, **kwargs)

    return fired.audit_run, make_audit


def _failed_render_report(fired: ScheduledRun, make, exc: Exception) -> Report | None:
    """Return a failure report saying the full one could not be rendered (it is sent like an alert).

    When even that cannot be rendered, the firing keeps the reason in `error` and is not tried again
    (the sweep of unreported firings skips it): a broken report never retries forever.
    """
    what = "evaluation" if fired.evaluation_id is not None else "audit"
    reason = f"The report could not be rendered ({readable_error(exc)}); the {what}'s results are on the dashboard"
    try:
        return make(error=reason, render_failed=True)
    except IntegrityError:
        return None
    except Exception as again:
        logger.exception("Neither the report of scheduled run %s nor its failure report could be rendered", fired.pk)
        ScheduledRun.objects.filter(pk=fired.pk).update(
            error=f"{reason}; nor could its failure report ({readable_error(again)})")
        return None


def latest_audit(system: AISystem) -> AuditRun:
    """Return the latest succeeded audit of any model of `system`; raise ReportError when there is none."""
    run = AuditRun.objects.filter(model_version__system=system, status=JobStatus.SUCCEEDED).select_related(
        "model_version__artifact", "dataset_version").order_by("-finished", "-id").first()
    if run is None:
        raise ReportError(f"System {system.pk} has no succeeded audit yet", {"system": "no succeeded audit"})
    return run


#
# Delivery
#


def _enqueue_delivery(report_id: int) -> None:
    report = Report.objects.select_related("schedule").get(pk=report_id)
    schedule = report.schedule
    if schedule is None:
        return
    if schedule.recipients:
        send_now(EMAIL, report_id)
    if schedule.webhook_url and (report.alerts or report.kind == ReportKind.FAILURE):
        send_now(WEBHOOK, report_id, 1)


def header_text(text: str, limit: int = 120) -> str:
    """Return `text` fit for a mail header: control characters (a newline in a system name) become
    spaces, so that Django never refuses the message (BadHeaderError) and nothing is injected."""
    cleaned = " ".join("".join(" " if unicodedata.category(c)[0] == "C" else c for c in str(text)).split())
    return cleaned if len(cleaned) <= limit else cleaned[:limit - 1] + "…"


def email_subject(report: Report) -> str:
    """Return the subject: alerts and failures say so first."""
    when = report.created.strftime("%Y-%m-%d %H:%M UTC")
    name = header_text(report.system.name)
    evaluated = (report.content or {}).get("source") == "genai"
    if report.kind == ReportKind.FAILURE:
        what = "REPORT FAILED" if (report.content or {}).get("render_failed") else \
            "EVALUATION FAILED" if evaluated else "AUDIT FAILED"
        return f"[Assay] {what}: {name} ({when})"
    if report.alerts:
        names = header_text(", ".join(str(a["metric"]) for a in report.alerts[:5]))
        what = "rate(s)" if evaluated else "metric(s)"
        return f"[Assay] ALERT: {len(report.alerts)} {what} got worse ({names}): {name} ({when})"
    change = "first report" if report.previous_id is None else \
        "changes since the previous report" if report.changed else "no change"
    title = "Generative evaluation report" if evaluated else "Audit report"
    return f"[Assay] {title}: {name} ({when}), {change}"


def email_report(report_id: int) -> int:
    """Send the report with its PDF attached to the schedule's recipients; return how many got it."""
    report = Report.objects.select_related("schedule", "system", "artifact").get(pk=report_id)
    if ReportDelivery.objects.filter(report=report, channel=DeliveryChannel.EMAIL,
                                     status=DeliveryStatus.SENT).exists():
        return 0  # a redelivered task: sent already
    recipients = list(report.schedule.recipients if report.schedule else [])
    if not recipients:
        return 0
    body = render_to_string("reports/report_email.txt", {"report": report, "content": report.content,
                                                          "base_url": settings.ASSAY_BASE_URL})
    message = EmailMessage(email_subject(report), body, settings.DEFAULT_FROM_EMAIL, recipients)
    message.attach(report.artifact.filename, artifacts.read(report.artifact), "application/pdf")
    message.send()
    ReportDelivery.objects.create(report=report, channel=DeliveryChannel.EMAIL, status=DeliveryStatus.SENT,
                                  target=", ".join(recipients)[:500])
    auditlog.record("report.email", organization=report.organization_id, actor="worker", obj=report,
                    payload={"recipients": recipients, "subject": message.subject})
    return len(recipients)


def webhook_payload(report: Report) -> dict[str, Any]:
    """Return the facts a webhook receives: the same as the alert at the top of the report."""
    content = report.content
    payload = {"event": "report.failure" if report.kind == ReportKind.FAILURE else "report.alert",
               "report": report.pk, "kind": report.kind, "created": report.created.isoformat(),
               "system": content["system"], "schedule": content.get("schedule"),
               "audit_run": (content.get("audit_run") or {}).get("id"), "alerts": report.alerts,
               "error": content.get("error") or "", "sha256": report.sha256,
               "pdf": f"{settings.ASSAY_BASE_URL}/api/v1/reports/{report.pk}/pdf"}
    if content.get("source") == "genai":
        payload["evaluation"] = (content.get("evaluation") or {}).get("id")
    return payload


def post_webhook(url: str, secret: str, payload: dict[str, Any]) -> int:
    """POST the signed JSON to the checked address (core.outbound); return the HTTP status.

    Raise outbound.RefusedURL when the URL is not allowed now, outbound.TransportError (a short
    category such as "connection refused") when the call fails. Redirects are not followed.
    """
    body = alerts.webhook_body(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "Assay-Webhook/1",
               alerts.SIGNATURE_HEADER: alerts.sign(secret, body), "X-Assay-Event": payload["event"]}
    return outbound.post_json(url, body, headers, WEBHOOK_TIMEOUT_S, max_response_bytes=0).status


def call_webhook(report_id: int, attempt: int = 1) -> bool:
    """Call the schedule's webhook once; on failure schedule the next attempt (at most 3). True when 2xx."""
    report = Report.objects.select_related("schedule").get(pk=report_id)
    schedule = report.schedule
    if schedule is None or not schedule.webhook_url:
        return False
    try:
        status = post_webhook(schedule.webhook_url, schedule.webhook_secret, webhook_payload(report))
        ok, detail = 200 <= status < 300, f"HTTP {status}"
    except outbound.RefusedURL as exc:  # our own words: which rule refused the address
        ok, detail = False, f"refused: {exc}"[:500]
    except outbound.OutboundError as exc:  # a category only; the transport's text is in the worker log
        ok, detail = False, str(exc)[:500]
    if not ok and attempt < WEBHOOK_MAX_ATTEMPTS:
        countdown = WEBHOOK_BACKOFF_S[min(attempt - 1, len(WEBHOOK_BACKOFF_S) - 1)]
        send_later(WEBHOOK, report_id, attempt + 1, countdown=countdown)
        return False
    ReportDelivery.objects.create(report=report, channel=DeliveryChannel.WEBHOOK, attempts=attempt,
                                  status=DeliveryStatus.SENT if ok else DeliveryStatus.FAILED,
                                  target=schedule.webhook_url[:500], detail=detail)
    auditlog.record("report.webhook", organization=report.organization_id, actor="worker", obj=report,
                    payload={"url": schedule.webhook_url, "ok": ok, "attempts": attempt, "detail": detail})
    return ok
