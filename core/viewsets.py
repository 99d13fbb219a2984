"""The base viewset: every organisation-owned endpoint builds on it."""

from rest_framework import exceptions, viewsets
from rest_framework.permissions import SAFE_METHODS

from accounts.choices import Action
from accounts.models import Organization
from accounts.permissions import ROLE_HINT, require

from .filters import OrganizationScopedFilterSet


def require_role_somewhere(user, action: str) -> None:
    """Raise 403 unless `user` may do `action` in at least one organisation.

    Called before a write's body is read: a viewer learns that the role is the problem, not which
    of the fields it sent are wrong (nor does the server parse an upload it will refuse anyway).
    """
    if not Organization.objects.restrict(user, action).exists():
        raise exceptions.PermissionDenied(f"Your role does not allow this ({ROLE_HINT[action]}).")


class OrganizationScopedViewSet(viewsets.GenericViewSet):
    """Base viewset: lists what the caller may see, hides other organisations' objects (404),
    and answers 403 to writes by members whose role does not allow them.

    Lists filter through `filterset_class` (core.filters): at least ``?organization=`` (id or slug).
    """

    filterset_class = OrganizationScopedFilterSet
    write_action = Action.CHANGE
    # Writes any signed-in user may make (creating an organisation): no role is checked up front.
    open_actions: tuple[str, ...] = ()

    def initial(self, request, *args, **kwargs):
        """Authenticate, then refuse a write the caller's roles cannot make before its body is validated:
        for an update, the role in the object's organisation; otherwise a role that allows it somewhere."""
        super().initial(request, *args, **kwargs)
        if request.method in SAFE_METHODS or self.action is None or self.action in self.open_actions:
            return
        if self.action in ("update", "partial_update") and self.lookup_field in self.kwargs:
            self.check_write(self.get_object())
        else:
            require_role_somewhere(request.user, self.write_action)

    def get_queryset(self):
        return self.queryset.restrict(self.request.user, Action.VIEW)

    def check_write(self, obj_or_org, action: str | None = None) -> None:
        require(self.request.user, obj_or_org, action or self.write_action)
