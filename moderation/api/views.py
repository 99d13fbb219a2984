"""The moderation API: OpenAI's /moderations, policies, libraries, classifiers, evaluations, decisions, gateway."""

from __future__ import annotations

import csv
import io
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action, api_view, parser_classes
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.choices import Action
from accounts.models import Organization
from accounts.permissions import get_visible_or_404, organization_for_create, parse_id, require
from audit.models import AISystem
from core.api import error_body
from core.parsers import StrictJSONParser
from core.uploads import read_upload
from core.viewsets import OrganizationScopedViewSet

from .. import decisions, gateway, jobs, services
from ..filtersets import DecisionFilterSet
from ..models import (
    Decision,
    KeywordEntry,
    KeywordLibrary,
    ModerationClassifier,
    ModerationEvaluation,
    ModerationGateway,
    ModerationPolicy,
)
from . import serializers as s
from .auth import CachedTokenAuthentication

UPLOAD_PARSERS = [MultiPartParser, FormParser, StrictJSONParser]


def _organization(request, ref, action_: str = Action.CHANGE) -> Organization:
    try:
        return organization_for_create(request.user, ref, action_)
    except ValueError as exc:
        raise serializers.ValidationError({"organization": [str(exc)]}) from None


def _read(upload) -> bytes:
    """Return an uploaded file's bytes; a file over the moderation uploads' limit is a 400 naming it."""
    return read_upload(upload, max_bytes=services.MAX_TEXT_BYTES_FILE)


class _Window:
    """This process's count of an organisation's calls in the current minute, shared through the cache in steps.

    Adding to the cache on every call (a file write with the default cache) would cost more than
    moderating; so each process adds its calls in steps of RATE_STEP (or once a second), and the
    limit may be overshot by at most RATE_STEP calls per web process.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.local: dict[tuple[int, int], int] = {}  # (organisation, minute) → calls not yet added
        self.shared: dict[tuple[int, int], int] = {}  # last total read from the cache
        self.synced = 0.0

    def count(self, org_id: int) -> int:
        window = int(time.time() // 60)
        key = (org_id, window)
        with self.lock:
            self.local[key] = self.local.get(key, 0) + 1
            pending = self.local[key]
            if pending < RATE_STEP and time.monotonic() - self.synced < 1.0:
                return self.shared.get(key, 0) + pending
            self.local[key] = 0
            self.synced = time.monotonic()
            for old in [k for k in self.local if k[1] != window]:
                self.local.pop(old, None)
                self.shared.pop(old, None)
        cache_key = f"moderation-rate:{org_id}:{window}"
        cache.add(cache_key, 0, timeout=120)
        try:
            total = cache.incr(cache_key, pending)
        except ValueError:  # expired between add and incr
            cache.set(cache_key, pending, timeout=120)
            total = pending
        with self.lock:
            self.shared[key] = total
        return total


RATE_STEP = 20
_window = _Window()


def _rate_limited(organization: Organization) -> Response | None:
    """Answer 429 once the organisation made ASSAY_MODERATION_RATE_LIMIT calls in the current minute."""
    limit = int(getattr(settings, "ASSAY_MODERATION_RATE_LIMIT", 60000))
    if limit <= 0:
        return None
    if _window.count(organization.pk) > limit:
        retry = 60 - int(time.time() % 60)
        return Response(error_body("rate_limited", f"The organisation's moderation limit ({limit} calls a minute) is "
                                   "reached; retry later"), status=429, headers={"Retry-After": str(retry)})
    return None


def _inputs(data) -> list[str]:
    """Return the texts of OpenAI's `input`: a string, a list of strings, or a list of content parts
    (`{"type": "text", "text": …}`, as omni-moderation takes; image parts are refused)."""
    if not isinstance(data, dict):
        raise serializers.ValidationError({"input": ["The body must be a JSON object"]})
    value = data.get("input")
    texts = [value] if isinstance(value, str) else value
    if isinstance(texts, list) and texts and all(isinstance(t, dict) for t in texts):
        if any(t.get("type") != "text" or not isinstance(t.get("text"), str) for t in texts):
            raise serializers.ValidationError({"input": ["only text parts are moderated here "
                                                         '({"type": "text", "text": …}); images are not supported']})
        texts = [t["text"] for t in texts]
    max_inputs = int(getattr(settings, "ASSAY_MODERATION_MAX_INPUTS", 128))
    max_chars = int(getattr(settings, "ASSAY_MODERATION_MAX_CHARS", 200_000))
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise serializers.ValidationError({"input": ["input must be a string or a non-empty list of strings"]})
    if len(texts) > max_inputs:
        raise serializers.ValidationError({"input": [f"at most {max_inputs} inputs per request"]})
    if sum(len(t) for t in texts) > max_chars:
        raise serializers.ValidationError({"input": [f"at most {max_chars} characters per request"]})
    return texts


class JSONOnly(DefaultContentNegotiation):
    """Answer in JSON whatever the Accept header says (as OpenAI's API does), without parsing it on every call."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ModerationsView(APIView):
    """`POST /api/v1/moderations`, the hot path: the caller's token, organisation and policy come from this
    process's caches (moderation.services.cached), the answer is always JSON."""

    authentication_classes = [CachedTokenAuthentication, SessionAuthentication]
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnly

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT}, tags=["moderation"],
                   parameters=[OpenApiParameter("organization", str)])
    def post(self, request):
        """Moderate text in OpenAI's shape: `{"input": "text" | ["text", …], "policy": id?}`.

        Each result has `flagged`, `categories`, `category_scores` and Assay's `assay` object: the policy and
        version, the action and outcome, the rules that matched with their spans, the GB/T 45654 risk codes,
        the decision id (and `masked_input` under a mask policy). Any member may call it; every call is
        recorded as decisions, in batches.
        """
        data = request.data
        texts = _inputs(data)
        ref = data.get("organization") or request.query_params.get("organization")
        organization = services.cached(("org", request.user.pk, str(ref)),
                                       lambda: _organization(request, ref, Action.VIEW))
        if limited := _rate_limited(organization):
            return limited
        policy = services.cached(("policy", organization.pk, str(data.get("policy"))),
                                 lambda: services.resolve_policy(organization, data.get("policy")))
        return Response(services.moderate(texts, organization=organization, policy=policy))


moderations = ModerationsView.as_view()


#
# Policies
#


class ModerationPolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Moderation policies; PATCH saves the next version (owners and admins), every change audit-logged."""

    queryset = ModerationPolicy.objects.all()
    serializer_class = s.ModerationPolicySerializer
    write_action = Action.MANAGE
    parser_classes = [StrictJSONParser]

    def list(self, request, *args, **kwargs):
        have = ModerationPolicy.objects.values("organization_id")
        for org in Organization.objects.restrict(request.user, Action.VIEW).exclude(pk__in=have):
            services.default_policy(org)  # every organisation has one from its first look
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.PolicyCreateSerializer, responses={201: s.ModerationPolicySerializer})
    def create(self, request):
        """Create a policy: libraries, pii detectors, classifier, thresholds per category, action, keep_text."""
        form = s.PolicyCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        organization = _organization(request, data.pop("organization", None), Action.MANAGE)
        name = data.pop("name")
        policy = services.create_policy(organization, name=name, config=data, user=request.user)
        return Response(s.ModerationPolicySerializer(policy).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.PolicyConfigSerializer, responses={200: s.ModerationPolicySerializer})
    def partial_update(self, request, pk=None):
        """Change a policy: the changed fields make its next version."""
        policy = self.get_object()
        self.check_write(policy)
        form = s.PolicyConfigSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.update_policy(policy, dict(form.validated_data), user=request.user)
        policy.refresh_from_db()
        return Response(s.ModerationPolicySerializer(policy).data)

    @extend_schema(responses={200: s.PolicyVersionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def versions(self, request, pk=None):
        """Every version of the policy, newest first."""
        policy = self.get_object()
        return Response(s.PolicyVersionSerializer(policy.versions.all(), many=True).data)


#
# Keyword libraries
#


class KeywordLibraryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Keyword libraries: upload a CSV, XLSX or JSONL file; add or remove entries; each change bumps the version."""

    queryset = KeywordLibrary.objects.all()
    serializer_class = s.KeywordLibrarySerializer
    parser_classes = UPLOAD_PARSERS

    @extend_schema(request={"multipart/form-data": s.LibraryUploadSerializer}, responses={201: s.KeywordLibrarySerializer})
    def create(self, request):
        form = s.LibraryUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        organization = _organization(request, data.get("organization"))
        entries = services.parse_entries(services.read_rows(_read(data["file"]), data["file"].name))
        library = services.create_library(organization, name=data["name"], entries=entries, user=request.user,
                                          description=data.get("description", ""))
        return Response(s.KeywordLibrarySerializer(library).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], responses={200: s.KeywordEntrySerializer(many=True)})
    @extend_schema(methods=["POST"], request=s.KeywordEntrySerializer, responses={201: s.KeywordEntrySerializer})
    @action(detail=True, methods=["get", "post"])
    def entries(self, request, pk=None):
        """List the library's entries (paginated), or add one."""
        library = self.get_object()
        if request.method == "POST":
            self.check_write(library)
            form = s.KeywordEntrySerializer(data=request.data)
            form.is_valid(raise_exception=True)
            entry = services.add_entry(library, dict(form.validated_data), user=request.user)
            return Response(s.KeywordEntrySerializer(entry).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(library.entries.all())
        return self.get_paginated_response(s.KeywordEntrySerializer(page, many=True).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"entries/(?P<entry_id>\d+)")
    def remove_entry(self, request, pk=None, entry_id=None):
        """Remove one entry."""
        library = self.get_object()
        self.check_write(library)
        entry = KeywordEntry.objects.filter(library=library, pk=parse_id(entry_id) or 0).first()
        if entry is None:
            raise Http404("Entry not found.")
        services.delete_entry(entry, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request={"multipart/form-data": s.FileSerializer}, responses={200: s.KeywordLibrarySerializer})
    @action(detail=True, methods=["post"])
    def upload(self, request, pk=None):
        """Replace the library's entries with a new file."""
        library = self.get_object()
        self.check_write(library)
        form = s.FileSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        entries = services.parse_entries(services.read_rows(_read(upload), upload.name))
        services.replace_entries(library, entries, user=request.user)
        return Response(s.KeywordLibrarySerializer(library).data)


#
# Classifiers
#


class ModerationClassifierViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Moderation classifiers trained by a job from a labelled CSV (character n-grams, linear, .npz weights)."""

    queryset = ModerationClassifier.objects.all()
    serializer_class = s.ModerationClassifierSerializer
    parser_classes = UPLOAD_PARSERS

    @extend_schema(request={"multipart/form-data": s.ClassifierUploadSerializer},
                   responses={202: s.ModerationClassifierSerializer})
    def create(self, request):
        """Train a classifier; poll GET …/classifiers/{id} until it succeeded, then name it in a policy."""
        form = s.ClassifierUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        organization = _organization(request, data.get("organization"))
        row = jobs.start_training(organization, name=data["name"], data=_read(data["file"]),
                                  filename=data["file"].name, user=request.user)
        row.refresh_from_db()
        return Response(s.ModerationClassifierSerializer(row).data, status=status.HTTP_202_ACCEPTED)


#
# Evaluations
#


class ModerationEvaluationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Evaluations: precision, recall and F1 per category (Wilson 95 % intervals) of a policy version."""

    queryset = ModerationEvaluation.objects.select_related("policy_version")
    serializer_class = s.ModerationEvaluationSerializer
    parser_classes = UPLOAD_PARSERS

    @extend_schema(request={"multipart/form-data": s.EvaluationUploadSerializer,
                            "application/json": s.EvaluationUploadSerializer},
                   responses={201: s.ModerationEvaluationSerializer})
    def create(self, request):
        """Evaluate a policy (default: the organisation's default) on a labelled set: a file with text and
        categories columns, or `items`. Decisions are not recorded for it."""
        form = s.EvaluationUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        organization = _organization(request, data.get("organization"))
        policy = services.resolve_policy(organization, data.get("policy"))
        if data.get("file") is not None:
            raw, name = _read(data["file"]), data["file"].name
        elif data.get("items"):
            raw, name = _items_csv(data["items"]), "items.csv"
        else:
            raise serializers.ValidationError({"file": ["Send a labelled file or items"]})
        evaluation = services.run_evaluation(policy, data=raw, filename=name, user=request.user)
        return Response(s.ModerationEvaluationSerializer(evaluation).data, status=status.HTTP_201_CREATED)


def _items_csv(items: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "text", "categories"])
    for n, item in enumerate(items, 1):
        cats = item.get("categories") or []
        if isinstance(cats, str):
            cats = [cats]
        if not isinstance(item.get("text"), str) or not isinstance(cats, list):
            raise serializers.ValidationError({"items": [f"item {n}: text must be a string, categories a list"]})
        writer.writerow([item.get("id") or n, item["text"], ";".join(str(c) for c in cats)])
    return out.getvalue().encode()


#
# Decisions
#


class DecisionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Recorded decisions (written in batches: a call's decision appears within seconds)."""

    queryset = Decision.objects.select_related("policy_version", "batch")
    serializer_class = s.DecisionSerializer
    filterset_class = DecisionFilterSet

    def list(self, request, *args, **kwargs):
        """Search decisions: flagged, outcome, input_sha256, policy, q (category or risk code)."""
        return super().list(request, *args, **kwargs)

    def get_object(self):
        from uuid import UUID

        try:
            UUID(str(self.kwargs.get("pk")))
        except ValueError:
            raise Http404("Not found.") from None
        return super().get_object()

    @extend_schema(request=None, parameters=[OpenApiParameter("organization", str)], responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"])
    def verify(self, request):
        """Check the chain of decision batches of an organisation: `{"ok": true, "batches": N}` or the first broken."""
        organization = _organization(request, request.query_params.get("organization"), Action.VIEW)
        decisions.flush()
        return Response(decisions.verify(organization.pk))


#
# Gateway
#


class GatewayWriteSerializer(serializers.Serializer):
    system = serializers.IntegerField()
    policy = serializers.IntegerField(required=False, allow_null=True)
    base_url = serializers.CharField(max_length=500)
    model_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    api_key = serializers.CharField(required=False, allow_blank=True, default="", max_length=4096)
    timeout_s = serializers.FloatField(required=False, default=30.0)
    max_retries = serializers.IntegerField(required=False, default=2)
    enabled = serializers.BooleanField(required=False, default=True)


class GatewayViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Gateways: a system's chat endpoint behind the moderation policy (owners and admins configure them)."""

    queryset = ModerationGateway.objects.order_by("pk")
    serializer_class = s.GatewaySerializer
    write_action = Action.MANAGE
    parser_classes = [StrictJSONParser]

    @extend_schema(request=GatewayWriteSerializer, responses={201: s.GatewaySerializer})
    def create(self, request):
        """Create or replace the gateway of a system; the URL must pass the outbound rules."""
        form = GatewayWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        system = get_visible_or_404(AISystem.objects.all(), request.user, pk=data.pop("system"))
        require(request.user, system, Action.MANAGE)
        ref = data.pop("policy", None)
        policy = services.resolve_policy(system.organization, ref)
        row = gateway.save_gateway(system, policy=policy, user=request.user, **data)
        return Response(s.GatewaySerializer(row).data, status=status.HTTP_201_CREATED)


@extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT}, tags=["moderation"])
@api_view(["POST"])
@parser_classes([StrictJSONParser])
def chat_completions(request, system_id: str):
    """OpenAI-compatible chat completions through the system's gateway: the prompt is moderated, forwarded,
    the answer moderated; a blocked one comes back as a refusal (`finish_reason: "content_filter"`) with the
    decision id in `assay`. Non-streaming only (`"stream": true` is refused with a 400)."""
    row = get_visible_or_404(ModerationGateway.objects.select_related("policy", "organization", "api_key"),
                             request.user, system_id=parse_id(system_id) or 0)
    if not row.enabled:
        return Response(error_body("disabled", "The gateway of this system is disabled"), status=409)
    if limited := _rate_limited(row.organization):
        return limited
    try:
        return Response(gateway.complete(row, request.data))
    except gateway.GatewayError as exc:
        return Response(error_body(exc.code, str(exc)), status=exc.status)
