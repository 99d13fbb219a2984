"""One error body shape, {"error": {"code", "message", "fields"?}}, whatever went wrong."""

import pytest

from audit.models import AISystem, DatasetVersion


def test_it_names_the_invalid_fields_of_a_400(as_alice, alice_org, error_of):
    # when
    response = as_alice.post("/api/v1/systems", {"domain": "astrology"}, format="json")

    # then
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"name", "domain"}
    assert "name" in error["message"] and "domain" in error["message"]


def test_it_answers_malformed_json_with_a_400(as_alice, alice_org, error_of):
    # when
    response = as_alice.generic("POST", "/api/v1/systems", "{not json", content_type="application/json")

    # then
    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"


@pytest.mark.parametrize("authorization", [None, "Token not-a-real-token"])
def test_it_answers_a_caller_without_a_valid_token_with_a_401(authorization, client, db, error_of):
    # given
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    # when
    response = client.get("/api/v1/systems", **headers)

    # then
    assert response.status_code == 401
    assert error_of(response)["code"] in ("not_authenticated", "authentication_failed")
    assert "fields" not in response.json()["error"]


def test_it_answers_a_viewers_write_with_a_403_naming_the_roles(as_bob, alice_system, error_of):
    # when
    response = as_bob.patch(f"/api/v1/systems/{alice_system.pk}", {"name": "Bob's"}, format="json")

    # then
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "permission_denied"
    assert "owners, admins and auditors" in error["message"]


def test_it_answers_another_organisations_object_with_a_404(as_charlie, alice_system, error_of):
    # when
    response = as_charlie.get(f"/api/v1/systems/{alice_system.pk}")

    # then
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize("url", ["/api/v1/nothing-here", "/api/v1/nothing-here/", "/api/v1/systems/1/nope",
                                 "/api/nope"])
def test_it_answers_an_unknown_api_url_with_a_json_404(url, as_alice, error_of):
    # when
    response = as_alice.get(url)

    # then
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert error_of(response)["code"] == "not_found"


def test_it_answers_an_unsupported_method_with_a_405(as_alice, alice_system, error_of):
    # when
    response = as_alice.delete(f"/api/v1/systems/{alice_system.pk}")

    # then
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert AISystem.objects.filter(pk=alice_system.pk).exists()


def test_it_refuses_a_body_over_the_upload_limit_with_a_413(settings, as_alice, alice_system, helpers, error_of):
    # given
    settings.ASSAY_MAX_UPLOAD_MB = 1
    big = b"x" * (1024 * 1024 + 1)

    # when
    response = as_alice.post("/api/v1/datasets", helpers.dataset_form(alice_system, big), format="multipart")

    # then
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "too_large"
    assert "1 MB" in error["message"]
    assert not DatasetVersion.objects.exists()


@pytest.mark.parametrize("path", ["/api/v1/systems", "/api/v1/systems/"])
def test_it_answers_with_or_without_a_trailing_slash(path, as_alice, alice_org):
    # when
    created = as_alice.post(path, {"name": "Chatbot"}, format="json")
    listed = as_alice.get(path)

    # then
    assert created.status_code == 201
    assert listed.status_code == 200
    assert [s["name"] for s in listed.json()["results"]] == ["Chatbot"]
