"""API routes of the watermark app (included under /api/v1/ by assay/urls.py)."""

from django.urls import include, path, re_path

from core.api import OptionalSlashRouter

from . import views

router = OptionalSlashRouter(root_view=False)
router.register("watermark/batches", views.WatermarkBatchViewSet, basename="watermark-batch")
router.register("watermark/records", views.ProvenanceRecordViewSet, basename="watermark-record")

urlpatterns = [
    re_path(r"^watermark/stamp/?$", views.stamp, name="watermark-stamp"),
    re_path(r"^watermark/verify/?$", views.verify, name="watermark-verify"),
    re_path(r"^watermark/policy/?$", views.policy, name="watermark-policy"),
    re_path(r"^watermark/keys/rotate/?$", views.rotate_key, name="watermark-key-rotate"),
    path("", include(router.urls)),
]
