"""API routes of the watermark app (included under /api/v1/ by assay/urls.py)."""

urlpatterns: list = []
