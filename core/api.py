"""API conventions shared by every app: one error body shape, pagination, the router."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.db import DataError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, pagination, routers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.artifacts import ArtifactIntegrityError
from core.errors import AssayError
from core.pdf import PDFUnavailable

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


def suspicious_error(exc: SuspiciousOperation) -> tuple[dict, int]:
    """Return the error body and status of a request Django refused as suspicious (too many fields …)."""
    if isinstance(exc, TooManyFieldsSent):
        return error_body("too_many_fields", "The request has more fields than the server accepts "
                          f"({settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} at most)"), 400
    if isinstance(exc, TooManyFilesSent):
        return error_body("too_many_files", "The request has more files than the server accepts "
                          f"({settings.DATA_UPLOAD_MAX_NUMBER_FILES} at most)"), 400
    if isinstance(exc, RequestDataTooBig):
        return error_body("too_large", "The request body is larger than the server accepts"), 413
    return error_body("bad_request", "The request was refused as malformed"), 400


def exception_handler(exc, context):
    """Return every error as {"error": {"code", "message", "fields"?}}."""
    if isinstance(exc, SuspiciousOperation):
        logger.warning("Refused request: %s", exc)
        body, code = suspicious_error(exc)
        return Response(body, status=code)
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
    elif isinstance(exc, PDFUnavailable):
        logger.error("%s", exc)
        return Response(error_body("pdf_unavailable", "PDF exports are unavailable on this server (WeasyPrint "
                                   "needs Pango); the other formats work"), status=status.HTTP_503_SERVICE_UNAVAILABLE)
    elif isinstance(exc, AssayError):
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


def json_400(request, exception=None):
    """handler400: Django's refusals (too many fields or files, a bad multipart body) in the one error shape."""
    if request.path.startswith("/api/"):
        body, code = suspicious_error(exception) if isinstance(exception, SuspiciousOperation) else \
            (error_body("bad_request", "Bad request."), 400)
        return JsonResponse(body, status=code)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def json_403(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("permission_denied", "You do not have permission to do this."), status=403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


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
