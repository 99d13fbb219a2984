"""List filters of the watermark API: the same query parameters as ever, a 400 for a bad id (core.filters)."""

from django_filters import rest_framework as filters

from core.filters import IdFilter, OrganizationScopedFilterSet

from .models import ProvenanceRecord


class ProvenanceRecordFilterSet(OrganizationScopedFilterSet):
    """Provenance records: ?system=ID, ?payload= (hex, either case)."""

    system = IdFilter()
    payload = filters.CharFilter(method="filter_payload")

    class Meta:
        model = ProvenanceRecord
        fields: list[str] = []

    def filter_payload(self, queryset, name, value):
        return queryset.filter(payload=value.lower())
