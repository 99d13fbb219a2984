"""Compliance API: live checklists, assessments (snapshots, exports, diff), attestations and documents."""

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.choices import Action
from accounts.permissions import get_visible_or_404, parse_id, require
from audit.models import AISystem
from core import artifacts, auditlog
from core.parsers import StrictJSONParser
from core.uploads import read_optional_upload
from core.viewsets import OrganizationScopedViewSet

from .. import exports, services
from .. import vocabulary as v
from ..choices import EXPORT_FORMATS
from ..filtersets import AttestationFilterSet, EvidenceDocumentFilterSet
from ..models import Assessment, Attestation, EvidenceDocument
from . import serializers as s

FORMAT_PARAM = OpenApiParameter("format", str, description="json (default), csv, pdf or html")


class JSONOnlyNegotiation:
    """`?format=` names an export here (json, csv, pdf, html), not a DRF renderer: always negotiate JSON."""

    def perform_content_negotiation(self, request, force=False):
        renderer = JSONRenderer()
        return renderer, renderer.media_type


def _format(request) -> str:
    fmt = request.query_params.get("format") or "json"
    if fmt not in EXPORT_FORMATS:
        raise serializers.ValidationError({"format": [f"expected one of {', '.join(EXPORT_FORMATS)}"]})
    return fmt


def _export(document: dict, fmt: str):
    if fmt == "json":
        return Response(document)
    response = HttpResponse(exports.render(document, fmt), content_type=exports.CONTENT_TYPES[fmt])
    if fmt in ("csv", "pdf"):
        response["Content-Disposition"] = f'attachment; filename="{exports.filename(document, fmt)}"'
    return response


def _id(value) -> int:
    """Return a URL id as an int; an id beyond the database's range is simply not found."""
    pk = parse_id(value)
    if pk is None:
        raise Http404("Not found.")
    return pk


def _system(request, system_id) -> AISystem:
    return get_visible_or_404(AISystem.objects.all(), request.user, pk=_id(system_id))


class ChecklistView(JSONOnlyNegotiation, APIView):
    """The live checklist of one framework for a system: every item with applicability, status and evidence."""

    @extend_schema(parameters=[
        OpenApiParameter("date", OpenApiTypes.DATE, description="evaluation date (default today)"),
        OpenApiParameter("status", str), OpenApiParameter("article", str),
        OpenApiParameter("instrument", str, description="e.g. cn_labeling_measures"), FORMAT_PARAM,
    ], responses={200: OpenApiTypes.OBJECT})
    def get(self, request, system_id: int, framework: str):
        """Evaluate live (nothing is recorded); ?format= json|csv|pdf|html."""
        system = _system(request, system_id)
        bundle = services.parse_bundle(framework)
        fmt = _format(request)
        checklist = services.evaluate(system, bundle, services.parse_date(request.query_params.get("date")))
        checklist = services.filter_items(checklist, status=request.query_params.get("status", ""),
                                          article=request.query_params.get("article", ""),
                                          framework=request.query_params.get("instrument", ""))
        return _export(services.live_document(checklist) if fmt != "json" else checklist, fmt)


class SystemAssessmentsView(APIView):
    """Assessments of one system: list them, or take an immutable snapshot."""

    @extend_schema(responses={200: s.AssessmentSerializer(many=True)})
    def get(self, request, system_id: int):
        """List the system's assessments, newest first."""
        system = _system(request, system_id)
        rows = Assessment.objects.filter(system=system).select_related("created_by")
        return Response(s.AssessmentSerializer(rows, many=True).data)

    @extend_schema(request=s.AssessmentCreateSerializer, responses={201: s.AssessmentSerializer})
    def post(self, request, system_id: int):
        """Snapshot the checklists (`frameworks`, default both) as an immutable, hashed assessment."""
        system = _system(request, system_id)
        require(request.user, system, Action.CHANGE)
        form = s.AssessmentCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        bundles = data.get("frameworks") or ([services.parse_bundle(data["framework"])] if data.get("framework") else None)
        assessment = services.snapshot(user=request.user, system=system, bundles=bundles, on=data.get("date"))
        return Response(s.AssessmentSerializer(assessment).data, status=status.HTTP_201_CREATED)


class AssessmentDetailView(JSONOnlyNegotiation, APIView):
    """One assessment, exported: ?format= json|csv|pdf|html."""

    @extend_schema(parameters=[FORMAT_PARAM], responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk: int, system_id: int | None = None):
        """Return the assessment's content with its id, SHA-256 and integrity check, in the format asked."""
        lookup = {"pk": _id(pk)} if system_id is None else {"pk": _id(pk), "system_id": _id(system_id)}
        assessment = get_visible_or_404(Assessment.objects.select_related("created_by"), request.user, **lookup)
        fmt = _format(request)
        return _export(services.assessment_document(assessment), fmt)


class AssessmentDiffView(APIView):
    """What changed between two assessments of the same system."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk: int, other: int):
        """Diff assessment `pk` (a) against `other` (b): framework versions, profile, item statuses."""
        a = get_visible_or_404(Assessment.objects.all(), request.user, pk=_id(pk))
        b = get_visible_or_404(Assessment.objects.all(), request.user, pk=_id(other))
        if a.system_id != b.system_id:
            raise serializers.ValidationError({"other": ["Both assessments must be of the same system"]})
        return Response(services.diff(a, b))


class FrameworksView(APIView):
    """The framework data loaded at start-up: bundles, files, versions and item counts."""

    @extend_schema(responses={200: {"type": "array", "items": {"type": "object"}}})
    def get(self, request):
        """List the frameworks with their versions."""
        registry = services.get_registry()
        return Response([{"framework": b, "title": title, "versions": registry.bundle_versions(b),
                          "items": len(registry.bundle_items(b))} for b, title in v.BUNDLES.items()])


class _EvidenceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    parser_classes = [MultiPartParser, FormParser, StrictJSONParser]
    write_action = Action.CHANGE

    def get_queryset(self):
        return super().get_queryset().select_related("artifact")

    def _writable_system(self, system_id: int) -> AISystem:
        system = get_visible_or_404(AISystem.objects.all(), self.request.user, pk=system_id)
        self.check_write(system)
        return system

    def _download(self, obj):
        if obj.artifact is None:
            raise serializers.ValidationError({"file": ["No file was uploaded with this record"]})
        self.check_write(obj, Action.VIEW)
        data = artifacts.read(obj.artifact)
        auditlog.record("compliance.evidence_download", organization=obj.organization, actor=self.request.user,
                        obj=obj, payload={"sha256": obj.artifact.sha256})
        response = HttpResponse(data, content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="{obj.artifact.filename}"'
        return response


def _upload(form) -> tuple[bytes | None, str]:
    return read_optional_upload(form.validated_data.get("file"))


class AttestationViewSet(_EvidenceViewSet):
    """Attestations of checklist items (text, who, when, optional file); they expire after a set period."""

    queryset = Attestation.objects.all()
    serializer_class = s.AttestationSerializer
    filterset_class = AttestationFilterSet

    @extend_schema(request={"multipart/form-data": s.AttestationCreateSerializer,
                            "application/json": s.AttestationCreateSerializer},
                   responses={201: s.AttestationSerializer})
    def create(self, request):
        """Attest one item of a system; `valid_days` overrides the configured validity period."""
        form = s.AttestationCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        system = self._writable_system(data["system"])
        file_bytes, filename = _upload(form)
        attestation = services.attest(user=request.user, system=system, item_id=data["item_id"], text=data["text"],
                                      file_bytes=file_bytes, filename=filename, valid_days=data.get("valid_days"))
        return Response(s.AttestationSerializer(attestation).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        """Revoke the attestation (kept for the record; it no longer counts as evidence)."""
        attestation = self.get_object()
        self.check_write(attestation)
        services.revoke_attestation(user=request.user, attestation=attestation)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def file(self, request, pk=None):
        """Download the file attached to the attestation."""
        return self._download(self.get_object())


class EvidenceDocumentViewSet(_EvidenceViewSet):
    """Documents of named kinds (technical documentation, risk file, FRIA, security assessment, filing number …)."""

    queryset = EvidenceDocument.objects.all()
    serializer_class = s.EvidenceDocumentSerializer
    filterset_class = EvidenceDocumentFilterSet

    @extend_schema(request={"multipart/form-data": s.DocumentCreateSerializer,
                            "application/json": s.DocumentCreateSerializer},
                   responses={201: s.EvidenceDocumentSerializer})
    def create(self, request):
        """Upload a document (a file, a reference such as a filing number, or both) for a system."""
        form = s.DocumentCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        system = self._writable_system(data["system"])
        file_bytes, filename = _upload(form)
        doc = services.add_document(user=request.user, system=system, kind=data["kind"], title=data["title"],
                                    reference=data.get("reference", ""), file_bytes=file_bytes, filename=filename)
        return Response(s.EvidenceDocumentSerializer(doc).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        """Withdraw the document (kept for the record; it no longer counts as evidence)."""
        doc = self.get_object()
        self.check_write(doc)
        services.withdraw_document(user=request.user, document=doc)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def file(self, request, pk=None):
        """Download the document's file."""
        return self._download(self.get_object())
