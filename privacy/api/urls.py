"""API routes of the privacy app (included under /api/v1/ by assay/urls.py)."""

from core.api import OptionalSlashRouter

from .views import DPTrainingRunViewSet

router = OptionalSlashRouter(root_view=False)
router.register("dp-trainings", DPTrainingRunViewSet, basename="dp-training")

urlpatterns = router.urls
