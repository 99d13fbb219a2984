"""Dashboard pages that write the registry: AI systems, dataset and model uploads, promotions of the current model.

Forms keep what the user typed and show the services' refusals next to the fields they name.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.choices import Action
from accounts.permissions import get_visible_or_404, require
from core.errors import AssayError
from core.uploads import read_upload

from . import services
from .datasets import Schema
from .forms import DatasetUploadForm, ModelUploadForm, PromoteForm, SystemForm, add_errors
from .models import AISystem, ModelVersion


def _writable_system(request, pk: int) -> AISystem:
    system = get_visible_or_404(AISystem.objects.all(), request.user, pk=pk)
    require(request.user, system, Action.CHANGE)
    return system


@login_required
def system_new(request):
    org = request.organization
    if org is None:
        raise PermissionDenied("You belong to no organisation.")
    require(request.user, org, Action.CHANGE)
    form = SystemForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            system = services.create_system(user=request.user, organization=org, values=form.values())
        except AssayError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"Registered {system.name}.")
            return redirect("system", pk=system.pk)
    return render(request, "audit/system_form.html", {"form": form, "system": None, "organization": org})


@login_required
def system_edit(request, pk: int):
    system = _writable_system(request, pk)
    form = SystemForm(request.POST or None, instance=system)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_system(AISystem.objects.get(pk=pk), user=request.user, values=form.values())
        except AssayError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "Profile saved: the compliance checklists follow it.")
            return redirect("system", pk=pk)
    return render(request, "audit/system_form.html", {"form": form, "system": system})


@login_required
def dataset_new(request, pk: int):
    system = _writable_system(request, pk)
    form = DatasetUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            schema = Schema(target=data["target"], positive_label=data["positive_label"],
                            split_column=data["split_column"], test_size=data["test_size"], **form.lists())
            version = services.register_dataset(user=request.user, system=system, name=data["name"],
                                                filename=data["file"].name, data=read_upload(data["file"]),
                                                schema=schema, datasheet=form.datasheet())
        except AssayError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"Dataset {version.name} v{version.version} stored ({version.rows} rows).")
            return redirect("system", pk=pk)
    return render(request, "audit/upload_form.html", {"form": form, "system": system, "kind": "dataset"})


@login_required
def model_new(request, pk: int):
    system = _writable_system(request, pk)
    form = ModelUploadForm(request.POST or None, request.FILES or None, system=system)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            version = services.register_model(
                user=request.user, system=system, name=data["name"], filename=data["file"].name,
                data=read_upload(data["file"]), fmt=data["format"], validate_on=data["dataset_version"],
                model_card=form.model_card(), training_dataset=data["training_dataset_version"])
        except AssayError as exc:
            add_errors(form, exc)
        else:
            current = f"{system.current_model.name} v{system.current_model.version}" if system.current_model else "none"
            messages.success(request, f"Model {version.name} v{version.version} stored. The current model is still "
                                      f"{current}: audit the new version, then promote it with a reason.")
            return redirect("system", pk=pk)
    return render(request, "audit/upload_form.html", {"form": form, "system": system, "kind": "model"})


@login_required
@require_POST
def model_make_current(request, model_pk: int):
    """Promote a model version to its system's current model (owners, admins), with the reason posted."""
    model = get_visible_or_404(ModelVersion.objects.select_related("system"), request.user, pk=model_pk)
    require(request.user, model, Action.MANAGE)
    system = model.system
    previous = system.current_model
    form = PromoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"{model.name} v{model.version} was not promoted: "
                                f"{'; '.join(e for errs in form.errors.values() for e in errs)}")
        return redirect(reverse("system", args=[system.pk]) + "#models")
    try:
        services.promote_model(system, user=request.user, model_version=model, reason=form.cleaned_data["reason"])
    except AssayError as exc:
        messages.error(request, f"{model.name} v{model.version} was not promoted: {exc}")
    else:
        _notice_current(request, system, previous, model)
    return redirect(reverse("system", args=[system.pk]) + "#promotions")


def _notice_current(request, system: AISystem, previous: ModelVersion | None, current: ModelVersion) -> None:
    was = f" (was {previous.name} v{previous.version})" if previous else ""
    messages.warning(request, f"The current model of {system.name} is now {current.name} v{current.version}{was}: "
                              "compliance items, schedules and reports read its audits from now on.")
