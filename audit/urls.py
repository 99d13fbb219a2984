"""Dashboard pages of systems, audits and the audit log (included at the site root by assay/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.systems, name="systems"),
    path("systems/<int:pk>/", views.system_detail, name="system"),
    path("audit-log/", views.audit_log, name="audit-log"),
    path("thresholds/", views.thresholds, name="thresholds"),
    path("audits/compare/", views.audit_compare, name="audit-compare"),
    path("audits/<int:pk>/", views.audit_detail, name="audit"),
    path("audits/<int:pk>/metrics/<str:metric_id>/", views.metric_detail, name="metric"),
    path("models/<int:model_pk>/audit/", views.audit_start, name="audit-start"),
]
