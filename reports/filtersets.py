"""List filters of the reports API: the same query parameters as ever, a 400 for a bad id or value (core.filters)."""

from core.filters import IdFilter, OrganizationScopedFilterSet, choice_filter

from .choices import ReportKind
from .models import Report, Schedule


class ScheduleFilterSet(OrganizationScopedFilterSet):
    """Schedules: ?system=ID."""

    system = IdFilter()

    class Meta:
        model = Schedule
        fields: list[str] = []


class ReportFilterSet(OrganizationScopedFilterSet):
    """Reports: ?system=ID, ?schedule=ID, ?kind= (audit or failure)."""

    system = IdFilter()
    schedule = IdFilter()
    kind = choice_filter(ReportKind)

    class Meta:
        model = Report
        fields: list[str] = []
