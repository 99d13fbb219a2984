"""Dashboard pages of the compliance app (included at the site root by assay/urls.py)."""

urlpatterns: list = []
