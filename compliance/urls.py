"""Dashboard pages of the compliance app (included at the site root by assay/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("compliance/", views.index, name="compliance"),
    path("compliance/font/AssayCJKSans-Regular.otf", views.cjk_font, name="compliance-cjk-font"),
    path("compliance/systems/<int:pk>/", views.checklist, name="compliance-checklist"),
    path("compliance/systems/<int:pk>/items/<str:item_id>/", views.item_detail, name="compliance-item"),
    path("compliance/systems/<int:pk>/attest/", views.attest, name="compliance-attest"),
    path("compliance/systems/<int:pk>/documents/", views.upload_document, name="compliance-upload"),
    path("compliance/systems/<int:pk>/documents/<int:doc>/review/", views.review_document, name="compliance-review"),
    path("compliance/systems/<int:pk>/samples/", views.add_sample, name="compliance-add-sample"),
    path("compliance/systems/<int:pk>/event-logs/", views.upload_event_log, name="compliance-event-log"),
    path("compliance/systems/<int:pk>/samples/<int:sample>/remove/", views.remove_sample,
         name="compliance-remove-sample"),
    path("compliance/systems/<int:pk>/snapshot/", views.snapshot, name="compliance-snapshot"),
    path("compliance/systems/<int:pk>/assessments/", views.assessments, name="compliance-assessments"),
    path("compliance/assessments/<int:pk>/", views.assessment_detail, name="compliance-assessment"),
    path("compliance/assessments/<int:pk>/diff/", views.assessment_diff, name="compliance-diff"),
]
