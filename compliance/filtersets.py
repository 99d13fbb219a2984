"""List filters of the compliance API: the same query parameters as ever, a 400 for a bad id or value (core.filters)."""

from django_filters import rest_framework as filters

from core.filters import IdFilter, OrganizationScopedFilterSet, choice_filter

from .choices import DocumentKind
from .models import Attestation, EvidenceDocument


class AttestationFilterSet(OrganizationScopedFilterSet):
    """Attestations: ?system=ID, ?item_id= (a checklist item, e.g. EU-ART5-1)."""

    system = IdFilter()
    item_id = filters.CharFilter()

    class Meta:
        model = Attestation
        fields: list[str] = []


class EvidenceDocumentFilterSet(OrganizationScopedFilterSet):
    """Evidence documents: ?system=ID, ?kind= (a document kind)."""

    system = IdFilter()
    kind = choice_filter(DocumentKind)

    class Meta:
        model = EvidenceDocument
        fields: list[str] = []
