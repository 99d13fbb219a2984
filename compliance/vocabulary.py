"""The words the checklist data may use (COMPLIANCE.md section 0 plus Assay's additions); no Django."""

BUNDLES = {
    "eu_ai_act": "EU AI Act",
    "cn_genai": "China generative-AI rules",
}
INSTRUMENTS = {
    "eu_ai_act": "eu_ai_act",
    "cn_gai_interim": "cn_genai",
    "cn_deep_synthesis": "cn_genai",
    "cn_algo_rec": "cn_genai",
    "cn_labeling_measures": "cn_genai",
    "cn_gb45438": "cn_genai",
    "cn_tc260_standards": "cn_genai",  # GB/T 45654, 45652, 45674 (recommended national standards)
}
RISK_TIERS = ("any", "prohibited", "high_risk", "high_risk_candidate", "transparency", "minimal", "gpai", "gpai_systemic",
              "cn_public_genai", "cn_opinion_mobilization", "cn_deep_synthesis")
ROLES = ("all", "provider", "deployer", "importer", "distributor", "platform", "app_store", "tech_supporter", "user")
MODALITIES = ("any", "text", "image", "audio", "video", "virtual_scene", "interactive_ui")
# system_logs: the AI system's own event logs (ingested or uploaded), never Assay's activity log (A2.2);
# generative_evaluation: a generative safety evaluation (GB/T 45654, GENAI.md), never a tabular metric.
EVIDENCE_TYPES = ("metric_report", "document", "watermark_check", "log_integrity", "system_logs",
                  "generative_evaluation", "moderation_evaluation", "manual_attestation", "process")
# How sure the date is: `law` (the text names it) or `interpretation` (reasoned, COMPLIANCE.md A2.1).
DATE_BASES = ("law", "interpretation")
VERIFICATION = {"V": "verified", "S": "secondary", "U": "unverified"}
WATERMARK_LAYERS = ("explicit", "metadata", "c2pa", "invisible")

# Route keys an `applies_from` mapping may use; the system's profile picks one (applicability.routes).
ROUTES = ("default", "annex_iii", "annex_i", "on_market_before_2026_08_02", "gpai_before_2025_08_02")

# Conditions read from the profile, and conditions the profile cannot tell (assumed, and said so).
PROFILE_CONDITIONS = {
    "offers_download": "users can download or export generated content",
    "emotion_or_biometric": "uses emotion recognition or biometric categorisation",
    "fria_scope": "the deployer is a public body or a private provider of public services, or the system is "
                  "Annex III 5(b) credit scoring or 5(c) life/health insurance pricing (Art. 27(1))",
    "public_authority": "the deployer is a public authority (Art. 49(3))",
    "interacts_with_persons": "intended to interact directly with natural persons (Art. 50(1))",
    "biometric_editing": "the service can edit faces, voices or other biometric features (profile)",
    "image_video_or_gpai": "generates images or video, or is a general-purpose AI model (Art. 5(1)(ba)/(bb))",
}
ASSUMED_CONDITIONS = {
    "not_assistive_standard_editing": "assumed: the output is more than assistive standard editing",
    "deepfake": "assumed: the output can resemble real persons, objects or events (deep fake)",
    "public_interest_text": "assumed: text is published to inform the public on matters of public interest",
    "non_eu_provider": "assumed: the provider is established outside the EU (not in the profile)",
}
CONDITIONS = {**PROFILE_CONDITIONS, **ASSUMED_CONDITIONS}

DOCUMENT_KINDS = {
    "classification_record": "Classification record (Art. 6)",
    "risk_file": "Risk-management file",
    "data_governance": "Data-governance record / datasheets",
    "technical_documentation": "Technical documentation (Annex IV / XI)",
    "instructions_for_use": "Instructions for use",
    "oversight_specification": "Human-oversight specification",
    "qms_manual": "Quality-management manual",
    "declaration_of_conformity": "EU declaration of conformity",
    "eu_registration": "EU database registration",
    "notice": "Notice to workers / affected persons",
    "fria": "Fundamental-rights impact assessment (FRIA)",
    "authority_notification": "Notification to the market surveillance authority (FRIA results)",
    "downstream_information": "Information for downstream providers",
    "copyright_policy": "Copyright policy",
    "training_content_summary": "Public training-content summary",
    "representative_mandate": "Authorised-representative mandate",
    "systemic_risk_assessment": "Systemic-risk assessment",
    "data_provenance_register": "Data-provenance register",
    "terms_of_service": "Terms of service / user agreement",
    "published_scope": "Published scope and intended users",
    "regulator_pack": "Regulator pack (data and algorithm explanation)",
    "security_assessment": "Security assessment",
    "filing_number": "Algorithm filing number",
    "policy_set": "Management policy set",
    "algorithm_review": "Algorithm review report",
    "labeling_dossier": "Labelling dossier",
    "labeling_materials": "Labelling materials for filings",
    "other": "Other",
}

# Metric ids an item may rest on: the audit catalog's (checked against it by the tests) plus the
# accuracy recorded by the audit, compared with the model card's declared accuracy.
ACCURACY = "ACCURACY"
METRIC_ID_PATTERN = r"^(FAIR|EXPL|ROB|PRIV|TRANS|DATA)-\d\d$"
