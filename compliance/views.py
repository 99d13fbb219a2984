"""Dashboard pages: progress per system, the checklist with filters, item detail, assessments, diff, exports."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.choices import Action
from accounts.permissions import can, get_visible_or_404, parse_id, require
from audit.models import AISystem
from core.uploads import read_optional_upload

from . import evidence, exports, pdf, services
from . import vocabulary as v
from .choices import EXPORT_FORMATS, ItemStatus
from .models import Assessment, Attestation, EvidenceDocument

ATTESTABLE = ("manual_attestation", "process")
ATTEST_ALSO = ("log_integrity", "system_logs", "metric_report", "generative_evaluation")  # attest the rest


def _system(request, pk) -> AISystem:
    return get_visible_or_404(AISystem.objects.all(), request.user, pk=pk)


def _bundle(request) -> str:
    name = request.GET.get("framework") or "eu_ai_act"
    return name if name in v.BUNDLES else "eu_ai_act"


def _download(document: dict, fmt: str) -> HttpResponse:
    response = HttpResponse(exports.render(document, fmt), content_type=exports.CONTENT_TYPES[fmt])
    if fmt != "html":
        response["Content-Disposition"] = f'attachment; filename="{exports.filename(document, fmt)}"'
    return response


def cjk_font(request):
    """Serve the CJK font Assay ships (OFL), so pages show 生成 on machines without CJK fonts."""
    response = FileResponse(pdf.FONT_PATH.open("rb"), content_type="font/otf")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@login_required
def index(request):
    org = request.organization
    rows = []
    for system in AISystem.objects.filter(organization=org) if org else []:
        ctx = evidence.EvidenceContext(system, services.parse_date(None))
        summaries = {b: services.evaluate(system, b, context=ctx)["summary"] for b in v.BUNDLES}
        rows.append({"system": system, "summaries": summaries})
    return render(request, "compliance/index.html", {"rows": rows, "bundles": v.BUNDLES})


@login_required
def checklist(request, pk: int):
    system = _system(request, pk)
    bundle = _bundle(request)
    try:
        on = services.parse_date(request.GET.get("date"))
        full = services.evaluate(system, bundle, on)
        shown = services.filter_items(full, status=request.GET.get("status", ""),
                                      article=request.GET.get("article", ""),
                                      framework=request.GET.get("instrument", ""))
    except services.ComplianceError as exc:
        messages.error(request, str(exc))
        return redirect("compliance-checklist", pk=system.pk)
    fmt = request.GET.get("format")
    if fmt in EXPORT_FORMATS:
        return _download(services.live_document(shown), fmt)
    instruments = sorted({row["framework"] for row in full["items"]})
    return render(request, "compliance/checklist.html", {
        "system": system, "checklist": shown, "summary": full["summary"], "bundle": bundle, "bundles": v.BUNDLES,
        "statuses": ItemStatus.choices, "instruments": instruments, "filters": request.GET,
        "can_change": can(request.user, system.organization_id, Action.CHANGE), "attestable": ATTESTABLE,
        "attest_also": ATTEST_ALSO,
        "document_kinds": v.DOCUMENT_KINDS, "disclaimer": services.DISCLAIMER,
    })


@login_required
def item_detail(request, pk: int, item_id: str):
    system = _system(request, pk)
    item = services.get_registry().item(item_id)
    if item is None:
        raise Http404("No such checklist item")
    checklist = services.evaluate(system, item.bundle)
    row = next(r for r in checklist["items"] if r["id"] == item.id)
    return render(request, "compliance/item_detail.html", {
        "system": system, "row": row, "bundle": item.bundle,
        "attestations": Attestation.objects.filter(system=system, item_id=item.id).select_related("artifact"),
        "documents": (EvidenceDocument.objects.filter(system=system, kind=item.document_kind)
                      if item.document_kind else []),
        "can_change": can(request.user, system.organization_id, Action.CHANGE),
        "document_kinds": v.DOCUMENT_KINDS, "disclaimer": services.DISCLAIMER,
    })


def _back(request, system: AISystem):
    target = request.POST.get("next") or ""
    return redirect(target if target.startswith("/compliance/") else f"/compliance/systems/{system.pk}/")


def _upload(request) -> tuple[bytes | None, str]:
    return read_optional_upload(request.FILES.get("file"))


@login_required
@require_POST
def attest(request, pk: int):
    system = _system(request, pk)
    require(request.user, system, Action.CHANGE)
    file_bytes, filename = _upload(request)
    try:
        services.attest(user=request.user, system=system, item_id=request.POST.get("item_id", ""),
                        text=request.POST.get("text", ""), file_bytes=file_bytes, filename=filename)
        messages.success(request, f"Attested {request.POST.get('item_id')}.")
    except services.ComplianceError as exc:
        messages.error(request, str(exc))
    return _back(request, system)


@login_required
@require_POST
def upload_document(request, pk: int):
    system = _system(request, pk)
    require(request.user, system, Action.CHANGE)
    file_bytes, filename = _upload(request)
    try:
        doc = services.add_document(user=request.user, system=system, kind=request.POST.get("kind", ""),
                                    title=request.POST.get("title", ""), reference=request.POST.get("reference", ""),
                                    file_bytes=file_bytes, filename=filename)
        messages.success(request, f"Uploaded {doc}.")
    except services.ComplianceError as exc:
        messages.error(request, str(exc))
    return _back(request, system)


@login_required
@require_POST
def review_document(request, pk: int, doc: int):
    """Approve or reject a document (never by its uploader): only then is it evidence."""
    system = _system(request, pk)
    require(request.user, system, Action.CHANGE)
    document = get_visible_or_404(EvidenceDocument.objects.filter(system=system), request.user, pk=doc)
    try:
        services.review_document(user=request.user, document=document, decision=request.POST.get("decision", ""),
                                 note=request.POST.get("note", ""))
        messages.success(request, f"{document.title}: {request.POST.get('decision')}.")
    except services.ComplianceError as exc:
        messages.error(request, str(exc))
    return _back(request, system)


@login_required
@require_POST
def add_sample(request, pk: int):
    """Add one of the system's outputs as an evidence sample (verified per layer, after the transformations)."""
    from core.errors import AssayError

    from . import samples

    system = _system(request, pk)
    require(request.user, system, Action.CHANGE)
    data, filename = _upload(request)
    if data is None:
        messages.error(request, "Choose an output file of the system.")
        return _back(request, system)
    try:
        from watermark import services as wm_services

        if wm_services.needs_job(data):
            job = samples.start_sample_job(user=request.user, system=system, data=data, filename=filename)
            messages.success(request, f"The image is large: a worker verifies it (job {job.pk}); reload in a minute.")
            return _back(request, system)
        sample = samples.add_sample(user=request.user, system=system, data=data, filename=filename, web=True)
        passed = ", ".join(k for k, r in sample.report["layers"].items() if r["ok"]) or "none"
        messages.success(request, f"Added sample {sample.pk}: layers shown: {passed}.")
    except AssayError as exc:
        messages.error(request, str(exc))
    return _back(request, system)


@login_required
@require_POST
def upload_event_log(request, pk: int):
    """Upload a log export of the system (JSON lines, JSON or CSV with a timestamp column)."""
    from . import eventlogs

    system = _system(request, pk)
    require(request.user, system, Action.CHANGE)
    data, filename = _upload(request)
    if data is None:
        messages.error(request, "Choose a log export of the system.")
        return _back(request, system)
    try:
        batch = eventlogs.ingest(system=system, user=request.user, rows=eventlogs.decode(data, filename),
                                 source="upload", data=data, filename=filename)
        messages.success(request, f"Log export: {batch.accepted} events stored, {batch.rejected} refused"
                         + (f" (first: line {batch.errors[0]['line']}: {batch.errors[0]['error']})" if batch.errors else ""))
    except eventlogs.EventLogError as exc:
        messages.error(request, str(exc))
    return _back(request, system)


@login_required
@require_POST
def remove_sample(request, pk: int, sample: int):
    from . import samples
    from .models import EvidenceSample

    system = _system(request, pk)
    require(request.user, system, Action.CHANGE)
    row = get_visible_or_404(EvidenceSample.objects.filter(system=system), request.user, pk=sample)
    samples.remove_sample(user=request.user, sample=row)
    messages.success(request, f"Removed sample {row.pk} from the evidence.")
    return _back(request, system)


@login_required
@require_POST
def snapshot(request, pk: int):
    system = _system(request, pk)
    require(request.user, system, Action.CHANGE)
    bundles = [b for b in request.POST.getlist("framework") if b in v.BUNDLES] or None
    assessment = services.snapshot(user=request.user, system=system, bundles=bundles)
    messages.success(request, f"Recorded assessment {assessment.pk}.")
    return redirect("compliance-assessment", pk=assessment.pk)


@login_required
def assessments(request, pk: int):
    system = _system(request, pk)
    rows = Assessment.objects.filter(system=system).select_related("created_by")
    return render(request, "compliance/assessments.html", {
        "system": system, "assessments": rows,
        "can_change": can(request.user, system.organization_id, Action.CHANGE),
    })


def _assessment(request, pk) -> Assessment:
    return get_visible_or_404(Assessment.objects.select_related("system", "created_by"), request.user, pk=pk)


@login_required
def assessment_detail(request, pk: int):
    assessment = _assessment(request, pk)
    document = services.assessment_document(assessment)
    fmt = request.GET.get("format")
    if fmt in EXPORT_FORMATS:
        return _download(document, fmt)
    others = Assessment.objects.filter(system=assessment.system).exclude(pk=assessment.pk)[:50]
    return render(request, "compliance/assessment_detail.html", {
        "assessment": assessment, "doc": document, "others": others, "formats": EXPORT_FORMATS,
    })


@login_required
def assessment_diff(request, pk: int):
    a = _assessment(request, pk)
    other = parse_id(request.GET.get("other", ""))
    b = _assessment(request, other) if other is not None else None
    if b is None or b.system_id != a.system_id:
        raise Http404("Choose another assessment of the same system")
    return render(request, "compliance/diff.html", {"a": a, "b": b, "diff": services.diff(a, b)})
