from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response

from assay.api import error_body
from assay.parsers import DEFAULT_PARSERS

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
    """The dashboard login, refusing more than LOGIN_LIMIT posts per address and username per window."""

    template_name = "accounts/login.html"

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")[:150].lower()
        if not ratelimit.hit("login", ratelimit.client_ip(request), username):
            response = self.render_to_response(self.get_context_data(rate_limited=True, form=self.get_form()))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)


class TokenView(ObtainAuthToken):
    """POST username and password, get the user's API token (rate limited like the login page)."""

    throttle_scope = "token"
    parser_classes = DEFAULT_PARSERS  # strict JSON: NaN or deep nesting is a 400, not a 500

    def post(self, request, *args, **kwargs):
        username = str(request.data.get("username", ""))[:150].lower()
        if not ratelimit.hit("token", ratelimit.client_ip(request), username):
            return Response(error_body("throttled", "Too many attempts; try again in a few minutes"), status=429)
        return super().post(request, *args, **kwargs)
