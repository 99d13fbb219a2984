from django.db import models

from . import vocabulary as v


class ItemStatus(models.TextChoices):
    """A checklist item's status (COMPLIANCE.md, "How Assay uses it")."""

    MET = "met", "met"
    PARTIALLY_MET = "partially_met", "partially met"
    NOT_MET = "not_met", "not met"
    NEEDS_ATTESTATION = "needs_attestation", "needs attestation"
    NO_EVIDENCE = "no_evidence", "no evidence yet"
    NOT_APPLICABLE = "not_applicable", "not applicable"


class Bundle(models.TextChoices):
    EU_AI_ACT = "eu_ai_act", v.BUNDLES["eu_ai_act"]
    CN_GENAI = "cn_genai", v.BUNDLES["cn_genai"]


DocumentKind = models.TextChoices("DocumentKind", [(k.upper(), (k, label)) for k, label in v.DOCUMENT_KINDS.items()])

EXPORT_FORMATS = ("json", "csv", "pdf", "html")
