"""watermark.evidence_for: the policy and the latest verified sample compliance rests on, read without writing."""

import watermark
from audit.models import AISystem
from watermark.evidence import LAYERS, WatermarkEvidence, layer_shown
from watermark.models import ProvenanceRecord, Verification, WatermarkPolicy

REPORT = {"explicit": {"recorded": True, "text": "AI生成", "height_ratio": 0.06, "ok": True},
          "implicit": {"present": True, "complete": True, "integrity": "ok"},
          "c2pa": {"state": "valid"}, "invisible": {"detected": True}}


def _sample(system, report, sha="1"):
    record = ProvenanceRecord.objects.create(organization=system.organization, system=system, producer="CODE",
                                             input_sha256="0" * 64, format="PNG")
    return Verification.objects.create(organization=system.organization, record=record, system=system,
                                       report=report, input_sha256=sha * 64)


def test_nothing_yet_is_no_policy_and_no_sample_and_creates_nothing(alice_system):
    evidence = watermark.evidence_for(alice_system)
    assert evidence == WatermarkEvidence() and evidence.policy is None and evidence.sample is None
    assert not WatermarkPolicy.objects.exists()


def test_the_systems_own_policy_wins_over_the_organisations_default(alice_system):
    org = alice_system.organization
    default = WatermarkPolicy.objects.create(organization=org, system=None, c2pa=False)
    evidence = watermark.evidence_for(alice_system)
    assert evidence.policy == {"explicit": True, "metadata": True, "c2pa": False, "invisible": True}
    assert evidence.policy_ref == {"kind": "watermark_policy", "id": default.pk, "layers": evidence.policy}
    own = WatermarkPolicy.objects.create(organization=org, system=alice_system, visible=False)
    evidence = watermark.evidence_for(alice_system)
    assert evidence.policy_ref["id"] == own.pk and evidence.policy["explicit"] is False and evidence.policy["c2pa"]
    assert set(evidence.policy) == set(LAYERS)


def test_the_newest_sample_of_this_system_only(alice_system, charlie_system):
    _sample(alice_system, REPORT)
    newest = _sample(alice_system, {**REPORT, "c2pa": {"state": "absent"}}, sha="2")
    _sample(charlie_system, REPORT, sha="3")
    other = AISystem.objects.create(organization=alice_system.organization, name="Other")
    evidence = watermark.evidence_for(alice_system)
    assert evidence.sample_ref["id"] == newest.pk and evidence.sample["c2pa"] == {"state": "absent"}
    assert watermark.evidence_for(other).sample is None
    assert [layer_shown(layer, evidence.sample)[0] for layer in LAYERS] == [True, True, False, True]
