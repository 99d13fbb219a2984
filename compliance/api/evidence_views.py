"""Evidence that proves the obligation (issue 14): the system's own event log, output samples, document review."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser, FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.choices import Action
from accounts.permissions import get_visible_or_404, parse_id, require
from audit.models import AISystem
from core.uploads import read_upload
from watermark import services as wm_services

from .. import eventlogs, samples, services
from ..models import EvidenceDocument, EvidenceSample, SampleJob

MAX_SAMPLE_BYTES = 40 * 1024 * 1024


class RawTextParser(BaseParser):
    """JSON lines (application/x-ndjson, application/jsonl, text/plain): the body as bytes."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read(eventlogs.MAX_UPLOAD_BYTES + 1)


def _id(value) -> int:
    pk = parse_id(value)
    if pk is None:
        raise Http404("Not found.")
    return pk


def _system(request, system_id, action=None) -> AISystem:
    system = get_visible_or_404(AISystem.objects.all(), request.user, pk=_id(system_id))
    if action:
        require(request.user, system, action)
    return system


def _file(request, name: str = "file", limit: int = eventlogs.MAX_UPLOAD_BYTES):
    upload = request.FILES.get(name)
    if upload is None:
        raise serializers.ValidationError({name: ["Upload a file (multipart field 'file')"]})
    return read_upload(upload, max_bytes=limit, field=name), upload.name or ""


class SystemEventsView(APIView):
    """The AI system's own event log (Art. 12): send events as JSON lines; read what the log proves."""

    parser_classes = [RawTextParser]

    @extend_schema(parameters=[OpenApiParameter("date", OpenApiTypes.DATE, description="as of (default today)")],
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request, system_id: int):
        """What the log shows today: events, Art. 12 field shares, gaps, retention."""
        system = _system(request, system_id)
        on = services.parse_date(request.query_params.get("date"))
        return Response(eventlogs.check(system, on).as_dict())

    @extend_schema(request={"application/x-ndjson": {"type": "string"}, "text/plain": {"type": "string"},
                            "application/json": {"type": "object"}}, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, system_id: int):
        """Add a batch of events: JSON lines (one object per line, each with an ISO 8601 `timestamp`), or a JSON
        array / {"events": [...]}; at most 10,000 per request. Lines that cannot be read are reported, not stored."""
        system = _system(request, system_id, Action.CHANGE)
        body = request.data if isinstance(request.data, bytes) else b""
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise eventlogs.EventLogError("The body must be UTF-8 JSON lines") from None
        batch = eventlogs.ingest(system=system, user=request.user, rows=eventlogs.read_lines(text), source="api")
        return Response(eventlogs.batch_summary(batch), status=status.HTTP_201_CREATED)


class SystemEventLogUploadView(APIView):
    """Upload a log export of the system (JSON lines, JSON or CSV with a timestamp column)."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}}}, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, system_id: int):
        """Store the export (hashed, audit-logged) and ingest its events."""
        system = _system(request, system_id, Action.CHANGE)
        data, name = _file(request)
        batch = eventlogs.ingest(system=system, user=request.user, rows=eventlogs.decode(data, name),
                                 source="upload", data=data, filename=name)
        return Response(eventlogs.batch_summary(batch), status=status.HTTP_201_CREATED)


def _sample_data(sample: EvidenceSample) -> dict:
    return {**samples.sample_link(sample), "report": sample.report,
            "removed": sample.removed.isoformat() if sample.removed else None}


class EvidenceSamplesView(APIView):
    """The system's own outputs as evidence for the label and watermark items."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(operation_id="v1_systems_evidence_samples_list",
                   responses={200: {"type": "array", "items": {"type": "object"}}})
    def get(self, request, system_id: int):
        """List the current samples with their per-layer results."""
        system = _system(request, system_id)
        rows = EvidenceSample.objects.filter(system=system, removed__isnull=True)
        return Response([_sample_data(smp) for smp in rows])

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}}},
        responses={201: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT})
    def post(self, request, system_id: int):
        """Add one output (multipart `file`): it is verified for every layer after the robustness transformations;
        an image above ASSAY_IMAGE_JOB_PIXELS is verified by a worker (202 with the job to poll)."""
        system = _system(request, system_id, Action.CHANGE)
        data, name = _file(request, limit=MAX_SAMPLE_BYTES)
        if wm_services.needs_job(data):  # too large for a web worker: a worker verifies it (202, poll the job)
            job = samples.start_sample_job(user=request.user, system=system, data=data, filename=name)
            return Response(samples.job_data(job), status=status.HTTP_202_ACCEPTED)
        sample = samples.add_sample(user=request.user, system=system, data=data, filename=name, web=True)
        return Response(_sample_data(sample), status=status.HTTP_201_CREATED)


class EvidenceSampleDetailView(APIView):
    """One sample: read it, or remove it from the evidence (kept for the audit trail)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, system_id: int, pk: int):
        """One sample with its per-layer report."""
        system = _system(request, system_id)
        sample = get_visible_or_404(EvidenceSample.objects.filter(system=system), request.user, pk=_id(pk))
        return Response(_sample_data(sample))

    @extend_schema(responses={204: None})
    def delete(self, request, system_id: int, pk: int):
        """Remove the sample from the evidence (the file and its audit-log entries stay)."""
        system = _system(request, system_id, Action.CHANGE)
        sample = get_visible_or_404(EvidenceSample.objects.filter(system=system), request.user, pk=_id(pk))
        samples.remove_sample(user=request.user, sample=sample)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EvidenceSampleJobView(APIView):
    """A large sample being verified by a worker: its status, and the sample once done."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, system_id: int, pk: int):
        system = _system(request, system_id)
        job = get_visible_or_404(SampleJob.objects.filter(system=system), request.user, pk=_id(pk))
        return Response(samples.job_data(job))


class ReviewSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=services.REVIEW_DECISIONS)
    note = serializers.CharField(required=False, allow_blank=True, max_length=services.MAX_TEXT)


class DocumentReviewView(APIView):
    """Approve or reject a document: only then is it evidence, and never by its uploader."""

    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(request=ReviewSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        document = get_visible_or_404(EvidenceDocument.objects.all(), request.user, pk=_id(pk))
        require(request.user, document, Action.CHANGE)
        form = ReviewSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        document = services.review_document(user=request.user, document=document, **form.validated_data)
        return Response({"id": document.pk, "review": document.review, "reviewed_by": document.reviewed_by_name,
                         "reviewed_at": document.reviewed_at.isoformat(), "sections": document.section_check or None})
