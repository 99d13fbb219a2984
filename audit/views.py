"""Dashboard pages of the registry: systems, one system with its versions, the audit log."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from accounts.choices import Action
from accounts.permissions import can, get_visible_or_404

from . import auditlog
from .models import AISystem, AuditLogEntry, DatasetVersion, ModelVersion


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
    }
    return render(request, "audit/system_detail.html", context)


@login_required
def audit_log(request):
    org = request.organization
    entries = AuditLogEntry.objects.filter(organization=org).order_by("-seq") if org else AuditLogEntry.objects.none()
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    verification = auditlog.verify(org.pk) if org else None
    return render(request, "audit/audit_log.html", {"page": page, "verification": verification})
