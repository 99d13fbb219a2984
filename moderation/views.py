"""Dashboard pages: try a policy, policies and versions, keyword libraries, classifiers, evaluations, decisions."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.choices import Action
from accounts.permissions import can, get_visible_or_404, require
from core.errors import AssayError
from core.uploads import read_upload

from . import decisions, jobs, services
from .choices import CATEGORIES, DecisionSource
from .engine import DEFAULT_THRESHOLD
from .filtersets import DecisionSearchFilterSet
from .forms import ClassifierForm, EntryForm, EvaluationForm, LibraryUploadForm, PolicyForm, TryForm
from .models import (
    Decision,
    KeywordEntry,
    KeywordLibrary,
    ModerationClassifier,
    ModerationEvaluation,
    ModerationPolicy,
)


def _read(upload) -> bytes:
    """Return an uploaded file's bytes; one over the moderation uploads' limit raises UploadTooLarge (an AssayError)."""
    return read_upload(upload, max_bytes=services.MAX_TEXT_BYTES_FILE)


def _org_or_404(request):
    if request.organization is None:
        raise Http404("You belong to no organisation.")
    return request.organization


@login_required
def index(request):
    """Try a policy on a text; the policies, the latest evaluation."""
    org = _org_or_404(request)
    default = services.default_policy(org, request.user)
    form = TryForm(request.POST or None, organization=org)
    result = None
    if request.method == "POST" and form.is_valid():
        policy = form.cleaned_data["policy"] or default
        text = form.cleaned_data["text"]
        result = services.moderate([text], organization=org, policy=policy, source=DecisionSource.DASHBOARD)
        result = {"text": text, "body": result["results"][0], "model": result["model"],
                  "segments": _segments(text, result["results"][0]["assay"]["rules"])}
    return render(request, "moderation/index.html", {
        "form": form, "result": result, "policies": ModerationPolicy.objects.filter(organization=org),
        "evaluation": ModerationEvaluation.objects.filter(organization=org).select_related("policy_version__policy")
        .first(), "may_manage": can(request.user, org.pk, Action.MANAGE),
    })


def _segments(text: str, hits: list[dict]) -> list[tuple[str, bool]]:
    """Return the text cut into (piece, matched) runs for highlighting."""
    marked = [False] * len(text)
    for h in hits:
        for i in range(*h["span"]):
            marked[i] = True
    out: list[tuple[str, bool]] = []
    for ch, m in zip(text, marked, strict=True):
        if out and out[-1][1] == m:
            out[-1] = (out[-1][0] + ch, m)
        else:
            out.append((ch, m))
    return out


@login_required
def policy_detail(request, pk: int):
    policy = get_visible_or_404(ModerationPolicy.objects.all(), request.user, pk=pk)
    return _policy_page(request, policy)


@login_required
def policy_new(request):
    org = _org_or_404(request)
    require(request.user, org, Action.MANAGE)
    return _policy_page(request, None)


def _policy_page(request, policy):
    org = policy.organization if policy else _org_or_404(request)
    config = policy.current().config if policy else services.default_config()
    initial = {"action": config["action"], "libraries": config["libraries"], "pii": config["pii"],
               "classifier": config["classifier"], "keep_text": config["keep_text"],
               **{f"threshold_{c}": config["thresholds"].get(c, DEFAULT_THRESHOLD) for c in CATEGORIES}}
    form = PolicyForm(request.POST or None, initial=initial, organization=org)
    if request.method == "POST":
        require(request.user, org, Action.MANAGE)
        if form.is_valid():
            try:
                if policy is None:
                    policy = services.create_policy(org, name=form.cleaned_data["name"], config=form.config(),
                                                    user=request.user)
                else:
                    services.update_policy(policy, form.config(), user=request.user)
            except AssayError as exc:
                form.add_error(None, str(exc))
            else:
                policy.refresh_from_db()
                messages.success(request, f"Saved {policy.name} as version {policy.version}.")
                return redirect("moderation-policy", pk=policy.pk)
    return render(request, "moderation/policy.html", {
        "policy": policy, "form": form, "versions": policy.versions.all() if policy else [],
        "may_manage": can(request.user, org.pk, Action.MANAGE),
        "evaluations": ModerationEvaluation.objects.filter(policy_version__policy=policy)[:10] if policy else [],
    })


@login_required
def libraries(request):
    org = _org_or_404(request)
    form = LibraryUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        require(request.user, org, Action.CHANGE)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                entries = services.parse_entries(services.read_rows(_read(upload), upload.name))
                library = services.create_library(org, name=form.cleaned_data["name"], entries=entries,
                                                  user=request.user)
            except AssayError as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("moderation-library", pk=library.pk)
    return render(request, "moderation/libraries.html", {
        "form": form, "libraries": KeywordLibrary.objects.filter(organization=org),
        "may_change": can(request.user, org.pk, Action.CHANGE),
    })


@login_required
def library_detail(request, pk: int):
    library = get_visible_or_404(KeywordLibrary.objects.all(), request.user, pk=pk)
    form = EntryForm(request.POST if "text" in request.POST else None)
    if request.method == "POST" and "file" in request.FILES:
        require(request.user, library, Action.CHANGE)
        upload = request.FILES["file"]
        try:
            entries = services.parse_entries(services.read_rows(_read(upload), upload.name))
            services.replace_entries(library, entries, user=request.user)
        except AssayError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Replaced the entries: {len(entries)} now, version {library.version}.")
        return redirect("moderation-library", pk=library.pk)
    if request.method == "POST":
        require(request.user, library, Action.CHANGE)
        if form.is_valid():
            try:
                services.add_entry(library, dict(form.cleaned_data), user=request.user)
            except AssayError as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("moderation-library", pk=library.pk)
    entries = Paginator(library.entries.all(), 100).get_page(request.GET.get("page"))
    return render(request, "moderation/library.html", {
        "library": library, "form": form, "page": entries,
        "may_change": can(request.user, library.organization_id, Action.CHANGE),
    })


@login_required
@require_POST
def entry_delete(request, pk: int, entry_pk: int):
    library = get_visible_or_404(KeywordLibrary.objects.all(), request.user, pk=pk)
    require(request.user, library, Action.CHANGE)
    entry = KeywordEntry.objects.filter(library=library, pk=entry_pk).first()
    if entry is None:
        raise Http404("Entry not found.")
    services.delete_entry(entry, user=request.user)
    return redirect("moderation-library", pk=library.pk)


@login_required
def classifiers(request):
    org = _org_or_404(request)
    form = ClassifierForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        require(request.user, org, Action.CHANGE)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                row = jobs.start_training(org, name=form.cleaned_data["name"], data=_read(upload),
                                          filename=upload.name, user=request.user)
            except AssayError as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("moderation-classifier", pk=row.pk)
    return render(request, "moderation/classifiers.html", {
        "form": form, "classifiers": ModerationClassifier.objects.filter(organization=org)[:50],
        "may_change": can(request.user, org.pk, Action.CHANGE),
    })


@login_required
def classifier_detail(request, pk: int):
    row = get_visible_or_404(ModerationClassifier.objects.all(), request.user, pk=pk)
    return render(request, "moderation/classifier.html", {"row": row})


@login_required
def evaluations(request):
    org = _org_or_404(request)
    form = EvaluationForm(request.POST or None, request.FILES or None, organization=org)
    if request.method == "POST":
        require(request.user, org, Action.CHANGE)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            policy = form.cleaned_data["policy"] or services.default_policy(org, request.user)
            try:
                evaluation = services.run_evaluation(policy, data=_read(upload), filename=upload.name,
                                                     user=request.user)
            except AssayError as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("moderation-evaluation", pk=evaluation.pk)
    return render(request, "moderation/evaluations.html", {
        "form": form, "may_change": can(request.user, org.pk, Action.CHANGE),
        "evaluations": ModerationEvaluation.objects.filter(organization=org)
        .select_related("policy_version__policy")[:50],
    })


@login_required
def evaluation_detail(request, pk: int):
    evaluation = get_visible_or_404(ModerationEvaluation.objects.select_related("policy_version__policy"),
                                    request.user, pk=pk)
    rows = [{"category": c, **evaluation.results["by_category"][c]} for c in CATEGORIES
            if c in evaluation.results.get("by_category", {})]
    confusion = evaluation.results.get("confusion", {})
    columns = sorted({pc for row in confusion.values() for pc in row})
    table = [(ec, [confusion[ec].get(pc, 0) for pc in columns]) for ec in sorted(confusion)]
    return render(request, "moderation/evaluation.html", {
        "evaluation": evaluation, "rows": rows, "flagged": evaluation.results.get("flagged"),
        "columns": columns, "table": table, "misclassified": evaluation.results.get("misclassified", []),
    })


@login_required
def decision_list(request):
    org = _org_or_404(request)
    decisions.flush()  # what this process spooled is shown at once
    qs = Decision.objects.filter(organization=org).select_related("policy_version__policy", "batch")
    p = request.GET
    search = DecisionSearchFilterSet(p, queryset=qs)
    qs = search.qs if search.is_valid() else qs.none()
    page = Paginator(qs, 50).get_page(p.get("page"))
    return render(request, "moderation/decisions.html", {
        "page": page, "query": p, "errors": search.errors,
        "verification": decisions.verify(org.pk) if p.get("verify") else None,
    })
