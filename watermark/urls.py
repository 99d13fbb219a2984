"""Dashboard pages of the watermark app (included at the site root by assay/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("watermark/", views.index, name="watermark"),
    path("watermark/batches/", views.batch_start, name="watermark-batch-start"),
    path("watermark/batches/<int:pk>/", views.batch_detail, name="watermark-batch"),
    path("watermark/records/<int:pk>/", views.record_detail, name="watermark-record"),
    path("watermark/records/<int:pk>/<str:which>/", views.record_image, name="watermark-record-image"),
    path("watermark/verify/", views.verify, name="watermark-verify-page"),
    path("watermark/policy/", views.policy, name="watermark-policy-page"),
]
