"""The project's URLs: every app's routes by module name, so that assay imports no domain app."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import APIRootView

from accounts import views as account_views
from accounts.api.views import OrganizationViewSet
from core import docs
from core.api import OptionalSlashRouter

# GET /api/v1/: the collections, by the name of their list route.
API_ROOT = {
    "organizations": "organization-list", "systems": "system-list", "datasets": "dataset-list",
    "models": "model-list", "audit-log": "audit-log-list", "audits": "audit-list", "schedules": "schedule-list",
    "reports": "report-list",
}

# accounts imports nothing of core, so the project routes its one viewset with core's router.
accounts_router = OptionalSlashRouter(root_view=False)
accounts_router.register("organizations", OrganizationViewSet, basename="organization")

urlpatterns = [
    path("api/v1/", APIRootView.as_view(api_root_dict=API_ROOT), name="api-root"),
    path("api/v1/", include("moderation.api.urls")),
    path("api/v1/", include(accounts_router.urls)),
    path("api/v1/", include("audit.api.urls")),
    path("api/v1/", include("reports.api.urls")),
    path("api/v1/", include("privacy.api.urls")),
    path("api/v1/", include("watermark.api.urls")),
    path("api/v1/", include("compliance.api.urls")),
    path("api/v1/", include("genai.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("login/", account_views.RateLimitedLoginView.as_view(), name="login"),
    path("api/v1/auth/token", account_views.TokenView.as_view(), name="api-token"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("organization/switch/", account_views.switch_organization, name="switch-organization"),
    path("organization/members/", account_views.members, name="members"),
    path("favicon.ico", RedirectView.as_view(url=static("assay/favicon.svg"), permanent=True)),
    path("docs/", docs.index, name="docs-index"),
    path("docs/<str:name>", docs.page, name="doc"),
    path("", include("audit.urls")),
    path("", include("reports.urls")),
    path("", include("privacy.urls")),
    path("", include("watermark.urls")),
    path("", include("compliance.urls")),
    path("", include("moderation.urls")),
    path("", include("genai.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "core.api.json_400"
handler403 = "core.api.json_403"
handler404 = "core.api.json_404"
handler500 = "core.api.json_500"
