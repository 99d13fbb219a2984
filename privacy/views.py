"""Dashboard pages of DP training: runs, one run with its progress, and the sweep's trade-off chart."""

from dataclasses import replace

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.choices import Action
from accounts.permissions import can, get_visible_or_404, parse_id, require
from audit.models import DatasetVersion, ModelVersion

from . import charts, services
from . import params as dp
from .forms import DPTrainingForm
from .models import DPTrainingRun


@login_required
def privacy_home(request):
    org = request.organization
    runs = (DPTrainingRun.objects.filter(organization=org)
            .select_related("model_version", "dataset_version", "result_model", "audit")[:100] if org else [])
    sweeps = {}
    for run in runs:  # one trade-off chart per (parent, dataset version)
        key = (run.model_version_id, run.dataset_version_id)
        sweeps.setdefault(key, {"model": run.model_version, "dataset": run.dataset_version, "runs": 0})["runs"] += 1
    return render(request, "privacy/index.html", {
        "runs": runs, "sweeps": list(sweeps.values()), "form": DPTrainingForm(organization=org),
        "can_change": bool(org) and can(request.user, org.pk, Action.CHANGE),
    })


@login_required
@require_POST
def dp_start(request):
    form = DPTrainingForm(request.POST, organization=request.organization)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return redirect("privacy")
    data = form.cleaned_data
    model, dataset = data["model_version"], data["dataset_version"]
    require(request.user, model, Action.CHANGE)
    params = dp.DPParams(**{name: data[name] for name in services.PARAMETERS if name in data})
    try:
        if len(data["epsilons"]) == 1:
            run = services.start_dp_training(user=request.user, model_version=model, dataset_version=dataset,
                                             params=replace(params, epsilon=data["epsilons"][0]))
            return redirect("privacy-run", pk=run.pk)
        services.start_sweep(user=request.user, model_version=model, dataset_version=dataset,
                             epsilons=data["epsilons"], params=params)
    except services.DPTrainingError as exc:
        messages.error(request, str(exc))
        return redirect("privacy")
    return redirect(_tradeoff_url(model.pk, dataset.pk))


def _tradeoff_url(model_pk: int, dataset_pk: int) -> str:
    return f"{reverse('privacy-tradeoff', args=[model_pk])}?dataset={dataset_pk}"


def _visible_run(request, pk: int) -> DPTrainingRun:
    return get_visible_or_404(DPTrainingRun.objects.select_related(
        "model_version__system", "dataset_version", "result_model", "audit"), request.user, pk=pk)


@login_required
def run_detail(request, pk: int):
    run = _visible_run(request, pk)
    reference = services.reference_audit(run.model_version, run.dataset_version)
    parent, variant = services.audit_point(reference), services.audit_point(run.audit)
    rows = [{"id": "accuracy", "parent": (run.result or {}).get("parent_accuracy"),
             "variant": (run.result or {}).get("accuracy")}]
    rows += [{"id": mid, "parent": parent.get(mid), "variant": variant.get(mid)} for mid in services.TRADEOFF_METRICS]
    return render(request, "privacy/run_detail.html", {
        "run": run, "reference": reference, "rows": rows,
        "can_change": can(request.user, run.organization_id, Action.CHANGE),
        "tradeoff_url": _tradeoff_url(run.model_version_id, run.dataset_version_id),
    })


@login_required
@require_POST
def run_cancel(request, pk: int):
    run = _visible_run(request, pk)
    require(request.user, run, Action.CHANGE)
    try:
        services.cancel_dp_training(run, user=request.user)
    except services.DPTrainingError as exc:
        messages.error(request, str(exc))
    return redirect("privacy-run", pk=run.pk)


@login_required
def tradeoff(request, model_pk: int):
    model = get_visible_or_404(ModelVersion.objects.select_related("system"), request.user, pk=model_pk)
    runs = DPTrainingRun.objects.filter(model_version=model)
    ref = request.GET.get("dataset", "")
    dataset_id = parse_id(ref) if ref else runs.values_list("dataset_version_id", flat=True).first()
    if dataset_id is None:
        raise Http404("No DP training of this model yet.")
    dataset = get_visible_or_404(DatasetVersion.objects.filter(organization=model.organization), request.user,
                                 pk=dataset_id)
    data = services.tradeoff(model, dataset)
    chart = charts.tradeoff_chart(data["points"], data["reference"]) if data["points"] else ""
    columns = [(attr, group, values["n"]) for attr, table in data["reference"].get("groups", {}).items()
               for group, values in table.items()]
    return render(request, "privacy/tradeoff.html", {
        "model": model, "dataset": dataset, "chart": chart, "columns": columns, **data,
        "rows": [_table_row(p, columns) for p in data["points"]],
        "reference_row": _table_row(data["reference"], columns),
    })


def _table_row(point: dict, columns: list) -> dict:
    groups = point.get("groups") or {}
    return {**point, "FAIR03": point.get("FAIR-03"), "PRIV01": point.get("PRIV-01"),
            "group_accuracy": [groups.get(attr, {}).get(group, {}).get("accuracy") for attr, group, _ in columns]}
