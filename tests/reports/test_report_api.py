"""The schedules and reports API: role table, tenancy, validation, PDF download; the report command."""

import hashlib
import json

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from audit import jobs
from audit.management.commands.train_baseline import train_and_register
from core.models import AuditLogEntry
from reports import services as reports
from reports.models import Report, Schedule


@pytest.fixture
def trained_model(alice_dataset):
    model = train_and_register(alice_dataset, architecture="mlp", args={"hidden": [8]}, epochs=2)
    model.system.current_model = model
    model.system.save()
    return model


@pytest.fixture
def audited(alice, trained_model, alice_dataset):
    run = jobs.start_audit(user=alice, model_version=trained_model, dataset_version=alice_dataset,
                           config={"ig_rows": 20, "sensitivity_rows": 10}, enqueue=False)
    jobs.execute_audit(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    return run


def body(system, dataset, **fields):
    data = {"name": "nightly", "system": system.pk, "dataset_version": dataset.pk, "cron": "0 2 * * *",
            "recipients": ["cco@example.org"], "config": {"ig_rows": 20}}
    data.update(fields)
    return data


@pytest.mark.parametrize("persona, expected", [("alice", 201), ("erin", 201), ("dave", 403), ("bob", 403),
                                               ("charlie", 404)])
def test_it_lets_only_owners_and_admins_create_schedules(client_for, persona, expected, alice_system, alice_dataset,
                                                        trained_model):
    r = client_for(persona).post("/api/v1/schedules", body(alice_system, alice_dataset), format="json")
    assert r.status_code == expected, r.content
    assert Schedule.objects.count() == (1 if expected == 201 else 0)
    assert PeriodicTask.objects.filter(task="assay.reports.fire_schedule").count() == (1 if expected == 201 else 0)


def test_it_lists_schedules_to_members_and_hides_them_from_outsiders(as_alice, as_bob, as_charlie, alice_system,
                                                                      alice_dataset, trained_model):
    created = as_alice.post("/api/v1/schedules", body(alice_system, alice_dataset, webhook_url="https://h.example/x",
                                                      webhook_secret="k" * 20), format="json").json()
    assert "webhook_secret" not in created and created["has_webhook_secret"] is True
    assert created["model_version"] is None and created["periodic_task"] is not None
    assert [s["id"] for s in as_bob.get("/api/v1/schedules").json()["results"]] == [created["id"]]
    assert as_charlie.get("/api/v1/schedules").json()["results"] == []
    assert as_charlie.get(f"/api/v1/schedules/{created['id']}").status_code == 404
    assert as_bob.patch(f"/api/v1/schedules/{created['id']}", {"enabled": False}, format="json").status_code == 403
    assert as_bob.delete(f"/api/v1/schedules/{created['id']}").status_code == 403


def test_it_updates_and_deletes_a_schedule_with_its_beat_entry(as_erin, alice_system, alice_dataset, trained_model):
    sid = as_erin.post("/api/v1/schedules", body(alice_system, alice_dataset), format="json").json()["id"]
    r = as_erin.patch(f"/api/v1/schedules/{sid}", {"interval_seconds": 300, "enabled": False}, format="json")
    assert r.status_code == 200, r.content
    assert (r.json()["cron"], r.json()["interval_seconds"], r.json()["enabled"]) == ("", 300, False)
    task = PeriodicTask.objects.get(pk=r.json()["periodic_task"])
    assert task.interval.every == 300 and task.crontab is None and task.enabled is False

    assert as_erin.delete(f"/api/v1/schedules/{sid}").status_code == 204
    assert not Schedule.objects.exists() and not PeriodicTask.objects.filter(pk=task.pk).exists()
    assert AuditLogEntry.objects.filter(action="schedule.delete", object_id=str(sid)).exists()


@pytest.mark.parametrize("fields, field", [
    ({"cron": "61 * * * *"}, "cron"),
    ({"cron": "* * *"}, "cron"),
    ({"cron": "", "interval_seconds": None}, "cron"),
    ({"interval_seconds": 120}, "cron"),  # both
    ({"cron": "", "interval_seconds": 5}, "interval_seconds"),
    ({"config": {"no_such_key": 1}}, "config"),
    ({"recipients": ["not-an-address"]}, "recipients"),
    ({"webhook_url": "file:///etc/passwd", "webhook_secret": "x" * 20}, "webhook_url"),
    ({"webhook_url": "https://h.example/x"}, "webhook_secret"),
    ({"name": ""}, "name"),
])
def test_it_refuses_a_bad_schedule_and_stores_nothing(as_alice, alice_system, alice_dataset, trained_model,
                                                      fields, field, error_of):
    r = as_alice.post("/api/v1/schedules", body(alice_system, alice_dataset, **fields), format="json")
    assert r.status_code == 400, r.content
    assert field in error_of(r)["fields"]
    assert not Schedule.objects.exists() and not PeriodicTask.objects.filter(task="assay.reports.fire_schedule").exists()


def test_it_refuses_another_organisations_dataset(as_alice, alice_system, trained_model, charlie, charlie_system):
    from audit import services
    from audit.datasets import Schema

    theirs = services.register_dataset(user=charlie, system=charlie_system, name="x", filename="x.csv",
                                       data=b"a,label\n1,good\n2,bad\n3,good\n4,bad\n",
                                       schema=Schema(target="label", positive_label="good"))
    r = as_alice.post("/api/v1/schedules", body(alice_system, theirs), format="json")
    assert r.status_code == 404
    assert not Schedule.objects.exists()


def test_it_serves_reports_and_their_pdf_to_members_only(as_bob, as_charlie, audited, alice_system):
    report = reports.create_report(alice_system, audited)

    listed = as_bob.get(f"/api/v1/reports?system={alice_system.pk}").json()["results"]
    assert [r["id"] for r in listed] == [report.pk] and listed[0]["sha256"] == report.sha256
    detail = as_bob.get(f"/api/v1/reports/{report.pk}").json()
    assert len(detail["facts"]["metrics"]) == 23 and "charts" not in detail["facts"]
    r = as_bob.get(f"/api/v1/reports/{report.pk}/pdf")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert hashlib.sha256(r.content).hexdigest() == report.sha256 and r.content.startswith(b"%PDF")

    assert as_charlie.get(f"/api/v1/reports/{report.pk}").status_code == 404
    assert as_charlie.get(f"/api/v1/reports/{report.pk}/pdf").status_code == 404
    assert as_charlie.get("/api/v1/reports").json()["results"] == []
    assert as_bob.get("/api/v1/reports?system=abc").status_code == 400
    assert as_bob.delete(f"/api/v1/reports/{report.pk}").status_code == 405


def test_it_answers_409_when_a_stored_pdf_was_tampered_with(as_bob, audited, alice_system, artifact_dir):
    from core import artifacts

    report = reports.create_report(alice_system, audited)
    path = artifacts.artifact_path(report.artifact)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    assert as_bob.get(f"/api/v1/reports/{report.pk}/pdf").status_code == 409


def test_the_report_command_renders_the_latest_audit(audited, alice_system, tmp_path, capsys):
    out = tmp_path / "report.pdf"
    call_command("report", "--system", str(alice_system.pk), "--out", str(out))

    report = Report.objects.get()
    assert report.audit_run == audited and report.schedule is None and report.kind == "audit"
    assert hashlib.sha256(out.read_bytes()).hexdigest() == report.sha256
    assert f"Report {report.pk} of audit {audited.pk}" in capsys.readouterr().out


def test_the_report_command_says_why_it_cannot_report(alice_system):
    with pytest.raises(CommandError, match="no succeeded audit"):
        call_command("report", "--system", str(alice_system.pk))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("report", "--system", "999999")


def test_the_dashboard_lists_and_opens_reports(client, alice, bob, charlie, audited, alice_system):
    report = reports.create_report(alice_system, audited)
    client.force_login(bob)
    page = client.get("/reports/")
    assert page.status_code == 200 and f"/reports/{report.pk}/" in page.content.decode()
    opened = client.get(f"/reports/{report.pk}/").content.decode()
    assert "The 23 metrics" in opened and "FAIR-01" in opened and "<svg" in opened
    pdf = client.get(f"/reports/{report.pk}/pdf/")
    assert pdf.status_code == 200 and hashlib.sha256(pdf.content).hexdigest() == report.sha256
    client.force_login(charlie)
    assert client.get(f"/reports/{report.pk}/").status_code == 404


def test_the_schedules_page_creates_a_schedule_for_admins_only(client, alice, bob, alice_system, alice_dataset,
                                                                trained_model):
    form = {"name": "weekly", "system": alice_system.pk, "dataset_version": alice_dataset.pk, "cron": "0 6 * * 1",
            "recipients": "a@example.org, b@example.org", "config": json.dumps({"ig_rows": 20})}
    client.force_login(bob)
    assert client.get("/schedules/").status_code == 200
    assert client.post("/schedules/", form).status_code == 404
    assert not Schedule.objects.exists()
    client.force_login(alice)
    r = client.post("/schedules/", form)
    assert r.status_code == 302
    schedule = Schedule.objects.get()
    assert schedule.recipients == ["a@example.org", "b@example.org"] and schedule.config["ig_rows"] == 20
    assert "weekly" in client.get("/schedules/").content.decode()
