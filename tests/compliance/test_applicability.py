"""Applicability tables: which items apply to which profile, why, and from when."""

import datetime as dt

from compliance import applicability
from compliance.services import get_registry

HIGH_RISK_CORE = ["EU-ART9-1", "EU-ART10-1", "EU-ART10-2", "EU-ART10-3", "EU-ART11-1", "EU-ART12-1", "EU-ART13-1",
                  "EU-ART14-1", "EU-ART15-1", "EU-ART15-2", "EU-ART15-3"]
CN_IMAGE = ["CN-LBL-ART4-1", "CN-LBL-ART5-1", "CN-GB45438-IMG-1"]

CREDIT_PROVIDER = {"domain": "annex_iii_5_essential_services", "annex_iii_point": "5(b)", "role": "provider",
                   "output_modalities": ["none"], "placed_on_eu_market": True}
IMAGE_GENERATOR = {"domain": "other", "role": "provider", "output_modalities": ["image"],
                   "public_in_mainland_china": True, "users_can_download": True, "placed_on_eu_market": True}
INTERNAL_TOOL = {"domain": "other", "role": "provider", "output_modalities": ["none"]}


def decisions(profile: dict) -> dict[str, applicability.Decision]:
    classification = applicability.classify(profile)
    return {item.id: applicability.decide(item, profile, classification)
            for f in get_registry().files for item in f.items}


def applying(profile: dict) -> set[str]:
    return {k for k, d in decisions(profile).items() if d.applies}


def test_a_credit_scoring_provider_in_the_eu_is_high_risk():
    result = decisions(CREDIT_PROVIDER)
    for item_id in HIGH_RISK_CORE:
        assert result[item_id].applies, item_id
        assert "Annex III point 5(b)" in result[item_id].reason
        assert result[item_id].applies_from == dt.date(2027, 12, 2)  # Omnibus (Reg. 2026/1744) date
        assert result[item_id].applies_from_original == dt.date(2026, 8, 2)
    assert not result["EU-ART26-1"].applies and "deployer" in result["EU-ART26-1"].reason
    assert not result["EU-ART50-2"].applies
    assert not any(d.applies for k, d in result.items() if k.startswith("CN-"))
    assert "mainland China" in result["CN-LBL-ART5-1"].reason


def test_high_risk_dates_follow_the_route():
    annex_i = {**CREDIT_PROVIDER, "domain": "annex_i_product_safety", "annex_iii_point": ""}
    result = decisions(annex_i)
    assert result["EU-ART9-1"].applies_from == dt.date(2028, 8, 2)
    assert result["EU-ART9-1"].route == "annex_i"
    assert not result["EU-ART27-1"].applies  # FRIA: Annex III only


def test_not_yet_applicable_on_the_evaluation_date():
    art9 = decisions(CREDIT_PROVIDER)["EU-ART9-1"]
    assert not art9.in_force(dt.date(2026, 11, 20))
    assert art9.in_force(dt.date(2027, 12, 2))
    assert decisions(CREDIT_PROVIDER)["EU-ART5-1"].in_force(dt.date(2025, 2, 2))


def test_a_public_image_generator_in_china_gets_the_labelling_items():
    result = decisions(IMAGE_GENERATOR)
    for item_id in CN_IMAGE + ["CN-LBL-ART4-2", "CN-GAI-ART12-1", "EU-ART50-2"]:
        assert result[item_id].applies, (item_id, result[item_id].reason)
    assert result["CN-LBL-ART5-1"].applies_from == dt.date(2025, 9, 1)
    assert result["EU-ART50-2"].applies_from == dt.date(2026, 8, 2)
    assert not result["CN-GB45438-VID-1"].applies and "video" in result["CN-GB45438-VID-1"].reason
    assert not result["EU-ART9-1"].applies
    assert result["CN-GAI-ART17-1"].applies  # filing applies by default (A2.3)
    with_reason = decisions({**IMAGE_GENERATOR, "no_public_opinion_reason": "B2B poster tool, no feeds or comments"})
    assert not with_reason["CN-GAI-ART17-1"].applies
    assert not result["CN-LBL-ART6-1"].applies  # platform duty
    no_download = decisions({**IMAGE_GENERATOR, "users_can_download": False})["CN-LBL-ART4-2"]
    assert not no_download.applies and "download" in no_download.reason


def test_art50_2_grace_period_for_systems_on_the_market_before_august_2026():
    result = decisions({**IMAGE_GENERATOR, "placed_before_2026_08_02": True})
    assert result["EU-ART50-2"].applies_from == dt.date(2026, 12, 2)


def test_a_minimal_risk_internal_tool_gets_neither():
    result = applying(INTERNAL_TOOL)
    assert not set(HIGH_RISK_CORE) & result
    assert not set(CN_IMAGE) & result
    assert result == set()  # not on the EU market, not public in China
    on_market = applying({**INTERNAL_TOOL, "placed_on_eu_market": True})
    assert on_market == {"EU-ART4-1", "EU-ART5-1"}  # literacy and prohibited screening only
    assert set(applicability.classify(INTERNAL_TOOL).eu) == {"minimal"}


def test_fria_applies_to_a_credit_scoring_deployer_only():
    assert decisions({**CREDIT_PROVIDER, "role": "deployer"})["EU-ART27-1"].applies
    assert not decisions(CREDIT_PROVIDER)["EU-ART27-1"].applies
    education = {**CREDIT_PROVIDER, "role": "deployer", "domain": "annex_iii_3_education", "annex_iii_point": "3(a)"}
    assert not decisions(education)["EU-ART27-1"].applies


def test_opinion_capacity_brings_the_filing_items():
    result = applying({**IMAGE_GENERATOR, "public_opinion_capacity": True,
                       "no_public_opinion_reason": "ignored: the capacity flag is set"})
    assert {"CN-GAI-ART17-1", "CN-ALG-ART24-1", "CN-ALG-ART27-1", "CN-DS-ART20-1", "CN-LBL-ART12-1"} <= result


def test_gpai_and_systemic_risk():
    result = applying({**INTERNAL_TOOL, "placed_on_eu_market": True, "general_purpose": True, "systemic_risk": True,
                       "output_modalities": ["text"]})
    assert {"EU-ART53-1A", "EU-ART53-1D", "EU-ART55-1A", "EU-ART55-1D", "EU-ART50-2"} <= result
    assert "EU-ART55-1A" not in applying({**INTERNAL_TOOL, "placed_on_eu_market": True, "general_purpose": True})
