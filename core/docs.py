"""The references in docs/ served to signed-in users, so the dashboard can link them (plain Markdown text)."""

from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

DOCS = Path(settings.BASE_DIR) / "docs"


def _available() -> list[str]:
    return sorted(p.name for p in DOCS.glob("*.md"))


@login_required
def index(request):
    return render(request, "docs_index.html", {"docs": _available()})


@login_required
def page(request, name: str):
    if name not in _available():  # only the files that are there: no path is built from the request
        raise Http404("No such document.")
    return HttpResponse((DOCS / name).read_text(encoding="utf-8"), content_type="text/markdown; charset=utf-8")
