"""The one permission helper: `restrict(user, action)` plus the checks built on it.

Another organisation's objects are not found (404); an object the user can see but may not
change answers 403.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .choices import ROLES_FOR_ACTION, Action
from .models import Membership, Organization

MAX_ID = 2**63 - 1


def parse_id(ref) -> int | None:
    """Return `ref` as a database id, or None when it is not one (a slug, or out of range)."""
    ref = str(ref)
    if ref.isascii() and ref.isdigit() and int(ref) <= MAX_ID:
        return int(ref)
    return None


def organization_lookup(ref) -> dict:
    """Return the filter that finds an organisation by id or slug."""
    pk = parse_id(ref)
    return {"pk": pk} if pk is not None else {"slug": str(ref)}


def restrict(queryset, user, action: str = Action.VIEW):
    """Return the part of `queryset` that `user` may do `action` on."""
    return queryset.restrict(user, action)


def role_in(user, organization_id: int) -> str | None:
    """Return `user`'s role in the organisation, or None."""
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, organization_id=organization_id).values_list("role", flat=True).first()


def can(user, organization_id: int, action: str) -> bool:
    """Return True when `user` may do `action` in the organisation."""
    return role_in(user, organization_id) in ROLES_FOR_ACTION[action]


def get_visible_or_404(queryset, user, **lookup):
    """Return the object `user` may see, raising Http404 for anything else."""
    obj = restrict(queryset, user, Action.VIEW).filter(**lookup).first()
    if obj is None:
        raise Http404("Not found.")
    return obj


def require(user, obj_or_org, action: str) -> None:
    """Raise PermissionDenied unless `user` may do `action` on an object (already visible)."""
    org_id = obj_or_org.pk if isinstance(obj_or_org, Organization) else obj_or_org.organization_id
    if not can(user, org_id, action):
        raise PermissionDenied(f"Your role does not allow this ({ROLE_HINT[action]}).")


ROLE_HINT = {
    Action.VIEW: "members only",
    Action.DOWNLOAD: "owners, admins and auditors only",
    Action.CHANGE: "owners, admins and auditors only",
    Action.MANAGE: "owners and admins only",
    Action.OWN: "owners only",
}


def organization_for_create(user, organization_ref, action: str = Action.CHANGE) -> Organization:
    """Return the organisation a create names (id or slug), or the caller's only one.

    Raises Http404 when it is not one of the caller's, PermissionDenied when the role is too low,
    and ValueError when it is omitted and the caller belongs to several.
    """
    visible = Organization.objects.restrict(user, Action.VIEW)
    if organization_ref in (None, ""):
        orgs = list(visible[:2])
        if len(orgs) != 1:
            raise ValueError("Name the organization: you belong to %s." % ("none" if not orgs else "several"))
        org = orgs[0]
    else:
        org = visible.filter(**organization_lookup(organization_ref)).first()
        if org is None:
            raise Http404("Organization not found.")
    require(user, org, action)
    return org
