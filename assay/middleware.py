from django.conf import settings
from django.http import JsonResponse

from core.api import error_body


class UploadLimitMiddleware:
    """Refuse a request body over ASSAY_MAX_UPLOAD_MB from its Content-Length, before reading it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.ASSAY_MAX_UPLOAD_MB * 1024 * 1024
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            message = f"The request body is {length} bytes; the limit is {settings.ASSAY_MAX_UPLOAD_MB} MB"
            return JsonResponse(error_body("too_large", message), status=413)
        return self.get_response(request)
