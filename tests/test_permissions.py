"""The permission matrix: the API endpoints of every app × every persona → the status it answers.

Alice owns Alice Corp, Erin is its admin, Dave its auditor, Bob its viewer; Charlie (owner of
Charlie Corp) is an outsider there, and the anonymous caller has no token.
"""

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from audit.models import AISystem
from core import auditlog
from core.models import AuditLogEntry

PERSONAS = ("alice", "erin", "dave", "bob", "charlie", "anonymous")

# Expected status per persona, in the order of PERSONAS.
LIST = (200, 200, 200, 200, 200, 401)
READ = (200, 200, 200, 200, 404, 401)
ANY_USER_CREATES = (201, 201, 201, 201, 201, 401)
CREATE = (201, 201, 201, 403, 404, 401)
CHANGE = (200, 200, 200, 403, 404, 401)
DOWNLOAD = (200, 200, 200, 403, 404, 401)
MANAGE = (201, 201, 403, 403, 404, 401)
ACCEPT = (202, 202, 202, 403, 404, 401)  # a job is queued
MANAGE_READ = (200, 200, 403, 403, 404, 401)


@dataclass
class Endpoint:
    name: str
    method: str
    url: str
    expected: tuple[int, ...]
    body: Any = None  # a dict, or a function of the Context returning one
    format: str = "json"


@dataclass
class Context:
    """What an endpoint's URL and body may refer to."""

    request: Any
    persona: str
    org: Any
    system: Any
    dataset: Any
    model: Any
    helpers: Any

    def url(self, template: str) -> str:
        return template.format(org=self.org.pk, slug=self.org.slug, system=self.system.pk,
                               dataset=self.dataset.pk, model=self.model.pk)


def _dataset_upload(ctx: Context) -> dict:
    return ctx.helpers.dataset_form(ctx.system, ctx.helpers.csv_bytes(ctx.helpers.make_frame()))


def _model_upload(ctx: Context) -> dict:
    allowed = ctx.persona in ("alice", "erin", "dave")
    # Only uploads that pass the permission check reach the model loader, so only they need a real model.
    data = ctx.request.getfixturevalue("zoo_bundle") if allowed else b"never loaded"
    return {"system": ctx.system.pk, "name": "scorer", "format": "torch-zoo", "dataset_version": ctx.dataset.pk,
            "file": ctx.helpers.upload_file(data, "scorer.zip")}


def _new_member(ctx: Context) -> dict:
    get_user_model().objects.create_user("frank", "frank@example.org", "password")
    return {"user": "frank", "role": "viewer"}


ENDPOINTS = [
    Endpoint("organizations-list", "get", "/api/v1/organizations", LIST),
    Endpoint("organizations-create", "post", "/api/v1/organizations", ANY_USER_CREATES, {"name": "New Corp"}),
    Endpoint("organizations-retrieve", "get", "/api/v1/organizations/{org}", READ),
    Endpoint("organizations-retrieve-by-slug", "get", "/api/v1/organizations/{slug}", READ),
    Endpoint("organizations-members-list", "get", "/api/v1/organizations/{org}/members", READ),
    Endpoint("organizations-members-add", "post", "/api/v1/organizations/{org}/members", MANAGE, _new_member),
    Endpoint("systems-list", "get", "/api/v1/systems", LIST),
    Endpoint("systems-create", "post", "/api/v1/systems", CREATE,
             {"name": "Fraud detection", "organization": "alice-corp"}),
    Endpoint("systems-retrieve", "get", "/api/v1/systems/{system}", READ),
    Endpoint("systems-update", "put", "/api/v1/systems/{system}", CHANGE,
             {"name": "Credit scoring v2", "domain": "annex_iii_5_essential_services"}),
    Endpoint("systems-partial-update", "patch", "/api/v1/systems/{system}", CHANGE, {"description": "Scores loans"}),
    Endpoint("datasets-list", "get", "/api/v1/datasets", LIST),
    Endpoint("datasets-create", "post", "/api/v1/datasets", CREATE, _dataset_upload, "multipart"),
    Endpoint("datasets-retrieve", "get", "/api/v1/datasets/{dataset}", READ),
    Endpoint("datasets-download", "get", "/api/v1/datasets/{dataset}/download", DOWNLOAD),
    Endpoint("models-list", "get", "/api/v1/models", LIST),
    Endpoint("models-create", "post", "/api/v1/models", CREATE, _model_upload, "multipart"),
    Endpoint("models-retrieve", "get", "/api/v1/models/{model}", READ),
    Endpoint("models-download", "get", "/api/v1/models/{model}/download", DOWNLOAD),
    Endpoint("audit-log-list", "get", "/api/v1/audit-log", LIST),
    Endpoint("audit-log-verify", "get", "/api/v1/audit-log/verify", LIST),
    Endpoint("audit-log-checkpoint", "get", "/api/v1/audit-log/checkpoint", LIST),
    # audits
    Endpoint("audits-list", "get", "/api/v1/audits", LIST),
    Endpoint("audits-create", "post", "/api/v1/audits", ACCEPT, lambda ctx: {
        "model_version": ctx.model.pk, "dataset_version": ctx.dataset.pk}),
    # DP training
    Endpoint("dp-trainings-list", "get", "/api/v1/dp-trainings", LIST),
    Endpoint("dp-trainings-create", "post", "/api/v1/dp-trainings", ACCEPT, lambda ctx: {
        "model_version": ctx.model.pk, "dataset_version": ctx.dataset.pk, "epsilon": 2}),
    # watermark
    Endpoint("watermark-policy-read", "get", "/api/v1/watermark/policy?organization={slug}", READ),
    Endpoint("watermark-policy-change", "patch", "/api/v1/watermark/policy?organization={slug}", MANAGE_READ,
             {"label_text": "AI生成"}),
    Endpoint("watermark-records-list", "get", "/api/v1/watermark/records", LIST),
    # compliance
    Endpoint("checklist-eu", "get", "/api/v1/systems/{system}/checklists/eu_ai_act", READ),
    Endpoint("checklist-cn", "get", "/api/v1/systems/{system}/checklists/cn_genai", READ),
    Endpoint("assessments-create", "post", "/api/v1/systems/{system}/assessments", CREATE,
             {"framework": "eu_ai_act"}),
    Endpoint("attestations-list", "get", "/api/v1/attestations", LIST),
    Endpoint("attestations-create", "post", "/api/v1/attestations", CREATE, lambda ctx: {
        "system": ctx.system.pk, "item_id": "EU-ART14-1", "text": "Officers review every refusal"}),
    Endpoint("documents-list", "get", "/api/v1/documents", LIST),
    # schedules and reports
    Endpoint("schedules-list", "get", "/api/v1/schedules", LIST),
    Endpoint("schedules-create", "post", "/api/v1/schedules", MANAGE, lambda ctx: {
        "name": "weekly", "system": ctx.system.pk, "model_version": ctx.model.pk, "dataset_version": ctx.dataset.pk,
        "cron": "0 6 * * 1"}),
    Endpoint("reports-list", "get", "/api/v1/reports", LIST),
]

CASES = [
    pytest.param(endpoint, persona, endpoint.expected[i], id=f"{endpoint.name}-{persona}")
    for endpoint, (i, persona) in itertools.product(ENDPOINTS, enumerate(PERSONAS))
]


@pytest.mark.parametrize(("endpoint", "persona", "expected"), CASES)
def test_it_answers_each_persona_as_the_role_table_says(request, endpoint, persona, expected, client_for, alice_org,
                                                         alice_system, alice_dataset, alice_model, helpers,
                                                         error_of):
    # given
    ctx = Context(request, persona, alice_org, alice_system, alice_dataset, alice_model, helpers)
    body = endpoint.body(ctx) if callable(endpoint.body) else endpoint.body
    client = client_for(persona)

    # when
    response = getattr(client, endpoint.method)(ctx.url(endpoint.url), body, format=endpoint.format)

    # then
    assert response.status_code == expected, response.content[:500]
    if expected >= 400:
        error_of(response)


def test_it_lets_no_denied_write_change_anything(as_bob, as_charlie, alice_system):
    # given
    url = f"/api/v1/systems/{alice_system.pk}"

    # when
    denied = [as_bob.patch(url, {"name": "Bob's"}, format="json"),
              as_charlie.patch(url, {"name": "Charlie's"}, format="json")]

    # then
    assert [r.status_code for r in denied] == [403, 404]
    alice_system.refresh_from_db()
    assert alice_system.name == "Credit scoring"


#
# Lists show only the caller's organisations
#


@pytest.fixture
def both_orgs(alice, alice_org, alice_system, alice_dataset, alice_model, charlie, charlie_org, charlie_system):
    """Objects in both organisations, each list keyed by its URL: (Alice's ids, Charlie's ids)."""
    charlie_entry = auditlog.record("system.create", organization=charlie_org, actor=charlie, obj=charlie_system)
    alice_entries = set(AuditLogEntry.objects.filter(organization=alice_org).values_list("pk", flat=True))
    return {
        "/api/v1/organizations": ({alice_org.pk}, {charlie_org.pk}),
        "/api/v1/systems": ({alice_system.pk}, {charlie_system.pk}),
        "/api/v1/datasets": ({alice_dataset.pk}, set()),
        "/api/v1/models": ({alice_model.pk}, set()),
        "/api/v1/audit-log": (alice_entries, {charlie_entry.pk}),
    }


@pytest.mark.parametrize("url", ["/api/v1/organizations", "/api/v1/systems", "/api/v1/datasets", "/api/v1/models",
                                 "/api/v1/audit-log"])
def test_it_lists_only_the_callers_organisations(url, both_orgs, as_alice, as_charlie):
    # given
    alices, charlies = both_orgs[url]

    # when
    seen_by_alice = {row["id"] for row in as_alice.get(url).json()["results"]}
    seen_by_charlie = {row["id"] for row in as_charlie.get(url).json()["results"]}

    # then
    assert alices and seen_by_alice == alices
    assert seen_by_charlie == charlies


def test_it_filters_lists_by_organization_id_or_slug(as_alice, alice_system, alice_org):
    # given Alice also owns a second organisation with a system of its own
    other = as_alice.post("/api/v1/organizations", {"name": "Alice Labs"}, format="json").json()
    AISystem.objects.create(organization_id=other["id"], name="Lab model")

    # when
    by_id = as_alice.get(f"/api/v1/systems?organization={alice_org.pk}").json()["results"]
    by_slug = as_alice.get("/api/v1/systems?organization=alice-labs").json()["results"]
    everything = as_alice.get("/api/v1/systems").json()["results"]

    # then
    assert [s["name"] for s in by_id] == ["Credit scoring"]
    assert [s["name"] for s in by_slug] == ["Lab model"]
    assert len(everything) == 2


@pytest.mark.parametrize("ref", ["²", "99999999999999999999999", "no-such-org"])
def test_it_answers_an_odd_organization_filter_without_a_500(ref, as_alice, alice_system):
    # when
    systems = as_alice.get("/api/v1/systems", {"organization": ref})
    verify = as_alice.get("/api/v1/audit-log/verify", {"organization": ref})

    # then
    assert systems.status_code == 200 and systems.json()["results"] == []
    assert verify.status_code == 200 and verify.json() == []


@pytest.mark.parametrize("ref", ["²", "99999999999999999999999", "abc"])
def test_it_refuses_a_system_filter_that_is_not_an_id(ref, as_alice, alice_dataset, error_of):
    # when
    response = as_alice.get("/api/v1/datasets", {"system": ref})

    # then
    assert response.status_code == 400
    assert "system" in error_of(response)["fields"]


#
# Dashboard pages
#


@pytest.mark.parametrize("page", ["/", "/systems/{system}/", "/audit-log/"])
def test_it_sends_anonymous_visitors_to_the_login_page(page, client, alice_system):
    # when
    response = client.get(page.format(system=alice_system.pk))

    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize(("persona", "expected"), [("alice", 200), ("bob", 200), ("charlie", 404)])
def test_it_shows_a_system_page_to_members_only(persona, expected, client, personas, alice_system):
    # given
    client.force_login(personas[persona])

    # when
    response = client.get(f"/systems/{alice_system.pk}/")

    # then
    assert response.status_code == expected
    if expected == 200:
        assert b"Credit scoring" in response.content


@pytest.mark.parametrize(("persona", "shows_alices_system"), [("alice", True), ("bob", True), ("charlie", False)])
def test_it_lists_on_the_dashboard_only_the_current_organisations_systems(persona, shows_alices_system, client,
                                                                          personas, alice_system, charlie_system):
    # given
    client.force_login(personas[persona])

    # when
    home = client.get("/")
    log = client.get("/audit-log/")

    # then
    assert home.status_code == 200 and log.status_code == 200
    assert (b"Credit scoring" in home.content) is shows_alices_system
    assert (b"Charlie&#x27;s chatbot" in home.content) is not shows_alices_system
