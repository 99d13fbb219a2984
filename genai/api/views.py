"""The genai API: targets, banks (upload, coverage), evaluations (start, read, items, cancel), review."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from accounts.choices import Action
from accounts.permissions import get_visible_or_404, organization_for_create, require
from audit.models import AISystem, ModelVersion
from core.jobs import request_cancel
from core.parsers import StrictJSONParser
from core.viewsets import OrganizationScopedViewSet

from .. import services
from ..models import Bank, Evaluation, EvaluationItem, Target
from . import serializers as s

UPLOAD_PARSERS = [MultiPartParser, FormParser, StrictJSONParser]
MAX_ITEMS_PAGE = 500


def _read(upload) -> bytes:
    return b"".join(upload.chunks())


class TargetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Generative targets: a gguf model version (or uploaded GGUF) run in the sandbox, or an OpenAI-compatible
    endpoint (key never returned)."""

    queryset = Target.objects.select_related("system")
    serializer_class = s.TargetSerializer
    parser_classes = UPLOAD_PARSERS

    @extend_schema(request={"multipart/form-data": s.TargetCreateSerializer}, responses={201: s.TargetSerializer})
    def create(self, request):
        """Register a target on a system: a gguf model version of the registry (model_version), an uploaded GGUF
        file (file), or an OpenAI-compatible endpoint (base_url, model_name, api_key)."""
        form = s.TargetCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        d = form.validated_data
        versions = ModelVersion.objects.select_related("artifact")
        model_version = None
        if d["system"] is None:  # the model version's own system
            model_version = get_visible_or_404(versions, request.user, pk=d["model_version"])
        system_id = d["system"] if d["system"] is not None else model_version.system_id
        system = get_visible_or_404(AISystem.objects.all(), request.user, pk=system_id)
        require(request.user, system, Action.CHANGE)
        if d["model_version"] is not None:  # another organisation's version is not found, like any unknown id
            model_version = get_visible_or_404(versions.filter(organization=system.organization), request.user,
                                               pk=d["model_version"])
            target = services.register_model_version(system, model_version=model_version, name=d["name"],
                                                     user=request.user)
        elif d["kind"] == "gguf":
            if not d.get("file"):
                raise serializers.ValidationError({"file": ["required for a gguf target"]})
            target = services.register_gguf(system, name=d["name"], data=_read(d["file"]), filename=d["file"].name,
                                            user=request.user)
        else:
            target = services.register_endpoint(system, name=d["name"], base_url=d["base_url"],
                                                model_name=d["model_name"], api_key=d["api_key"], user=request.user,
                                                concurrency=d["concurrency"], timeout_s=d["timeout_s"])
        return Response(s.TargetSerializer(target).data, status=status.HTTP_201_CREATED)


class BankViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Test banks, versioned: every upload of a name is its next version."""

    queryset = Bank.objects.all()
    serializer_class = s.BankSerializer
    parser_classes = UPLOAD_PARSERS

    @extend_schema(request={"multipart/form-data": s.BankUploadSerializer}, responses={201: s.BankSerializer})
    def create(self, request):
        """Upload a bank file (CSV, XLSX, JSONL); a name already used gets a new version."""
        form = s.BankUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        d = form.validated_data
        try:
            organization = organization_for_create(request.user, d.get("organization"), Action.CHANGE)
        except ValueError as exc:
            raise serializers.ValidationError({"organization": [str(exc)]}) from None
        version = services.upload_bank(organization, name=d["name"], data=_read(d["file"]), filename=d["file"].name,
                                       user=request.user, description=d["description"])
        return Response({**s.BankSerializer(version.bank).data, "coverage": version.coverage},
                        status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["get"])
    def coverage(self, request, pk=None):
        """The coverage report of the bank's current version against the minimums: every shortfall named."""
        bank = self.get_object()
        version = bank.current()
        return Response({"bank": bank.name, "version": version.number, "n": version.n, **version.coverage})


class EvaluationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Generative safety evaluations (jobs): rates with Wilson intervals, per risk, per mutation."""

    queryset = Evaluation.objects.select_related("target").prefetch_related("bank_versions")
    serializer_class = s.EvaluationSerializer
    parser_classes = [StrictJSONParser]

    @extend_schema(request=s.EvaluationCreateSerializer, responses={202: s.EvaluationSerializer})
    def create(self, request):
        """Start an evaluation of a target on banks (their current versions); poll GET …/{id}."""
        form = s.EvaluationCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        d = form.validated_data
        target = get_visible_or_404(Target.objects.all(), request.user, pk=d["target"])
        require(request.user, target, Action.CHANGE)
        banks_ = [get_visible_or_404(Bank.objects.all(), request.user, pk=pk) for pk in d["banks"]]
        row = services.start_evaluation(target, [b.current() for b in banks_], seed=d["seed"], sizes=d["sizes"],
                                        mutation_names=d["mutations"], max_new_tokens=d["max_new_tokens"],
                                        review_sample=d["review_sample"], user=request.user)
        row.refresh_from_db()
        return Response(s.EvaluationSerializer(row).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"])
    def items(self, request, pk=None):
        """The judged answers: ?review=1 for the review queue, ?verdict=, ?offset= and ?limit= (≤ 500)."""
        row = self.get_object()
        qs = row.items.select_related("reviewed_by").order_by("index")
        if request.query_params.get("review") in ("1", "true"):
            qs = qs.filter(in_review=True)
        if request.query_params.get("verdict"):
            qs = qs.filter(verdict=request.query_params["verdict"])
        try:
            offset = max(0, int(request.query_params.get("offset", 0)))
            limit = max(1, min(MAX_ITEMS_PAGE, int(request.query_params.get("limit", 100))))
        except ValueError:
            raise serializers.ValidationError({"offset": ["integers"]}) from None
        return Response({"count": qs.count(), "offset": offset, "results": [i.to_dict() for i in qs[offset:offset + limit]]})

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a queued or running evaluation."""
        row = self.get_object()
        self.check_write(row)
        request_cancel(Evaluation, row.pk)
        row.refresh_from_db()
        return Response(s.EvaluationSerializer(row).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"], url_path="result")
    def result_json(self, request, pk=None):
        """The Result JSON of GENAI.md with every item."""
        return Response(services.result_json(self.get_object()))

    @action(detail=True, methods=["get"])
    def report(self, request, pk=None):
        """The self-assessment report: ?lang=zh|en (default zh), ?output=pdf|html (default pdf)."""
        from django.http import HttpResponse

        from .. import report

        row = self.get_object()
        if row.result is None:
            raise serializers.ValidationError({"evaluation": ["the evaluation has not finished"]})
        lang = request.query_params.get("lang", "zh")
        fmt = request.query_params.get("output", "pdf")  # not "format": DRF reads that one
        if lang not in report.LABELS or fmt not in ("pdf", "html"):
            raise serializers.ValidationError({"lang": ["zh or en"], "output": ["pdf or html"]})
        if fmt == "html":
            body, content_type = report.render_html(row, lang).encode(), "text/html; charset=utf-8"
        else:
            body, content_type = report.render_pdf(row, lang), "application/pdf"
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="genai-evaluation-{row.pk}-{lang}.{fmt}"'
        return response

    @extend_schema(request=s.GenaiReviewSerializer)
    @action(detail=True, methods=["post"], url_path=r"items/(?P<index>[0-9]+)/review")
    def review(self, request, pk=None, index=None):
        """Record a reviewer's verdict (pass or fail, with a reason) on one answer; the run is re-scored."""
        row = self.get_object()
        require(request.user, row, Action.CHANGE)  # auditor and up
        form = s.GenaiReviewSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        item = get_object_or_404(EvaluationItem, evaluation=row, index=int(index))
        item = services.review(item, verdict=form.validated_data["verdict"], reason=form.validated_data["reason"],
                               user=request.user)
        return Response(item.to_dict())
