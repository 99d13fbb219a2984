"""Scheduled audits end to end: the beat entry fires, the audit runs, the report is rendered and sent."""

import hashlib
import hmac
import io
import json
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django_celery_beat.models import PeriodicTask
from freezegun import freeze_time
from pypdf import PdfReader

from assay.celery import app
from audit.management.commands.train_baseline import train_and_register
from audit.metrics.catalog import CATALOG
from audit.models import AuditRun
from core import artifacts, outbound
from core.models import AuditLogEntry
from reports import schedules, tasks  # noqa: F401  (tasks registers the tasks beat names)
from reports import services as reports
from reports.models import Report, ReportDelivery, ScheduledRun

CONFIG = {"ig_rows": 20, "sensitivity_rows": 10}
SECRET = "s3cret-webhook-key-0123456789"


@pytest.fixture
def trained_model(alice_dataset):
    model = train_and_register(alice_dataset, architecture="mlp", args={"hidden": [8]}, epochs=2)
    model.system.current_model = model
    model.system.save()
    return model


@pytest.fixture
def schedule(alice, alice_system, alice_dataset, trained_model):
    return schedules.create_schedule(user=alice, values={
        "name": "weekly", "system": alice_system, "dataset_version": alice_dataset, "cron": "0 6 * * 1",
        "config": CONFIG, "recipients": ["cco@example.org"], "webhook_url": "https://hooks.example.org/assay",
        "webhook_secret": SECRET, "enabled": True,
    })


def fire_beat_entry(schedule, capture):
    """Call the beat entry's task the way celery beat would: its registered task with its stored args."""
    entry = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    with capture(execute=True):
        app.tasks[entry.task](*json.loads(entry.args))


def pdf_text(report: Report) -> str:
    reader = PdfReader(io.BytesIO(artifacts.read(report.artifact)))
    return "\n".join(page.extract_text() for page in reader.pages)


def answer(status):
    return outbound.Response(status=status, headers={}, body=b"")


def test_it_keeps_a_beat_entry_in_step_with_the_schedule(alice, schedule):
    entry = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert entry.task == "assay.reports.fire_schedule" and json.loads(entry.args) == [schedule.pk]
    assert (entry.crontab.minute, entry.crontab.hour, entry.crontab.day_of_week) == ("0", "6", "1")
    assert entry.enabled and entry.interval is None

    schedules.update_schedule(schedule, user=alice, changes={"interval_seconds": 120, "enabled": False})
    entry.refresh_from_db()
    assert entry.crontab is None and entry.interval.every == 120 and not entry.enabled
    schedule.refresh_from_db()
    assert schedule.cron == ""

    schedules.delete_schedule(schedule, user=alice)
    assert not PeriodicTask.objects.filter(pk=entry.pk).exists()
    assert AuditLogEntry.objects.filter(action__in=["schedule.create", "schedule.update", "schedule.delete"]).count() == 3


def test_it_fires_one_audit_and_one_report_with_the_pdf_mailed(schedule, django_capture_on_commit_callbacks):
    # given: Monday 06:00 UTC, when the cron entry is due
    with freeze_time("2026-03-02 06:00:00"):
        entry = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
        assert entry.schedule.is_due(entry.schedule.now() - timedelta(minutes=1)).is_due
        # when: beat calls the entry's task
        fire_beat_entry(schedule, django_capture_on_commit_callbacks)

    # then: one audit ran to the end, and one report of it exists
    assert AuditRun.objects.count() == 1
    run = AuditRun.objects.get()
    assert run.status == "succeeded"
    fired = ScheduledRun.objects.get()
    assert fired.audit_run == run and fired.fired_at.isoformat().startswith("2026-03-02T06:00:00")
    report = Report.objects.get()
    assert (report.kind, report.audit_run, report.schedule) == ("audit", run, schedule)
    assert report.alerts == [] and report.previous is None

    # the PDF opens, is the hashed one, and holds the metric table
    pdf = artifacts.read(report.artifact)
    assert hashlib.sha256(pdf).hexdigest() == report.sha256
    text = pdf_text(report)
    assert "The 23 metrics" in text
    for metric_id, spec in CATALOG.items():
        assert metric_id in text, metric_id
        assert spec.name.split()[0] in text
    first = run.result["metrics"]["FAIR-01"]["value"]
    assert f"{first:.4f}" in text
    assert "Credit scoring" in text and "EU AI Act" in text and "chain intact" in text

    # the e-mail (locmem backend in tests) carries that PDF
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["cco@example.org"] and "Credit scoring" in message.subject
    assert message.subject.endswith("first report")
    (name, content, mimetype), = message.attachments
    assert mimetype == "application/pdf" and content == pdf
    assert ReportDelivery.objects.filter(report=report, channel="email", status="sent").count() == 1


def test_it_reports_no_change_when_nothing_moved(schedule, django_capture_on_commit_callbacks):
    fire_beat_entry(schedule, django_capture_on_commit_callbacks)
    fire_beat_entry(schedule, django_capture_on_commit_callbacks)

    second = Report.objects.order_by("created", "id").last()
    assert second.previous == Report.objects.order_by("created", "id").first()
    assert second.changed is False and second.alerts == []
    assert "No change since report" in pdf_text(second)
    assert mail.outbox[-1].subject.endswith("no change")


def test_it_alerts_and_signs_the_webhook_when_a_metric_gets_worse(schedule, django_capture_on_commit_callbacks):
    # given: a first report in which FAIR-01 passed (the audit runs in the model sandbox, a separate
    # process, so the status is moved through the organisation thresholds the audit is handed)
    from audit import jobs
    real_context = jobs.context_for

    def forced(status):
        limit = 1e9 if status == "pass" else -1.0  # FAIR-01 is "lower is better"; a difference is never < 0

        def context_for(run):
            context = real_context(run)
            context.thresholds = {"FAIR-01": {"pass": limit, "warn": limit}}
            return context

        return context_for

    with mock.patch.object(jobs, "context_for", forced("pass")):
        fire_beat_entry(schedule, django_capture_on_commit_callbacks)
    first = Report.objects.get()
    calls = []

    def fake_post(url, body, headers=None, timeout=None, **kwargs):
        calls.append((url, body, headers, timeout))
        return answer(204)

    # when: the next run finds FAIR-01 failing and the webhook endpoint answers 204
    with mock.patch.object(jobs, "context_for", forced("fail")), \
         mock.patch.object(outbound, "post_json", fake_post):
        fire_beat_entry(schedule, django_capture_on_commit_callbacks)

    # then: the report says so at the top, the subject says so, and the webhook got a valid signature
    second = Report.objects.exclude(pk=first.pk).get()
    assert [a["metric"] for a in second.alerts] == ["FAIR-01"]
    assert second.alerts[0]["before"] == "pass" and second.alerts[0]["after"] == "fail"
    assert second.alerts[0]["value_before"] == first.content["metrics"][0]["value"]
    text = pdf_text(second)
    assert text.index("ALERT: 1 metric got worse") < text.index("Summary")
    assert mail.outbox[-1].subject.startswith("[Assay] ALERT: 1 metric(s) got worse (FAIR-01)")

    (url, body, headers, timeout), = calls
    assert url == "https://hooks.example.org/assay" and timeout <= 10
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Assay-Signature"] == expected
    payload = json.loads(body)
    assert payload["event"] == "report.alert" and payload["report"] == second.pk
    assert payload["alerts"] == second.alerts and payload["sha256"] == second.sha256
    assert ReportDelivery.objects.get(report=second, channel="webhook").status == "sent"


def test_it_retries_a_failing_webhook_at_most_three_times(schedule, django_capture_on_commit_callbacks):
    fire_beat_entry(schedule, django_capture_on_commit_callbacks)
    report = Report.objects.get()
    attempts = []

    def refuse(url, body, headers=None, timeout=None, **kwargs):
        attempts.append(url)
        raise outbound.TransportError("connection refused")

    with mock.patch.object(outbound, "post_json", refuse), django_capture_on_commit_callbacks(execute=True):
        assert reports.call_webhook(report.pk) is False

    assert len(attempts) == 3
    delivery = ReportDelivery.objects.get(report=report, channel="webhook")
    assert delivery.status == "failed" and delivery.attempts == 3 and delivery.detail == "connection refused"


def test_it_produces_a_failure_report_when_the_audit_fails(schedule, django_capture_on_commit_callbacks):
    # given: the model's stored file went missing, so the audit cannot load it
    model = schedule.system.current_model
    artifacts.artifact_path(model.artifact).unlink()

    with mock.patch.object(outbound, "post_json", lambda url, body, headers=None, timeout=None, **kw: answer(200)):
        fire_beat_entry(schedule, django_capture_on_commit_callbacks)

    run = AuditRun.objects.get()
    assert run.status == "failed"
    report = Report.objects.get()
    assert report.kind == "failure" and report.audit_run == run
    text = pdf_text(report)
    assert "The audit did not succeed" in text and "missing from the store" in text
    assert mail.outbox[-1].subject.startswith("[Assay] AUDIT FAILED")
    assert mail.outbox[-1].attachments[0][2] == "application/pdf"
    assert ReportDelivery.objects.get(report=report, channel="webhook").status == "sent"


def test_it_produces_a_failure_report_when_no_audit_can_start(alice, alice_system, alice_dataset, schedule,
                                                               django_capture_on_commit_callbacks):
    # given: the system lost its current model after the schedule was made
    alice_system.current_model = None
    alice_system.save()

    fire_beat_entry(schedule, django_capture_on_commit_callbacks)

    assert not AuditRun.objects.exists()
    report = Report.objects.get()
    assert report.kind == "failure" and report.audit_run is None
    assert "no current model" in pdf_text(report)
    assert len(mail.outbox) == 1


def test_it_keeps_reports_immutable(schedule, django_capture_on_commit_callbacks):
    fire_beat_entry(schedule, django_capture_on_commit_callbacks)
    report = Report.objects.get()
    report.title = "edited"
    with pytest.raises(ValueError, match="immutable"):
        report.save()
    with pytest.raises(ValueError, match="immutable"):
        report.delete()
    with pytest.raises(ValueError, match="immutable"):
        Report.objects.all().delete()


def test_a_redelivered_render_task_makes_no_second_report(schedule, django_capture_on_commit_callbacks):
    fire_beat_entry(schedule, django_capture_on_commit_callbacks)
    fired = ScheduledRun.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert reports.report_for_scheduled_run(fired.pk) is None
    assert Report.objects.count() == 1 and len(mail.outbox) == 1


def test_a_firing_reports_an_audit_that_ended_without_its_hook(alice, schedule, django_capture_on_commit_callbacks):
    # given: a scheduled audit the stale-job reaper failed (execute_audit never reached its hook)
    run = AuditRun.objects.create(organization=schedule.organization, model_version=schedule.system.current_model,
                                  dataset_version=schedule.dataset_version, status="failed",
                                  error="Abandoned: its worker stopped responding 3 times; giving up")
    ScheduledRun.objects.create(organization=schedule.organization, schedule=schedule, system=schedule.system,
                                audit_run=run)

    # when: the schedule fires again
    fire_beat_entry(schedule, django_capture_on_commit_callbacks)

    # then: the abandoned run got its failure report too, and the new run its own report
    failure = Report.objects.get(audit_run=run)
    assert failure.kind == "failure" and "worker stopped responding" in failure.content["error"]
    assert Report.objects.count() == 2 and len(mail.outbox) == 2
