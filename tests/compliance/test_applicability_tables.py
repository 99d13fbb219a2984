"""Applicability tables of COMPLIANCE.md Appendix 2 on 2026-12-01 and 2027-12-02 (issue 14).

Regulation (EU) 2026/1744: no high-risk obligation applies before 2027-12-02 (Annex III) or
2028-08-02 (Annex I), 2027-08-02 exists nowhere for Art. 6(1), Art. 5 (ba)/(bb) apply from
2026-12-02; Art. 111(2)-(4); the FRIA scope; Art. 49(3); the Chinese filing default.
"""

import datetime as dt

from compliance import applicability
from compliance.services import get_registry

BEFORE = dt.date(2026, 12, 1)
AFTER = dt.date(2027, 12, 2)

# The demo's two systems (demo/management/commands/demo.py) and a public-authority deployer.
DEMO_CREDIT_SCORER = {"domain": "annex_iii_5_essential_services", "annex_iii_point": "5(b)", "role": "provider",
                      "output_modalities": ["none"], "placed_on_eu_market": True}
DEMO_IMAGE_GENERATOR = {"domain": "other", "role": "provider", "output_modalities": ["image"],
                        "public_in_mainland_china": True, "users_can_download": True, "placed_on_eu_market": True}
PUBLIC_AUTHORITY_DEPLOYER = {"domain": "annex_iii_5_essential_services", "annex_iii_point": "5(a)",
                             "role": "deployer", "public_sector": "public_body", "output_modalities": ["none"],
                             "placed_on_eu_market": True}

HIGH_RISK_PROVIDER = ["EU-ART6-1", "EU-ART9-1", "EU-ART10-1", "EU-ART10-2", "EU-ART10-3", "EU-ART11-1",
                      "EU-ART12-1", "EU-ART13-1", "EU-ART14-1", "EU-ART15-1", "EU-ART15-2", "EU-ART15-3",
                      "EU-ART17-1", "EU-ART18-1", "EU-ART19-1", "EU-ART43-1", "EU-ART49-1", "EU-ART72-1",
                      "EU-ART73-1", "EU-ART16-1", "EU-ART16-2", "EU-ART16-3", "EU-ART20-1", "EU-ART21-1",
                      "EU-ART22-1"]  # 22-1: non-EU establishment is assumed (not in the profile), and said so


def table(profile: dict, on: dt.date) -> dict[str, str]:
    """Return {item id: "in force" | "applies later" | "n/a"} for every item."""
    classification = applicability.classify(profile)
    out = {}
    for item in (i for f in get_registry().files for i in f.items):
        d = applicability.decide(item, profile, classification)
        out[item.id] = "in force" if d.in_force(on) else "applies later" if d.applies else "n/a"
    return out


def in_force(profile: dict, on: dt.date) -> set[str]:
    return {k for k, s in table(profile, on).items() if s == "in force"}


def test_the_credit_scorer_has_no_high_risk_item_in_force_on_2026_12_01():
    assert in_force(DEMO_CREDIT_SCORER, BEFORE) == {"EU-ART4-1", "EU-ART5-1"}
    later = {k for k, s in table(DEMO_CREDIT_SCORER, BEFORE).items() if s == "applies later"}
    assert set(HIGH_RISK_PROVIDER) <= later
    assert "EU-ART5-2" not in later  # tabular output: the new Art. 5 points do not reach it


def test_the_credit_scorer_on_2027_12_02():
    assert in_force(DEMO_CREDIT_SCORER, AFTER) == {"EU-ART4-1", "EU-ART5-1", *HIGH_RISK_PROVIDER}


def test_sections_5_and_arts_72_73_follow_the_route_as_interpretation():
    classification = applicability.classify(DEMO_CREDIT_SCORER)
    registry = get_registry()
    for item_id in ("EU-ART43-1", "EU-ART49-1", "EU-ART72-1", "EU-ART73-1"):
        decision = applicability.decide(registry.item(item_id), DEMO_CREDIT_SCORER, classification)
        assert decision.applies_from == dt.date(2027, 12, 2) and decision.date_basis == "interpretation", item_id
    annex_i = {**DEMO_CREDIT_SCORER, "domain": "annex_i_product_safety", "annex_iii_point": ""}
    assert applicability.decide(registry.item("EU-ART43-1"), annex_i, applicability.classify(annex_i)).applies_from \
        == dt.date(2028, 8, 2)


def test_2027_08_02_exists_nowhere_for_high_risk():
    for item in (i for f in get_registry().files for i in f.items):
        dates = {**item.applies_from, **{f"orig-{k}": d for k, d in item.applies_from_original.items()}}
        for route, date in dates.items():
            if date == dt.date(2027, 8, 2):
                assert route == "gpai_before_2025_08_02", (item.id, route)  # Art. 111(3) only


def test_the_image_generator_tables():
    before = table(DEMO_IMAGE_GENERATOR, BEFORE)
    assert before["EU-ART5-2"] == "applies later"  # (ba)/(bb) from 2026-12-02
    assert before["EU-ART50-2"] == "in force"
    assert before["EU-ART50-1"] == "n/a"  # an image generator does not converse with people
    for item_id in ("CN-GAI-ART17-1", "CN-ALG-ART24-1", "CN-ALG-ART26-1", "CN-LBL-ART12-1"):
        assert before[item_id] == "in force", item_id  # filing applies by default
    assert before["CN-DS-ART14-1"] == "n/a"  # biometric editing is a profile question
    after = table(DEMO_IMAGE_GENERATOR, AFTER)
    assert after["EU-ART5-2"] == "in force"
    assert not {k for k, s in after.items() if s != "n/a"} & set(HIGH_RISK_PROVIDER)
    chatty = table({**DEMO_IMAGE_GENERATOR, "interacts_with_persons": True, "biometric_editing": True}, BEFORE)
    assert chatty["EU-ART50-1"] == "in force" and chatty["CN-DS-ART14-1"] == "in force"


def test_the_public_authority_deployer():
    before, after = table(PUBLIC_AUTHORITY_DEPLOYER, BEFORE), table(PUBLIC_AUTHORITY_DEPLOYER, AFTER)
    deployer_items = ["EU-ART26-1", "EU-ART26-2", "EU-ART26-3", "EU-ART26-4", "EU-ART27-1", "EU-ART27-3",
                      "EU-ART49-3", "EU-ART86-1", "EU-ART25-1"]
    for item_id in deployer_items:
        assert before[item_id] == "applies later" and after[item_id] == "in force", item_id
    assert before["EU-ART9-1"] == "n/a"  # provider duty
    private = table({**PUBLIC_AUTHORITY_DEPLOYER, "public_sector": ""}, AFTER)
    assert private["EU-ART27-1"] == "n/a" and private["EU-ART49-3"] == "n/a"  # 5(a) without a public body
    infrastructure = table({**PUBLIC_AUTHORITY_DEPLOYER, "domain": "annex_iii_2_critical_infrastructure",
                            "annex_iii_point": "2(a)"}, AFTER)
    assert infrastructure["EU-ART27-1"] == "n/a" and infrastructure["EU-ART49-3"] == "in force"
    service = table({**PUBLIC_AUTHORITY_DEPLOYER, "public_sector": "public_service"}, AFTER)
    assert service["EU-ART27-1"] == "in force" and service["EU-ART49-3"] == "n/a"


def test_art_111_2_legacy_systems():
    legacy = {**PUBLIC_AUTHORITY_DEPLOYER, "placed_on_market_on": "2026-03-01"}
    d = applicability.decide(get_registry().item("EU-ART26-1"), legacy, applicability.classify(legacy))
    assert d.applies_from == dt.date(2030, 8, 2) and "111(2)" in d.reason
    private_legacy = {**DEMO_CREDIT_SCORER, "placed_on_market_on": "2026-03-01"}
    assert table(private_legacy, AFTER)["EU-ART9-1"] == "n/a"
    changed = {**private_legacy, "significantly_changed": True}
    assert table(changed, AFTER)["EU-ART9-1"] == "in force"


def test_art_111_3_and_111_4():
    gpai = {"domain": "other", "role": "provider", "output_modalities": ["text"], "general_purpose": True,
            "placed_on_eu_market": True, "placed_on_market_on": "2025-01-15"}
    registry = get_registry()
    d = applicability.decide(registry.item("EU-ART53-1A"), gpai, applicability.classify(gpai))
    assert d.applies_from == dt.date(2027, 8, 2)
    d = applicability.decide(registry.item("EU-ART50-2"), gpai, applicability.classify(gpai))
    assert d.applies_from == dt.date(2026, 12, 2)  # on the market before 2026-08-02


def test_the_art6_3_derogation():
    derogation = {**DEMO_CREDIT_SCORER, "annex_iii_point": "5(a)", "art6_3_derogation": True}
    after = table(derogation, AFTER)
    assert after["EU-ART6-1"] == "in force"
    assert after["EU-ART9-1"] == "n/a" and after["EU-ART43-1"] == "n/a"
