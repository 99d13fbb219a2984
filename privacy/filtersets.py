"""List filters of the privacy API: the same query parameters as ever, a 400 for a bad id or value (core.filters)."""

from django_filters import rest_framework as filters

from core.choices import JobStatus
from core.filters import IdFilter, OrganizationScopedFilterSet, choice_filter

from .models import DPTrainingRun


class DPTrainingRunFilterSet(OrganizationScopedFilterSet):
    """DP training runs: ?model_version=ID, ?dataset_version=ID, ?status=, ?sweep=UUID."""

    model_version = IdFilter()
    dataset_version = IdFilter()
    status = choice_filter(JobStatus)
    sweep = filters.UUIDFilter(error_messages={"invalid": "Must be a valid UUID."})

    class Meta:
        model = DPTrainingRun
        fields: list[str] = []
