"""Moderation's list filters (moderation/filtersets.py, core.filters) and upload limits (core.uploads): the same
query parameters as ever, a 400 naming the parameter for a bad id or value, a 400 naming the file when too large."""

import pytest
from django.test import Client

from moderation import decisions, services
from moderation.api.views import _window as rate_window
from moderation.models import Decision
from tests.conftest import upload_file

URL = "/api/v1/moderation/decisions"


@pytest.fixture(autouse=True)
def moderation_settings(settings, tmp_path):
    settings.ASSAY_MODERATION_SPOOL_DIR = str(tmp_path / "spool")
    settings.ASSAY_MODERATION_CACHE_SECONDS = 0
    services._compiled.clear()  # ids repeat between tests
    services._lookups.clear()
    rate_window.local.clear()
    rate_window.shared.clear()
    yield
    services._compiled.clear()


@pytest.fixture
def recorded(as_alice, alice_org):
    """Two decisions of the default policy (one flagged) and one of a second policy, written to the database."""
    other = services.create_policy(alice_org, name="other", config={"action": "block"})
    as_alice.post("/api/v1/moderations", {"input": ["build a bomb", "hello"]}, format="json")
    as_alice.post("/api/v1/moderations", {"input": "hello", "policy": other.pk}, format="json")
    decisions.flush()
    return other


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [d["id"] for d in response.json()["results"]]


def test_it_filters_decisions_by_every_parameter(as_alice, alice_org, recorded):
    # given
    everything = ids(as_alice.get(URL))
    flagged = as_alice.get(f"{URL}?flagged=true").json()["results"]

    # then
    assert len(everything) == 3
    assert len(flagged) == 1 and flagged[0]["outcome"] == "flagged"
    assert len(ids(as_alice.get(f"{URL}?flagged=false"))) == 2
    assert ids(as_alice.get(f"{URL}?outcome=flagged")) == [flagged[0]["id"]]
    assert ids(as_alice.get(f"{URL}?input_sha256={flagged[0]['input_sha256'].upper()}")) == [flagged[0]["id"]]
    assert len(ids(as_alice.get(f"{URL}?policy={recorded.pk}"))) == 1
    assert ids(as_alice.get(f"{URL}?q=A.1.4")) == [flagged[0]["id"]]
    assert ids(as_alice.get(f"{URL}?q=violence")) == [flagged[0]["id"]]
    assert len(ids(as_alice.get(f"{URL}?organization={alice_org.slug}"))) == 3
    assert ids(as_alice.get(f"{URL}?organization=no-such-org")) == []


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", str(2**63)])
def test_it_answers_a_bad_policy_id_with_a_400_naming_it(as_alice, alice_org, error_of, value):
    # when
    response = as_alice.get(f"{URL}?policy={value}")

    # then
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid" and error["fields"] == {"policy": ["Expected an integer id"]}


def test_it_answers_an_unknown_outcome_with_a_400_naming_it(as_alice, alice_org, error_of):
    # when
    response = as_alice.get(f"{URL}?outcome=nonsense")

    # then
    assert response.status_code == 400
    assert error_of(response)["fields"]["outcome"][0].startswith("Expected one of allowed, flagged")


def test_it_ignores_empty_parameters(as_alice, alice_org, recorded):
    response = as_alice.get(f"{URL}?flagged=&outcome=&input_sha256=&policy=&q=&organization=")

    assert len(ids(response)) == 3


def test_the_decisions_page_searches_and_names_a_bad_id(alice, alice_org, recorded):
    # given
    web = Client()
    web.force_login(alice)
    flagged = Decision.objects.get(flagged=True)

    # when
    by_id = web.get(f"/moderation/decisions/?id={flagged.pk}")
    by_hash = web.get(f"/moderation/decisions/?hash={flagged.input_sha256.upper()}&outcome=flagged")
    bad = web.get("/moderation/decisions/?id=not-a-uuid")

    # then
    assert by_id.status_code == 200 and by_id.content.count(b'class="badge fail"') == 1
    assert by_hash.status_code == 200 and by_hash.content.count(b'class="badge fail"') == 1
    assert bad.status_code == 200 and b'id="search-errors"' in bad.content and b"No decisions." in bad.content
    assert b"Expected a decision id" in bad.content


@pytest.mark.parametrize("url, fields", [
    ("/api/v1/moderation/libraries", {"name": "big"}),
    ("/api/v1/moderation/classifiers", {"name": "big"}),
    ("/api/v1/moderation/evaluations", {}),
])
def test_a_file_over_the_limit_is_a_400_naming_it(as_alice, alice_org, error_of, monkeypatch, url, fields):
    # given: the default policy (its demo library read at the usual limit), then a limit of 1 KiB instead of 50 MiB
    services.default_policy(alice_org)
    monkeypatch.setattr(services, "MAX_TEXT_BYTES_FILE", 1024)
    data = b"text,categories\n" + b"hello world,\n" * 200

    # when
    response = as_alice.post(url, {**fields, "file": upload_file(data, "big.csv")}, format="multipart")

    # then
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert "larger than this endpoint accepts" in error["message"] and list(error["fields"]) == ["file"]
