"""API routes of the compliance app (included under /api/v1/ by assay/urls.py)."""

from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from . import evidence_views, views


class _OptionalSlashRouter(DefaultRouter):
    include_root_view = False
    include_format_suffixes = False

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = _OptionalSlashRouter()
router.register("attestations", views.AttestationViewSet, basename="compliance-attestation")
router.register("documents", views.EvidenceDocumentViewSet, basename="compliance-document")

urlpatterns = [
    re_path(r"^systems/(?P<system_id>\d+)/checklists/(?P<framework>[^/]+)/?$", views.ChecklistView.as_view(),
            name="compliance-checklist"),
    re_path(r"^systems/(?P<system_id>\d+)/assessments/?$", views.SystemAssessmentsView.as_view(),
            name="compliance-system-assessments"),
    re_path(r"^systems/(?P<system_id>\d+)/assessments/(?P<pk>\d+)/?$", views.AssessmentDetailView.as_view(),
            name="compliance-system-assessment"),
    re_path(r"^assessments/(?P<pk>\d+)/?$", views.AssessmentDetailView.as_view(), name="compliance-assessment"),
    re_path(r"^assessments/(?P<pk>\d+)/diff/(?P<other>\d+)/?$", views.AssessmentDiffView.as_view(),
            name="compliance-assessment-diff"),
    re_path(r"^systems/(?P<system_id>\d+)/events/?$", evidence_views.SystemEventsView.as_view(),
            name="compliance-system-events"),
    re_path(r"^systems/(?P<system_id>\d+)/event-logs/?$", evidence_views.SystemEventLogUploadView.as_view(),
            name="compliance-system-event-logs"),
    re_path(r"^systems/(?P<system_id>\d+)/evidence-samples/?$", evidence_views.EvidenceSamplesView.as_view(),
            name="compliance-system-samples"),
    re_path(r"^systems/(?P<system_id>\d+)/evidence-samples/(?P<pk>\d+)/?$",
            evidence_views.EvidenceSampleDetailView.as_view(), name="compliance-system-sample"),
    re_path(r"^systems/(?P<system_id>\d+)/evidence-sample-jobs/(?P<pk>\d+)/?$",
            evidence_views.EvidenceSampleJobView.as_view(), name="compliance-system-sample-job"),
    re_path(r"^documents/(?P<pk>\d+)/review/?$", evidence_views.DocumentReviewView.as_view(),
            name="compliance-document-review"),
    re_path(r"^compliance/frameworks/?$", views.FrameworksView.as_view(), name="compliance-frameworks"),
    path("", include(router.urls)),
]
