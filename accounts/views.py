from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .choices import Action
from .middleware import SESSION_KEY
from .models import Organization


@require_POST
@login_required
def switch_organization(request):
    """Make another of the user's organisations the one the dashboard shows."""
    ref = request.POST.get("organization", "")
    org = Organization.objects.restrict(request.user, Action.VIEW).filter(pk=int(ref) if ref.isdigit() else 0).first()
    if org is None:
        raise Http404("Organization not found.")
    request.session[SESSION_KEY] = org.pk
    target = request.POST.get("next", "/")
    return redirect(target if url_has_allowed_host_and_scheme(target, {request.get_host()}) else "/")
