"""API routes of the watermark app (included under /api/v1/ by assay/urls.py)."""

from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from . import views


class _Router(DefaultRouter):
    include_root_view = False

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = _Router()
router.register("watermark/batches", views.WatermarkBatchViewSet, basename="watermark-batch")
router.register("watermark/records", views.ProvenanceRecordViewSet, basename="watermark-record")

urlpatterns = [
    re_path(r"^watermark/stamp/?$", views.stamp, name="watermark-stamp"),
    re_path(r"^watermark/verify/?$", views.verify, name="watermark-verify"),
    re_path(r"^watermark/policy/?$", views.policy, name="watermark-policy"),
    re_path(r"^watermark/keys/rotate/?$", views.rotate_key, name="watermark-key-rotate"),
    path("", include(router.urls)),
]
