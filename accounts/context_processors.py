from .choices import Action
from .models import Organization


def organizations(request):
    """Return the organisations for the switcher and the current one's role."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith("/api/"):
        return {}
    org = getattr(request, "organization", None)
    return {
        "my_organizations": Organization.objects.restrict(user, Action.VIEW),
        "current_organization": org,
        "current_role": org.role_of(user) if org else None,
    }
