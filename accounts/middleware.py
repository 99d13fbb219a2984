from .choices import Action
from .models import Organization

SESSION_KEY = "assay_organization"


class CurrentOrganizationMiddleware:
    """Set `request.organization`: the organisation the dashboard shows (switchable, kept in the session)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organization = None
        if request.user.is_authenticated and not request.path.startswith("/api/"):
            visible = Organization.objects.restrict(request.user, Action.VIEW)
            org_id = request.session.get(SESSION_KEY)
            request.organization = (visible.filter(pk=org_id).first() if org_id else None) or visible.first()
        return self.get_response(request)
