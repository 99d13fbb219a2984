"""API of scheduled audits and their reports: /api/v1/schedules (CRUD) and /api/v1/reports (read, PDF)."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.choices import Action
from accounts.permissions import get_visible_or_404
from audit.models import AISystem, DatasetVersion, ModelVersion
from core import artifacts, auditlog
from core.api import error_body
from core.viewsets import OrganizationScopedViewSet
from genai.models import Bank, Target

from .. import schedules
from ..filtersets import ReportFilterSet, ScheduleFilterSet
from ..models import Report, Schedule
from .serializers import ReportDetailSerializer, ReportSerializer, ScheduleSerializer


def resolve_ids(user, data: dict, system: AISystem | None = None) -> dict:
    """Return validated schedule values with ids turned into objects `user` can see (others' ids: 404)."""
    values = {k: v for k, v in data.items() if not k.endswith("_id")}
    if "system_id" in data:
        if system is not None and data["system_id"] != system.pk:
            raise serializers.ValidationError({"system": ["A schedule's system cannot change"]})
        system = get_visible_or_404(AISystem.objects.all(), user, pk=data["system_id"])
    values["system"] = system
    if "model_version_id" in data:
        pk = data["model_version_id"]
        values["model_version"] = None if pk is None else get_visible_or_404(
            ModelVersion.objects.filter(system=system), user, pk=pk)
    if "dataset_version_id" in data:
        pk = data["dataset_version_id"]
        values["dataset_version"] = None if pk is None else get_visible_or_404(
            DatasetVersion.objects.filter(organization=system.organization), user, pk=pk)
    if "target_id" in data:
        pk = data["target_id"]
        values["target"] = None if pk is None else get_visible_or_404(Target.objects.all(), user, pk=pk)
    if "banks" in data:
        values["banks"] = [get_visible_or_404(Bank.objects.all(), user, pk=pk) for pk in dict.fromkeys(data["banks"])]
    return values


class ScheduleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Recurring audits or generative evaluations (django-celery-beat): each run renders, stores and sends a report."""

    queryset = Schedule.objects.prefetch_related("banks")
    serializer_class = ScheduleSerializer
    filterset_class = ScheduleFilterSet
    write_action = Action.MANAGE

    @extend_schema(request=ScheduleSerializer, responses={201: ScheduleSerializer})
    def create(self, request):
        """Create a schedule (owners and admins); its beat entry is created with it."""
        form = ScheduleSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        values = resolve_ids(request.user, form.validated_data)
        self.check_write(values["system"])
        schedule = schedules.create_schedule(user=request.user, values=values)
        return Response(ScheduleSerializer(schedule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ScheduleSerializer, responses={200: ScheduleSerializer})
    def update(self, request, pk=None, partial=False):
        """Replace a schedule's settings (owners and admins); the beat entry follows."""
        schedule = self.get_object()
        self.check_write(schedule)
        form = ScheduleSerializer(schedule, data=request.data, partial=partial)
        form.is_valid(raise_exception=True)
        data = form.validated_data if partial else {**form.validated_data, "system_id": schedule.system_id}
        if not partial and "kind" not in request.data:  # a full replacement keeps the schedule's kind
            data["kind"] = schedule.kind
        changes = resolve_ids(request.user, data, system=schedule.system)
        changes.pop("system")
        schedule = schedules.update_schedule(schedule, user=request.user, changes=changes)
        return Response(ScheduleSerializer(schedule).data)

    @extend_schema(request=ScheduleSerializer, responses={200: ScheduleSerializer})
    def partial_update(self, request, pk=None):
        """Change some of a schedule's settings (owners and admins), e.g. {"enabled": false}."""
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        """Delete a schedule and its beat entry (owners and admins); its reports stay."""
        schedule = self.get_object()
        self.check_write(schedule)
        schedules.delete_schedule(schedule, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Fire the schedule now (owners and admins): an audit or evaluation starts; its report follows when it ends."""
        schedule = self.get_object()
        self.check_write(schedule)
        fired = schedules.fire(schedule.pk)
        if fired is None:
            return Response(error_body("conflict", "The schedule is disabled"), status=status.HTTP_409_CONFLICT)
        return Response({"scheduled_run": fired.pk, "audit_run": fired.audit_run_id,
                         "evaluation": fired.evaluation_id, "error": fired.error}, status=status.HTTP_202_ACCEPTED)


class ReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Immutable audit reports, listed per system; the PDF is hashed (SHA-256) and stored encrypted."""

    queryset = Report.objects.select_related("artifact")
    serializer_class = ReportSerializer
    filterset_class = ReportFilterSet

    def get_serializer_class(self):
        return ReportDetailSerializer if self.action == "retrieve" else ReportSerializer

    @extend_schema(parameters=[OpenApiParameter("organization", str), OpenApiParameter("system", int),
                               OpenApiParameter("schedule", int), OpenApiParameter("kind", str)])
    def list(self, request, *args, **kwargs):
        """List reports, newest first; filter by organization, system, schedule, kind (audit or failure)."""
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        """Download the report's PDF (its SHA-256 is checked on the way out)."""
        report = self.get_object()
        return pdf_response(report, request.user)


def pdf_response(report: Report, user) -> HttpResponse:
    """Return the stored PDF as a download, after checking it against the report's SHA-256."""
    data = artifacts.read(report.artifact)
    if report.artifact.sha256 != report.sha256:
        raise artifacts.ArtifactIntegrityError(f"Report {report.pk}'s PDF does not match its recorded SHA-256")
    if not auditlog.check_bytes(data, report.pdf_hmac):
        raise artifacts.ArtifactIntegrityError(f"Report {report.pk}'s PDF does not match its recorded HMAC")
    auditlog.record("report.download", organization=report.organization_id, actor=user, obj=report,
                    payload={"sha256": report.sha256})
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="report-{report.pk}.pdf"'
    return response
