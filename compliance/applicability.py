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


@dataclass
class Classification:
    """The tiers a profile falls in, each with the reason, and its high-risk route."""

    eu: dict[str, str] = field(default_factory=dict)
    cn: dict[str, str] = field(default_factory=dict)
    route: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"eu_tiers": self.eu, "cn_tiers": self.cn, "high_risk_route": self.route or None}


@dataclass
class Decision:
    """Whether one item applies, why, and from when."""

    applies: bool
    reason: str
    applies_from: dt.date | None = None
    applies_from_original: dt.date | None = None
    route: str = ""
    assumptions: list[str] = field(default_factory=list)

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
        out.eu["high_risk"] = f"high-risk via Annex III point {point} (Art. 6(2))"
    elif domain == ANNEX_I:
        out.route = "annex_i"
        out.eu["high_risk"] = "high-risk as a safety component of an Annex I product (Art. 6(1))"
    if modalities & GENERATIVE:
        out.eu["transparency"] = f"Art. 50 transparency: outputs {', '.join(sorted(modalities & GENERATIVE))}"
    if profile.get("emotion_or_biometric"):
        out.eu.setdefault("transparency", "Art. 50(3): emotion recognition or biometric categorisation")
    if profile.get("general_purpose") or profile.get("systemic_risk"):
        out.eu["gpai"] = "general-purpose AI model (Art. 53)"
    if profile.get("systemic_risk"):
        out.eu["gpai_systemic"] = "general-purpose AI model with systemic risk (Art. 51, 55)"
    if not out.eu:
        out.eu["minimal"] = "minimal risk: no high-risk area, no Art. 50 output, not general-purpose"
    if profile.get("public_in_mainland_china") and modalities & GENERATIVE:
        kinds = ", ".join(sorted(modalities & GENERATIVE))
        out.cn["cn_public_genai"] = f"generative service ({kinds}) offered to the public in mainland China"
        out.cn["cn_deep_synthesis"] = f"deep synthesis of {kinds} for the public in mainland China"
    if profile.get("public_in_mainland_china") and profile.get("public_opinion_capacity"):
        out.cn["cn_opinion_mobilization"] = "public-opinion attributes or social-mobilisation capacity"
    return out


def system_routes(profile: dict[str, Any], classification: Classification) -> list[str]:
    """Return the `applies_from` route keys that fit the system, most specific first."""
    routes = [classification.route] if classification.route else []
    if profile.get("placed_before_2026_08_02"):
        routes.append("on_market_before_2026_08_02")
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
    reason = "; ".join([matched[0], *_condition_reasons(item, profile), *assumptions])
    return Decision(True, reason, date, original, route, assumptions)


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
    if condition == "fria_scope":
        return (profile.get("annex_iii_point") or "").replace(" ", "") in FRIA_POINTS
    return True


def _condition_reasons(item: Item, profile: dict[str, Any]) -> list[str]:
    return [v.PROFILE_CONDITIONS[c] for c in item.applicability.get("conditions", ()) if c in v.PROFILE_CONDITIONS]
