"""List filters of the audit API: the same query parameters as ever, a 400 for a bad id or value (core.filters)."""

from django_filters import rest_framework as filters

from core.choices import JobStatus
from core.filters import IdFilter, OrganizationScopedFilterSet, choice_filter
from core.models import AuditLogEntry

from .models import AuditRun


class VersionFilterSet(OrganizationScopedFilterSet):
    """Dataset and model versions: ?system=ID, ?name=."""

    system = IdFilter()
    name = filters.CharFilter()


class AuditLogFilterSet(OrganizationScopedFilterSet):
    """Audit-log entries: ?object_type=, ?object_id=, ?action= (exact values)."""

    object_type = filters.CharFilter()
    object_id = filters.CharFilter()
    action = filters.CharFilter()

    class Meta:
        model = AuditLogEntry
        fields: list[str] = []


class AuditRunFilterSet(OrganizationScopedFilterSet):
    """Audit runs: ?model_version=ID, ?dataset_version=ID, ?status=."""

    model_version = IdFilter()
    dataset_version = IdFilter()
    status = choice_filter(JobStatus)

    class Meta:
        model = AuditRun
        fields: list[str] = []
