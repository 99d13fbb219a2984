"""The audit log: every write appends to its organisation's keyed hash chain, and tampering shows."""

from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from core import auditlog
from core.models import AuditLogEntry


def _latest(org) -> AuditLogEntry:
    return AuditLogEntry.objects.filter(organization=org).order_by("-seq").first()


def _create_system(ctx):
    return ctx.as_alice.post("/api/v1/systems", {"name": "Fraud detection"}, format="json")


def _update_system(ctx):
    return ctx.as_alice.patch(f"/api/v1/systems/{ctx.alice_system.pk}", {"description": "Scores loans"}, format="json")


def _upload_dataset(ctx):
    form = ctx.helpers.dataset_form(ctx.alice_system, ctx.helpers.csv_bytes(ctx.helpers.make_frame()))
    return ctx.as_alice.post("/api/v1/datasets", form, format="multipart")


def _add_member(ctx):
    get_user_model().objects.create_user("frank", "frank@example.org", "password")
    return ctx.as_alice.post(f"/api/v1/organizations/{ctx.alice_org.pk}/members", {"user": "frank"}, format="json")


def _download_dataset(ctx):
    return ctx.as_alice.get(f"/api/v1/datasets/{ctx.alice_dataset.pk}/download")


def _download_model(ctx):
    return ctx.as_alice.get(f"/api/v1/models/{ctx.alice_model.pk}/download")


WRITES = {
    "system create": (_create_system, "system.create", "AISystem"),
    "system update": (_update_system, "system.update", "AISystem"),
    "dataset upload": (_upload_dataset, "dataset.upload", "DatasetVersion"),
    "member add": (_add_member, "member.add", "Membership"),
    "dataset download": (_download_dataset, "dataset.download", "DatasetVersion"),
    "model download": (_download_model, "model.download", "ModelVersion"),
}


@pytest.mark.parametrize(("write", "action", "object_type"), list(WRITES.values()), ids=list(WRITES))
def test_it_appends_an_entry_for_every_write(write, action, object_type, as_alice, alice_org, alice_system,
                                             alice_dataset, alice_model, helpers):
    # given
    ctx = SimpleNamespace(as_alice=as_alice, alice_org=alice_org, alice_system=alice_system, alice_dataset=alice_dataset,
              alice_model=alice_model, helpers=helpers)
    before = AuditLogEntry.objects.filter(organization=alice_org).count()

    # when
    response = write(ctx)

    # then
    assert response.status_code in (200, 201), response.content
    assert AuditLogEntry.objects.filter(organization=alice_org).count() == before + 1
    entry = _latest(alice_org)
    assert (entry.action, entry.object_type, entry.actor_name) == (action, object_type, "alice")
    if response["Content-Type"] == "application/json":
        assert entry.object_id == str(response.json()["id"])
    assert auditlog.verify(alice_org.pk) == {"ok": True, "entries": before + 1, "checkpoint": None}


def test_it_records_what_an_update_changed(as_alice, alice_system):
    # when
    as_alice.patch(f"/api/v1/systems/{alice_system.pk}", {"description": "Scores loans"}, format="json")

    # then
    entry = _latest(alice_system.organization)
    assert entry.payload == {"changes": {"description": {"before": "", "after": "Scores loans"}}}


def test_it_starts_a_chain_for_a_new_organisation(as_charlie, charlie_org):
    # when
    org = as_charlie.post("/api/v1/organizations", {"name": "Charlie Labs"}, format="json").json()

    # then
    entry = AuditLogEntry.objects.get(organization_id=org["id"])
    assert (entry.seq, entry.action, entry.prev_hash) == (1, "organization.create", auditlog.GENESIS)


@pytest.fixture
def chain(alice, alice_org):
    """Three entries in Alice Corp's chain."""
    return [auditlog.record("test.event", organization=alice_org, actor=alice, payload={"n": n}) for n in range(3)]


def test_it_verifies_an_intact_chain(as_bob, alice_org, chain):
    # when
    response = as_bob.get("/api/v1/audit-log/verify")

    # then
    assert response.status_code == 200
    assert response.json() == [{"organization": alice_org.pk, "slug": "alice-corp", "ok": True, "entries": 3,
                                "checkpoint": None}]


def _verify(client) -> dict:
    (result,) = client.get("/api/v1/audit-log/verify").json()
    return result


def test_it_detects_an_edited_payload(as_alice, chain):
    # given
    AuditLogEntry.objects.filter(pk=chain[1].pk).update(payload={"n": 42})

    # when
    result = _verify(as_alice)

    # then
    assert result["ok"] is False
    broken = result["first_broken"]
    assert (broken["id"], broken["seq"]) == (chain[1].pk, 2)
    assert "edited" in broken["reason"]


def test_it_detects_a_changed_hash(as_alice, chain):
    # given
    AuditLogEntry.objects.filter(pk=chain[0].pk).update(hash="f" * 64)

    # when
    result = _verify(as_alice)

    # then
    assert result["ok"] is False
    assert (result["first_broken"]["id"], result["first_broken"]["seq"]) == (chain[0].pk, 1)


def test_it_detects_a_deleted_entry(as_alice, chain):
    # given the middle entry removed behind the model's back
    rows = AuditLogEntry.objects.filter(pk=chain[1].pk)
    rows._raw_delete(rows.db)

    # when
    result = _verify(as_alice)

    # then
    assert result["ok"] is False
    assert (result["first_broken"]["id"], result["first_broken"]["seq"]) == (chain[2].pk, 3)
    assert "deleted" in result["first_broken"]["reason"]


def test_it_detects_a_deleted_last_entry(as_alice, chain):
    # given
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditLogEntry._meta.db_table} WHERE id = %s", [chain[2].pk])

    # when
    result = _verify(as_alice)

    # then
    assert result["ok"] is False
    assert result["first_broken"]["seq"] == 3
    assert "deleted" in result["first_broken"]["reason"]


def test_it_refuses_to_change_or_delete_an_entry(chain):
    # given
    entry = chain[0]
    entry.payload = {"n": 42}

    # when / then
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    with pytest.raises(ValueError, match="append-only"):
        AuditLogEntry.objects.filter(pk=entry.pk).delete()
    assert auditlog.verify(entry.organization_id) == {"ok": True, "entries": 3, "checkpoint": None}


def test_it_verifies_only_the_callers_chains(as_charlie, charlie, charlie_org, chain):
    # given
    auditlog.record("test.event", organization=charlie_org, actor=charlie)

    # when
    response = as_charlie.get("/api/v1/audit-log/verify")

    # then
    assert response.json() == [{"organization": charlie_org.pk, "slug": "charlie-corp", "ok": True, "entries": 1,
                                "checkpoint": None}]


def test_it_filters_entries_by_object(as_alice, alice_dataset, alice_model):
    # given
    as_alice.get(f"/api/v1/datasets/{alice_dataset.pk}/download")

    # when
    response = as_alice.get("/api/v1/audit-log", {"object_type": "DatasetVersion", "object_id": alice_dataset.pk})
    downloads = as_alice.get("/api/v1/audit-log", {"action": "dataset.download"})

    # then
    assert [e["action"] for e in response.json()["results"]] == ["dataset.download", "dataset.upload"]
    assert [e["object_id"] for e in downloads.json()["results"]] == [str(alice_dataset.pk)]


class TestDiff:
    def test_it_lists_only_the_changed_fields(self):
        assert auditlog.diff({"a": 1, "b": "x", "c": None}, {"a": 2, "b": "x", "c": None}) == {
            "a": {"before": 1, "after": 2}}

    def test_it_counts_a_field_new_in_after_as_changed_from_none(self):
        assert auditlog.diff({}, {"a": 1, "b": None}) == {"a": {"before": None, "after": 1}}

    def test_it_leaves_out_ignored_fields(self):
        assert auditlog.diff({"a": 1, "updated": "t0"}, {"a": 1, "updated": "t1"}, ignore=("updated",)) == {}
