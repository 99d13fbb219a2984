"""API routes of the moderation app (included under /api/v1/ by assay/urls.py)."""

from django.urls import include, path, re_path

from core.api import OptionalSlashRouter

from . import views

router = OptionalSlashRouter(root_view=False)
router.register("moderation/policies", views.ModerationPolicyViewSet, basename="moderation-policy")
router.register("moderation/libraries", views.KeywordLibraryViewSet, basename="moderation-library")
router.register("moderation/classifiers", views.ModerationClassifierViewSet, basename="moderation-classifier")
router.register("moderation/evaluations", views.ModerationEvaluationViewSet, basename="moderation-evaluation")
router.register("moderation/decisions", views.DecisionViewSet, basename="moderation-decision")
router.register("moderation/gateways", views.GatewayViewSet, basename="moderation-gateway")

urlpatterns = [
    re_path(r"^moderations/?$", views.moderations, name="moderations"),
    re_path(r"^gateway/(?P<system_id>[^/]+)/chat/completions/?$", views.chat_completions, name="gateway-chat"),
    path("", include(router.urls)),
]
