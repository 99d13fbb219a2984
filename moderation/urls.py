"""Dashboard pages of the moderation app (included at the site root by assay/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("moderation/", views.index, name="moderation"),
    path("moderation/policies/new/", views.policy_new, name="moderation-policy-new"),
    path("moderation/policies/<int:pk>/", views.policy_detail, name="moderation-policy"),
    path("moderation/libraries/", views.libraries, name="moderation-libraries"),
    path("moderation/libraries/<int:pk>/", views.library_detail, name="moderation-library"),
    path("moderation/libraries/<int:pk>/entries/<int:entry_pk>/delete/", views.entry_delete,
         name="moderation-entry-delete"),
    path("moderation/classifiers/", views.classifiers, name="moderation-classifiers"),
    path("moderation/classifiers/<int:pk>/", views.classifier_detail, name="moderation-classifier"),
    path("moderation/evaluations/", views.evaluations, name="moderation-evaluations"),
    path("moderation/evaluations/<int:pk>/", views.evaluation_detail, name="moderation-evaluation"),
    path("moderation/decisions/", views.decision_list, name="moderation-decisions"),
]
