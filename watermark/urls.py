"""Dashboard pages of the watermark app (included at the site root by assay/urls.py)."""

urlpatterns: list = []
