"""The apps' import graph (STYLE.md, Layout): assay → apps → core → accounts, and never back.

Every import counts, function-level ones included: a lazy import hides a dependency, it does not remove it.
"""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
INFRASTRUCTURE = {"assay", "core", "accounts"}
DOMAIN = {"audit", "compliance", "watermark", "privacy", "reports", "moderation", "genai", "demo"}
APPS = INFRASTRUCTURE | DOMAIN


def _imports(app: str) -> dict[str, list[str]]:
    """Return {other app: ["path:line", …]} for every import of another app in `app`'s code (migrations aside)."""
    found = defaultdict(list)
    for path in sorted((REPO / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in APPS and top != app:
                    found[top].append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_the_apps_import_each_other_without_a_circle():
    # given: the graph of every app's imports of the others
    graph = {app: set(_imports(app)) for app in APPS}

    # when: a depth-first search looks for a path back to where it started
    def circle(start: str, node: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        for nxt in sorted(graph[node]):
            if nxt == start:
                return (*path, nxt)
            if nxt not in path:
                found = circle(start, nxt, (*path, nxt))
                if found:
                    return found
        return None

    # then
    circles = {app: circle(app, app, (app,)) for app in sorted(APPS)}
    assert {app: c for app, c in circles.items() if c} == {}


@pytest.mark.parametrize("app,allowed", [
    ("accounts", set()),
    ("core", {"accounts"}),
    ("assay", {"core", "accounts"}),
], ids=["accounts imports no app", "core imports only accounts", "assay imports no domain app"])
def test_the_infrastructure_apps_import_only_what_lies_below_them(app, allowed):
    # when
    imports = _imports(app)

    # then
    assert {other: where for other, where in imports.items() if other not in allowed} == {}


def test_the_api_root_lists_the_collections_the_apps_route(as_alice):
    # when
    response = as_alice.get("/api/v1/")

    # then
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"organizations", "systems", "datasets", "models", "audit-log", "audits", "schedules",
                         "reports"}
    assert body["systems"] == "http://testserver/api/v1/systems"
