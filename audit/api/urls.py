"""API routes of the audit app (included under /api/v1/ by assay/urls.py)."""

from core.api import OptionalSlashRouter

from . import views

router = OptionalSlashRouter(root_view=False)
router.register("systems", views.AISystemViewSet, basename="system")
router.register("datasets", views.DatasetVersionViewSet, basename="dataset")
router.register("models", views.ModelVersionViewSet, basename="model")
router.register("audit-log", views.AuditLogViewSet, basename="audit-log")
router.register("audits", views.AuditRunViewSet, basename="audit")

urlpatterns = router.urls
