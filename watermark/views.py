"""Dashboard pages: stamp (before/after, download), batches with progress, verify, policy and keys."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.choices import Action
from accounts.models import Organization
from accounts.permissions import can, get_visible_or_404, parse_id, require
from core import artifacts
from core.choices import JobStatus
from core.uploads import read_upload

from . import jobs, services
from .choices import LAYERS, BatchMode, Source
from .forms import BatchForm, PolicyForm, StampForm, VerifyForm
from .models import ProvenanceRecord, SigningCredential, WatermarkBatch, WatermarkKey


def _org_or_404(request):
    if request.organization is None:
        raise Http404("You belong to no organisation.")
    return request.organization


def _options(form, source: str) -> services.StampOptions:
    data = form.cleaned_data
    return services.StampOptions(
        layers={name: data[name] for name in LAYERS}, text=data["text"] or None, corner=data["corner"] or None,
        output_format=data["format"] or None, system=data["system"], model_version=data["model_version"] or "",
        source=source,
    )


@login_required
def index(request):
    """Upload and stamp one image (or a batch); the organisation's recent records and batches."""
    org = _org_or_404(request)
    policy = services.policy_for(org)
    may_stamp = can(request.user, org.pk, Action.CHANGE)
    form = StampForm(request.POST or None, request.FILES or None, organization=org, policy=policy)
    if request.method == "POST":
        require(request.user, org, Action.CHANGE)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            options = _options(form, Source.DASHBOARD)
            options.filename, options.keep_input, options.keep_output = upload.name, True, True
            image = read_upload(upload)
            try:
                if services.needs_job(image):  # too large for a web worker: a job stamps it
                    batch = jobs.start_batch(user=request.user, organization=org, files=[(upload.name, image)],
                                             options=options)
                    return redirect("watermark-batch", pk=batch.pk)
                _, record = services.stamp(image, organization=org, user=request.user, options=options)
            except services.WatermarkError as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("watermark-record", pk=record.pk)
    records = Paginator(ProvenanceRecord.objects.filter(organization=org).select_related("system"), 20)
    return render(request, "watermark/index.html", {
        "form": form, "batch_form": BatchForm(organization=org, policy=policy), "policy": policy,
        "may_stamp": may_stamp, "page": records.get_page(request.GET.get("page")),
        "batches": WatermarkBatch.objects.filter(organization=org, mode=BatchMode.STAMP)[:10],
    })


@login_required
@require_POST
def batch_start(request):
    org = _org_or_404(request)
    require(request.user, org, Action.CHANGE)
    form = BatchForm(request.POST, request.FILES, organization=org)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("watermark")
    files = [(f.name, read_upload(f, field="files")) for f in form.cleaned_data["files"]]
    try:
        batch = jobs.start_batch(user=request.user, organization=org, files=files,
                                 options=_options(form, Source.BATCH))
    except services.WatermarkError as exc:
        messages.error(request, str(exc))
        return redirect("watermark")
    return redirect("watermark-batch", pk=batch.pk)


@login_required
def batch_detail(request, pk: int):
    batch = get_visible_or_404(_own_or_stamp_jobs(request), request.user, pk=pk)
    if batch.mode == BatchMode.VERIFY:
        return redirect(f"{reverse('watermark-verify-page')}?job={batch.pk}")
    return render(request, "watermark/batch.html", {"batch": batch})


def _own_or_stamp_jobs(request):
    """Batches of the caller's organisations, without other users' verify jobs (their reports are theirs)."""
    return WatermarkBatch.objects.select_related("system").exclude(
        Q(mode=BatchMode.VERIFY) & ~Q(created_by=request.user))


@login_required
def record_detail(request, pk: int):
    record = get_visible_or_404(ProvenanceRecord.objects.select_related("system", "organization"), request.user,
                                pk=pk)
    return render(request, "watermark/record.html", {
        "record": record, "may_download": can(request.user, record.organization_id, Action.DOWNLOAD),
        "verifications": record.verifications.all()[:10],
    })


@login_required
def record_image(request, pk: int, which: str):
    """Serve the before (upload) or after (stamped) image of a dashboard stamp."""
    record = get_visible_or_404(ProvenanceRecord.objects.all(), request.user, pk=pk)
    artifact = {"before": record.input_artifact, "after": record.output_artifact}.get(which)
    if artifact is None:
        raise Http404("No such image kept.")
    data = artifacts.read(artifact)
    response = HttpResponse(data, content_type=_mime(data))
    if request.GET.get("download"):
        require(request.user, record, Action.DOWNLOAD)
        response["Content-Disposition"] = f'attachment; filename="{artifact.filename}"'
    return response


def _mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


@login_required
def verify(request):
    """Upload an image; every layer's report, with the provenance record when the caller may see it."""
    form = VerifyForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        orgs = list(Organization.objects.restrict(request.user, Action.VIEW))
        upload = form.cleaned_data["file"]
        image = read_upload(upload)
        try:
            if services.needs_job(image) and orgs:  # too large for a web worker: a job verifies it
                batch = jobs.start_batch(user=request.user, organization=orgs[0], files=[(upload.name, image)],
                                         options=services.StampOptions(), mode=BatchMode.VERIFY, organizations=orgs)
                return redirect(f"{reverse('watermark-verify-page')}?job={batch.pk}")
            report = services.verify(image, organizations=orgs, user=request.user)
        except services.WatermarkError as exc:
            form.add_error("file", str(exc))
    elif request.method == "GET" and request.GET.get("job"):
        report = _job_report(request, form)
    return render(request, "watermark/verify.html", {"form": form, "report": report})


def _job_report(request, form) -> dict | None:
    """Return the report of the caller's verify job named by ?job= once it is done (a message until then)."""
    batch = get_visible_or_404(_own_or_stamp_jobs(request).filter(mode=BatchMode.VERIFY), request.user,
                               pk=parse_id(request.GET["job"]) or 0)
    if batch.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        messages.info(request, f"The image is large: a job is verifying it ({batch.progress}%). Reload this page "
                               "to see the report.")
        return None
    if batch.status != JobStatus.SUCCEEDED or not batch.results:
        messages.error(request, f"The verification failed: {batch.error or batch.status}")
        return None
    result = batch.results[0]
    if result.get("error"):
        form.add_error(None, result["error"])
        return None
    return result.get("report")


@login_required
def policy(request):
    """The organisation's stamping policy and keys; owners and admins change them."""
    org = _org_or_404(request)
    current = services.policy_for(org)
    may_manage = can(request.user, org.pk, Action.MANAGE)
    form = PolicyForm(request.POST or None, initial={f: getattr(current, f) for f in services.POLICY_FIELDS})
    if request.method == "POST":
        require(request.user, org, Action.MANAGE)
        if request.POST.get("rotate"):
            services.create_key(org, user=request.user)
            messages.success(request, "A new watermark key now stamps; older keys keep verifying.")
            return redirect("watermark-policy-page")
        if form.is_valid():
            try:
                services.update_policy(org, dict(form.cleaned_data), user=request.user)
            except services.WatermarkError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Policy saved.")
                return redirect("watermark-policy-page")
    return render(request, "watermark/policy.html", {
        "form": form, "may_manage": may_manage, "keys": WatermarkKey.objects.filter(organization=org),
        "credentials": SigningCredential.objects.filter(organization=org),
    })
