"""Promoting a model version to its system's current model: an explicit act with a reason, kept as history.

Uploading never changes the current model; POST /api/v1/systems/{id}/promote does (owners and admins), and
GET /api/v1/systems/{id}/promotions lists who made which version current, when and why.
"""

import pytest
from django.test import Client

from audit import services
from audit.models import AISystem, ModelVersion, Promotion
from core import artifacts
from core.models import AuditLogEntry


def _version(system, user, dataset, version: int, name: str = "scorer") -> ModelVersion:
    artifact = artifacts.store(f"model {name} {version}".encode(), organization=system.organization,
                               filename="model.zip")
    return ModelVersion.objects.create(
        organization=system.organization, system=system, name=name, version=version, artifact=artifact,
        created_by=user, format="torch-zoo", classes=["bad", "good"], features=["age", "income", "housing"],
        validated_on=dataset)


@pytest.fixture
def v2(alice, alice_system, alice_dataset, alice_model):
    return _version(alice_system, alice, alice_dataset, 2)


def _promote(client, system, model_version, reason="Audited: every dimension passes"):
    body = {"model_version": getattr(model_version, "pk", model_version)}
    if reason is not None:
        body["reason"] = reason
    return client.post(f"/api/v1/systems/{system.pk}/promote", body, format="json")


def test_an_owner_promotes_a_version_with_a_reason(as_alice, alice_system, alice_model):
    # when
    r = _promote(as_alice, alice_system, alice_model)

    # then
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["model_version"], body["from_model_version"], body["promoted_by"]) == (alice_model.pk, None, "alice")
    assert body["reason"] == "Audited: every dimension passes" and body["model_version_name"] == str(alice_model)
    alice_system.refresh_from_db()
    assert alice_system.current_model == alice_model
    promotion = Promotion.objects.get()
    assert (promotion.system, promotion.to_version, promotion.from_version) == (alice_system, alice_model, None)
    assert promotion.promoted_by.username == "alice"


def test_the_promotion_is_in_the_audit_log(as_alice, alice_system, alice_model, v2):
    _promote(as_alice, alice_system, alice_model)

    # when
    r = _promote(as_alice, alice_system, v2, reason="v2 fixes FAIR-01")

    # then
    assert r.status_code == 201, r.content
    entry = AuditLogEntry.objects.filter(action="model.promote").order_by("-seq").first()
    assert (entry.object_type, entry.object_id, entry.actor_name) == ("AISystem", str(alice_system.pk), "alice")
    assert entry.payload == {"promotion": r.json()["id"], "system": alice_system.pk,
                             "from_model_version": alice_model.pk, "model_version": v2.pk,
                             "reason": "v2 fixes FAIR-01"}
    assert AuditLogEntry.objects.filter(action="model.promote").count() == 2


def test_an_admin_may_promote(as_erin, alice_system, alice_model):
    assert _promote(as_erin, alice_system, alice_model).status_code == 201


@pytest.mark.parametrize("persona", ["bob", "dave"])
def test_viewers_and_auditors_may_not_promote(client_for, persona, alice_system, alice_model):
    # when
    r = _promote(client_for(persona), alice_system, alice_model)

    # then
    assert r.status_code == 403, r.content
    assert "owners and admins" in r.json()["error"]["message"] or persona == "bob"
    alice_system.refresh_from_db()
    assert alice_system.current_model is None and not Promotion.objects.exists()


def test_another_organisations_system_is_not_found(as_charlie, alice_system, alice_model):
    r = _promote(as_charlie, alice_system, alice_model)
    assert r.status_code == 404
    assert as_charlie.get(f"/api/v1/systems/{alice_system.pk}/promotions").status_code == 404
    assert not Promotion.objects.exists()


def test_another_organisations_model_version_is_not_found(as_alice, alice_system, charlie, charlie_system,
                                                          charlie_org, frame):
    from audit.datasets import Schema

    dataset = services.register_dataset(user=charlie, system=charlie_system, name="c", filename="c.csv",
                                        data=services.to_csv_bytes(frame),
                                        schema=Schema(target="label", positive_label="good"))
    theirs = _version(charlie_system, charlie, dataset, 1)

    r = _promote(as_alice, alice_system, theirs)

    assert r.status_code == 404
    alice_system.refresh_from_db()
    assert alice_system.current_model is None


def test_a_version_of_another_system_is_refused_with_a_message(as_alice, alice, alice_org, alice_dataset,
                                                               alice_system, error_of):
    other = AISystem.objects.create(organization=alice_org, name="Other system")
    foreign = _version(other, alice, alice_dataset, 1)

    r = _promote(as_alice, alice_system, foreign)

    assert r.status_code == 400
    error = error_of(r)
    assert "belongs to another system" in error["message"] and "model_version" in error["fields"]
    assert not Promotion.objects.exists()


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_promotion_without_a_reason_is_refused(as_alice, alice_system, alice_model, error_of, reason):
    r = _promote(as_alice, alice_system, alice_model, reason=reason)

    assert r.status_code == 400
    assert "reason" in error_of(r)["fields"]
    alice_system.refresh_from_db()
    assert alice_system.current_model is None and not Promotion.objects.exists()


def test_promoting_the_current_model_again_is_refused(as_alice, alice_system, alice_model, error_of):
    _promote(as_alice, alice_system, alice_model)
    r = _promote(as_alice, alice_system, alice_model)
    assert r.status_code == 400
    assert "already the current model" in error_of(r)["message"]
    assert Promotion.objects.count() == 1


def test_an_unknown_model_version_is_not_found(as_alice, alice_system):
    assert _promote(as_alice, alice_system, 999_999).status_code == 404


def test_the_history_lists_promotions_newest_first(as_alice, as_bob, alice_system, alice_model, v2):
    # given: v1, then v2, then back to v1
    for version, reason in ((alice_model, "first"), (v2, "second"), (alice_model, "rollback: v2 drifted")):
        assert _promote(as_alice, alice_system, version, reason=reason).status_code == 201

    # when: a viewer reads the history
    r = as_bob.get(f"/api/v1/systems/{alice_system.pk}/promotions")

    # then
    assert r.status_code == 200
    rows = r.json()["results"]
    assert [row["reason"] for row in rows] == ["rollback: v2 drifted", "second", "first"]
    assert [(row["from_model_version"], row["model_version"]) for row in rows] == [
        (v2.pk, alice_model.pk), (alice_model.pk, v2.pk), (None, alice_model.pk)]
    assert all(row["promoted_by"] == "alice" and row["system"] == alice_system.pk for row in rows)


def test_patching_the_current_model_points_at_promote(as_alice, alice_system, alice_model, error_of):
    r = as_alice.patch(f"/api/v1/systems/{alice_system.pk}", {"current_model": alice_model.pk}, format="json")
    assert r.status_code == 400
    assert "/promote" in error_of(r)["message"]
    alice_system.refresh_from_db()
    assert alice_system.current_model is None


def test_an_api_upload_leaves_the_current_model(as_alice, alice_system, alice_dataset, alice_model, helpers,
                                                zoo_bundle):
    # given
    services.promote_model(alice_system, user=None, model_version=alice_model, reason="baseline")

    # when
    r = as_alice.post("/api/v1/models", {
        "system": alice_system.pk, "name": "scorer", "format": "torch-zoo", "dataset_version": alice_dataset.pk,
        "file": helpers.upload_file(zoo_bundle, "scorer.zip")}, format="multipart")

    # then
    assert r.status_code == 201, r.content
    alice_system.refresh_from_db()
    assert alice_system.current_model == alice_model


#
# Dashboard
#


@pytest.fixture
def web(alice):
    client = Client()
    client.force_login(alice)
    return client


def test_the_dashboard_promotes_with_a_reason_and_shows_the_history(web, alice_system, alice_model, v2):
    # when
    page = web.post(f"/models/{v2.pk}/make-current/", {"reason": "Audit #3 passes"}, follow=True).content.decode()

    # then
    alice_system.refresh_from_db()
    assert alice_system.current_model == v2
    assert "is now scorer v2" in page
    assert 'id="promotions"' in page and "Audit #3 passes" in page


def test_the_dashboard_refuses_a_promotion_without_a_reason(web, alice_system, alice_model):
    page = web.post(f"/models/{alice_model.pk}/make-current/", {"reason": " "}, follow=True).content.decode()
    alice_system.refresh_from_db()
    assert alice_system.current_model is None
    assert "was not promoted" in page


def test_an_auditor_sees_no_promote_button_and_may_not_post(dave, alice_system, alice_model):
    client = Client()
    client.force_login(dave)
    page = client.get(f"/systems/{alice_system.pk}/").content.decode()
    assert "make-current" not in page
    assert client.post(f"/models/{alice_model.pk}/make-current/", {"reason": "x"}).status_code == 403

