"""API routes of the audit app (included under /api/v1/ by assay/urls.py)."""

from django.urls import path

from core.api import OptionalSlashRouter

from . import views

router = OptionalSlashRouter(root_view=False)
router.register("systems", views.AISystemViewSet, basename="system")
router.register("datasets", views.DatasetVersionViewSet, basename="dataset")
router.register("models", views.ModelVersionViewSet, basename="model")
router.register("audit-log", views.AuditLogViewSet, basename="audit-log")
router.register("audits", views.AuditRunViewSet, basename="audit")

urlpatterns = [
    path("organizations/<int:pk>/thresholds", views.ThresholdsView.as_view(), name="organization-thresholds"),
    path("organizations/<int:pk>/thresholds/", views.ThresholdsView.as_view()),
    *router.urls,
]
