"""The remaining 500s and leaks (issue 11, item 7): every payload is built here, every answer is a 4xx
in the one error shape, and nothing changes."""

import csv
import io
import zipfile

import pytest
from django.core import mail
from django.db import DataError
from django.test import RequestFactory
from PIL import Image

from audit.models import AISystem, AuditRun, DatasetVersion
from core import charts
from core.models import Artifact
from reports import schedules
from reports import services as reports
from reports.models import Report, Schedule, ScheduledRun

DEEP = "[" * 100_000 + "]" * 100_000


def _stored_files(artifact_dir) -> list:
    return sorted(p for p in artifact_dir.rglob("*") if p.is_file()) if artifact_dir.exists() else []


#
# Request bodies
#


@pytest.mark.parametrize("body", ['{"name": NaN}', '{"name": "x", "description": Infinity}',
                                  '{"name": -Infinity}', '{"name": "x", "output_modalities": [1e999]}'])
def test_nan_and_infinity_in_json_are_a_400(body, as_alice, alice_org, helpers, alice_system, error_of):
    # when: in a JSON body, and in JSON given as a form field (a dataset's datasheet)
    response = as_alice.generic("POST", "/api/v1/systems", body, content_type="application/json")
    form = helpers.dataset_form(alice_system, helpers.csv_bytes(helpers.make_frame()),
                                datasheet='{"motivation": NaN}')
    in_form = as_alice.post("/api/v1/datasets", form, format="multipart")
    float_field = as_alice.post("/api/v1/datasets", helpers.dataset_form(
        alice_system, helpers.csv_bytes(helpers.make_frame()), test_size="nan"), format="multipart")

    # then
    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"
    assert in_form.status_code == 400 and "datasheet" in error_of(in_form)["fields"]
    assert float_field.status_code == 400 and "test_size" in error_of(float_field)["fields"]
    assert list(AISystem.objects.values_list("name", flat=True)) == [alice_system.name]
    assert not DatasetVersion.objects.exists()


@pytest.mark.parametrize("body", [DEEP, '{"name": "x", "description": ' + "[" * 40 + "]" * 40 + "}", "[1, 2]"])
def test_deeply_nested_json_is_a_400_also_on_the_token_endpoint(body, as_alice, alice, client, error_of):
    # when
    response = as_alice.generic("POST", "/api/v1/systems", body, content_type="application/json")
    token = client.generic("POST", "/api/v1/auth/token", body, content_type="application/json")
    form = as_alice.post("/api/v1/schedules", {"name": "s", "config": DEEP}, format="multipart")

    # then
    for answer in (response, token):
        assert answer.status_code == 400, answer.content[:200]
        assert error_of(answer)["code"] == "parse_error"
    assert form.status_code == 400 and "config" in error_of(form)["fields"]
    assert not AISystem.objects.exists()


def test_too_many_fields_or_files_get_the_json_error_shape(settings, as_alice, alice_system, error_of):
    # given
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 20
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    fields = {f"field{i}": "x" for i in range(50)}
    files = [io.BytesIO(b"x") for _ in range(5)]
    for i, f in enumerate(files):
        f.name = f"f{i}.png"

    # when
    multipart = as_alice.post("/api/v1/datasets", fields, format="multipart")
    urlencoded = as_alice.generic("POST", "/api/v1/systems", "&".join(f"{k}={v}" for k, v in fields.items()),
                                  content_type="application/x-www-form-urlencoded")
    many_files = as_alice.post("/api/v1/watermark/batches", {"files": files}, format="multipart")
    bad_host = as_alice.get("/api/v1/systems", HTTP_HOST="evil.example")  # refused by Django before any view
    forbidden = __import__("core.api", fromlist=["json_403"]).json_403(RequestFactory().get("/api/v1/x"))

    # then
    assert (multipart.status_code, error_of(multipart)["code"]) == (400, "too_many_fields")
    assert (urlencoded.status_code, error_of(urlencoded)["code"]) == (400, "too_many_fields")
    assert (many_files.status_code, error_of(many_files)["code"]) == (400, "too_many_files")
    assert bad_host.status_code == 400 and bad_host["Content-Type"] == "application/json"
    assert error_of(bad_host)["code"] == "bad_request"
    assert forbidden.status_code == 403 and b'"permission_denied"' in forbidden.content
    assert not DatasetVersion.objects.exists() and AISystem.objects.count() == 1


@pytest.mark.parametrize("method,url,body", [
    ("post", "/api/v1/datasets", {"name": ""}),
    ("post", "/api/v1/models", {"format": "pickle"}),
    ("post", "/api/v1/audits", {"config": "{not json"}),
    ("post", "/api/v1/schedules", {"cron": "nonsense"}),
    ("post", "/api/v1/dp-trainings", {"epsilon": "NaN"}),
    ("post", "/api/v1/dp-trainings/sweep", {"epsilons": "x"}),
    ("post", "/api/v1/watermark/stamp", {"file": "not a file"}),
    ("post", "/api/v1/watermark/batches", {}),
    ("post", "/api/v1/attestations", {"item_id": ""}),
    ("post", "/api/v1/documents", {"kind": "?"}),
    ("patch", "/api/v1/systems/{system}", {"domain": "astrology"}),
])
def test_a_viewer_gets_a_403_before_its_body_is_validated(method, url, body, as_bob, alice_system, error_of):
    # when
    response = getattr(as_bob, method)(url.format(system=alice_system.pk), body, format="multipart")

    # then
    assert response.status_code == 403, response.content[:300]
    error = error_of(response)
    assert error["code"] == "permission_denied" and "fields" not in error
    alice_system.refresh_from_db()
    assert alice_system.domain != "astrology"
    assert not Artifact.objects.exists() and not Schedule.objects.exists()


def test_any_signed_in_user_still_creates_an_organisation(as_bob, error_of):
    # when
    response = as_bob.post("/api/v1/organizations", {"name": "Bob's own"}, format="json")

    # then
    assert response.status_code == 201, response.content[:300]


#
# Uploads
#


def test_a_failed_upload_leaves_no_artifact_file(monkeypatch, as_alice, alice_system, helpers, artifact_dir, error_of):
    # given: the database refuses the upload's audit-log entry, after the file was written
    before = _stored_files(artifact_dir)

    def refuse(*args, **kwargs):
        raise DataError("value too long for type character varying(200)")

    monkeypatch.setattr("core.auditlog.record", refuse)

    # when
    response = as_alice.post("/api/v1/datasets", helpers.dataset_form(alice_system, helpers.csv_bytes(helpers.make_frame())),
                             format="multipart")

    # then
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid"
    assert not DatasetVersion.objects.exists() and not Artifact.objects.exists()
    assert _stored_files(artifact_dir) == before


#
# Reports: charts, rendering failures, e-mail subjects
#


def _succeeded_run(model, dataset, groups: dict[str, float], features: dict[str, float]) -> AuditRun:
    result = {"metrics": {
        "FAIR-01": {"status": "warn", "value": 0.1, "details": {"by_attribute": {"sex": {
            "groups": {g: {"selection_rate": v} for g, v in groups.items()}}}}},
        "EXPL-01": {"status": "pass", "value": 1.0, "details": {"importance": features}},
    }}
    return AuditRun.objects.create(organization=model.organization, model_version=model, dataset_version=dataset,
                                   status="succeeded", result=result, dimension_scores={"fairness": 0.5})


def _fired(alice, alice_system, alice_dataset, run) -> ScheduledRun:
    schedule = Schedule.objects.create(organization=alice_system.organization, name="weekly", system=alice_system,
                                       dataset_version=alice_dataset, interval_seconds=3600,
                                       recipients=["cco@example.org"], created_by=alice)
    return ScheduledRun.objects.create(organization=alice_system.organization, schedule=schedule,
                                       system=alice_system, audit_run=run)


MATHTEXT = ["$\\frac{1}{$", "$x^2$", "a$b", "\\$", "$$"]


def test_mathtext_in_group_and_feature_names_is_drawn_as_text(alice, alice_system, alice_dataset, alice_model,
                                                              django_capture_on_commit_callbacks):
    # given
    run = _succeeded_run(alice_model, alice_dataset, {g: 0.1 * i for i, g in enumerate(MATHTEXT)},
                         {f"{g}feature": 1.0 + i for i, g in enumerate(MATHTEXT)})
    fired = _fired(alice, alice_system, alice_dataset, run)

    # when
    svg = charts.bar_chart(MATHTEXT, [1, 2, 3, 4, 5], title="$\\bad{", xlabel="$")
    with django_capture_on_commit_callbacks(execute=True):
        report = reports.report_for_scheduled_run(fired.pk)

    # then
    assert svg.startswith("<svg")
    assert report is not None and report.kind == "audit"
    assert report.content["charts"]["fairness"].startswith("<svg")
    assert report.content["charts"]["attributions"].startswith("<svg")
    assert len(mail.outbox) == 1


def test_a_report_that_cannot_render_fails_with_an_alert_and_is_not_retried(
        monkeypatch, alice, alice_system, alice_dataset, alice_model, django_capture_on_commit_callbacks):
    # given: the charts break (whatever the reason)
    fired = _fired(alice, alice_system, alice_dataset, _succeeded_run(alice_model, alice_dataset, {"F": 0.5}, {}))

    def broken(*args, **kwargs):
        raise ValueError("chart engine exploded")

    monkeypatch.setattr(charts, "bar_chart", broken)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        report = reports.report_for_scheduled_run(fired.pk)

    # then: a failure report, sent, and the firing is done
    assert report.kind == "failure" and report.content["render_failed"]
    assert "chart engine exploded" in report.content["error"]
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["[Assay] REPORT FAILED"]
    assert schedules.sweep_unreported() == 0
    assert reports.report_for_scheduled_run(fired.pk) is None


def test_a_report_whose_failure_report_cannot_render_either_is_not_retried(
        monkeypatch, alice, alice_system, alice_dataset, alice_model, django_capture_on_commit_callbacks):
    # given: no PDF can be made at all
    fired = _fired(alice, alice_system, alice_dataset, _succeeded_run(alice_model, alice_dataset, {"F": 0.5}, {}))

    def no_pdf(html):
        raise OSError("no fonts")

    monkeypatch.setattr(reports, "html_to_pdf", no_pdf)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        report = reports.report_for_scheduled_run(fired.pk)

    # then
    assert report is None and not Report.objects.exists()
    fired.refresh_from_db()
    assert "could not be rendered" in fired.error and "no fonts" in fired.error
    assert schedules.sweep_unreported() == 0


def test_a_newline_in_a_system_name_does_not_stop_report_emails(alice, alice_system, alice_dataset, alice_model,
                                                                django_capture_on_commit_callbacks):
    # given
    AISystem.objects.filter(pk=alice_system.pk).update(name="Credit\nscoring\r\nBcc: attacker@example.org")
    alice_system.refresh_from_db()
    fired = _fired(alice, alice_system, alice_dataset, _succeeded_run(alice_model, alice_dataset, {"F": 0.5}, {}))

    # when
    with django_capture_on_commit_callbacks(execute=True):
        report = reports.report_for_scheduled_run(fired.pk)

    # then
    assert report is not None
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert "\n" not in message.subject and "\r" not in message.subject
    assert "Credit scoring Bcc: attacker@example.org" in message.subject
    assert message.recipients() == ["cco@example.org"]
    assert "Bcc" not in message.message().keys()


#
# Exports
#


def test_csv_exports_neutralise_formulas_and_keep_one_record_per_line(as_alice, alice_system):
    # given: a system name that tries to start a new line, and cells that start like formulas
    from compliance import exports, services

    AISystem.objects.filter(pk=alice_system.pk).update(name="Scorer\n=HYPERLINK(\"http://evil\")\r@x")
    alice_system.refresh_from_db()
    document = services.live_document(services.evaluate(alice_system, "eu_ai_act"))
    hostile = ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", " =x", "two\nlines", "a\r\nb", "c\u2028d"]
    for item, value in zip(document["checklists"][0]["items"], hostile, strict=False):
        item["title"] = value

    # when
    text = exports.to_csv(document).decode()
    api = as_alice.get(f"/api/v1/systems/{alice_system.pk}/checklists/eu_ai_act?format=csv")

    # then: every physical line is a comment or one whole record, and no cell starts a formula
    for lines in (text.split("\n"), api.content.decode().split("\n")):
        comments = [line for line in lines if line.startswith("#")]
        records = list(csv.reader(line for line in lines if line and not line.startswith("#")))
        assert all(len(r) == len(exports.CSV_COLUMNS) for r in records)
        assert any("Scorer =HYPERLINK" in c for c in comments)
        for record in records[1:]:
            assert all(cell[:1] not in ("=", "+", "-", "@", "\t", "\r") for cell in record), record
            assert all(not cell.lstrip(" ").startswith(("=", "+", "-", "@")) for cell in record), record
    titles = [r[exports.CSV_COLUMNS.index("title")] for r in csv.reader(
        line for line in text.split("\n") if line and not line.startswith("#"))][1:len(hostile) + 1]
    assert titles[:7] == ["'=1+2", "'+1", "'-1", "'@SUM(A1)", "'\tx", "' x", "' =x"]
    assert titles[7:] == ["two lines", "a b", "c d"]


def test_batch_outputs_have_safe_entry_names(as_alice, alice_org, django_capture_on_commit_callbacks):
    # given: a zip whose entries climb out of the folder or are absolute
    from watermark import jobs
    from watermark.services import WatermarkError

    buffer = io.BytesIO()
    Image.new("RGB", (256, 200), (200, 30, 30)).save(buffer, "PNG")
    png = buffer.getvalue()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("../../evil.png", "/abs/evil.png", "a/../../b/evil.png", "ok/fine.png"):
            z.writestr(name, png)

    # when
    try:
        batch = jobs.start_batch(user=None, organization=alice_org, files=[("b.zip", archive.getvalue())],
                                 options=jobs.StampOptions(layers={}), enqueue=False)
    except (WatermarkError, ValueError) as exc:  # refused at upload: as good
        assert ".." in str(exc) or "absolute" in str(exc)
        return
    jobs.execute_batch(batch.pk)
    batch.refresh_from_db()

    # then
    names = zipfile.ZipFile(io.BytesIO(jobs.artifacts.read(batch.result_artifact))).namelist()
    assert all(not n.startswith("/") and ".." not in n.split("/") for n in names), names
    assert "ok/fine-stamped.png" in names and len(set(names)) == len(names) == 5
