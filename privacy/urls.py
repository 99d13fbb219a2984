"""Dashboard pages of the privacy app (included at the site root by assay/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("privacy/", views.privacy_home, name="privacy"),
    path("privacy/start/", views.dp_start, name="privacy-start"),
    path("privacy/runs/<int:pk>/", views.run_detail, name="privacy-run"),
    path("privacy/runs/<int:pk>/cancel/", views.run_cancel, name="privacy-run-cancel"),
    path("privacy/models/<int:model_pk>/", views.tradeoff, name="privacy-tradeoff"),
]
