"""API, assessments (immutable, hashed, logged), exports, the command line and the dashboard pages."""

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from compliance import services
from compliance.models import Assessment
from core.models import AuditLogEntry

DISCLAIMER_START = "Not legal advice"


@pytest.fixture
def generator(alice_system):
    """Alice's system profiled as the demo poster generator: public in China, on the EU market."""
    alice_system.output_modalities = ["image"]
    alice_system.public_in_mainland_china = True
    alice_system.users_can_download = True
    alice_system.placed_on_eu_market = True
    alice_system.save()
    return alice_system


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_live_checklist_api(as_alice, generator):
    r = as_alice.get(f"/api/v1/systems/{generator.pk}/checklists/cn_genai?date=2026-11-20")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["framework"] == "cn_genai" and body["evaluated_on"] == "2026-11-20"
    assert body["disclaimer"].startswith(DISCLAIMER_START)
    assert {v["file"] for v in body["framework_versions"]} == {"cn_gai_interim.yaml", "cn_deep_synthesis.yaml",
                                                               "cn_labeling.yaml", "cn_filing.yaml"}
    rows = {row["id"]: row for row in body["items"]}
    assert rows["CN-GB45438-IMG-1"]["applies"] and rows["CN-GB45438-IMG-1"]["in_force"]
    assert rows["CN-GB45438-IMG-1"]["verification"] == "verified"
    assert rows["CN-GB45438-IMG-1"]["status"] == "no_evidence"
    filtered = as_alice.get(f"/api/v1/systems/{generator.pk}/checklists/cn_genai?status=not_applicable").json()
    assert filtered["items"] and {row["status"] for row in filtered["items"]} == {"not_applicable"}
    by_instrument = as_alice.get(f"/api/v1/systems/{generator.pk}/checklists/cn_genai?instrument=cn_gb45438").json()
    assert {row["framework"] for row in by_instrument["items"]} == {"cn_gb45438"}


def test_checklist_api_errors(as_alice, as_charlie, generator, error_of):
    assert as_charlie.get(f"/api/v1/systems/{generator.pk}/checklists/eu_ai_act").status_code == 404
    r = as_alice.get(f"/api/v1/systems/{generator.pk}/checklists/us_law")
    assert r.status_code == 400 and "Unknown framework" in error_of(r)["message"]
    assert as_alice.get(f"/api/v1/systems/{generator.pk}/checklists/eu_ai_act?date=2026-13-01").status_code == 400
    assert as_alice.get(f"/api/v1/systems/{generator.pk}/checklists/eu_ai_act?format=xml").status_code == 400
    assert as_alice.get(f"/api/v1/systems/{generator.pk}/checklists/eu_ai_act?status=great").status_code == 400
    assert as_alice.get("/api/v1/systems/99999999999999999999999/checklists/eu_ai_act").status_code == 404


@pytest.mark.parametrize("fmt", ["csv", "html", "pdf"])
def test_live_checklist_exports(as_alice, generator, fmt):
    r = as_alice.get(f"/api/v1/systems/{generator.pk}/checklists/eu_ai_act?format={fmt}")
    assert r.status_code == 200
    text = pdf_text(r.content) if fmt == "pdf" else r.content.decode()
    assert DISCLAIMER_START in text and "eu_ai_act.yaml" in text and "EU-ART50-2" in text


def test_snapshot_is_immutable_hashed_and_logged(as_alice, as_bob, alice, generator):
    assert as_bob.post(f"/api/v1/systems/{generator.pk}/assessments", {}, format="json").status_code == 403
    r = as_alice.post(f"/api/v1/systems/{generator.pk}/assessments", {"frameworks": ["eu_ai_act", "cn_genai"]},
                      format="json")
    assert r.status_code == 201, r.content
    assessment = Assessment.objects.get(pk=r.json()["id"])
    assert assessment.sha256 == services.content_hash(assessment.content) and services.verify_assessment(assessment)
    assert [c["framework"] for c in assessment.content["checklists"]] == ["eu_ai_act", "cn_genai"]
    assert {v["file"] for v in assessment.framework_versions} >= {"eu_ai_act.yaml", "cn_labeling.yaml"}
    entry = AuditLogEntry.objects.get(action="compliance.assessment", object_id=str(assessment.pk))
    assert entry.payload["sha256"] == assessment.sha256
    with pytest.raises(ValueError):
        assessment.save()
    with pytest.raises(ValueError):
        Assessment.objects.filter(pk=assessment.pk).update(sha256="0" * 64)
    with pytest.raises(ValueError):
        assessment.delete()
    # Evidence added later does not change the recorded snapshot.
    services.attest(user=alice, system=generator, item_id="EU-ART5-1", text="screened")
    assessment.refresh_from_db()
    assert services.verify_assessment(assessment)
    eu = assessment.content["checklists"][0]
    assert next(r for r in eu["items"] if r["id"] == "EU-ART5-1")["status"] == "needs_attestation"


def test_assessment_exports_parse(as_alice, as_charlie, generator):
    aid = as_alice.post(f"/api/v1/systems/{generator.pk}/assessments", {}, format="json").json()["id"]
    body = as_alice.get(f"/api/v1/systems/{generator.pk}/assessments/{aid}?format=json").json()
    assert body["assessment"]["id"] == aid and body["assessment"]["integrity_ok"] is True
    assert body["disclaimer"].startswith(DISCLAIMER_START)
    assert as_alice.get(f"/api/v1/assessments/{aid}").json()["assessment"]["sha256"] == body["assessment"]["sha256"]

    raw = as_alice.get(f"/api/v1/assessments/{aid}?format=csv").content.decode()
    comments = [line for line in raw.splitlines() if line.startswith("#")]
    assert comments[0].startswith(f"# {DISCLAIMER_START}") and any("cn_labeling.yaml version" in c for c in comments)
    rows = list(csv.DictReader(line for line in raw.splitlines() if not line.startswith("#")))
    assert len(rows) == 111 and {r["verification"] for r in rows} == {"verified", "secondary", "unverified"}
    img = next(r for r in rows if r["id"] == "CN-GB45438-IMG-1")
    assert img["applies"] == "True" and img["status"] == "no_evidence"

    pdf = as_alice.get(f"/api/v1/assessments/{aid}?format=pdf")
    assert pdf["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.content)
    assert DISCLAIMER_START in text and body["assessment"]["sha256"] in text.replace("\n", "")
    assert "CN-GB45438-IMG-1" in text.replace("\n", "") and "unverified" in text

    html = as_alice.get(f"/api/v1/assessments/{aid}?format=html").content.decode()
    assert 'id="disclaimer"' in html and 'data-item="EU-ART50-2"' in html and "eu_ai_act.yaml" in html
    assert as_charlie.get(f"/api/v1/assessments/{aid}").status_code == 404


def test_diff_between_two_assessments(as_alice, alice, generator):
    first = as_alice.post(f"/api/v1/systems/{generator.pk}/assessments", {"framework": "eu_ai_act"},
                          format="json").json()["id"]
    services.attest(user=alice, system=generator, item_id="EU-ART5-1", text="screened")
    second = as_alice.post(f"/api/v1/systems/{generator.pk}/assessments", {"framework": "eu_ai_act"},
                           format="json").json()["id"]
    diff = as_alice.get(f"/api/v1/assessments/{first}/diff/{second}").json()
    changed = {c["id"]: c for c in diff["items"]}
    assert set(changed) == {"EU-ART5-1"}
    assert changed["EU-ART5-1"]["a"]["status"] == "needs_attestation"
    assert changed["EU-ART5-1"]["b"]["status"] == "met"
    assert diff["framework_versions"]["changed"] is False


def test_attestation_and_document_crud(as_alice, as_bob, as_charlie, generator, helpers):
    form = {"system": generator.pk, "item_id": "EU-ART5-1", "text": "Screened against Art. 5.",
            "file": helpers.upload_file(b"signed questionnaire", "q.txt")}
    assert as_bob.post("/api/v1/attestations", form, format="multipart").status_code == 403
    form["file"] = helpers.upload_file(b"signed questionnaire", "q.txt")
    r = as_alice.post("/api/v1/attestations", form, format="multipart")
    assert r.status_code == 201, r.content
    aid = r.json()["id"]
    assert r.json()["valid"] is True and r.json()["file"]["filename"] == "q.txt"
    assert as_alice.get(f"/api/v1/attestations/{aid}/file").content == b"signed questionnaire"
    assert as_charlie.get(f"/api/v1/attestations/{aid}").status_code == 404
    assert as_alice.post("/api/v1/attestations", {**form, "item_id": "EU-NOPE-1", "file": ""},
                         format="multipart").status_code == 400
    listed = as_alice.get(f"/api/v1/attestations?system={generator.pk}&item_id=EU-ART5-1").json()["results"]
    assert [a["id"] for a in listed] == [aid]
    assert as_alice.delete(f"/api/v1/attestations/{aid}").status_code == 204
    assert as_alice.get(f"/api/v1/attestations/{aid}").json()["valid"] is False

    r = as_alice.post("/api/v1/documents", {"system": generator.pk, "kind": "filing_number",
                                            "title": "Algorithm filing", "reference": "网信算备110000000000001"},
                      format="json")
    assert r.status_code == 201, r.content
    assert as_alice.post("/api/v1/documents", {"system": generator.pk, "kind": "fria", "title": "FRIA"},
                         format="json").status_code == 400  # neither file nor reference
    assert as_alice.post("/api/v1/documents", {"system": generator.pk, "kind": "poem", "title": "x",
                                               "reference": "y"}, format="json").status_code == 400
    assert as_alice.get(f"/api/v1/documents?system={generator.pk}&kind=filing_number").json()["count"] == 1
    assert as_alice.delete(f"/api/v1/documents/{r.json()['id']}").status_code == 204
    assert AuditLogEntry.objects.filter(action__startswith="compliance.").count() >= 4


def test_the_command_line(generator, tmp_path, capsys):
    call_command("checklist", "--system", str(generator.pk), "--framework", "cn_genai")
    live = json.loads(capsys.readouterr().out)
    assert live["assessment"] is None and live["checklists"][0]["framework"] == "cn_genai"
    out = tmp_path / "a.pdf"
    call_command("checklist", "--system", str(generator.pk), "--framework", "eu_ai_act", "--snapshot",
                 "--format", "pdf", "--out", str(out))
    assessment = Assessment.objects.get()
    assert assessment.frameworks == ["eu_ai_act"] and assessment.sha256 in pdf_text(out.read_bytes()).replace("\n", "")


def test_dashboard_pages(alice, bob, generator):
    client = Client()
    client.force_login(alice)
    assert "Compliance" in client.get("/compliance/").content.decode()
    page = client.get(f"/compliance/systems/{generator.pk}/?framework=cn_genai&status=no_evidence").content.decode()
    assert 'data-item="CN-GB45438-IMG-1"' in page and 'data-status="not_applicable"' not in page
    r = client.post(f"/compliance/systems/{generator.pk}/attest/", {"item_id": "EU-ART5-1", "text": "screened"})
    assert r.status_code == 302
    detail = client.get(f"/compliance/systems/{generator.pk}/items/EU-ART5-1/").content.decode()
    assert "screened" in detail and "met" in detail
    r = client.post(f"/compliance/systems/{generator.pk}/snapshot/", {"framework": "eu_ai_act"})
    assessment = Assessment.objects.get()
    assert r.status_code == 302 and r["Location"].endswith(f"/compliance/assessments/{assessment.pk}/")
    assert client.get(f"/compliance/assessments/{assessment.pk}/?format=pdf")["Content-Type"] == "application/pdf"
    assert assessment.sha256 in client.get(f"/compliance/assessments/{assessment.pk}/").content.decode()
    assert client.get(f"/compliance/systems/{generator.pk}/assessments/").status_code == 200
    viewer = Client()
    viewer.force_login(bob)
    assert viewer.post(f"/compliance/systems/{generator.pk}/snapshot/").status_code == 403


def test_a_pdf_export_without_weasyprint_is_a_503_and_other_formats_still_work(as_alice, generator, monkeypatch):
    # given: a server whose WeasyPrint cannot load Pango
    from core.pdf import PDFUnavailable

    def unavailable(html):
        raise PDFUnavailable("PDF rendering needs WeasyPrint and Pango: cannot load library 'pango'")

    monkeypatch.setattr("compliance.pdf.html_to_pdf", unavailable)
    aid = as_alice.post(f"/api/v1/systems/{generator.pk}/assessments", {}, format="json").json()["id"]

    # when / then: the PDF answers 503 in the error shape, the CSV still 200
    response = as_alice.get(f"/api/v1/assessments/{aid}?format=pdf")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "pdf_unavailable"
    assert as_alice.get(f"/api/v1/assessments/{aid}?format=csv").status_code == 200
