"""API conventions shared by every app: one error body shape, pagination, the router."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, pagination, routers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from audit.artifacts import ArtifactIntegrityError

logger = logging.getLogger(__name__)


class OptionalSlashRouter(routers.DefaultRouter):
    """Answer /api/v1/systems and /api/v1/systems/ alike (DRF's trailing_slash is only on or off).

    An app's own router (included under /api/v1/ beside the project's) passes root_view=False,
    so that /api/v1/ keeps one root.
    """

    def __init__(self, *, root_view: bool = True):
        super().__init__()
        self.trailing_slash = "/?"
        self.include_root_view = root_view


class Pagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(v) for v in detail)
    return str(detail)


def exception_handler(exc, context):
    """Return every error as {"error": {"code", "message", "fields"?}}."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "You do not have permission to do this.")
    elif isinstance(exc, ArtifactIntegrityError):
        logger.error("Artifact integrity check failed: %s", exc)
        return Response(error_body("integrity", str(exc)), status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, DataError):
        # e.g. an id beyond the column's range: PostgreSQL refuses it where SQLite would just find nothing.
        return Response(error_body("invalid", "A value is out of range for this field"), status=400)
    elif isinstance(exc, ValueError) and hasattr(exc, "fields"):
        # Domain errors (DatasetError, RegistryError, …) carry the fields they concern.
        return Response(error_body("invalid", str(exc), exc.fields or None), status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else None
        message = _flatten(exc.detail) if not fields else "Invalid input: " + _flatten(exc.detail)
        response.data = error_body("invalid", message, fields)
    else:
        code = getattr(exc, "default_code", "error")
        if isinstance(getattr(exc, "detail", None), exceptions.ErrorDetail):
            code = exc.detail.code or code
        response.data = error_body(str(code), _flatten(getattr(exc, "detail", str(exc))))
    return response


def json_404(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_500(request):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", "Internal error; it has been logged."), status=500)
    from django.views.defaults import server_error

    return server_error(request)
