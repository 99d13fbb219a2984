from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import APIException
from rest_framework.settings import api_settings

from . import ratelimit
from .choices import Action, Role
from .forms import MemberForm
from .middleware import SESSION_KEY
from .models import Membership, Organization
from .permissions import can, parse_id, require
from .signals import membership_saved


@require_POST
@login_required
def switch_organization(request):
    """Make another of the user's organisations the one the dashboard shows."""
    ref = request.POST.get("organization", "")
    org = Organization.objects.restrict(request.user, Action.VIEW).filter(pk=parse_id(ref) or 0).first()
    if org is None:
        raise Http404("Organization not found.")
    request.session[SESSION_KEY] = org.pk
    target = request.POST.get("next", "/")
    return redirect(target if url_has_allowed_host_and_scheme(target, {request.get_host()}) else "/")


@login_required
def members(request):
    """The current organisation's members; owners and admins add a member or change a role."""
    org = request.organization
    if org is None:
        raise Http404("You belong to no organisation.")
    manage = can(request.user, org.pk, Action.MANAGE)
    form = MemberForm(request.POST or None)
    if request.method == "POST":
        require(request.user, org, Action.MANAGE)
        if form.is_valid() and _save_member(request, org, form):
            return redirect("members")
    rows = org.memberships.select_related("user").order_by("user__username")
    return render(request, "accounts/members.html", {"organization": org, "members": rows, "form": form,
                                                     "can_manage": manage})


def _save_member(request, org: Organization, form: MemberForm) -> bool:
    """Add the member or change their role (the API's rules: owners name owners; one owner stays)."""
    user, role = form.cleaned_data["user"], form.cleaned_data["role"]
    current = org.role_of(user)
    if Role.OWNER in (role, current) and not can(request.user, org.pk, Action.OWN):
        raise PermissionDenied("Only owners make or unmake owners.")
    if current == Role.OWNER and role != Role.OWNER and not org.memberships.filter(
            role=Role.OWNER).exclude(user=user).exists():
        form.add_error("role", "The organisation needs an owner: make another member owner first.")
        return False
    with transaction.atomic():
        membership, created = Membership.objects.update_or_create(user=user, organization=org,
                                                                  defaults={"role": role})
        membership_saved.send(sender=Membership, membership=membership, created=created, user=request.user)
    messages.success(request, f"{user.username} is {'now' if not created else 'added as'} {role}.")
    return True


class RateLimitedLoginView(LoginView):
    """The dashboard login; django-axes (accounts/ratelimit.py) counts failures and answers a lockout with 429."""

    template_name = "accounts/login.html"


class LockedOut(APIException):
    """Too many failed logins from this client: 429, with Retry-After (DRF's handler adds it from `wait`)."""

    status_code = 429
    default_code = "throttled"
    default_detail = ratelimit.MESSAGE

    def __init__(self):
        super().__init__()
        self.wait = settings.ASSAY_LOGIN_WINDOW_S


class TokenView(ObtainAuthToken):
    """POST username and password, get the user's API token (login limits as for the login page)."""

    # The project's parsers (strict JSON: NaN or deep nesting is a 400, not a 500); ObtainAuthToken sets its own.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES

    def handle_exception(self, exc):
        # DRF hands authenticate() its own request object, so axes' middleware never sees the flag.
        if ratelimit.is_locked_out(self.request):
            exc = LockedOut()
        return super().handle_exception(exc)
