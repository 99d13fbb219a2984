"""API routes of the genai app (included under /api/v1/ by assay/urls.py)."""

from django.urls import include, path

from core.api import OptionalSlashRouter

from . import views

router = OptionalSlashRouter(root_view=False)
router.register("genai/targets", views.TargetViewSet, basename="genai-target")
router.register("genai/banks", views.BankViewSet, basename="genai-bank")
router.register("genai/evaluations", views.EvaluationViewSet, basename="genai-evaluation")

urlpatterns = [path("", include(router.urls))]
