"""Which checklist items apply to an AI system, why, and from when; no Django.

The profile is a plain dict of the AISystem fields (see `profile_of` in services). The EU tier
follows COMPLIANCE.md 1.1 (prohibited screening for everyone, high-risk via Annex III or Annex I,
Art. 50 transparency, GPAI, systemic risk, otherwise minimal); the Chinese tiers follow 2.1
(public service in mainland China, public-opinion or mobilisation capacity, deep synthesis).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from . import vocabulary as v
from .registry import Item

GENERATIVE = {"text", "image", "audio", "video", "virtual_scene", "interactive_ui"}
ANNEX_I = "annex_i_product_safety"
ANNEX_III_PREFIX = "annex_iii_"
FRIA_POINTS = {"5(b)", "5(c)"}
# Chapter III Sections 1-3 per route after Reg. (EU) 2026/1744 (Art. 113(c)); Art. 111(2) for legacy systems.
HIGH_RISK_DATES = {"annex_iii": dt.date(2027, 12, 2), "annex_i": dt.date(2028, 8, 2)}
PUBLIC_AUTHORITY_LEGACY_DATE = dt.date(2030, 8, 2)
ART50_2_GRACE_CUTOFF = dt.date(2026, 8, 2)
GPAI_CUTOFF = dt.date(2025, 8, 2)


@dataclass
class Classification:
    """The tiers a profile falls in, each with the reason, and its high-risk route."""

    eu: dict[str, str] = field(default_factory=dict)
    cn: dict[str, str] = field(default_factory=dict)
    route: str = ""
    legacy: str = ""  # Art. 111(2): "exempt", "public_authority" or ""

    def as_dict(self) -> dict[str, Any]:
        return {"eu_tiers": self.eu, "cn_tiers": self.cn, "high_risk_route": self.route or None,
                "art111_2": self.legacy or None}


@dataclass
class Decision:
    """Whether one item applies, why, and from when."""

    applies: bool
    reason: str
    applies_from: dt.date | None = None
    applies_from_original: dt.date | None = None
    route: str = ""
    assumptions: list[str] = field(default_factory=list)
    date_basis: str = "law"

    def in_force(self, on: dt.date) -> bool:
        """Return True when the item applies and its date has come by `on`."""
        return self.applies and self.applies_from is not None and self.applies_from <= on


def classify(profile: dict[str, Any]) -> Classification:
    """Return the EU and Chinese tiers of a profile, with reasons."""
    out = Classification()
    modalities = set(profile.get("output_modalities") or []) - {"none"}
    domain = profile.get("domain") or "other"
    if domain.startswith(ANNEX_III_PREFIX):
        point = profile.get("annex_iii_point") or domain.removeprefix(ANNEX_III_PREFIX).split("_", 1)[0]
        out.route = "annex_iii"
        if profile.get("art6_3_derogation"):
            out.eu["high_risk_candidate"] = (
                f"Annex III point {point}, but relies on the Art. 6(3) derogation: the Art. 6(4) record and the "
                "Art. 49(2) registration apply, the high-risk requirements do not (the derogation never covers "
                "profiling of natural persons)")
        else:
            out.eu["high_risk"] = f"high-risk via Annex III point {point} (Art. 6(2))"
    elif domain == ANNEX_I:
        out.route = "annex_i"
        out.eu["high_risk"] = "high-risk as a safety component of an Annex I product (Art. 6(1))"
    if "high_risk" in out.eu:
        out.legacy = _legacy(profile, out.route)
    if modalities & GENERATIVE:
        out.eu["transparency"] = f"Art. 50 transparency: outputs {', '.join(sorted(modalities & GENERATIVE))}"
    if profile.get("interacts_with_persons"):
        out.eu.setdefault("transparency", "Art. 50(1): intended to interact directly with natural persons")
    if profile.get("emotion_or_biometric"):
        out.eu.setdefault("transparency", "Art. 50(3): emotion recognition or biometric categorisation")
    if profile.get("general_purpose") or profile.get("systemic_risk"):
        out.eu["gpai"] = "general-purpose AI model (Art. 53)"
    if profile.get("systemic_risk"):
        out.eu["gpai_systemic"] = "general-purpose AI model with systemic risk (Art. 51, 55)"
    if not out.eu:
        out.eu["minimal"] = "minimal risk: no high-risk area, no Art. 50 output, not general-purpose"
    public_cn = bool(profile.get("public_in_mainland_china"))
    if public_cn and modalities & GENERATIVE:
        kinds = ", ".join(sorted(modalities & GENERATIVE))
        out.cn["cn_public_genai"] = f"generative service ({kinds}) offered to the public in mainland China"
        out.cn["cn_deep_synthesis"] = f"deep synthesis of {kinds} for the public in mainland China"
    reason_given = str(profile.get("no_public_opinion_reason") or "").strip()
    if public_cn and profile.get("public_opinion_capacity"):
        out.cn["cn_opinion_mobilization"] = "public-opinion attributes or social-mobilisation capacity (profile)"
    elif "cn_public_genai" in out.cn and not reason_given:
        out.cn["cn_opinion_mobilization"] = (
            "public generative-AI service: filing applies by default, because the profile does not say, with a "
            "reason, that the service has no public-opinion attribute or mobilisation capacity")
    return out


def _legacy(profile: dict[str, Any], route: str) -> str:
    """Return the Art. 111(2) standing of a high-risk system: "", "exempt" or "public_authority"."""
    placed = _placed(profile)
    deadline = HIGH_RISK_DATES.get(route)
    if placed is None or deadline is None or placed >= deadline or profile.get("significantly_changed"):
        return ""
    return "public_authority" if profile.get("public_sector") == "public_body" else "exempt"


def _placed(profile: dict[str, Any]) -> dt.date | None:
    placed = profile.get("placed_on_market_on")
    if isinstance(placed, str) and placed:
        return dt.date.fromisoformat(placed)
    return placed if isinstance(placed, dt.date) else None


def system_routes(profile: dict[str, Any], classification: Classification) -> list[str]:
    """Return the `applies_from` route keys that fit the system, most specific first."""
    routes = [classification.route] if classification.route else []
    placed = _placed(profile)
    if profile.get("placed_before_2026_08_02") or (placed and placed < ART50_2_GRACE_CUTOFF):
        routes.append("on_market_before_2026_08_02")  # Art. 111(4)
    if (profile.get("general_purpose") or profile.get("systemic_risk")) and placed and placed < GPAI_CUTOFF:
        routes.append("gpai_before_2025_08_02")  # Art. 111(3)
    return routes + ["default"]


def _pick(dates: dict[str, dt.date], routes: list[str]) -> tuple[dt.date | None, str]:
    for route in routes:
        if route in dates:
            return dates[route], route
    return None, ""


def _roles(profile: dict[str, Any], bundle: str) -> set[str]:
    role = profile.get("role") or "provider"
    roles = {"provider", "deployer"} if role == "both" else {role}
    if bundle == "cn_genai":
        roles.add("provider")  # whoever offers the service to the public is its service provider
    return roles


def decide(item: Item, profile: dict[str, Any], classification: Classification) -> Decision:
    """Return whether `item` applies to the profile, with the reason and the date for its route."""
    refusal = _refusal(item, profile, classification)
    if refusal:
        return Decision(False, refusal)
    assumptions = [v.ASSUMED_CONDITIONS[c] for c in item.applicability.get("conditions", ())
                   if c in v.ASSUMED_CONDITIONS]
    tiers = classification.eu if item.bundle == "eu_ai_act" else classification.cn
    wanted = item.applicability["risk_tier"]
    matched = [tiers[t] for t in wanted if t in tiers] or [next(iter(tiers.values()), "every system")]
    routes = system_routes(profile, classification)
    date, route = _pick(item.applies_from, routes)
    if date is None:  # no route of this system listed: take the earliest, and say so
        route, date = min(item.applies_from.items(), key=lambda kv: kv[1])
    original, _ = _pick(item.applies_from_original, [route, *routes])
    reasons = [matched[0], *_condition_reasons(item, profile), *assumptions]
    if classification.legacy == "public_authority" and _high_risk_item(item):
        original = original or date
        date, route = PUBLIC_AUTHORITY_LEGACY_DATE, "public_authority_legacy"
        reasons.append("Art. 111(2): placed on the market before the high-risk date and used by public "
                       "authorities: comply by 2030-08-02")
    if route == "gpai_before_2025_08_02":
        reasons.append("Art. 111(3): model placed on the market before 2025-08-02")
    return Decision(True, "; ".join(reasons), date, original, route, assumptions, item.date_basis)


def _high_risk_item(item: Item) -> bool:
    return item.bundle == "eu_ai_act" and "high_risk" in item.applicability["risk_tier"]


def _refusal(item: Item, profile: dict[str, Any], classification: Classification) -> str:
    """Return why the item does not apply, or "" when it does."""
    app = item.applicability
    if item.bundle == "eu_ai_act" and not profile.get("placed_on_eu_market"):
        return "not placed on the EU market or put into service in the EU"
    if item.bundle == "cn_genai" and not profile.get("public_in_mainland_china"):
        return "not offered to the public in mainland China (internal R&D is excluded, GAI Art. 2)"
    tiers = classification.eu if item.bundle == "eu_ai_act" else classification.cn
    if "any" not in app["risk_tier"] and not set(app["risk_tier"]) & set(tiers):
        have = ", ".join(tiers) or "no Chinese generative-AI tier"
        return f"applies to {', '.join(app['risk_tier'])}; this system is {have}"
    if classification.legacy == "exempt" and _high_risk_item(item):
        return (f"Art. 111(2): placed on the market on {_placed(profile)}, before the high-risk date "
                f"{HIGH_RISK_DATES[classification.route]}, and not significantly changed since")
    roles = _roles(profile, item.bundle)
    if "all" not in app["role"] and not set(app["role"]) & roles:
        return f"applies to the {' or '.join(app['role'])} role; this system's role is {', '.join(sorted(roles))}"
    modalities = set(profile.get("output_modalities") or [])
    if "any" not in app["modality"] and not set(app["modality"]) & modalities:
        have = ", ".join(sorted(modalities)) or "none"
        return f"applies to {', '.join(app['modality'])} output; this system outputs {have}"
    for condition in app.get("conditions", ()):
        if condition in v.PROFILE_CONDITIONS and not _condition_holds(condition, profile):
            return f"condition not met: {v.PROFILE_CONDITIONS[condition]}"
    return ""


def _condition_holds(condition: str, profile: dict[str, Any]) -> bool:
    if condition == "offers_download":
        return bool(profile.get("users_can_download"))
    if condition == "emotion_or_biometric":
        return bool(profile.get("emotion_or_biometric"))
    if condition == "fria_scope":  # Art. 27(1): never for Annex III point 2 (critical infrastructure)
        point = (profile.get("annex_iii_point") or "").replace(" ", "")
        if point.startswith("2") or (profile.get("domain") or "").startswith("annex_iii_2"):
            return False
        return profile.get("public_sector") in ("public_body", "public_service") or point in FRIA_POINTS
    if condition == "public_authority":
        return profile.get("public_sector") == "public_body"
    if condition == "interacts_with_persons":
        return bool(profile.get("interacts_with_persons"))
    if condition == "biometric_editing":
        return bool(profile.get("biometric_editing"))
    if condition == "image_video_or_gpai":
        modalities = set(profile.get("output_modalities") or [])
        return bool(modalities & {"image", "video"}) or bool(profile.get("general_purpose") or
                                                            profile.get("systemic_risk"))
    return True


def _condition_reasons(item: Item, profile: dict[str, Any]) -> list[str]:
    return [v.PROFILE_CONDITIONS[c] for c in item.applicability.get("conditions", ()) if c in v.PROFILE_CONDITIONS]
