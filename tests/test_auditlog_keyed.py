"""The keyed, anchored audit log: HMAC chain, signed checkpoints outside the database, keyed content hashes.

The attacker of these tests can write the database (raw SQL, bypassing the models' append-only
guards); in some tests they also hold the audit-log key. What they cannot write is the checkpoint
folder.
"""

import base64
import csv
import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models

from compliance import services
from compliance.models import Assessment
from core import auditlog
from core.models import AuditLogEntry, ChainHead
from reports import services as reports
from reports.models import Report

OTHER_KEY = "cd" * 32


@pytest.fixture
def chain(alice, alice_org):
    """Five entries in Alice Corp's chain."""
    return [auditlog.record("test.event", organization=alice_org, actor=alice, payload={"n": n}) for n in range(5)]


def _set(model, pk, **fields):
    """Write columns directly, as someone with database access would (no model guards)."""
    models.QuerySet(model).filter(pk=pk).update(**fields)


def _raw_delete_from(org_id, seq: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditLogEntry._meta.db_table} WHERE organization_id = %s AND seq >= %s",
                       [org_id, seq])


def _plain_sha256(entry: AuditLogEntry) -> str:
    """The pre-HMAC digest: what an attacker without the key can compute."""
    body = {"organization": entry.organization_id, "seq": entry.seq, "created": entry.created.isoformat(),
            "actor": entry.actor_name, "action": entry.action, "object_type": entry.object_type,
            "object_id": entry.object_id, "payload": entry.payload, "prev_hash": entry.prev_hash}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(text.encode()).hexdigest()


def _rechain(org_id, digest) -> None:
    """Recompute every hash of the chain with `digest` and move the head, as a forger would."""
    prev = auditlog.GENESIS
    for entry in AuditLogEntry.objects.filter(organization_id=org_id).order_by("seq"):
        entry.prev_hash = prev
        entry.hash = digest(entry)
        _set(AuditLogEntry, entry.pk, prev_hash=entry.prev_hash, hash=entry.hash)
        prev = entry.hash
    last = AuditLogEntry.objects.filter(organization_id=org_id).order_by("-seq").first()
    ChainHead.objects.filter(organization_id=org_id).update(seq=last.seq, hash=last.hash)


def _file_lines(org_id) -> list[dict]:
    return [json.loads(line) for line in auditlog.checkpoint_path(org_id).read_text().splitlines()]


#
# The key
#


def test_the_chain_is_an_hmac_not_a_plain_digest(chain):
    entry = chain[0]
    assert entry.hash != _plain_sha256(entry)
    assert len(entry.hash) == 64 and int(entry.hash, 16) >= 0


def test_an_edit_rehashed_with_plain_sha256_is_detected(alice_org, chain):
    # given: the attacker edits a payload and recomputes every hash and the head with SHA-256
    _set(AuditLogEntry, chain[1].pk, payload={"n": 42})
    _rechain(alice_org.pk, _plain_sha256)

    # when
    result = auditlog.verify(alice_org.pk)

    # then: the very first entry already fails, since none of the hashes is an HMAC under the key
    assert result["ok"] is False
    assert (result["first_broken"]["id"], result["first_broken"]["seq"]) == (chain[0].pk, 1)
    assert "edited" in result["first_broken"]["reason"]


def test_a_different_key_fails_verification(alice_org, chain, settings):
    # given: an intact chain written with the configured key
    assert auditlog.verify(alice_org.pk)["ok"] is True

    # when: the service runs with another key
    settings.ASSAY_AUDIT_LOG_KEY = OTHER_KEY
    result = auditlog.verify(alice_org.pk)

    # then
    assert result["ok"] is False
    assert result["first_broken"]["seq"] == 1 and "key" in result["first_broken"]["reason"]


def test_a_chain_forged_under_another_key_does_not_verify_under_the_real_one(alice_org, chain, settings):
    # given: a forger edits an entry and re-chains it all with a key of their own
    real_key = settings.ASSAY_AUDIT_LOG_KEY
    _set(AuditLogEntry, chain[3].pk, payload={"n": 42})
    settings.ASSAY_AUDIT_LOG_KEY = OTHER_KEY
    _rechain(alice_org.pk, auditlog._digest)
    assert auditlog.verify(alice_org.pk)["ok"] is True  # consistent under the forger's key

    # when: the service verifies with its own key
    settings.ASSAY_AUDIT_LOG_KEY = real_key
    result = auditlog.verify(alice_org.pk)

    # then
    assert result["ok"] is False and result["first_broken"]["seq"] == 1


@pytest.mark.parametrize("text", ["ab" * 32, base64.b64encode(bytes(range(32))).decode()])
def test_it_accepts_a_hex_or_base64_key(text, settings, alice_org, alice):
    settings.ASSAY_AUDIT_LOG_KEY = text
    auditlog.record("test.event", organization=alice_org, actor=alice)
    assert auditlog.verify(alice_org.pk)["ok"] is True


@pytest.mark.parametrize("text", ["", "abc", "ab" * 16, "zz" * 32])
def test_it_refuses_a_malformed_key(text, settings, alice_org):
    settings.ASSAY_AUDIT_LOG_KEY = text
    with pytest.raises(ImproperlyConfigured, match="ASSAY_AUDIT_LOG_KEY"):
        auditlog.record("test.event", organization=alice_org)


def test_a_development_key_is_generated_into_the_data_folder(settings):
    if os.environ.get("ASSAY_AUDIT_LOG_KEY"):
        pytest.skip("the key comes from the environment in this run")
    path = Path(settings.DATA_DIR) / "audit_log_key"
    assert path.exists() and path.stat().st_mode & 0o077 == 0
    assert auditlog.parse_key(path.read_text()) and settings.ASSAY_AUDIT_LOG_KEY == path.read_text().strip()


#
# Checkpoints
#


def test_the_checkpoint_endpoint_returns_a_signature_that_verify_accepts(as_bob, alice_org, chain):
    # when: a viewer asks for the checkpoint of the chains they may see
    response = as_bob.get("/api/v1/audit-log/checkpoint")

    # then: one signed checkpoint of Alice Corp's head
    assert response.status_code == 200, response.content
    (row,) = response.json()
    cp = row["checkpoint"]
    assert (row["organization"], row["slug"]) == (alice_org.pk, "alice-corp")
    assert (cp["organization"], cp["seq"], cp["head"]) == (alice_org.pk, 5, chain[-1].hash)
    assert auditlog.checkpoint_problem(cp, alice_org.pk) is None
    # it is anchored outside the database, and verify says it matched it
    assert _file_lines(alice_org.pk) == [cp]
    result = auditlog.verify(alice_org.pk)
    assert result["ok"] is True and result["entries"] == 5
    assert result["checkpoint"] == {"seq": 5, "head": chain[-1].hash, "created": cp["created"], "source": "file"}
    (verified,) = as_bob.get("/api/v1/audit-log/verify").json()
    assert verified["checkpoint"]["created"] == cp["created"]
    # a checkpoint handed back by the client verifies too
    assert auditlog.verify(alice_org.pk, checkpoints=[cp], use_stored=False)["checkpoint"]["source"] == "given"


def test_an_altered_checkpoint_does_not_verify(as_alice, alice_org, charlie_org, chain):
    cp = as_alice.get("/api/v1/audit-log/checkpoint").json()[0]["checkpoint"]
    assert "bad signature" in auditlog.checkpoint_problem({**cp, "seq": 3}, alice_org.pk)
    assert "bad signature" in auditlog.checkpoint_problem({**cp, "head": "f" * 64}, alice_org.pk)
    assert "bad signature" in auditlog.checkpoint_problem({**cp, "organization": charlie_org.pk})
    assert "another chain" in auditlog.checkpoint_problem(cp, charlie_org.pk)
    # a forged line in the file is skipped, not matched
    with auditlog.checkpoint_path(alice_org.pk).open("a") as handle:
        handle.write(json.dumps({**cp, "seq": 2}) + "\n")
    assert auditlog.verify(alice_org.pk)["checkpoint"]["seq"] == 5


def test_another_organisations_chain_is_never_visible(as_charlie, charlie, charlie_org, alice_org, chain):
    # given
    auditlog.record("test.event", organization=charlie_org, actor=charlie)

    # when
    own = as_charlie.get("/api/v1/audit-log/checkpoint")
    by_id = as_charlie.get("/api/v1/audit-log/checkpoint", {"organization": alice_org.pk})
    by_slug = as_charlie.get("/api/v1/audit-log/checkpoint", {"organization": "alice-corp"})

    # then
    assert [(r["organization"], r["checkpoint"]["seq"]) for r in own.json()] == [(charlie_org.pk, 1)]
    assert by_id.status_code == 200 and by_id.json() == []
    assert by_slug.status_code == 200 and by_slug.json() == []
    assert not auditlog.checkpoint_path(alice_org.pk).exists()
    assert as_charlie.get("/api/v1/audit-log/verify", {"organization": "alice-corp"}).json() == []


def test_the_checkpoint_endpoint_needs_a_login(alice_org, chain):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/audit-log/checkpoint").status_code in (401, 403)


def test_a_truncated_tail_is_detected_against_the_checkpoint(alice_org, chain):
    # given: the head at entry 5 is checkpointed; then entries 4 and 5 are deleted and the head moved back
    auditlog.write_checkpoint(alice_org.pk)
    _raw_delete_from(alice_org.pk, 4)
    ChainHead.objects.filter(organization_id=alice_org.pk).update(seq=3, hash=chain[2].hash)
    assert auditlog.verify(alice_org.pk, use_stored=False)["ok"] is True  # the key alone cannot tell

    # when
    result = auditlog.verify(alice_org.pk)

    # then
    assert result["ok"] is False
    assert result["first_broken"]["seq"] == 4 and "deleted" in result["first_broken"]["reason"]
    assert result["checkpoint"]["seq"] == 5


def test_a_tail_rewritten_with_the_key_is_detected_against_the_checkpoint(alice, alice_org, chain):
    # given: entry 5 is checkpointed; someone holding the key deletes entries 3 to 5, edits entry 2,
    # re-chains with the key and appends new entries up to the old length and beyond
    auditlog.write_checkpoint(alice_org.pk)
    _raw_delete_from(alice_org.pk, 3)
    _set(AuditLogEntry, chain[1].pk, payload={"n": "rewritten"})
    _rechain(alice_org.pk, auditlog._digest)
    for n in range(4):
        auditlog.record("test.event", organization=alice_org, actor=alice, payload={"n": f"new {n}"})
    assert auditlog.verify(alice_org.pk, use_stored=False) == {"ok": True, "entries": 6, "checkpoint": None}

    # when
    result = auditlog.verify(alice_org.pk)

    # then: entry 5 no longer has the checkpointed hash
    assert result["ok"] is False
    broken = result["first_broken"]
    assert broken["seq"] == 5 and "rewritten" in broken["reason"]
    assert broken["id"] == AuditLogEntry.objects.get(organization=alice_org, seq=5).pk
    assert result["checkpoint"]["seq"] == 5


def test_verify_names_the_latest_checkpoint_it_matched(alice, alice_org, chain):
    first = auditlog.write_checkpoint(alice_org.pk)
    assert auditlog.write_checkpoint(alice_org.pk) == first  # the head did not move: no second line
    auditlog.record("test.event", organization=alice_org, actor=alice)
    second = auditlog.write_checkpoint(alice_org.pk)
    auditlog.record("test.event", organization=alice_org, actor=alice)

    result = auditlog.verify(alice_org.pk)

    assert [line["seq"] for line in _file_lines(alice_org.pk)] == [5, 6]
    assert result == {"ok": True, "entries": 7, "checkpoint": {"seq": 6, "head": second["head"],
                                                               "created": second["created"], "source": "file"}}


def test_the_command_checkpoints_every_chain_and_fails_on_a_broken_one(alice_org, charlie_org, chain):
    # when
    out = io.StringIO()
    call_command("audit_checkpoint", stdout=out)

    # then: one line per chain, each anchored in its file and verified
    lines = {line["chain"]: line for line in map(json.loads, out.getvalue().splitlines())}
    assert set(lines) == {"alice-corp", "charlie-corp", "installation"}
    assert lines["alice-corp"]["seq"] == 5 and lines["alice-corp"]["verify"]["ok"] is True
    assert _file_lines(alice_org.pk)[-1]["head"] == chain[-1].hash
    assert auditlog.checkpoint_path(None).exists()

    # and: once the tail is cut, the next run says so and exits non-zero
    _raw_delete_from(alice_org.pk, 5)
    ChainHead.objects.filter(organization_id=alice_org.pk).update(seq=4, hash=chain[3].hash)
    with pytest.raises(CommandError, match="alice-corp"):
        call_command("audit_checkpoint", stdout=io.StringIO())


#
# Reports and assessments
#


@pytest.fixture
def report(alice, alice_system, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return reports.create_report(alice_system, None, user=alice, error="the worker stopped")


def test_a_report_signs_its_json_and_its_pdf_and_embeds_a_checkpoint(as_alice, alice_org, report):
    # then: both keyed hashes are present and check
    pdf = as_alice.get(f"/api/v1/reports/{report.pk}/pdf").content
    assert hashlib.sha256(pdf).hexdigest() == report.sha256
    assert report.pdf_hmac == auditlog.sign_bytes(pdf) != report.sha256
    assert report.content_hmac == auditlog.sign_content(report.content)
    assert reports.verify_report(report) == {"content": True, "pdf": True}
    detail = as_alice.get(f"/api/v1/reports/{report.pk}").json()
    assert (detail["content_hmac"], detail["pdf_hmac"]) == (report.content_hmac, report.pdf_hmac)
    assert detail["integrity"] == {"content": True, "pdf": True}
    # the embedded checkpoint is signed and is the head before the report was recorded
    cp = report.content["audit_log_checkpoint"]
    created = AuditLogEntry.objects.get(action="report.create", object_id=str(report.pk))
    assert auditlog.checkpoint_problem(cp, alice_org.pk) is None and cp["seq"] == created.seq - 1
    assert created.payload["content_hmac"] == report.content_hmac
    # making the report wrote a checkpoint file covering its own entry
    assert _file_lines(alice_org.pk)[-1]["seq"] >= created.seq
    assert auditlog.verify(alice_org.pk, checkpoints=[cp])["ok"] is True


def test_an_edited_report_fails_its_keyed_hashes(as_alice, report):
    # given: the facts are edited and the plain SHA-256 recomputed where it exists
    content = {**report.content, "error": "nothing happened"}
    _set(Report, report.pk, content=content)
    report.refresh_from_db()

    # then
    assert reports.verify_report(report) == {"content": False, "pdf": True}
    assert as_alice.get(f"/api/v1/reports/{report.pk}").json()["integrity"]["content"] is False

    # and: a PDF whose HMAC does not match is not handed out
    _set(Report, report.pk, pdf_hmac="0" * 64)
    assert as_alice.get(f"/api/v1/reports/{report.pk}/pdf").status_code == 409


@pytest.fixture
def assessment(as_alice, alice_system, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        r = as_alice.post(f"/api/v1/systems/{alice_system.pk}/assessments", {"frameworks": ["eu_ai_act"]},
                          format="json")
    assert r.status_code == 201, r.content
    return Assessment.objects.get(pk=r.json()["id"])


def test_an_assessment_signs_its_json_and_embeds_a_checkpoint(as_alice, alice_org, assessment):
    # then: the keyed hash is present and checks, next to the plain SHA-256
    assert assessment.content_hmac == auditlog.sign_content(assessment.content) != assessment.sha256
    assert services.verify_assessment(assessment)
    entry = AuditLogEntry.objects.get(action="compliance.assessment", object_id=str(assessment.pk))
    assert entry.payload["content_hmac"] == assessment.content_hmac
    cp = assessment.content["audit_log_checkpoint"]
    assert auditlog.checkpoint_problem(cp, alice_org.pk) is None and cp["seq"] == entry.seq - 1
    assert _file_lines(alice_org.pk)[-1]["seq"] >= entry.seq
    # every export carries the hashes and the checkpoint
    doc = as_alice.get(f"/api/v1/assessments/{assessment.pk}?format=json").json()
    assert doc["assessment"]["content_hmac"] == assessment.content_hmac and doc["assessment"]["integrity_ok"]
    assert doc["audit_log_checkpoint"] == cp
    raw = as_alice.get(f"/api/v1/assessments/{assessment.pk}?format=csv").content.decode()
    comments = [row[0] for row in csv.reader(io.StringIO(raw)) if row and row[0].startswith("#")]
    assert any(assessment.content_hmac in c for c in comments) and any(cp["signature"] in c for c in comments)
    html = as_alice.get(f"/api/v1/assessments/{assessment.pk}?format=html").content.decode()
    assert assessment.content_hmac in html and cp["signature"] in html


def test_an_edited_assessment_rehashed_with_plain_sha256_fails(assessment):
    # given: the content is edited and its plain SHA-256 recomputed
    content = {**assessment.content, "disclaimer": "Legal advice."}
    _set(Assessment, assessment.pk, content=content, sha256=services.content_hash(content))
    assessment.refresh_from_db()

    # then
    assert assessment.sha256 == services.content_hash(assessment.content)
    assert services.verify_assessment(assessment) is False
    assert services.assessment_document(assessment)["assessment"]["integrity_ok"] is False


def test_a_live_export_carries_a_checkpoint(as_alice, alice_org, alice_system, chain):
    raw = as_alice.get(f"/api/v1/systems/{alice_system.pk}/checklists/eu_ai_act?format=csv").content.decode()
    line = next(x for x in raw.splitlines() if x.startswith("# audit-log checkpoint"))
    assert f"head {chain[-1].hash}" in line


#
# Backup and restore
#


@pytest.mark.django_db(transaction=True)
def test_a_restore_missing_checkpointed_entries_fails_verification(alice, alice_org, tmp_path):
    # given: a backup, then more entries, checkpointed on disk
    auditlog.record("test.event", organization=alice_org, actor=alice)
    archive = tmp_path / "backup.tar.gz"
    call_command("backup", "--out", str(archive))
    manifest_cp = _file_lines(alice_org.pk)[-1]
    auditlog.record("test.event", organization=alice_org, actor=alice)
    auditlog.write_checkpoint(alice_org.pk)

    # when: the older backup is restored
    call_command("flush", "--no-input", verbosity=0)
    with pytest.raises(CommandError, match="verification failed"):
        call_command("restore", str(archive), stdout=io.StringIO())

    # then: the restored chain lacks the checkpointed entry, and says so
    result = auditlog.verify(alice_org.pk)
    assert result["ok"] is False and "deleted" in result["first_broken"]["reason"]
    assert auditlog.verify(alice_org.pk, use_stored=False, checkpoints=[manifest_cp])["ok"] is True


@pytest.mark.django_db(transaction=True)
def test_a_restore_checks_the_backups_own_checkpoints(alice, alice_org, tmp_path, settings):
    import tarfile

    # given: a backup whose manifest checkpoint was altered, restored on a machine without checkpoint files
    auditlog.record("test.event", organization=alice_org, actor=alice)
    archive = tmp_path / "backup.tar.gz"
    call_command("backup", "--out", str(archive))
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    manifest = json.loads(members["manifest.json"])
    manifest["checkpoints"]["alice-corp"]["seq"] += 1
    members["manifest.json"] = json.dumps(manifest).encode()
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    settings.ASSAY_AUDIT_CHECKPOINT_DIR = tmp_path / "fresh-checkpoints"

    # when
    call_command("flush", "--no-input", verbosity=0)
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("restore", str(bad), stdout=out)

    # then
    report = json.loads(out.getvalue())
    assert report["chains"]["alice-corp"]["ok"] is False
    assert "bad signature" in report["chains"]["alice-corp"]["first_broken"]["reason"]
    assert report["chains"]["installation"]["ok"] is True


def test_beat_task_checkpoints_every_chain_outside_the_database(alice_org, alice, settings, tmp_path):
    from core.tasks import checkpoint_audit_log_task

    settings.ASSAY_AUDIT_CHECKPOINT_DIR = tmp_path
    auditlog.record("system.create", organization=alice_org, actor=alice)
    checkpoint_audit_log_task()
    lines = (tmp_path / f"org-{alice_org.pk}.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["seq"] == auditlog.verify(alice_org.pk)["entries"]
    assert auditlog.verify(alice_org.pk)["checkpoint"]["seq"] == json.loads(lines[0])["seq"]
    assert (tmp_path / "installation.jsonl").exists()
