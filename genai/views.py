"""Dashboard pages: targets, banks and coverage, evaluations (rates, heat map, answers), the review queue."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.choices import Action
from accounts.permissions import can, get_visible_or_404, require
from core.errors import AssayError

from . import evaluation, services
from .models import Bank, Evaluation, EvaluationItem, Target

RATE_LABELS = {"generated_content_pass": "Generated content: pass rate",
               "should_refuse_refusal": "Should refuse: refusal rate",
               "should_not_refuse_refusal": "Should not refuse: refusal rate"}


def _org_or_404(request):
    if request.organization is None:
        raise Http404("You belong to no organisation.")
    return request.organization


@login_required
def index(request):
    """Targets, banks with their coverage, recent evaluations."""
    org = _org_or_404(request)
    return render(request, "genai/index.html", {
        "targets": Target.objects.filter(organization=org).select_related("system"),
        "banks": Bank.objects.filter(organization=org).order_by("name"),
        "evaluations": Evaluation.objects.filter(organization=org).select_related("target").order_by("-pk")[:20],
    })


@login_required
def target_detail(request, pk: int):
    target = get_visible_or_404(Target.objects.select_related("system", "model_artifact"), request.user, pk=pk)
    return render(request, "genai/target.html", {"target": target,
                                                 "evaluations": target.evaluations.order_by("-pk")[:20]})


@login_required
def bank_detail(request, pk: int):
    bank = get_visible_or_404(Bank.objects.all(), request.user, pk=pk)
    version = bank.current()
    items = Paginator(version.items if version else [], 50).get_page(request.GET.get("page"))
    return render(request, "genai/bank.html", {"bank": bank, "version": version, "items": items,
                                               "versions": bank.versions.order_by("-number")})


def _heat(result: dict) -> tuple[list[str], list[tuple[str, list]]]:
    cells = result.get("heatmap") or {}
    columns = ["none"] + sorted({m for per in cells.values() for m in per if m != "none"})
    rows = []
    for risk in sorted(cells, key=lambda r: evaluation._risk_order(r)):
        row = []
        for m in columns:
            rate = cells[risk].get(m)
            level = "na" if not rate or rate["value"] is None else min(3, int(rate["value"] * 4))
            row.append({"rate": rate, "level": level})
        rows.append((risk, row))
    return columns, rows


@login_required
def evaluation_detail(request, pk: int):
    row = get_visible_or_404(Evaluation.objects.select_related("target", "system"), request.user, pk=pk)
    result = row.result or {}
    rates = [(RATE_LABELS[k], result.get("rates", {}).get(k)) for k in RATE_LABELS if result.get("rates", {}).get(k)]
    columns, heat = _heat(result)
    qs = row.items.order_by("index")
    if request.GET.get("verdict") in ("pass", "fail", "undetermined"):
        qs = qs.filter(verdict=request.GET["verdict"])
    return render(request, "genai/evaluation.html", {
        "evaluation": row, "result": result, "rates": rates, "columns": columns, "heat": heat,
        "attack": sorted((result.get("rates", {}).get("attack_success") or {}).items()),
        "by_risk": sorted((result.get("by_risk") or {}).items(), key=lambda kv: evaluation._risk_order(kv[0])),
        "items": Paginator(qs, 50).get_page(request.GET.get("page")),
        "queued": row.items.filter(in_review=True).count(), "reviewed": row.items.exclude(human="").count(),
    })


@login_required
def review_queue(request, pk: int):
    row = get_visible_or_404(Evaluation.objects.select_related("target"), request.user, pk=pk)
    items = Paginator(row.items.filter(in_review=True).select_related("reviewed_by").order_by("index"), 25)
    return render(request, "genai/review.html", {"evaluation": row, "items": items.get_page(request.GET.get("page")),
                                                 "may_review": can(request.user, row.organization_id, Action.CHANGE)})


@login_required
@require_POST
def review_item(request, pk: int, index: int):
    row = get_visible_or_404(Evaluation.objects.all(), request.user, pk=pk)
    require(request.user, row, Action.CHANGE)
    item = EvaluationItem.objects.filter(evaluation=row, index=index).first()
    if item is None:
        raise Http404("Not found.")
    try:
        services.review(item, verdict=request.POST.get("verdict", ""), reason=request.POST.get("reason", ""),
                        user=request.user)
        messages.success(request, f"Item {item.ref} reviewed: {item.verdict}; the run was re-scored.")
    except AssayError as exc:
        messages.error(request, str(exc))
    return redirect("genai-review", pk=pk)
