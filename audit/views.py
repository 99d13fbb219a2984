"""Dashboard pages of the registry: systems, one system with its versions and trends, the audit log, audits."""

import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.choices import Action
from accounts.permissions import can, get_visible_or_404, parse_id, require
from core import auditlog, charts
from core.choices import JobStatus
from core.errors import AssayError
from core.models import AuditLogEntry

from . import jobs, services
from .metrics.catalog import CATALOG, DIMENSIONS, SMALL_GROUP_ROWS, thresholds_used
from .metrics.explanations import amendment_notes, explain
from .models import AISystem, AuditRun, DatasetVersion, ModelVersion
from .results import GroupTable, MetricView, status_change


@login_required
def systems(request):
    org = request.organization
    rows = AISystem.objects.filter(organization=org).select_related("current_model") if org else []
    return render(request, "audit/systems.html", {"systems": rows})


@login_required
def system_detail(request, pk: int):
    system = get_visible_or_404(AISystem.objects.all(), request.user, pk=pk)
    models = list(ModelVersion.objects.filter(system=system).select_related("artifact").order_by("name", "-version"))
    trends = services.metric_trends(system)
    context = {
        "system": system,
        "models": models,
        "dp_children": dp_children(models),
        "trend_runs": trends["runs"],
        "trend_rows": _trend_rows(system, trends),
        "datasets": DatasetVersion.objects.filter(system=system).select_related("artifact").order_by("name", "-version"),
        "can_change": can(request.user, system.organization_id, Action.CHANGE),
        "can_promote": can(request.user, system.organization_id, Action.MANAGE),
        "promotions": services.promotions_of(system)[:100],
        "audits": AuditRun.objects.filter(model_version__system=system).select_related("model_version",
                                                                                       "dataset_version")[:50],
    }
    return render(request, "audit/system_detail.html", context)


def dp_children(models: list[ModelVersion]) -> list[dict]:
    """Return the DP-trained variants among `models`, per parent, sorted by the ε they spent (lowest first)."""
    by_pk = {m.pk: m for m in models}
    out: dict[int, dict] = {}
    for m in models:
        if m.parent_id is None or not m.dp:
            continue
        epsilon = _number(m.dp.get("epsilon"))
        parent = by_pk.get(m.parent_id)
        group = out.setdefault(m.parent_id, {"parent": parent, "parent_id": m.parent_id, "children": []})
        group["children"].append({"model": m, "epsilon": epsilon, "delta": m.dp.get("delta"),
                                  "noise_multiplier": m.dp.get("noise_multiplier"), "run": m.dp.get("training_run"),
                                  "dataset_id": m.training_dataset_id})
    for group in out.values():
        group["children"].sort(key=lambda c: (c["epsilon"] is None, c["epsilon"] or 0.0, c["model"].pk))
    return sorted(out.values(), key=lambda g: g["parent_id"])


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _run_label(run: AuditRun) -> str:
    return f"#{run.pk} {run.model_version.name} v{run.model_version.version}"


def _trend_rows(system: AISystem, trends: dict) -> list[dict]:
    """Return one row per metric (catalog order): its latest point and a sparkline across the audits."""
    runs = trends["runs"]
    if not runs:
        return []
    rows = []
    for metric_id, points in trends["metrics"].items():
        entry, used = CATALOG.get(metric_id), trends["thresholds"].get(metric_id)
        if entry is None or used is None or not any(p and p["status"] != "not_applicable" for p in points):
            continue  # never measured on this system: nothing to follow
        rows.append({"id": metric_id, "name": entry.name, "dimension": entry.dimension,
                     "latest": next((p for p in reversed(points) if p), None),
                     "thresholds": _threshold_text(entry, used),
                     "sparkline": _sparkline(runs, points, used)})
    return rows


def _sparkline(runs: list[AuditRun], points: list[dict | None], used: dict) -> str:
    values = [p["value"] if p else None for p in points]
    statuses = [p["status"] if p else None for p in points]
    titles = [f"{_run_label(run)}: " + ("not run" if p is None else "n/a" if p["value"] is None
                                        else f"{p['value']:.4g}") + f" ({p['status'] if p else '—'})"
              for run, p in zip(runs, points, strict=True)]
    return charts.sparkline_svg(values, statuses, pass_threshold=used["pass"], warn_threshold=used["warn"],
                                direction=used["direction"], titles=titles)


@login_required
def system_trend(request, pk: int, metric_id: str):
    """One metric of a system across its succeeded audits: a chart over the status bands and the values."""
    system = get_visible_or_404(AISystem.objects.all(), request.user, pk=pk)
    entry = CATALOG.get(metric_id)
    if entry is None:
        raise Http404("No such metric.")
    trends = services.metric_trends(system)
    runs, points, used = trends["runs"], trends["metrics"][metric_id], trends["thresholds"][metric_id]
    chart = ""
    if runs:
        chart = charts.trend_chart([_run_label(r) for r in runs], [p["value"] if p else None for p in points],
                                   [p["status"] if p else None for p in points], pass_threshold=used["pass"],
                                   warn_threshold=used["warn"], direction=used["direction"],
                                   title=f"{metric_id} {entry.name}")
    rows = [{"run": run, "point": p} for run, p in zip(runs, points, strict=True)][::-1]
    return render(request, "audit/system_trend.html", {
        "system": system, "metric": entry, "chart": chart, "rows": rows, "thresholds": _threshold_text(entry, used),
        "explanation": explain(metric_id), "limit": services.TREND_AUDITS})


@login_required
def audit_log(request):
    org = request.organization
    entries = AuditLogEntry.objects.filter(organization=org).order_by("-seq") if org else AuditLogEntry.objects.none()
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    verification = auditlog.verify(org.pk) if org else None
    return render(request, "audit/audit_log.html", {"page": page, "verification": verification})


#
# Audits
#


def _visible_run(request, pk: int) -> AuditRun:
    return get_visible_or_404(AuditRun.objects.select_related("model_version__system", "dataset_version"),
                              request.user, pk=pk)


@login_required
def audit_detail(request, pk: int):
    run = _visible_run(request, pk)
    results = run.results
    used = results.thresholds
    rows = [_metric_row(m, used.get(m.id)) for m in results]
    chart = charts.dimension_chart(run.dimension_scores) if run.dimension_scores else ""
    return render(request, "audit/audit_detail.html", {
        "run": run, "rows": rows, "dimension_chart": chart, "baseline": results.baseline,
        "trivial_model": results.trivial_model, "rows_dropped": results.rows_dropped,
        "custom_thresholds": sorted(k for k, v in used.items() if v.get("source") == "organisation"),
        "others": AuditRun.objects.filter(model_version__system=run.model_version.system,
                                          status=JobStatus.SUCCEEDED).exclude(pk=run.pk)[:20],
    })


def _metric_row(m: MetricView, used: dict | None = None) -> dict:
    entry = CATALOG.get(m.id)
    return {"id": m.id, "name": entry.name if entry else m.id, "dimension": entry.dimension if entry else "",
            "value": m.value, "status": m.status, "reason": m.reason, "ci95": m.ci95,
            "thresholds": _threshold_text(entry, used), "duration_s": m.duration_s,
            "informational": bool(used and used.get("informational"))}


def _threshold_text(entry, used: dict | None = None) -> str:
    """Return "pass ≤ x, warn ≤ y" as the run applied them (the catalog's for runs that predate recording)."""
    if entry is None:
        return ""
    op = "≤" if entry.direction == "lower" else "≥"
    pass_t = used.get("pass", entry.pass_threshold) if used else entry.pass_threshold
    warn_t = used.get("warn", entry.warn_threshold) if used else entry.warn_threshold
    text = f"pass {op} {pass_t:g}, warn {op} {warn_t:g}"
    if used and used.get("source") == "organisation":
        text += " (organisation)"
    return text


@login_required
def metric_detail(request, pk: int, metric_id: str):
    """One metric: value, thresholds, per-group tables and charts (`?class=` picks a multi-class audit's class)."""
    run = _visible_run(request, pk)
    metric = run.metric(metric_id)
    if metric is None:
        raise Http404("No such metric in this audit.")
    cls = request.GET.get("class") or None
    tables = list(metric.group_table(cls if cls in metric.classes else None).values())
    results = run.results
    used = results.thresholds.get(metric_id)
    row = _metric_row(metric, used)
    notes = amendment_notes(ci95=metric.ci95 is not None, informational=row["informational"],
                            organisation=bool(used and used.get("source") == "organisation"),
                            trivial=bool(results.trivial_model), rows_dropped=bool((results.rows_dropped or {}).get("count")),
                            not_applicable=metric.status == "not_applicable")
    context = {"run": run, "row": row, "details": metric.details,
               "group_tables": [_table_context(t) for t in tables], "charts": _detail_charts(metric, tables),
               "classes": metric.classes, "small_group_rows": SMALL_GROUP_ROWS, "explanation": explain(metric_id),
               "notes": notes}
    return render(request, "audit/metric_detail.html", context)


def _table_context(table: GroupTable) -> dict:
    return {"attribute": table.attribute, "value": table.value, "columns": table.columns, "cls": table.cls,
            "rows": [(g, [v.get(c) for c in table.columns]) for g, v in table.rows.items()], "small": table.small}


def _detail_charts(metric: MetricView, tables: list[GroupTable]) -> list[str]:
    out = []
    for table in tables:
        column = "selection_rate" if "selection_rate" in table.columns else (table.columns or [None])[0]
        if column:
            title = f"{column} by {table.attribute}" + (f" (class {table.cls})" if table.cls is not None else "")
            out.append(charts.bar_chart(list(table.rows), [float(v.get(column) or 0) for v in table.rows.values()],
                                        title=title, xlabel=column))
    if metric.importance:
        out.append(charts.bar_chart(list(metric.importance), list(metric.importance.values()),
                                    title="mean |attribution| per feature", xlabel="importance"))
    return out




def _compare_ids(request) -> list[int]:
    """Return the audit ids of ?a=&b= and/or ?audits=1,2,3 (repeatable), in the order given; 404 on a bad id."""
    refs = [request.GET[k] for k in ("a", "b") if request.GET.get(k)]
    refs += [part for value in request.GET.getlist("audits") for part in value.split(",") if part.strip()]
    ids = [parse_id(ref.strip()) for ref in refs]
    if None in ids:
        raise Http404("Audits are given by id: ?audits=1,2,3")
    return ids[:jobs.COMPARE_MAX]


@login_required
def audit_compare(request):
    """Any number of audits side by side: names, metrics ordered by dimension, sparklines and a score chart."""
    ids = _compare_ids(request)
    if len(ids) < 2:
        raise Http404("Give two audits or more: ?audits=1,2,3")
    runs = [_visible_run(request, r) for r in ids]
    context = {"runs": [{"run": r, "label": _run_label(r)} for r in runs],
               "ready": all(r.status == JobStatus.SUCCEEDED and r.result for r in runs),
               "choices": AuditRun.objects.filter(model_version__system=runs[0].model_version.system,
                                                  status=JobStatus.SUCCEEDED)
                                          .select_related("model_version", "dataset_version")[:50],
               "selected": set(ids)}
    if context["ready"]:
        context.update(_comparison(runs))
    return render(request, "audit/audit_compare.html", context)


def _comparison(runs: list[AuditRun]) -> dict:
    """Return the comparison of succeeded `runs`: dimension groups of metric rows, the score chart, threshold notes."""
    results = [r.results for r in runs]
    dimensions = []
    for dimension, metric_ids in DIMENSIONS.items():
        rows = []
        for metric_id in metric_ids:
            views = [res.metric(metric_id) for res in results]
            cells = [{"value": v.value, "status": v.status} if v else None for v in views]
            first, last = cells[0], cells[-1]
            delta = (last["value"] - first["value"]) if first and last and None not in (first["value"], last["value"]) \
                else None
            used = (results[-1].thresholds or {}).get(metric_id) or thresholds_used({})[metric_id]
            rows.append({"id": metric_id, "name": CATALOG[metric_id].name, "cells": cells, "delta": delta,
                         "change": status_change(first and first["status"], last and last["status"]),
                         "sparkline": _sparkline(runs, cells, used)})
        scores = [r.dimension_scores.get(dimension) for r in runs]
        dimensions.append({"name": dimension, "scores": scores, "rows": rows})
    differ = {}
    for other in runs[1:]:
        for entry in jobs.thresholds_differ(runs[0].result or {}, other.result or {}):
            differ.setdefault(entry["metric"], entry)
    chart = charts.grouped_scores_chart({_run_label(r): r.dimension_scores for r in runs})
    return {"dimensions": dimensions, "scores_chart": chart,
            "thresholds_differ": [differ[k] for k in sorted(differ)],
            "thresholds_note": next((d["note"] for d in differ.values() if d.get("note")), None)}


@login_required
@require_POST
def audit_start(request, model_pk: int):
    model = get_visible_or_404(ModelVersion.objects.all(), request.user, pk=model_pk)
    require(request.user, model, Action.CHANGE)
    ref = request.POST.get("dataset_version", "")
    dataset = get_visible_or_404(DatasetVersion.objects.filter(organization=model.organization), request.user,
                                 pk=parse_id(ref) or 0)
    try:
        run = jobs.start_audit(user=request.user, model_version=model, dataset_version=dataset, config={})
    except jobs.AuditError as exc:
        messages.error(request, str(exc))
        return redirect("system", pk=model.system_id)
    return redirect("audit", pk=run.pk)


@login_required
def thresholds(request):
    """The current organisation's metric thresholds: everyone reads them, owners and admins change them."""
    from .metrics.catalog import thresholds_used

    catalog = CATALOG

    organization = getattr(request, "organization", None)
    if organization is None:
        raise Http404("Join or create an organisation first.")
    may_change = can(request.user, organization.pk, Action.MANAGE)
    overrides, error, posted = services.thresholds_of(organization), None, None
    if request.method == "POST":
        require(request.user, organization, Action.MANAGE)
        posted, wanted = request.POST, {}
        for metric_id in catalog:
            entry = {}
            for key in ("pass", "warn"):
                raw = posted.get(f"{metric_id}-{key}", "").strip()
                if raw:
                    try:
                        entry[key] = float(raw)
                    except ValueError:
                        error = f"{metric_id}: {key} must be a number, got {raw!r}"
            if posted.get(f"{metric_id}-informational"):
                entry["informational"] = True
            if entry:
                wanted[metric_id] = entry
        if error is None:
            try:
                services.set_thresholds(organization, user=request.user, overrides=wanted)
                messages.success(request, "Thresholds saved: the next audit applies them.")
                return redirect("thresholds")
            except AssayError as exc:
                error = str(exc)
    used = thresholds_used(overrides)
    rows = []
    for metric_id, spec in catalog.items():
        mine = overrides.get(metric_id, {})
        shown = {key: posted.get(f"{metric_id}-{key}", "") if posted is not None
                 else ("" if key not in mine else f"{mine[key]:g}") for key in ("pass", "warn")}
        rows.append({"id": metric_id, "name": spec.name, "dimension": spec.dimension, "direction": spec.direction,
                     "catalog": f"{spec.pass_threshold:g} / {spec.warn_threshold:g}", "pass": shown["pass"],
                     "warn": shown["warn"], "used": used[metric_id],
                     "informational": bool(posted.get(f"{metric_id}-informational")) if posted is not None
                     else bool(mine.get("informational"))})
    return render(request, "audit/thresholds.html", {"organization": organization, "rows": rows, "error": error,
                                                     "may_change": may_change}, status=400 if error else 200)
