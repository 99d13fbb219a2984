"""List filters of the moderation API and the decisions page: the same query parameters as ever, a 400 for
a bad id or value (core.filters)."""

from django.db.models import Q
from django_filters import rest_framework as filters

from core.filters import IdFilter, OrganizationScopedFilterSet, choice_filter

from .choices import Outcome
from .models import Decision


def _lowered(queryset, name, value):
    return queryset.filter(input_sha256=value.strip().lower())


class DecisionFilterSet(OrganizationScopedFilterSet):
    """Decisions: ?flagged=true|false, ?outcome=, ?input_sha256=, ?policy=ID, ?q= (a category or risk code)."""

    flagged = filters.BooleanFilter()
    outcome = choice_filter(Outcome)
    input_sha256 = filters.CharFilter(method=_lowered)
    policy = IdFilter(field_name="policy_version__policy")
    q = filters.CharFilter(method="filter_q")

    class Meta:
        model = Decision
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(categories__icontains=value) | Q(risks__icontains=value))


class DecisionSearchFilterSet(DecisionFilterSet):
    """The decisions page's search form: the API's filters plus ?id= (a decision's UUID) and ?hash= (its input's)."""

    id = filters.UUIDFilter(field_name="pk", error_messages={"invalid": "Expected a decision id (a UUID)"})
    hash = filters.CharFilter(method=_lowered)
