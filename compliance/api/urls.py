"""API routes of the compliance app (included under /api/v1/ by assay/urls.py)."""

urlpatterns: list = []
