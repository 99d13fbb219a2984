"""Evidence that proves the obligation (issue 14): output samples read by OCR, the system's own event log,
approved documents with their sections, attestations pinned to the item's text, generative items."""

import datetime as dt
import io
import json
import shutil

import numpy as np
import pytest
from django.test import override_settings
from PIL import Image

from compliance import services
from compliance.models import EvidenceDocument
from core.errors import AssayError
from core.models import AuditLogEntry
from watermark import robustness
from watermark import services as wm_services

ON = dt.date(2028, 1, 15)
LABEL_ITEMS_CN = ("CN-LBL-ART4-1", "CN-GB45438-IMG-1", "CN-DS-ART17-1")


def item(checklist: dict, item_id: str) -> dict:
    return next(row for row in checklist["items"] if row["id"] == item_id)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def generator(alice_system):
    alice_system.output_modalities = ["image"]
    alice_system.public_in_mainland_china = True
    alice_system.users_can_download = True
    alice_system.placed_on_eu_market = True
    alice_system.save()
    return alice_system


@pytest.fixture
def stamped(alice, generator):
    """Return a PNG the system stamped with every layer (label "AI生成" bottom-right)."""
    picture = robustness.synthetic_image(3, (320, 320), "scene")
    data = png(Image.fromarray(picture))
    result, record = wm_services.stamp(data, organization=generator.organization, user=alice,
                                       options=wm_services.StampOptions(system=generator))
    return result.data


def cropped(data: bytes) -> bytes:
    """The stamped image with its bottom-right label cut off (top-left 75 %)."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = image.size
    return png(image.crop((0, 0, int(w * 0.75), int(h * 0.75))))


def cn_statuses(system) -> dict[str, str]:
    checklist = services.evaluate(system, "cn_genai")
    return {i: item(checklist, i)["status"] for i in LABEL_ITEMS_CN}


#
# Output samples and the explicit label in the pixels
#


def test_ocr_reads_the_stamped_label_and_a_cropped_one_is_gone(alice, generator, stamped):
    from compliance import samples

    good, _ = samples.verify_sample(stamped, generator.organization)
    explicit = good["layers"]["explicit"]
    assert explicit["ok"], explicit
    ocr = good["explicit"]["ocr"]
    assert "生成" in ocr["text"] and ocr["position"] == "bottom-right" and ocr["height_ratio"] >= 0.05
    assert good["layers"]["metadata"]["ok"] and good["layers"]["invisible"]["ok"]
    assert set(good["layers"]["invisible"]["attacks"]) == set(robustness.ATTACKS)

    bad, _ = samples.verify_sample(cropped(stamped), generator.organization)
    assert not bad["layers"]["explicit"]["ok"]
    assert "no label" in bad["layers"]["explicit"]["note"]
    if bad["explicit"].get("recorded"):  # the record was found through the invisible watermark
        assert "not in the pixels" in bad["explicit"]["note"]


def test_the_cropped_label_turns_the_explicit_items_to_not_met(alice, generator, stamped):
    from compliance import samples

    samples.add_sample(user=alice, system=generator, data=cropped(stamped), filename="cropped.png")
    statuses = cn_statuses(generator)
    assert statuses == {i: "not_met" for i in LABEL_ITEMS_CN}, statuses
    row = item(services.evaluate(generator, "cn_genai"), "CN-GB45438-IMG-1")
    assert row["evidence"][-1]["kind"] == "output_sample" and row["evidence"][-1]["thumbnail"].startswith("data:image/jpeg")


def test_samples_drive_the_label_items_and_verifying_an_image_does_not(alice, as_alice, generator, stamped):
    from compliance import samples

    assert set(cn_statuses(generator).values()) == {"no_evidence"}
    good = samples.add_sample(user=alice, system=generator, data=stamped, filename="poster-1.png")
    assert set(cn_statuses(generator).values()) == {"met"}
    bad = samples.add_sample(user=alice, system=generator, data=cropped(stamped), filename="poster-2.png")
    assert set(cn_statuses(generator).values()) == {"partially_met"}
    reason = item(services.evaluate(generator, "cn_genai"), "CN-GB45438-IMG-1")["status_reason"]
    assert "explicit 1/2" in reason
    samples.remove_sample(user=alice, sample=bad)
    assert set(cn_statuses(generator).values()) == {"met"}
    # verifying an arbitrary image (a cropped screenshot) on the verify API changes no evidence
    response = as_alice.post("/api/v1/watermark/verify", {"file": io.BytesIO(cropped(stamped))}, format="multipart")
    assert response.status_code in (200, 202), response.content[:200]
    wm_services.verify(cropped(stamped), organizations=[generator.organization], user=alice)
    assert set(cn_statuses(generator).values()) == {"met"}
    samples.remove_sample(user=alice, sample=good)
    assert set(cn_statuses(generator).values()) == {"no_evidence"}


def test_the_samples_api_and_command(as_alice, as_bob, generator, stamped, tmp_path):
    from django.core.management import call_command

    url = f"/api/v1/systems/{generator.pk}/evidence-samples"
    assert as_bob.post(url, {"file": io.BytesIO(stamped)}, format="multipart").status_code == 403
    response = as_alice.post(url, {"file": io.BytesIO(stamped)}, format="multipart")
    assert response.status_code == 201, response.content[:300]
    body = response.json()
    assert body["layers"]["explicit"]["ok"] and body["report"]["layers"]["invisible"]["attacks"]
    assert len(as_alice.get(url).json()) == 1
    assert as_alice.delete(f"{url}/{body['id']}").status_code == 204
    assert as_alice.get(url).json() == []
    path = tmp_path / "out.png"
    path.write_bytes(stamped)
    out = io.StringIO()
    call_command("evidence_sample", "--system", str(generator.pk), str(path), stdout=out)
    assert "explicit ok" in out.getvalue()
    assert AuditLogEntry.objects.filter(action="compliance.sample_add").count() == 2


#
# The system's own event log
#


def events(start: dt.datetime, days: int, every_hours: int = 12, **fields) -> str:
    lines = []
    for n in range(days * 24 // every_hours):
        when = start + dt.timedelta(hours=n * every_hours)
        lines.append(json.dumps({"timestamp": when.isoformat(), "type": "decision", "input_id": f"req-{n}",
                                 **fields}))
    return "\n".join(lines)


@pytest.fixture
def credit(alice_system):
    alice_system.domain = "annex_iii_5_essential_services"
    alice_system.annex_iii_point = "5(b)"
    alice_system.output_modalities = ["none"]
    alice_system.placed_on_eu_market = True
    alice_system.save()
    return alice_system


def post_events(client, system, text: str):
    return client.post(f"/api/v1/systems/{system.pk}/events", data=text.encode(), content_type="application/x-ndjson")


def log_items(system) -> dict[str, dict]:
    checklist = services.evaluate(system, "eu_ai_act", ON)
    return {i: item(checklist, i) for i in ("EU-ART12-1", "EU-ART19-1")}


def test_three_months_of_events_fail_the_retention_check(as_alice, credit):
    start = dt.datetime.combine(ON, dt.time(8), tzinfo=dt.UTC) - dt.timedelta(days=90)
    response = post_events(as_alice, credit, events(start, 91) + "\nnot json\n{\"type\": \"no time\"}")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["accepted"] == 182 and body["rejected"] == 2
    assert {e["line"] for e in body["errors"]} == {183, 184}
    for item_id, row in log_items(credit).items():
        assert row["status"] == "not_met" and "retention" in row["status_reason"], (item_id, row["status_reason"])
        assert row["evidence"][0]["kind"] == "system_event_log" and row["evidence"][0]["events"] == 182


def test_seven_months_of_complete_events_are_met_and_gaps_are_not(as_alice, credit):
    start = dt.datetime.combine(ON, dt.time(8), tzinfo=dt.UTC) - dt.timedelta(days=210)
    assert post_events(as_alice, credit, events(start, 211)).status_code == 201
    rows = log_items(credit)
    assert {r["status"] for r in rows.values()} == {"met"}, rows["EU-ART12-1"]["status_reason"]
    # a log export (CSV) with a ten-day hole, and events without an input identifier
    hole_start = start - dt.timedelta(days=20)
    csv_text = "timestamp,type\n" + "\n".join(
        f"{(hole_start + dt.timedelta(days=d)).isoformat()},decision" for d in (0, 1, 2))
    response = as_alice.post(f"/api/v1/systems/{credit.pk}/event-logs",
                             {"file": io.BytesIO(csv_text.encode())}, format="multipart")
    assert response.status_code == 201 and response.json()["accepted"] == 3, response.content
    row = log_items(credit)["EU-ART12-1"]
    assert row["status"] == "partially_met" and "gap" in row["status_reason"] and "input_id" in row["status_reason"]


def test_the_log_check_reads_no_event_after_the_evaluation_date(as_alice, credit):
    later = dt.datetime.combine(ON + dt.timedelta(days=5), dt.time(8), tzinfo=dt.UTC)
    assert post_events(as_alice, credit, events(later, 2)).status_code == 201
    assert log_items(credit)["EU-ART12-1"]["status"] == "no_evidence"


#
# Documents
#


ANNEX_IV = b"""Technical documentation (Annex IV)
1. General description: intended purpose, provider, versions.
2. Development process and design specifications; system architecture.
3. Monitoring, functioning and control; human oversight measures.
4. Performance metrics and their appropriateness.
5. Risk management system (Art. 9).
6. Changes made over the lifecycle.
7. Harmonised standards applied.
8. Copy of the EU declaration of conformity.
9. Post-market monitoring plan.
"""


def test_a_placeholder_document_is_no_evidence_until_another_user_approves(alice, erin, credit):
    doc = services.add_document(user=alice, system=credit, kind="technical_documentation", title="Annex IV",
                                file_bytes=b"Annex IV technical documentation: TODO", filename="annex-iv.txt")
    assert len(b"Annex IV technical documentation: TODO") < 45
    row = item(services.evaluate(credit, "eu_ai_act"), "EU-ART11-1")
    assert row["status"] == "no_evidence" and "awaiting review" in row["status_reason"]
    with pytest.raises(AssayError, match="other than its uploader"):
        services.review_document(user=alice, document=doc, decision="approved")
    services.review_document(user=erin, document=doc, decision="approved", note="placeholder, sections to follow")
    row = item(services.evaluate(credit, "eu_ai_act"), "EU-ART11-1")
    assert row["status"] == "partially_met" and "sections missing" in row["status_reason"]
    assert "9. post-market monitoring plan" in row["status_reason"]
    entry = AuditLogEntry.objects.filter(action="compliance.document_review").get()
    assert entry.actor_name == "erin" and entry.payload["reviewer"] == "erin" and entry.payload["decision"] == "approved"
    full = services.add_document(user=alice, system=credit, kind="technical_documentation", title="Annex IV v2",
                                 file_bytes=ANNEX_IV, filename="annex-iv.md")
    assert full.section_check["complete"]
    assert item(services.evaluate(credit, "eu_ai_act"), "EU-ART11-1")["status"] == "partially_met"  # v2 unreviewed
    services.review_document(user=erin, document=full, decision="approved")
    row = item(services.evaluate(credit, "eu_ai_act"), "EU-ART11-1")
    assert row["status"] == "met" and "approved by erin" in row["status_reason"]
    assert row["evidence"][0]["reviewed_by"] == "erin"


def test_the_review_api(as_alice, alice, erin, credit):
    from tests.conftest import api_client

    doc = services.add_document(user=alice, system=credit, kind="risk_file", title="Risk register",
                                file_bytes=b"id,risk\n1,bias\n", filename="register.csv")
    assert doc.section_check["missing"]
    url = f"/api/v1/documents/{doc.pk}/review"
    assert as_alice.post(url, {"decision": "approved"}, format="json").status_code == 400
    response = api_client(erin).post(url, {"decision": "approved"}, format="json")
    assert response.status_code == 200 and response.json()["reviewed_by"] == "erin"
    assert EvidenceDocument.objects.get(pk=doc.pk).review == "approved"


#
# Attestations pinned to the item's text; generative items
#


@pytest.fixture
def changed_frameworks(tmp_path):
    from compliance.registry import DEFAULT_DIR

    target = tmp_path / "frameworks"
    shutil.copytree(DEFAULT_DIR, target)
    path = target / "eu_ai_act.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Screen the system against the original prohibited practices",
                                 "Screen the system, and its intended uses, against the original prohibited practices"),
                    encoding="utf-8")
    yield target
    services.load_registry()


def test_an_attestation_of_an_item_whose_text_changed_asks_for_renewal(alice, credit, changed_frameworks):
    services.attest(user=alice, system=credit, item_id="EU-ART5-1", text="Screened (a)-(h): none applies.")
    assert item(services.evaluate(credit, "eu_ai_act"), "EU-ART5-1")["status"] == "met"
    with override_settings(ASSAY_COMPLIANCE_FRAMEWORKS_DIR=str(changed_frameworks)):
        services.load_registry()
        row = item(services.evaluate(credit, "eu_ai_act"), "EU-ART5-1")
        assert row["status"] == "needs_attestation" and "renew" in row["status_reason"]
        assert row["evidence"][0]["renewal_needed"] is True
        assert item(services.evaluate(credit, "eu_ai_act"), "EU-ART4-1")["status"] != "met"  # never attested
        services.attest(user=alice, system=credit, item_id="EU-ART5-1", text="Screened again.")
        assert item(services.evaluate(credit, "eu_ai_act"), "EU-ART5-1")["status"] == "met"


def test_generative_items_wait_for_a_generative_evaluation(generator):
    generator.general_purpose = True
    generator.systemic_risk = True
    generator.save()
    cn, eu = services.evaluate(generator, "cn_genai"), services.evaluate(generator, "eu_ai_act")
    for row in [item(cn, i) for i in ("CN-GAI-ART4-1", "CN-GAI-ART4-2", "CN-GAI-ART4-5")] + [
            item(eu, i) for i in ("EU-ART55-1A", "EU-ART5-2")]:
        assert row["status"] == "no_evidence", row["id"]
        assert row["status_reason"].startswith("no evidence yet: a generative safety evaluation"), row["id"]
        assert row["metrics"] == [] and row["evidence_type"] == "generative_evaluation"


def test_an_image_with_text_in_the_middle_is_not_a_label():
    from watermark import ocr

    canvas = Image.fromarray(np.full((400, 400, 3), 235, dtype=np.uint8))
    from watermark import explicit

    labelled, facts = explicit.draw(canvas, "AI生成", "bottom-right")
    moved = Image.new("RGB", (400, 400), (235, 235, 235))
    moved.paste(labelled.crop(facts.box), (150, 180))
    seen = ocr.read_label(moved)
    assert seen["found"] and not seen["ok"] and "not at an edge" in seen["note"]


def test_the_demo_poster_generator_rests_on_output_samples_with_the_ocr_result(alice, generator):
    from compliance.demo import load_samples

    added = load_samples(generator, alice)
    assert len(added) == 2 and load_samples(generator, alice) == added  # once only
    cn, eu = services.evaluate(generator, "cn_genai"), services.evaluate(generator, "eu_ai_act")
    for row in [item(cn, i) for i in (*LABEL_ITEMS_CN, "CN-LBL-ART5-1", "CN-GAI-ART12-1")] + [item(eu, "EU-ART50-2")]:
        assert row["status"] == "met", (row["id"], row["status_reason"])
        samples_shown = [e for e in row["evidence"] if e["kind"] == "output_sample"]
        assert len(samples_shown) == 2
    for sample in added:
        ocr = sample.report["explicit"]["ocr"]
        assert ocr["engine"].startswith("rapidocr") and ocr["ok"] and "生成" in ocr["text"]


def test_the_dashboard_reviews_documents_and_adds_samples(client, alice, erin, generator, stamped):
    doc = services.add_document(user=alice, system=generator, kind="filing_number", title="Filing",
                                reference="Beijing-Poster-2026", file_bytes=None)
    page = f"/compliance/systems/{generator.pk}/items/CN-GAI-FILING-1/"
    client.force_login(alice)
    assert "awaiting review" in client.get(page).content.decode()
    client.post(f"/compliance/systems/{generator.pk}/documents/{doc.pk}/review/", {"decision": "approved", "next": page})
    assert EvidenceDocument.objects.get(pk=doc.pk).review == ""  # the uploader cannot approve
    client.force_login(erin)
    client.post(f"/compliance/systems/{generator.pk}/documents/{doc.pk}/review/", {"decision": "approved", "next": page})
    assert EvidenceDocument.objects.get(pk=doc.pk).reviewed_by_name == "erin"
    response = client.post(f"/compliance/systems/{generator.pk}/samples/",
                           {"file": io.BytesIO(stamped), "next": page})
    assert response.status_code == 302
    body = client.get(f"/compliance/systems/{generator.pk}/items/CN-GB45438-IMG-1/").content.decode()
    assert "data:image/jpeg;base64," in body and "✓ explicit" in body


def test_a_label_too_small_fails_the_height_check():
    from watermark import explicit, ocr

    canvas = Image.fromarray(robustness.synthetic_image(5, (800, 800), "texture"))
    small = explicit.draw(canvas.resize((400, 400)), "AI生成", "top-left")[0]  # 6 % of 400 px: 24 px
    big = Image.new("RGB", (800, 800))
    big.paste(canvas)
    big.paste(small.crop((0, 0, 200, 80)), (0, 0))  # the label is now 3 % of the 800 px side
    seen = ocr.read_label(big)
    assert seen["found"] and seen["position"] == "top-left" and not seen["checks"]["height"], seen["note"]
    assert "below 5%" in seen["note"]


def test_viewers_read_members_write_and_other_organisations_see_nothing(as_alice, as_bob, credit, alice, charlie):
    from tests.conftest import api_client

    line = json.dumps({"timestamp": "2027-01-01T00:00:00Z", "input_id": "r1"}).encode()
    events = f"/api/v1/systems/{credit.pk}/events"
    assert as_bob.post(events, data=line, content_type="application/x-ndjson").status_code == 403
    assert as_bob.get(events).status_code == 200
    as_charlie = api_client(charlie)
    assert as_charlie.post(events, data=line, content_type="application/x-ndjson").status_code == 404
    assert as_charlie.get(f"/api/v1/systems/{credit.pk}/evidence-samples").status_code == 404
    doc = services.add_document(user=alice, system=credit, kind="fria", title="FRIA", reference="FRIA-1")
    assert as_bob.post(f"/api/v1/documents/{doc.pk}/review", {"decision": "approved"}, format="json").status_code == 403
    assert as_charlie.post(f"/api/v1/documents/{doc.pk}/review", {"decision": "approved"},
                           format="json").status_code == 404
    assert as_alice.post(events, data=line, content_type="application/x-ndjson").status_code == 201


def test_the_dashboard_uploads_a_log_export(client, alice, credit):
    client.force_login(alice)
    page = f"/compliance/systems/{credit.pk}/items/EU-ART12-1/"
    assert "Upload a log export" in client.get(page).content.decode()
    data = events(dt.datetime.now(dt.UTC) - dt.timedelta(days=2), 2).encode()
    upload = io.BytesIO(data)
    upload.name = "events.jsonl"
    response = client.post(f"/compliance/systems/{credit.pk}/event-logs/", {"file": upload, "next": page})
    assert response.status_code == 302
    body = client.get(response["Location"]).content.decode()
    assert "4 events stored" in body and "system event log: 4 events" in body


def test_a_large_sample_is_verified_by_a_worker(as_alice, generator, stamped, settings,
                                                django_capture_on_commit_callbacks):
    settings.ASSAY_IMAGE_JOB_PIXELS = 10_000
    url = f"/api/v1/systems/{generator.pk}/evidence-samples"
    with django_capture_on_commit_callbacks(execute=True):  # the tests run Celery eagerly
        response = as_alice.post(url, {"file": io.BytesIO(stamped)}, format="multipart")
    assert response.status_code == 202, response.content[:300]
    job = as_alice.get(response.json()["api"]).json()
    assert job["status"] == "succeeded" and job["sample"], job
    sample = as_alice.get(f"{url}/{job['sample']}").json()
    assert sample["layers"]["explicit"]["ok"] and sample["layers"]["invisible"]["ok"]
    assert set(cn_statuses(generator).values()) == {"met"}
