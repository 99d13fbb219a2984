"""Dashboard pages of the registry: systems, one system with its versions, the audit log."""

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
from .metrics.catalog import CATALOG, SMALL_GROUP_ROWS
from .models import AISystem, AuditRun, DatasetVersion, ModelVersion
from .results import GroupTable, MetricView


@login_required
def systems(request):
    org = request.organization
    rows = AISystem.objects.filter(organization=org).select_related("current_model") if org else []
    return render(request, "audit/systems.html", {"systems": rows})


@login_required
def system_detail(request, pk: int):
    system = get_visible_or_404(AISystem.objects.all(), request.user, pk=pk)
    context = {
        "system": system,
        "models": ModelVersion.objects.filter(system=system).select_related("artifact").order_by("name", "-version"),
        "datasets": DatasetVersion.objects.filter(system=system).select_related("artifact").order_by("name", "-version"),
        "can_change": can(request.user, system.organization_id, Action.CHANGE),
        "can_promote": can(request.user, system.organization_id, Action.MANAGE),
        "promotions": services.promotions_of(system)[:100],
        "audits": AuditRun.objects.filter(model_version__system=system).select_related("model_version",
                                                                                       "dataset_version")[:50],
    }
    return render(request, "audit/system_detail.html", context)


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
    context = {"run": run, "row": _metric_row(metric, run.results.thresholds.get(metric_id)), "details": metric.details,
               "group_tables": [_table_context(t) for t in tables], "charts": _detail_charts(metric, tables),
               "classes": metric.classes, "small_group_rows": SMALL_GROUP_ROWS}
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


@login_required
def audit_compare(request):
    refs = [parse_id(request.GET.get(k, "")) for k in ("a", "b")]
    if None in refs:
        raise Http404("Give two audits: ?a=ID&b=ID")
    a, b = (_visible_run(request, r) for r in refs)
    comparison = jobs.compare(a, b) if a.result and b.result else None
    return render(request, "audit/audit_compare.html", {"a": a, "b": b, "comparison": comparison})


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
