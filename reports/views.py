"""Dashboard pages of reports and schedules: list, open and download reports; manage schedules."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from rest_framework import serializers

from accounts.choices import Action
from accounts.permissions import can, get_visible_or_404, parse_id, require
from audit.models import AISystem, DatasetVersion, ModelVersion
from core import parsers as strict_json
from genai.models import Bank, Target

from . import schedules
from .api.serializers import ScheduleSerializer
from .api.views import pdf_response, resolve_ids
from .models import Report, Schedule


@login_required
def reports(request):
    org = request.organization
    rows = Report.objects.filter(organization=org).select_related("system", "schedule") if org else \
        Report.objects.none()
    system = parse_id(request.GET.get("system", ""))
    if system is not None:
        rows = rows.filter(system_id=system)
    page = Paginator(rows.order_by("-created", "-id"), 50).get_page(request.GET.get("page"))
    systems = AISystem.objects.filter(organization=org) if org else []
    return render(request, "reports/reports.html", {"page": page, "systems": systems, "system": system})


@login_required
def report_detail(request, pk: int):
    report = get_visible_or_404(Report.objects.select_related("system", "schedule"), request.user, pk=pk)
    return render(request, "reports/report_detail.html", {"report_row": report, "report": report.content})


@login_required
def report_pdf(request, pk: int):
    report = get_visible_or_404(Report.objects.select_related("artifact"), request.user, pk=pk)
    return pdf_response(report, request.user)


@login_required
def schedules_page(request):
    org = request.organization
    manage = bool(org) and can(request.user, org.pk, Action.MANAGE)
    errors = {}
    if request.method == "POST":
        if not manage:
            raise Http404("Not found.")
        errors = _create_from_form(request)
        if not errors:
            return redirect("schedules")
    rows = Schedule.objects.filter(organization=org).select_related(
        "system", "model_version", "dataset_version", "target").prefetch_related("banks") if org else []
    return render(request, "reports/schedules.html", {
        "schedules": rows, "can_manage": manage, "form": request.POST if request.method == "POST" else {},
        "errors": errors,
        "systems": AISystem.objects.filter(organization=org) if org else [],
        "models": ModelVersion.objects.filter(organization=org).select_related("system").order_by(
            "system__name", "name", "-version") if org else [],
        "datasets": DatasetVersion.objects.filter(organization=org).select_related("system") if org else [],
        "targets": Target.objects.filter(organization=org).select_related("system").order_by("system__name", "name")
        if org else [],
        "banks": Bank.objects.filter(organization=org).order_by("name") if org else [],
        "chosen_banks": request.POST.getlist("banks") if request.method == "POST" else [],
    })


def _create_from_form(request) -> dict[str, str]:
    """Create the schedule the form describes; return {field: message} of what was refused ("" for the form)."""
    post = request.POST
    data = {"name": post.get("name", ""), "kind": post.get("kind") or "audit", "system": post.get("system", ""),
            "dataset_version": post.get("dataset_version") or None,
            "model_version": post.get("model_version") or None, "cron": post.get("cron", ""),
            "interval_seconds": post.get("interval_seconds") or None,
            "recipients": [r.strip() for r in post.get("recipients", "").replace(";", ",").split(",") if r.strip()],
            "webhook_url": post.get("webhook_url", ""), "webhook_secret": post.get("webhook_secret", ""),
            "config": post.get("config", "") or "{}", "enabled": True}
    if data["kind"] == "genai":
        try:
            data.update(_evaluation_fields(post))
        except ValueError as exc:
            return {"config": str(exc), "": "Check the evaluation options"}
    form = ScheduleSerializer(data=data)
    try:
        form.is_valid(raise_exception=True)
        values = resolve_ids(request.user, form.validated_data)
        require(request.user, values["system"], Action.MANAGE)
        schedule = schedules.create_schedule(user=request.user, values=values)
    except serializers.ValidationError as exc:
        return _field_messages(exc.detail)
    except schedules.ScheduleError as exc:
        return {**_field_messages(exc.fields), "": str(exc)}
    except Http404:
        return {"": "Unknown system, model or dataset version"}
    messages.success(request, f"Schedule “{schedule.name}” created ({schedule.timing}).")
    return {}


def _evaluation_fields(post) -> dict:
    """Return a genai schedule's target, banks and options from the form (the options merged into its JSON config)."""
    try:
        config = strict_json.loads(post.get("config") or "{}")
    except ValueError as exc:
        raise ValueError(f"Not valid JSON: {getattr(exc, 'msg', exc)}") from None
    if not isinstance(config, dict):
        raise ValueError("The options are a JSON object")
    for key in ("sample", "seed", "max_new_tokens"):
        text = post.get(f"genai_{key}", "").strip()
        if text:
            try:
                config[key] = int(text)
            except ValueError:
                raise ValueError(f"{key} is a whole number") from None
    if post.get("genai_lang"):
        config["lang"] = post["genai_lang"]
    return {"target": post.get("target") or None, "banks": post.getlist("banks"), "config": config,
            "dataset_version": None, "model_version": None}


def _field_messages(detail) -> dict[str, str]:
    """Return DRF's error detail as one readable line per field ("" for errors of the whole form)."""
    if not isinstance(detail, dict):
        return {"": _text(detail)}
    return {("" if field == "non_field_errors" else field): _text(value) for field, value in detail.items()}


def _text(value) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value)
    return str(value)


@login_required
@require_POST
def schedule_action(request, pk: int, op: str):
    schedule = get_visible_or_404(Schedule.objects.all(), request.user, pk=pk)
    require(request.user, schedule, Action.MANAGE)
    if op == "toggle":
        schedules.update_schedule(schedule, user=request.user, changes={"enabled": not schedule.enabled})
        messages.success(request, f"Schedule “{schedule.name}” {'enabled' if schedule.enabled else 'paused'}.")
    elif op == "delete":
        schedules.delete_schedule(schedule, user=request.user)
        messages.success(request, f"Schedule “{schedule.name}” deleted; its reports stay.")
    elif op == "run":
        fired = schedules.fire(schedule.pk)
        what = "Evaluation" if schedule.kind == "genai" else "Audit"
        started = fired is not None and (fired.audit_run_id or fired.evaluation_id)
        messages.success(request, f"{what} started; its report follows when it ends." if started
                         else f"No {what.lower()} started: {fired.error if fired else 'the schedule is paused'}")
    else:
        raise Http404("Unknown action.")
    return redirect("schedules")
