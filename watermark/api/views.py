"""The watermark API: stamp one image, verify one image, batches, records, policy and keys."""

from django.db.models import Q
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action, api_view, parser_classes
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from accounts.choices import Action
from accounts.models import Organization
from accounts.permissions import (
    get_visible_or_404,
    organization_for_create,
    organization_lookup,
    require,
)
from audit.models import AISystem
from core import artifacts
from core.api import error_body
from core.filters import id_param
from core.parsers import StrictJSONParser
from core.uploads import read_upload
from core.viewsets import OrganizationScopedViewSet, require_role_somewhere

from .. import jobs, services
from ..choices import LAYERS, BatchMode, Source
from ..filtersets import ProvenanceRecordFilterSet
from ..models import ProvenanceRecord, WatermarkBatch
from . import serializers as s

IMAGE_RESPONSE = {(200, mime): OpenApiTypes.BINARY for mime in ("image/png", "image/jpeg", "image/webp")}
JOB_RESPONSE = OpenApiResponse(s.WatermarkBatchSerializer, description="The image is large (ASSAY_IMAGE_JOB_PIXELS): a "
                               "job stamps or verifies it; poll `url` (also in the Location header)")


def _organization(request, ref, action: str = Action.CHANGE) -> Organization:
    try:
        return organization_for_create(request.user, ref, action)
    except ValueError as exc:
        raise serializers.ValidationError({"organization": [str(exc)]}) from None


def _organization_of(request, data: dict, action: str = Action.CHANGE) -> Organization:
    """Return the organisation a stamp or batch names, else its `system`'s, else the caller's only one."""
    ref = data.get("organization")
    if ref in (None, "") and data.get("system") is not None:
        ref = get_visible_or_404(AISystem.objects.all(), request.user, pk=data["system"]).organization_id
    return _organization(request, ref, action)


def _options(request, data: dict, organization: Organization, source: str = Source.API) -> services.StampOptions:
    system = None
    if data.get("system") is not None:
        system = get_visible_or_404(AISystem.objects.filter(organization=organization), request.user, pk=data["system"])
    return services.StampOptions(
        layers={name: data.get(name) for name in LAYERS}, text=data.get("text") or None,
        corner=data.get("corner") or None, output_format=data.get("format") or None, system=system,
        model_version=data.get("model_version") or "", source=source,
    )


def _accepted(batch: WatermarkBatch) -> Response:
    """Answer 202 with the job that stamps or verifies a large image, and where to poll it."""
    url = f"/api/v1/watermark/batches/{batch.pk}"
    body = {**s.WatermarkBatchSerializer(batch).data, "url": url}
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


@extend_schema(request={"multipart/form-data": s.StampForm}, responses={**IMAGE_RESPONSE, 202: JOB_RESPONSE},
               tags=["watermark"])
@api_view(["POST"])
@parser_classes([MultiPartParser, FormParser])
def stamp(request):
    """Stamp one image with the organisation's layers; the response is the stamped image.

    Headers: X-Assay-Record (provenance record id), X-Assay-Produce-Id (AIGC ProduceID) and
    X-Assay-Payload (the invisible watermark's payload, hex). An image above ASSAY_IMAGE_JOB_PIXELS is
    stamped by a job instead: 202 with the job and its `url`; its zip holds the stamped image.
    """
    require_role_somewhere(request.user, Action.CHANGE)  # a viewer's 403 comes before its body is read
    form = s.StampForm(data=request.data)
    form.is_valid(raise_exception=True)
    data = form.validated_data
    organization = _organization_of(request, data)
    options = _options(request, data, organization)
    options.filename = data["file"].name
    image = read_upload(data["file"])
    if services.needs_job(image):
        return _accepted(jobs.start_batch(user=request.user, organization=organization,
                                          files=[(options.filename, image)], options=options))
    result, record = services.stamp(image, organization=organization, user=request.user, options=options)
    response = HttpResponse(result.data, content_type=result.mime)
    name = record.filename.rsplit(".", 1)[0] or "image"
    response["Content-Disposition"] = f'attachment; filename="{name}-stamped.{result.format.lower().replace("jpeg", "jpg")}"'
    response["X-Assay-Record"] = str(record.pk)
    response["X-Assay-Produce-Id"] = record.produce_id_text
    response["X-Assay-Payload"] = record.payload
    return response


@extend_schema(request={"multipart/form-data": s.VerifyForm}, responses={200: OpenApiTypes.OBJECT, 202: JOB_RESPONSE},
               tags=["watermark"])
@api_view(["POST"])
@parser_classes([MultiPartParser, FormParser])
def verify(request):
    """Report every layer of an image: explicit label, AIGC metadata, C2PA manifest, invisible watermark.

    Only the caller's organisations' keys are tried (or the one named by `organization`). An image above
    ASSAY_IMAGE_JOB_PIXELS is verified by a job: 202 with its `url`; the report is in its results, which
    only the caller sees.
    """
    form = s.VerifyForm(data=request.data)
    form.is_valid(raise_exception=True)
    orgs = Organization.objects.restrict(request.user, Action.VIEW)
    ref = form.validated_data.get("organization")
    if ref:
        orgs = orgs.filter(**organization_lookup(ref))
        if not orgs.exists():
            return Response(error_body("not_found", "Organization not found."), status=status.HTTP_404_NOT_FOUND)
    image, orgs = read_upload(form.validated_data["file"]), list(orgs)
    if services.needs_job(image) and orgs:
        return _accepted(jobs.start_batch(user=request.user, organization=orgs[0], options=services.StampOptions(),
                                          files=[(form.validated_data["file"].name, image)],
                                          mode=BatchMode.VERIFY, organizations=orgs))
    report = services.verify(image, organizations=orgs, user=request.user)
    return Response(report)


class WatermarkBatchViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Batches: many images stamped by a worker, with progress; the result is one zip."""

    queryset = WatermarkBatch.objects.all()
    serializer_class = s.WatermarkBatchSerializer
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        # A verify job's report may name records of several of its creator's organisations: only they see it.
        queryset = super().get_queryset()
        user = self.request.user
        others = Q(mode=BatchMode.VERIFY) & ~Q(created_by=user) if user.is_authenticated else Q(mode=BatchMode.VERIFY)
        return queryset.exclude(others)

    @extend_schema(request={"multipart/form-data": s.BatchForm}, responses={202: s.WatermarkBatchSerializer})
    def create(self, request):
        """Start a batch: `files` is one zip of images or several images. Poll GET …/batches/{id}."""
        form = s.BatchForm(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        organization = _organization_of(request, data)
        options = _options(request, data, organization, Source.BATCH)
        files = [(f.name, read_upload(f, field="files")) for f in data["files"]]
        batch = jobs.start_batch(user=request.user, organization=organization, files=files, options=options)
        return Response(s.WatermarkBatchSerializer(batch).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY, 409: OpenApiResponse(description="not ready")})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """Download the zip of stamped images (with results.json); 409 until the batch succeeded."""
        batch = self.get_object()
        require(request.user, batch, Action.DOWNLOAD)
        if batch.result_artifact_id is None:
            return Response(error_body("not_ready", f"The batch is {batch.status}; its zip exists once it succeeded"),
                            status=status.HTTP_409_CONFLICT)
        data = artifacts.read(batch.result_artifact)
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="watermark-batch-{batch.pk}.zip"'
        return response

    @extend_schema(request=None, responses={200: s.WatermarkBatchSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a queued batch, or ask a running one to stop before its next image; 409 when it already finished."""
        batch = self.get_object()
        self.check_write(batch)
        try:
            batch = jobs.cancel_batch(batch, user=request.user)
        except services.WatermarkError as exc:
            return Response(error_body("conflict", str(exc)), status=status.HTTP_409_CONFLICT)
        return Response(s.WatermarkBatchSerializer(batch).data)


class ProvenanceRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Provenance records: one per stamped image, of the caller's organisations only."""

    queryset = ProvenanceRecord.objects.select_related("organization")
    serializer_class = s.ProvenanceRecordSerializer
    filterset_class = ProvenanceRecordFilterSet

    @extend_schema(parameters=[OpenApiParameter("organization", str), OpenApiParameter("system", int),
                               OpenApiParameter("payload", str)])
    def list(self, request, *args, **kwargs):
        """List records, newest first; filter by organization, system, payload."""
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=IMAGE_RESPONSE)
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """Download the stamped image when it was kept (dashboard and batch stamps)."""
        record = self.get_object()
        require(request.user, record, Action.DOWNLOAD)
        if record.output_artifact_id is None:
            return Response(error_body("not_found", "This stamp's image was returned to its caller, not kept"),
                            status=status.HTTP_404_NOT_FOUND)
        response = HttpResponse(artifacts.read(record.output_artifact), content_type=f"image/{record.format.lower()}")
        response["Content-Disposition"] = f'attachment; filename="{record.output_artifact.filename}"'
        return response


@extend_schema(methods=["GET"], parameters=[OpenApiParameter("organization", str), OpenApiParameter("system", int)],
               responses=s.WatermarkPolicySerializer, tags=["watermark"])
@extend_schema(methods=["PUT", "PATCH"], parameters=[OpenApiParameter("organization", str),
                                                     OpenApiParameter("system", int)],
               request=s.WatermarkPolicySerializer, responses=s.WatermarkPolicySerializer, tags=["watermark"])
@api_view(["GET", "PUT", "PATCH"])
@parser_classes([StrictJSONParser, FormParser, MultiPartParser])
def policy(request):
    """The stamping policy (layers, label text and corner, AIGC producer code) of an organisation or one system.

    Owners and admins change it; every change is in the audit log.
    """
    write = request.method != "GET"
    organization = _organization(request, request.query_params.get("organization"),
                                 Action.MANAGE if write else Action.VIEW)
    system, system_id = None, id_param(request, "system")
    if system_id is not None:
        system = get_visible_or_404(AISystem.objects.filter(organization=organization), request.user, pk=system_id)
    if write:
        form = s.WatermarkPolicySerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        services.update_policy(organization, dict(form.validated_data), user=request.user, system=system)
    return Response(s.WatermarkPolicySerializer(services.policy_for(organization, system)).data)


@extend_schema(request=None, parameters=[OpenApiParameter("organization", str)],
               responses={201: OpenApiTypes.OBJECT}, tags=["watermark"])
@api_view(["POST"])
def rotate_key(request):
    """Make a new watermark key the one that stamps (owners and admins); older keys keep verifying."""
    organization = _organization(request, request.query_params.get("organization") or request.data.get("organization"),
                                 Action.MANAGE)
    key = services.create_key(organization, user=request.user)
    return Response({"fingerprint": key.fingerprint, "created": key.created}, status=status.HTTP_201_CREATED)


