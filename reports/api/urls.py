"""API routes of the reports app (included under /api/v1/ by assay/urls.py)."""

from core.api import OptionalSlashRouter

from . import views

router = OptionalSlashRouter(root_view=False)
router.register("schedules", views.ScheduleViewSet, basename="schedule")
router.register("reports", views.ReportViewSet, basename="report")

urlpatterns = router.urls
