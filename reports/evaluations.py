"""Reports of scheduled generative evaluations: the self-assessment (genai.report) under the report's facts.

A genai schedule's report is stored and delivered like an audit report (services.store_report, the
same e-mail and webhook); its facts are the evaluation's rates with their intervals, what moved since
the previous report of the schedule, and alerts for the rates whose status got worse (pass <
inconclusive < fail). Its PDF is the self-assessment annex in the schedule's language, headed by
those facts. A firing that started no evaluation, or whose evaluation failed, gets a failure report.
"""

from __future__ import annotations

import json
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from audit.models import AISystem
from core import auditlog
from core.choices import JobStatus
from core.pdf import cjk_font_data_url, html_to_pdf
from genai import report as genai_report
from genai.models import Evaluation

from . import alerts
from .choices import ReportKind
from .models import Report
from .services import compliance_summaries, store_report

RATE_RANK = {"pass": 0, "inconclusive": 1, "fail": 2}


def rate_change(before: str | None, after: str | None) -> str:
    """Return "same", "worse", "better" or "changed" (to or from a rate without a status)."""
    if before == after:
        return "same"
    rank_before, rank_after = RATE_RANK.get(before or ""), RATE_RANK.get(after or "")
    if rank_before is None or rank_after is None:
        return "changed"
    return "worse" if rank_after > rank_before else "better"


def rate_rows(row: Evaluation) -> list[dict[str, Any]]:
    """Return the three headline rates of an evaluation as report rows: value, n, interval, threshold, status."""
    rates = (row.result or {}).get("rates", {})
    labels = genai_report.LABELS["en"]
    return [{"id": key, "name": labels[key], "value": rates[key].get("value"), "n": rates[key].get("n"),
             "ci95": rates[key].get("ci95"), "threshold": rates[key].get("threshold"),
             "status": rates[key].get("status")} for key in genai_report.RATES if rates.get(key)]


def previous_report(system: AISystem, schedule_id: int | None) -> Report | None:
    """Return the latest evaluation report of the same schedule (or, unscheduled, of the same system)."""
    reports = Report.objects.filter(system=system, kind=ReportKind.GENAI)
    reports = reports.filter(schedule_id=schedule_id) if schedule_id else reports
    return reports.order_by("-created", "-id").first()


def _evaluation_facts(row: Evaluation | None) -> dict[str, Any] | None:
    if row is None:
        return None
    result = row.result or {}
    return {"id": row.pk, "status": row.status, "target": {"id": row.target_id, "name": row.target.name,
                                                           "kind": row.target.kind},
            "banks": [{"name": b["name"], "version": b["version"], "demo": b.get("demo", False)}
                      for b in result.get("banks", [])],
            "seed": row.seed, "n": (result.get("sampling") or {}).get("n"),
            "max_new_tokens": row.max_new_tokens, "verdicts_sha256": row.verdicts_sha256,
            "started": row.started.isoformat() if row.started else None,
            "finished": row.finished.isoformat() if row.finished else None}


def build_content(system: AISystem, row: Evaluation | None, *, schedule=None, error: str = "",
                  previous: Report | None = None, render_failed: bool = False, lang: str = "zh") -> dict[str, Any]:
    """Return every fact the report shows; a failed or missing evaluation gives a failure report's facts."""
    now = timezone.now()
    failed = render_failed or row is None or row.status != JobStatus.SUCCEEDED
    content: dict[str, Any] = {
        "source": "genai", "kind": ReportKind.FAILURE if failed else ReportKind.GENAI, "lang": lang,
        "title": f"{'Failed evaluation' if failed else 'Generative evaluation report'}: {system.name}",
        "generated": now.isoformat(), "date": now.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "system": {"id": system.pk, "name": system.name},
        "schedule": {"id": schedule.pk, "name": schedule.name, "timing": schedule.timing} if schedule else None,
        "evaluation": _evaluation_facts(row), "audit_run": None,
        "error": error or (row.error if row is not None and failed else ""),
        "compliance": compliance_summaries(system), "audit_log": auditlog.verify(system.organization_id),
        "audit_log_checkpoint": auditlog.checkpoint(system.organization_id),
        "previous": {"id": previous.pk, "created": previous.created.isoformat()} if previous else None,
        "rates": [], "attack_success": {}, "undetermined": {}, "metrics": [], "changes": [], "alerts": [],
    }
    if render_failed:
        content.update(title=f"Report failed: {system.name}", render_failed=True)
    if failed:
        content["error"] = content["error"] or f"The evaluation ended {row.status if row else 'before it started'}"
        return content
    rows = rate_rows(row)
    moved = alerts.changes(previous.content.get("rates", []), rows, compare=rate_change) if previous else []
    result = row.result or {}
    content.update({"rates": rows, "attack_success": (result.get("rates") or {}).get("attack_success") or {},
                    "undetermined": result.get("undetermined") or {}, "changes": moved,
                    "alerts": alerts.worsened(moved)})
    return content


def render_html(content: dict[str, Any], row: Evaluation | None) -> str:
    """Return the PDF's HTML: the report's facts, then (when it succeeded) the whole self-assessment."""
    lang = content.get("lang") or "zh"
    annex = genai_report.context(row, lang) if row is not None and content["kind"] == ReportKind.GENAI else {}
    return render_to_string("reports/genai_report_pdf.html", {
        **annex, "report": content, "annex": bool(annex), "pdf": True, "font_data_url": cjk_font_data_url()})


def create_report(system: AISystem, row: Evaluation | None, *, user=None, schedule=None, scheduled_run=None,
                  error: str = "", render_failed: bool = False) -> Report:
    """Render, hash and store the report of an evaluation (or of its failure); return it."""
    previous = previous_report(system, schedule.pk if schedule else None)
    lang = (schedule.config or {}).get("lang", "zh") if schedule is not None else "zh"
    content = build_content(system, row, schedule=schedule, error=error, previous=previous,
                            render_failed=render_failed, lang=lang)
    content = json.loads(auditlog.canonical_json(content))  # what the JSON field gives back, as signed
    pdf = html_to_pdf(render_html(content, row))
    return store_report(system, content, pdf, evaluation=row, user=user, schedule=schedule,
                        scheduled_run=scheduled_run, previous=previous)
