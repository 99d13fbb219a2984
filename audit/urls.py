"""Dashboard pages of systems, audits and the audit log (included at the site root by assay/urls.py)."""

from django.urls import path

from . import registry_views, views

urlpatterns = [
    path("", views.systems, name="systems"),
    path("systems/new/", registry_views.system_new, name="system-new"),
    path("systems/<int:pk>/", views.system_detail, name="system"),
    path("systems/<int:pk>/edit/", registry_views.system_edit, name="system-edit"),
    path("systems/<int:pk>/datasets/new/", registry_views.dataset_new, name="dataset-new"),
    path("systems/<int:pk>/models/new/", registry_views.model_new, name="model-new"),
    path("systems/<int:pk>/trends/<str:metric_id>/", views.system_trend, name="system-trend"),
    path("models/<int:model_pk>/make-current/", registry_views.model_make_current, name="model-make-current"),
    path("audit-log/", views.audit_log, name="audit-log"),
    path("thresholds/", views.thresholds, name="thresholds"),
    path("audits/compare/", views.audit_compare, name="audit-compare"),
    path("audits/<int:pk>/", views.audit_detail, name="audit"),
    path("audits/<int:pk>/metrics/<str:metric_id>/", views.metric_detail, name="metric"),
    path("models/<int:model_pk>/audit/", views.audit_start, name="audit-start"),
]
