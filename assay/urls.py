from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import views as account_views
from accounts.api.views import OrganizationViewSet
from audit import views as audit_views
from audit.api import views as audit_api
from core.api import OptionalSlashRouter
from reports.api import views as report_api

router = OptionalSlashRouter()
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("systems", audit_api.AISystemViewSet, basename="system")
router.register("datasets", audit_api.DatasetVersionViewSet, basename="dataset")
router.register("models", audit_api.ModelVersionViewSet, basename="model")
router.register("audit-log", audit_api.AuditLogViewSet, basename="audit-log")
router.register("audits", audit_api.AuditRunViewSet, basename="audit")
router.register("schedules", report_api.ScheduleViewSet, basename="schedule")
router.register("reports", report_api.ReportViewSet, basename="report")

urlpatterns = [
    path("api/v1/", include(router.urls)),
    path("api/v1/", include("privacy.api.urls")),
    path("api/v1/", include("watermark.api.urls")),
    path("api/v1/", include("compliance.api.urls")),
    path("api/v1/", include("moderation.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("login/", account_views.RateLimitedLoginView.as_view(), name="login"),
    path("api/v1/auth/token", account_views.TokenView.as_view(), name="api-token"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("organization/switch/", account_views.switch_organization, name="switch-organization"),
    path("", audit_views.systems, name="systems"),
    path("systems/<int:pk>/", audit_views.system_detail, name="system"),
    path("audit-log/", audit_views.audit_log, name="audit-log"),
    path("audits/compare/", audit_views.audit_compare, name="audit-compare"),
    path("audits/<int:pk>/", audit_views.audit_detail, name="audit"),
    path("audits/<int:pk>/metrics/<str:metric_id>/", audit_views.metric_detail, name="metric"),
    path("models/<int:model_pk>/audit/", audit_views.audit_start, name="audit-start"),
    path("", include("reports.urls")),
    path("", include("privacy.urls")),
    path("", include("watermark.urls")),
    path("", include("compliance.urls")),
    path("", include("moderation.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "core.api.json_400"
handler403 = "core.api.json_403"
handler404 = "core.api.json_404"
handler500 = "core.api.json_500"
