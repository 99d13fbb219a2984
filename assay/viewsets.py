"""The base viewset: every organisation-owned endpoint builds on it."""

from rest_framework import viewsets

from accounts.choices import Action
from accounts.models import Organization
from accounts.permissions import organization_lookup, require


class OrganizationScopedViewSet(viewsets.GenericViewSet):
    """Base viewset: lists what the caller may see, hides other organisations' objects (404),
    and answers 403 to writes by members whose role does not allow them."""

    write_action = Action.CHANGE

    def get_queryset(self):
        queryset = self.queryset.restrict(self.request.user, Action.VIEW)
        org = self.request.query_params.get("organization")
        if org:
            queryset = queryset.filter(organization__in=Organization.objects.filter(**organization_lookup(org)))
        return queryset

    def check_write(self, obj_or_org, action: str | None = None) -> None:
        require(self.request.user, obj_or_org, action or self.write_action)
