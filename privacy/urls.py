"""Dashboard pages of the privacy app (included at the site root by assay/urls.py)."""

urlpatterns: list = []
