"""Evidence turns into statuses: a real audit, the audit log, attestations, documents, watermarks."""

import datetime as dt

import pytest
from django.utils import timezone

from audit import jobs
from audit import services as audit_services
from audit.models import AuditRun, MetricResult
from compliance import services
from compliance.models import Attestation
from watermark import models as wm
from watermark.evidence import layer_shown

EU_FAIRNESS = ["FAIR-01", "FAIR-02", "FAIR-03", "FAIR-04", "FAIR-05", "FAIR-06", "DATA-02"]


def item(checklist: dict, item_id: str) -> dict:
    return next(row for row in checklist["items"] if row["id"] == item_id)


def set_metrics(run: AuditRun, metric_ids: list[str], **fields) -> None:
    """Overwrite fields of stored metrics in both stores (the result JSON the evaluator reads, and the rows)."""
    run.refresh_from_db()
    for mid in metric_ids:
        run.result["metrics"][mid].update(fields)
    AuditRun.objects.filter(pk=run.pk).update(result=run.result)
    MetricResult.objects.filter(audit_run=run, metric_id__in=metric_ids).update(**fields)


@pytest.fixture
def credit_system(alice_system):
    alice_system.domain = "annex_iii_5_essential_services"
    alice_system.annex_iii_point = "5(b)"
    alice_system.output_modalities = ["none"]
    alice_system.placed_on_eu_market = True
    alice_system.save()
    return alice_system


@pytest.fixture
def audited(alice, credit_system, alice_dataset, zoo_bundle):
    """Return a real succeeded audit of the system's current model (a trained zoo MLP)."""
    model = audit_services.register_model(user=alice, system=credit_system, name="scorer", filename="scorer.zip",
                                          data=zoo_bundle, fmt="torch-zoo", validate_on=alice_dataset,
                                          model_card={"performance": {"accuracy": 0.5}})
    audit_services.promote_model(credit_system, user=alice, model_version=model, reason="the scorer in use")
    credit_system.refresh_from_db()
    assert credit_system.current_model_id == model.pk
    run = jobs.start_audit(user=alice, model_version=model, dataset_version=alice_dataset, enqueue=False)
    jobs.execute_audit(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run


def expected_status(statuses: list[str]) -> str:
    """The rule of COMPLIANCE.md, written independently of the evaluator."""
    counted = [s for s in statuses if s in ("pass", "warn", "fail")]
    if not counted:
        return "no_evidence"
    return "not_met" if "fail" in counted else "partially_met" if "warn" in counted else "met"


def test_metric_items_follow_a_real_audit(credit_system, audited):
    rows = {m.metric_id: m.status for m in MetricResult.objects.filter(audit_run=audited)}
    checklist = services.evaluate(credit_system, "eu_ai_act")
    art10 = item(checklist, "EU-ART10-2")
    assert art10["status"] == expected_status([rows.get(m, "") for m in EU_FAIRNESS])
    link = art10["evidence"][0]
    assert link["kind"] == "audit" and link["id"] == audited.pk and link["url"] == f"/audits/{audited.pk}/"
    assert {m["id"] for m in link["metrics"]} == set(EU_FAIRNESS)
    # ROB-04 covers only part of Art. 15(4): with it passing, the item still wants an attestation (A2.2)
    expected = expected_status([rows["ROB-04"]])
    assert item(checklist, "EU-ART15-2")["status"] == ("partially_met" if expected == "met" else expected)


def test_a_failing_fairness_audit_is_not_met_and_a_passing_one_is_met(credit_system, audited):
    set_metrics(audited, EU_FAIRNESS, status="pass")
    assert item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART10-2")["status"] == "met"
    set_metrics(audited, ["FAIR-04"], status="warn")
    assert item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART10-2")["status"] == "partially_met"
    set_metrics(audited, ["FAIR-01"], status="fail")
    row = item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART10-2")
    assert row["status"] == "not_met" and "FAIR-01 fail" in row["status_reason"]
    set_metrics(audited, EU_FAIRNESS, status="not_applicable")
    assert item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART10-2")["status"] == "no_evidence"


def test_no_audit_means_no_evidence_yet(credit_system, alice_model):
    credit_system.current_model = alice_model
    credit_system.save()
    row = item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART10-2")
    assert row["status"] == "no_evidence" and "no succeeded audit" in row["status_reason"]
    AuditRun.objects.create(organization=credit_system.organization, model_version=alice_model,
                            dataset_version=alice_model.validated_on, status="failed")
    assert item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART10-2")["status"] == "no_evidence"


def test_accuracy_is_checked_against_the_declared_one(credit_system, audited):
    set_metrics(audited, ["PRIV-03"], status="pass", details={"train_accuracy": 0.81, "eval_accuracy": 0.80})
    mv = audited.model_version
    for declared, expected in ((0.80, "met"), (0.83, "partially_met"), (0.95, "not_met"), ("accuracy 81 %", "met")):
        card = {"performance": declared if isinstance(declared, str) else {"accuracy": declared}}
        type(mv).objects.filter(pk=mv.pk).update(model_card=card)
        row = item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART15-1")
        assert row["status"] == expected, (declared, row["status_reason"], row["evidence"])


def test_assays_own_activity_log_is_not_the_systems_event_log(credit_system):
    from core import auditlog

    auditlog.record("system.create", organization=credit_system.organization, actor="test", payload={"n": 1})
    auditlog.record("dataset.register", organization=credit_system.organization, actor="test", payload={"n": 2})
    checklist = services.evaluate(credit_system, "eu_ai_act")
    for item_id in ("EU-ART12-1", "EU-ART19-1"):
        row = item(checklist, item_id)
        assert row["status"] == "no_evidence" and "event log" in row["status_reason"], item_id
        assert not any(e["kind"] == "audit_log" for e in row["evidence"])


def test_an_expired_attestation_needs_attestation_again(alice, credit_system):
    assert item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART5-1")["status"] == "needs_attestation"
    attestation = services.attest(user=alice, system=credit_system, item_id="EU-ART5-1",
                                  text="Screened against Art. 5(1)(a)-(h): none applies.", valid_days=30)
    row = item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART5-1")
    assert row["status"] == "met" and row["evidence"][0]["id"] == attestation.pk
    Attestation.objects.filter(pk=attestation.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    row = item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART5-1")
    assert row["status"] == "needs_attestation" and "expired" in row["status_reason"]


def test_attestation_period_is_configurable(alice, credit_system, settings):
    settings.ASSAY_ATTESTATION_VALID_DAYS = 10
    a = services.attest(user=alice, system=credit_system, item_id="EU-ART4-1", text="Training done")
    assert dt.timedelta(days=9, hours=23) < a.expires_at - a.attested_at <= dt.timedelta(days=10)


def test_documents_meet_document_items(alice, erin, credit_system):
    assert item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART10-1")["status"] == "no_evidence"
    doc = services.add_document(user=alice, system=credit_system, kind="data_governance", title="Datasheets v3",
                                file_bytes=b"%PDF-1.4 datasheets", filename="datasheets.pdf")
    assert item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART10-1")["status"] == "no_evidence"  # unreviewed
    services.review_document(user=erin, document=doc, decision="approved")
    row = item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART10-1")
    assert row["status"] == "met" and row["evidence"][0]["id"] == doc.pk
    assert row["evidence"][0]["sha256"] == doc.artifact.sha256
    services.withdraw_document(user=alice, document=doc)
    assert item(services.evaluate(credit_system, "eu_ai_act"), "EU-ART10-1")["status"] == "no_evidence"


def test_watermark_items_say_no_evidence_yet_never_met(alice_system):
    alice_system.output_modalities = ["image"]
    alice_system.public_in_mainland_china = True
    alice_system.placed_on_eu_market = True
    alice_system.save()
    for bundle, ids in (("cn_genai", ["CN-LBL-ART4-1", "CN-LBL-ART5-1", "CN-GB45438-IMG-1"]),
                        ("eu_ai_act", ["EU-ART50-2"])):
        checklist = services.evaluate(alice_system, bundle)
        for item_id in ids:
            assert item(checklist, item_id)["status"] in ("no_evidence", "not_met"), item_id


def test_watermark_rules_on_a_verify_report():
    report = {"explicit": {"recorded": True, "ok": True, "note": "label 'AI生成' at bottom-right"},
              "implicit": {"present": True, "complete": True, "integrity": "ok"},
              "c2pa": {"state": "valid-untrusted"}, "invisible": {"detected": True}}
    assert all(layer_shown(layer, report)[0] for layer in ("explicit", "metadata", "c2pa", "invisible"))
    assert "flagged" in layer_shown("c2pa", report)[1]
    # the stamping record alone is not evidence that the label is still in the pixels
    assert not layer_shown("explicit", {"explicit": {"recorded": True, "height_ratio": 0.06}})[0]
    assert not layer_shown("explicit", {"explicit": {"recorded": True, "ok": False, "note": "cropped"}})[0]
    assert not layer_shown("metadata", {"implicit": {"present": True, "complete": True, "integrity": "mismatch"}})[0]
    assert not layer_shown("c2pa", {"c2pa": {"state": "invalid"}})[0]


def test_a_verified_image_is_never_evidence(alice_system):
    alice_system.output_modalities = ["image"]
    alice_system.public_in_mainland_china = True
    alice_system.placed_on_eu_market = True
    alice_system.save()
    org = alice_system.organization
    wm.WatermarkPolicy.objects.create(organization=org, system=alice_system)
    record = wm.ProvenanceRecord.objects.create(organization=org, system=alice_system, producer="CODE",
                                                input_sha256="0" * 64, format="PNG")
    report = {"explicit": {"recorded": True, "ok": True}, "implicit": {"present": True, "complete": True,
                                                                        "integrity": "ok"},
              "c2pa": {"state": "valid"}, "invisible": {"detected": True}}
    wm.Verification.objects.create(organization=org, record=record, system=alice_system, report=report,
                                   input_sha256="1" * 64)
    row = item(services.evaluate(alice_system, "eu_ai_act"), "EU-ART50-2")
    assert row["status"] == "no_evidence" and "output samples" in row["status_reason"]
    wm.WatermarkPolicy.objects.filter(system=alice_system).update(c2pa=False)
    assert item(services.evaluate(alice_system, "eu_ai_act"), "EU-ART50-2")["status"] == "not_met"

