"""Registering from the dashboard: systems with their whole profile, dataset and model uploads, the current model
promoted explicitly, members; refusals next to their fields with what was typed kept."""

import pytest
from django.test import Client

from accounts.models import Membership
from audit import services
from audit.models import AISystem, DatasetVersion, ModelVersion
from core.models import AuditLogEntry


@pytest.fixture
def web(alice):
    client = Client()
    client.force_login(alice)
    return client


def test_it_registers_a_system_with_its_profile(web, alice_org):
    # when
    r = web.post("/systems/new/", {"name": "Hiring screen", "intended_purpose": "Rank CVs",
                                   "domain": "annex_iii_4_employment", "annex_iii_point": "4(a)", "role": "deployer",
                                   "output_modalities": ["text"], "placed_on_eu_market": "on",
                                   "public_sector": "public_body"})

    # then
    system = AISystem.objects.get(name="Hiring screen")
    assert r.status_code == 302 and r["Location"] == f"/systems/{system.pk}/"
    assert system.organization == alice_org and system.domain == "annex_iii_4_employment"
    assert system.output_modalities == ["text"] and system.placed_on_eu_market and system.role == "deployer"
    assert AuditLogEntry.objects.filter(action="system.create", object_id=str(system.pk)).exists()


def test_it_shows_a_refusal_next_to_its_field_and_keeps_what_was_typed(web, alice_system):
    r = web.post("/systems/new/", {"name": alice_system.name, "intended_purpose": "Typed by hand",
                                   "domain": "other", "role": "provider"})
    html = r.content.decode()
    assert r.status_code == 200
    assert 'id="field-name"' in html and "already exists" in html.split('id="field-name"')[1].split("</div>")[0]
    assert "Typed by hand" in html
    assert AISystem.objects.filter(name=alice_system.name).count() == 1


def test_the_form_explains_why_each_profile_field_matters(web):
    html = web.get("/systems/new/").content.decode()
    assert "Art. 50(1)" in html and "fundamental-rights impact" in html


def test_it_edits_a_profile(web, alice_system):
    r = web.post(f"/systems/{alice_system.pk}/edit/", {"name": alice_system.name, "domain": "other",
                                                         "role": "provider", "public_in_mainland_china": "on"})
    assert r.status_code == 302
    alice_system.refresh_from_db()
    assert alice_system.public_in_mainland_china


def test_a_viewer_cannot_register(alice_org, bob):
    client = Client()
    client.force_login(bob)
    assert client.get("/systems/new/").status_code == 403
    assert client.post("/systems/new/", {"name": "x", "domain": "other", "role": "provider"}).status_code == 403
    assert not AISystem.objects.filter(name="x").exists()


def test_it_uploads_a_dataset_and_shows_a_schema_error_inline(web, alice_system, helpers):
    data = helpers.csv_bytes(helpers.make_frame())
    ok = web.post(f"/systems/{alice_system.pk}/datasets/new/", {
        "name": "credit", "file": helpers.upload_file(data, "credit.csv"), "target": "label",
        "positive_label": "good", "sensitive_attributes": "sex", "test_size": "0.3",
        "datasheet_sources": "Bank records"})
    assert ok.status_code == 302
    version = DatasetVersion.objects.get(system=alice_system)
    assert version.sensitive_attributes == ["sex"] and version.datasheet == {"sources": "Bank records"}

    bad = web.post(f"/systems/{alice_system.pk}/datasets/new/", {
        "name": "credit", "file": helpers.upload_file(data, "credit.csv"), "target": "no_such_column",
        "positive_label": "good", "test_size": "0.3"})
    assert bad.status_code == 200 and "no_such_column" in bad.content.decode()
    assert DatasetVersion.objects.filter(system=alice_system).count() == 1


def test_an_uploaded_model_never_becomes_current_until_promoted(web, alice, alice_system, alice_dataset, alice_model,
                                                                zoo_bundle, helpers):
    # given: alice_model is the current model
    services.promote_model(alice_system, user=alice, model_version=alice_model, reason="baseline")
    form = {"name": "scorer", "format": "torch-zoo", "dataset_version": alice_dataset.pk,
            "card_intended_purpose": "Credit scoring"}

    # when: a new version is uploaded
    r = web.post(f"/systems/{alice_system.pk}/models/new/", {**form, "file": helpers.upload_file(zoo_bundle, "m.zip")},
                 follow=True)

    # then: the current model stays, and the page says so
    new = ModelVersion.objects.exclude(pk=alice_model.pk).get()
    assert new.model_card == {"intended_purpose": "Credit scoring"}
    alice_system.refresh_from_db()
    assert alice_system.current_model == alice_model
    assert "The current model is still scorer v1" in r.content.decode()

    # when: it is promoted explicitly, with a reason
    page = web.post(f"/models/{new.pk}/make-current/", {"reason": "audited"}, follow=True).content.decode()

    # then: it is, the page says so, and the audit log has the promotion
    alice_system.refresh_from_db()
    assert alice_system.current_model == new
    assert f"is now scorer v{new.version} (was scorer v1)" in page
    assert AuditLogEntry.objects.filter(action="model.promote", object_id=str(alice_system.pk)).count() == 2


def test_a_bad_model_file_is_refused_next_to_the_file_field(web, alice_system, alice_dataset, helpers):
    r = web.post(f"/systems/{alice_system.pk}/models/new/", {
        "name": "scorer", "format": "onnx", "dataset_version": alice_dataset.pk,
        "file": helpers.upload_file(b"\x80\x04pickle", "m.onnx")})
    assert r.status_code == 200
    assert 'class="card errors"' in r.content.decode() or "field-error" in r.content.decode()
    assert not ModelVersion.objects.exists()


def test_an_admin_adds_a_member_by_email(web, alice_org, charlie):
    r = web.post("/organization/members/", {"user": charlie.email, "role": "auditor"})
    assert r.status_code == 302
    assert Membership.objects.get(user=charlie, organization=alice_org).role == "auditor"
    unknown = web.post("/organization/members/", {"user": "nobody@example.org", "role": "viewer"})
    assert "createuser" in unknown.content.decode()


def test_the_schedule_form_shows_errors_by_field_and_keeps_what_was_typed(web, alice_system, alice_dataset,
                                                                          alice_model):
    # when: a bad cron and bad JSON config are sent
    r = web.post("/schedules/", {"name": "weekly", "system": alice_system.pk,
                                         "dataset_version": alice_dataset.pk, "model_version": alice_model.pk,
                                         "cron": "every monday", "recipients": "risk@example.org",
                                         "config": "{not json"})

    # then: the page says what is wrong next to the fields, no raw JSON, and keeps the input
    html = r.content.decode()
    assert r.status_code == 200
    assert '{"' not in html.split('id="schedule-form"')[1].split("</form>")[0].replace('{"ig_rows": 200}', "")
    assert 'value="weekly"' in html and 'value="risk@example.org"' in html and 'value="every monday"' in html
    assert f'<option value="{alice_model.pk}" selected>' in html  # the model version is a choice, kept
    assert "field-error" in html.split('id="field-cron"')[1].split("</div>")[0] or \
        "field-error" in html.split('id="field-config"')[1].split("</div>")[0]
