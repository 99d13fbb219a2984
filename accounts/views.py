from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import APIException
from rest_framework.settings import api_settings

from . import ratelimit
from .choices import Action
from .middleware import SESSION_KEY
from .models import Organization
from .permissions import parse_id


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
