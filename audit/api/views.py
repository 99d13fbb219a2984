import logging

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.choices import Action
from accounts.models import Organization
from accounts.permissions import get_visible_or_404, organization_for_create, require
from core import artifacts, auditlog
from core.api import error_body
from core.filters import filter_organizations, id_param, parse_id
from core.models import AuditLogEntry
from core.parsers import StrictJSONParser
from core.uploads import read_upload
from core.viewsets import OrganizationScopedViewSet

from .. import jobs, services
from ..datasets import Schema
from ..filtersets import AuditLogFilterSet, AuditRunFilterSet, VersionFilterSet
from ..models import AISystem, AuditRun, DatasetVersion, ModelVersion
from . import serializers as s

logger = logging.getLogger(__name__)


class AISystemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                      mixins.UpdateModelMixin, OrganizationScopedViewSet):
    """AI systems and their profiles (the fields compliance applicability reads)."""

    queryset = AISystem.objects.all()
    serializer_class = s.AISystemSerializer

    def perform_create(self, serializer):
        values = dict(serializer.validated_data)
        try:
            org = organization_for_create(self.request.user, values.pop("organization", None))
        except ValueError as exc:
            raise serializers.ValidationError({"organization": [str(exc)]}) from None
        serializer.instance = services.create_system(user=self.request.user, organization=org, values=values)

    def perform_update(self, serializer):
        self.check_write(serializer.instance)
        values = {k: v for k, v in serializer.validated_data.items() if k != "organization"}
        serializer.instance = services.update_system(serializer.instance, user=self.request.user, values=values)

    @extend_schema(request=s.PromoteSerializer, responses={201: s.PromotionSerializer})
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        """Make a model version of this system its current model, with a reason (owners, admins).

        Compliance items, schedules and reports read the current model's audits. The promotion (who,
        when, why, from which version) is kept in GET /systems/{id}/promotions and the audit log.
        """
        system = self.get_object()
        self.check_write(system, Action.MANAGE)
        form = s.PromoteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        model = get_visible_or_404(ModelVersion.objects.filter(organization=system.organization), request.user,
                                   pk=form.validated_data["model_version"])
        promotion = services.promote_model(system, user=request.user, model_version=model,
                                           reason=form.validated_data["reason"])
        return Response(s.PromotionSerializer(promotion).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.PromotionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def promotions(self, request, pk=None):
        """The system's promotion history, newest first: who made which version current, when and why."""
        rows = services.promotions_of(self.get_object())
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.PromotionSerializer(page, many=True).data)


class VersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Shared behaviour of dataset and model versions: immutable, uploaded, downloadable."""

    parser_classes = [MultiPartParser, FormParser, StrictJSONParser]
    kind = ""

    filterset_class = VersionFilterSet

    def get_queryset(self):
        return super().get_queryset().select_related("artifact")

    def _system_for_upload(self, system_id: int) -> AISystem:
        system = get_visible_or_404(AISystem.objects.all(), self.request.user, pk=system_id)
        self.check_write(system)
        return system

    def _download(self, version):
        self.check_write(version, Action.DOWNLOAD)
        data = artifacts.read(version.artifact)
        auditlog.record(f"{self.kind}.download", organization=version.organization, actor=self.request.user,
                        obj=version, payload={"sha256": version.artifact.sha256})
        response = HttpResponse(data, content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="{version.artifact.filename}"'
        return response


class DatasetVersionViewSet(VersionViewSet):
    """Dataset versions: CSV or Parquet files with their schema and datasheet."""

    queryset = DatasetVersion.objects.all()
    serializer_class = s.DatasetVersionSerializer
    kind = "dataset"

    @extend_schema(request={"multipart/form-data": s.DatasetUploadSerializer}, responses={201: s.DatasetVersionSerializer})
    def create(self, request):
        """Upload a new dataset version (multipart: file + schema fields); validated before anything is stored."""
        form = s.DatasetUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        system = self._system_for_upload(data["system"])
        schema = Schema(target=data["target"], positive_label=data["positive_label"], features=data["features"],
                        categorical=data["categorical"], sensitive_attributes=data["sensitive_attributes"],
                        split_column=data["split_column"], test_size=data["test_size"])
        version = services.register_dataset(user=request.user, system=system, name=data["name"],
                                            filename=data["file"].name, data=read_upload(data["file"]),
                                            schema=schema, datasheet=data["datasheet"])
        return Response(s.DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """Download the dataset file (owners, admins, auditors); recorded in the audit log."""
        return self._download(self.get_object())


class ModelVersionViewSet(VersionViewSet):
    """Model versions in the safe formats (torch-zoo, torch-export, onnx, sklearn via skops; gguf for generative models)."""

    queryset = ModelVersion.objects.all()
    serializer_class = s.ModelVersionSerializer
    kind = "model"

    @extend_schema(request={"multipart/form-data": s.ModelUploadSerializer}, responses={201: s.ModelVersionSerializer})
    def create(self, request):
        """Upload a new model version; a classifier is run on 32 rows of `dataset_version` before anything is stored.

        A gguf (generative language model) takes no dataset_version: its header is checked, and it is
        evaluated through a genai target (POST /api/v1/genai/targets with model_version).
        """
        form = s.ModelUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        system = self._system_for_upload(data["system"])
        datasets = DatasetVersion.objects.filter(organization=system.organization)
        validate_on = None
        if data["dataset_version"] is not None:
            validate_on = get_visible_or_404(datasets, request.user, pk=data["dataset_version"])
        training = None
        if data["training_dataset_version"] is not None:
            training = get_visible_or_404(datasets, request.user, pk=data["training_dataset_version"])
        version = services.register_model(
            user=request.user, system=system, name=data["name"], filename=data["file"].name,
            data=read_upload(data["file"]), fmt=data["format"], validate_on=validate_on,
            model_card=data["model_card"], training_dataset=training,
        )
        return Response(s.ModelVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """Download the model file (owners, admins, auditors); recorded in the audit log."""
        return self._download(self.get_object())


class AuditLogViewSet(mixins.ListModelMixin, OrganizationScopedViewSet):
    """The hash-chained audit log of the caller's organisations."""

    queryset = AuditLogEntry.objects.all()
    serializer_class = s.AuditLogEntrySerializer
    filterset_class = AuditLogFilterSet

    @extend_schema(parameters=[
        OpenApiParameter("organization", str), OpenApiParameter("object_type", str),
        OpenApiParameter("object_id", str), OpenApiParameter("action", str),
    ])
    def list(self, request, *args, **kwargs):
        """List entries, newest first; filter by organization, object_type, object_id, action."""
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        return super().get_queryset().order_by("-created", "-id")

    @extend_schema(
        parameters=[OpenApiParameter("organization", str)],
        responses=inline_serializer("AuditLogVerify", {
            "organization": serializers.IntegerField(), "slug": serializers.CharField(),
            "ok": serializers.BooleanField(), "entries": serializers.IntegerField(required=False),
            "first_broken": serializers.DictField(required=False),
            "checkpoint": serializers.DictField(required=False, allow_null=True,
                                                help_text="The latest checkpoint the chain matched (seq, head, "
                                                          "created, source), or the one it contradicts"),
        }, many=True),
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def verify(self, request):
        """Verify the chain of every organisation the caller may see, with the key and against its checkpoints."""
        return Response([{"organization": org.pk, "slug": org.slug, **auditlog.verify(org.pk)}
                         for org in self._visible_organizations(request)])

    @extend_schema(
        parameters=[OpenApiParameter("organization", str)],
        responses=inline_serializer("AuditLogCheckpoint", {
            "organization": serializers.IntegerField(), "slug": serializers.CharField(),
            "checkpoint": serializers.DictField(help_text="version, organization, seq, head, created, key_id and "
                                                          "signature (HMAC-SHA256 of the other fields)"),
        }, many=True),
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def checkpoint(self, request):
        """Return a signed checkpoint of the head of every chain the caller may see; it is also anchored on disk."""
        out = []
        for org in self._visible_organizations(request):
            try:
                cp = auditlog.write_checkpoint(org.pk)
            except OSError:
                logger.exception("Could not write the audit-log checkpoint of organisation %s", org.pk)
                cp = auditlog.checkpoint(org.pk)
            out.append({"organization": org.pk, "slug": org.slug, "checkpoint": cp})
        return Response(out)

    @staticmethod
    def _visible_organizations(request):
        return filter_organizations(Organization.objects.restrict(request.user, Action.VIEW),
                                    request.query_params.get("organization", ""))




class AuditRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Audit runs: the 23 metrics of a model version on a dataset version, computed by a worker."""

    queryset = AuditRun.objects.all()
    serializer_class = s.AuditRunSerializer
    filterset_class = AuditRunFilterSet


    @extend_schema(request=s.AuditStartSerializer, responses={202: s.AuditRunSerializer})
    def create(self, request):
        """Start an audit; it is queued and runs on a worker. Poll GET /audits/{id} for progress."""
        form = s.AuditStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        model_version = get_visible_or_404(ModelVersion.objects.all(), request.user, pk=data["model_version"])
        self.check_write(model_version)
        dataset_version = get_visible_or_404(DatasetVersion.objects.filter(organization=model_version.organization),
                                             request.user, pk=data["dataset_version"])
        run = jobs.start_audit(user=request.user, model_version=model_version, dataset_version=dataset_version,
                               config=data["config"])
        return Response(s.AuditRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        """Every metric (value, status, reason, details) as the Result JSON of METRICS.md; 409 until it succeeded."""
        run = self.get_object()
        if run.status != "succeeded" or run.result is None:
            return Response(error_body("not_ready", f"The audit is {run.status}; results exist once it succeeded"),
                            status=status.HTTP_409_CONFLICT)
        return Response({"audit": run.pk, "status": run.status, **run.result})

    @extend_schema(request=None, responses={200: s.AuditRunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a queued audit, or ask a running one to stop; 409 when it already finished."""
        run = self.get_object()
        self.check_write(run)
        try:
            run = jobs.cancel_audit(run, user=request.user)
        except jobs.AuditError as exc:
            return Response(error_body("conflict", str(exc)), status=status.HTTP_409_CONFLICT)
        return Response(s.AuditRunSerializer(run).data)

    @extend_schema(parameters=[OpenApiParameter("a", int), OpenApiParameter("b", int),
                               OpenApiParameter("audits", str, description="2 to 12 audit ids, comma-separated: "
                                                "compare them all (first to last)")],
                   responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"])
    def compare(self, request):
        """Compare succeeded audits metric by metric: ?a=&b= (two: values, statuses, what changed) or
        ?audits=1,2,3 (2 to 12, in the order given: every value and status, the change first to last)."""
        many = "audits" in request.query_params
        refs = self._many_ids(request) if many else [id_param(request, k, required=True) for k in ("a", "b")]
        runs = [get_visible_or_404(AuditRun.objects.all(), request.user, pk=r) for r in refs]
        for run in runs:
            if run.status != "succeeded":
                return Response(error_body("not_ready", f"Audit {run.pk} is {run.status}"), status=status.HTTP_409_CONFLICT)
        return Response(jobs.compare_many(runs) if many else jobs.compare(*runs))

    @staticmethod
    def _many_ids(request) -> list[int]:
        parts = [p.strip() for value in request.query_params.getlist("audits") for p in value.split(",") if p.strip()]
        ids = [parse_id(p) for p in parts]
        if None in ids or not 2 <= len(ids) <= jobs.COMPARE_MAX:
            raise serializers.ValidationError(
                {"audits": [f"Give 2 to {jobs.COMPARE_MAX} audit ids, comma-separated (e.g. audits=4,7,9)"]})
        return ids


class ThresholdsView(APIView):
    """GET/PUT /api/v1/organizations/{id}/thresholds: the organisation's metric threshold overrides.

    The body of PUT replaces the overrides: {metric id: {"pass": x, "warn": y}} and/or
    {"informational": true}; `{}` restores the catalog's thresholds. Owners and admins may change
    them; every member may read them. The answer lists the overrides and every metric's thresholds
    as the next audit will apply them.
    """

    parser_classes = [StrictJSONParser]

    def _organization(self, request, pk: int) -> Organization:
        return get_visible_or_404(Organization.objects.all(), request.user, pk=pk)

    def _answer(self, organization: Organization, overrides: dict) -> Response:
        from ..metrics.catalog import thresholds_used

        return Response({"organization": organization.pk, "overrides": overrides,
                         "thresholds": thresholds_used(overrides)})

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk: int):
        organization = self._organization(request, pk)
        return self._answer(organization, services.thresholds_of(organization))

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def put(self, request, pk: int):
        organization = self._organization(request, pk)
        require(request.user, organization, Action.MANAGE)
        body = request.data
        if isinstance(body, dict) and set(body) == {"overrides"}:  # also accept the shape GET answers
            body = body["overrides"]
        return self._answer(organization, services.set_thresholds(organization, user=request.user, overrides=body))
