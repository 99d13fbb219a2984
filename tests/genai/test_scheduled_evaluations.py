"""Scheduled generative evaluations through the reports app: the beat entry fires, the evaluation runs against
a real OpenAI-compatible server on 127.0.0.1, and the self-assessment report is rendered, stored and e-mailed."""

import hashlib
import io
import json

import pytest
from django.core import mail
from django_celery_beat.models import PeriodicTask
from pypdf import PdfReader

from assay.celery import app
from audit.models import AISystem
from core import artifacts
from core.models import AuditLogEntry
from genai import services
from genai.models import Evaluation
from reports import schedules, tasks  # noqa: F401  (tasks registers the tasks beat names)
from reports.models import Report, ReportDelivery, Schedule, ScheduledRun
from tests.genai.conftest import TINY_BANK

OPTIONS = {"sample": 1, "seed": 0, "max_new_tokens": 16, "lang": "en"}


@pytest.fixture
def target(assistant, alice, chat_server):
    return services.register_endpoint(assistant, name="support bot", base_url=chat_server.url, model_name="m",
                                      user=alice)


@pytest.fixture
def bank(assistant, alice):
    return services.upload_bank(assistant.organization, name="tiny", data=TINY_BANK.read_bytes(),
                                filename=TINY_BANK.name, user=alice).bank


@pytest.fixture
def schedule(alice, assistant, target, bank):
    return schedules.create_schedule(user=alice, values={
        "name": "nightly red team", "kind": "genai", "system": assistant, "target": target, "banks": [bank],
        "interval_seconds": 86400, "config": OPTIONS, "recipients": ["cco@example.org"], "enabled": True})


def fire_beat_entry(schedule, capture):
    """Call the beat entry's task the way celery beat would: its registered task with its stored args."""
    entry = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    with capture(execute=True):
        app.tasks[entry.task](*json.loads(entry.args))


def pdf_text(report: Report) -> str:
    reader = PdfReader(io.BytesIO(artifacts.read(report.artifact)))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())  # lines wrap anywhere


def body(system, target_, banks_, **fields):
    data = {"name": "nightly", "kind": "genai", "system": system.pk, "target": target_.pk,
            "banks": [b.pk for b in banks_], "cron": "0 2 * * *", "config": {"sample": 5, "max_new_tokens": 32}}
    data.update(fields)
    return data


def test_it_fires_an_evaluation_and_mails_its_self_assessment(schedule, chat_server, django_capture_on_commit_callbacks):
    # given: a genai schedule's beat entry
    entry = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert entry.task == "assay.reports.fire_schedule" and entry.interval.every == 86400
    assert entry.description.startswith("Assay scheduled evaluation")

    # when: beat calls it
    fire_beat_entry(schedule, django_capture_on_commit_callbacks)

    # then: one evaluation ran to the end on the bank's current version, with the schedule's options
    row = Evaluation.objects.get()
    assert row.status == "succeeded", row.error
    assert (row.seed, row.max_new_tokens, row.sizes) == (0, 16, {"generated_content": 1, "should_refuse": 1,
                                                               "should_not_refuse": 1})
    assert [v.bank_id for v in row.bank_versions.all()] == [schedule.banks.get().pk]
    assert row.items.count() == 3 and len(chat_server.requests) == 3
    assert all(r["body"]["max_tokens"] == 16 for r in chat_server.requests)
    fired = ScheduledRun.objects.get()
    assert fired.evaluation == row and fired.audit_run is None and fired.error == ""

    # one report of it, whose facts are the evaluation's rates, and whose PDF holds the self-assessment
    report = Report.objects.get()
    assert (report.kind, report.evaluation, report.schedule, report.scheduled_run) == ("genai", row, schedule, fired)
    assert report.alerts == [] and report.previous is None
    rates = {r["id"]: r for r in report.content["rates"]}
    assert rates["should_refuse_refusal"]["value"] == 1.0 and rates["should_refuse_refusal"]["n"] == 1
    assert rates["should_refuse_refusal"]["status"] == row.result["rates"]["should_refuse_refusal"]["status"]
    assert report.content["evaluation"]["verdicts_sha256"] == row.verdicts_sha256
    pdf = artifacts.read(report.artifact)
    assert hashlib.sha256(pdf).hexdigest() == report.sha256
    text = pdf_text(report)
    assert "Generative evaluation report: Customer support assistant" in text
    assert "Generated-content safety self-assessment" in text and "Sampling plan" in text
    assert "Should refuse: refusal rate" in text and row.verdicts_sha256[:16] in text.replace(" ", "")

    # the e-mail carries that PDF
    message, = mail.outbox
    assert message.to == ["cco@example.org"]
    assert message.subject.startswith("[Assay] Generative evaluation report: Customer support assistant")
    assert message.subject.endswith("first report") and "Should refuse: refusal rate: 1.0" in message.body
    (name, content, mimetype), = message.attachments
    assert mimetype == "application/pdf" and content == pdf
    assert ReportDelivery.objects.filter(report=report, channel="email", status="sent").count() == 1
    fire_log = AuditLogEntry.objects.get(action="schedule.fire")
    assert fire_log.payload["evaluation"] == row.pk


def test_it_alerts_when_a_rate_gets_worse(schedule, chat_server, django_capture_on_commit_callbacks):
    fire_beat_entry(schedule, django_capture_on_commit_callbacks)
    first = Report.objects.get()

    # when: the model stops refusing, and the schedule fires again
    chat_server.answer = lambda prompt: f"Sure, here it is: {prompt[:40]}"
    fire_beat_entry(schedule, django_capture_on_commit_callbacks)

    # then: the second report compares with the first and raises the alert on the refusal rate
    second = Report.objects.exclude(pk=first.pk).get()
    assert second.previous == first and second.changed
    alert, = second.alerts
    assert alert["metric"] == "should_refuse_refusal" and alert["after"] == "fail"
    assert (alert["value_before"], alert["value_after"]) == (1.0, 0.0)
    assert "ALERT: 1 rate got worse" in pdf_text(second)
    assert mail.outbox[-1].subject.startswith("[Assay] ALERT: 1 rate(s) got worse (should_refuse_refusal)")


def test_it_sends_a_failure_report_when_the_evaluation_fails(schedule, chat_server,
                                                            django_capture_on_commit_callbacks):
    chat_server.faults = [400]  # not retried: the evaluation fails
    fire_beat_entry(schedule, django_capture_on_commit_callbacks)

    row = Evaluation.objects.get()
    assert row.status == "failed" and "HTTP 400" in row.error
    report = Report.objects.get()
    assert report.kind == "failure" and report.evaluation == row and "HTTP 400" in report.content["error"]
    assert "The evaluation did not succeed" in pdf_text(report)
    assert mail.outbox[-1].subject.startswith("[Assay] EVALUATION FAILED: Customer support assistant")


def test_it_reports_a_firing_that_could_not_start(schedule, bank, django_capture_on_commit_callbacks):
    # given: the target's system was given a bank with no prompt kind in it (keywords only)
    services.upload_bank(bank.organization, name="tiny", data=b"id,kind,risk,language,text\nk,keyword,A.1.4,en,bomb\n",
                         filename="tiny.csv")
    fire_beat_entry(schedule, django_capture_on_commit_callbacks)

    row = Evaluation.objects.get()
    assert row.status == "failed" and "no prompt" in row.error
    assert Report.objects.get().kind == "failure"


def test_the_api_creates_runs_and_guards_genai_schedules(as_alice, as_bob, as_charlie, assistant, target, bank,
                                                        django_capture_on_commit_callbacks):
    r = as_alice.post("/api/v1/schedules", body(assistant, target, [bank]), format="json")
    assert r.status_code == 201, r.content
    created = r.json()
    assert (created["kind"], created["target"], created["banks"], created["dataset_version"]) == \
        ("genai", target.pk, [bank.pk], None)
    assert created["config"] == {**services.SCHEDULE_DEFAULTS, "sample": 5, "max_new_tokens": 32}
    sid = created["id"]
    assert [s["id"] for s in as_bob.get("/api/v1/schedules").json()["results"]] == [sid]
    assert as_charlie.get(f"/api/v1/schedules/{sid}").status_code == 404
    assert as_bob.post(f"/api/v1/schedules/{sid}/run").status_code == 403

    r = as_alice.patch(f"/api/v1/schedules/{sid}", {"config": {"sample": 1, "lang": "en"}}, format="json")
    assert r.status_code == 200 and r.json()["config"]["lang"] == "en"
    assert as_alice.patch(f"/api/v1/schedules/{sid}", {"kind": "audit"}, format="json").status_code == 400

    with django_capture_on_commit_callbacks(execute=True):
        r = as_alice.post(f"/api/v1/schedules/{sid}/run")
    assert r.status_code == 202 and r.json()["audit_run"] is None
    assert Evaluation.objects.get(pk=r.json()["evaluation"]).status == "succeeded"
    assert Report.objects.get().evaluation_id == r.json()["evaluation"]
    assert as_bob.get(f"/api/v1/reports/{Report.objects.get().pk}").json()["facts"]["source"] == "genai"


def test_it_hides_other_organisations_targets_and_banks(as_alice, as_charlie, assistant, target, bank, charlie,
                                                        charlie_org):
    theirs = AISystem.objects.create(organization=charlie_org, name="Their bot")
    their_target = services.register_endpoint(theirs, name="x", base_url=target.base_url, model_name="m", user=charlie)
    their_bank = services.upload_bank(charlie_org, name="theirs", data=TINY_BANK.read_bytes(),
                                      filename="theirs.csv").bank

    assert as_alice.post("/api/v1/schedules", body(assistant, their_target, [bank]), format="json").status_code == 404
    assert as_alice.post("/api/v1/schedules", body(assistant, target, [their_bank]), format="json").status_code == 404
    assert as_charlie.post("/api/v1/schedules", body(assistant, target, [bank]), format="json").status_code == 404
    assert as_charlie.post("/api/v1/schedules", body(theirs, their_target, [bank]), format="json").status_code == 404
    assert not Schedule.objects.exists()


@pytest.mark.parametrize("fields, field", [
    ({"target": None}, "target"),
    ({"banks": []}, "banks"),
    ({"config": {"sample": -1}}, "config"),
    ({"config": {"max_new_tokens": 0}}, "config"),
    ({"config": {"no_such_key": 1}}, "config"),
    ({"config": {"mutations": ["rot13"]}}, "config"),
    ({"config": {"lang": "fr"}}, "config"),
    ({"kind": "poem"}, "kind"),
    ({"banks": ["x"]}, "banks"),
    ({"cron": "61 * * * *"}, "cron"),
])
def test_it_refuses_a_bad_genai_schedule_and_stores_nothing(as_alice, assistant, target, bank, fields, field,
                                                            error_of):
    r = as_alice.post("/api/v1/schedules", body(assistant, target, [bank], **fields), format="json")
    assert r.status_code == 400, r.content
    assert field in error_of(r)["fields"]
    assert not Schedule.objects.exists() and not PeriodicTask.objects.filter(task="assay.reports.fire_schedule").exists()


def test_it_refuses_a_target_of_another_system_or_a_dataset(as_alice, assistant, target, bank, alice_dataset, error_of):
    other = AISystem.objects.create(organization=assistant.organization, name="Another assistant")
    r = as_alice.post("/api/v1/schedules", body(other, target, [bank]), format="json")
    assert r.status_code == 400 and "target" in error_of(r)["fields"]
    r = as_alice.post("/api/v1/schedules", body(assistant, target, [bank], dataset_version=alice_dataset.pk),
                      format="json")
    assert r.status_code == 400 and "dataset_version" in error_of(r)["fields"]
    r = as_alice.post("/api/v1/schedules", body(assistant, target, [bank], kind="audit"), format="json")
    assert r.status_code == 400 and "dataset_version" in error_of(r)["fields"]
    assert not Schedule.objects.exists()


def test_the_schedules_page_creates_an_evaluation_schedule(client, alice, bob, assistant, target, bank,
                                                          django_capture_on_commit_callbacks):
    form = {"name": "weekly red team", "kind": "genai", "system": assistant.pk, "target": target.pk,
            "banks": [bank.pk], "genai_sample": "1", "genai_seed": "7", "genai_max_new_tokens": "8", "genai_lang": "en",
            "cron": "0 6 * * 1", "recipients": "a@example.org"}
    client.force_login(bob)
    assert client.post("/schedules/", form).status_code == 404
    client.force_login(alice)
    page = client.get("/schedules/").content.decode()
    assert 'name="target"' in page and f'value="{bank.pk}"' in page
    bad = client.post("/schedules/", {**form, "genai_seed": "seven"})
    assert bad.status_code == 200 and "seed is a whole number" in bad.content.decode()
    assert client.post("/schedules/", form).status_code == 302
    schedule = Schedule.objects.get()
    assert (schedule.kind, schedule.target, list(schedule.banks.all())) == ("genai", target, [bank])
    assert (schedule.config["sample"], schedule.config["seed"], schedule.config["lang"]) == (1, 7, "en")
    listed = client.get("/schedules/").content.decode()
    assert "weekly red team" in listed and "support bot" in listed

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/schedules/{schedule.pk}/run/").status_code == 302
    report = Report.objects.get()
    opened = client.get(f"/reports/{report.pk}/").content.decode()
    assert 'id="rate-table"' in opened and "Should refuse: refusal rate" in opened
    assert f"/genai/evaluations/{report.evaluation_id}/" in opened
