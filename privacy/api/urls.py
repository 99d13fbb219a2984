"""API routes of the privacy app (included under /api/v1/ by assay/urls.py)."""

urlpatterns: list = []
