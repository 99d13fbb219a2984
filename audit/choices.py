from django.db import models

# Re-exported for older importers: the job statuses live in core.
from core.choices import FINISHED_STATUSES as FINISHED_STATUSES
from core.choices import JobStatus as JobStatus

from .metrics import catalog as _catalog
from .metrics.documentation import DATASHEET_FIELDS as _DATASHEET_FIELDS
from .metrics.documentation import MODEL_CARD_FIELDS as MODEL_CARD_FIELDS


class Domain(models.TextChoices):
    """Where the system is used: an EU AI Act Annex III area, an Annex I product, or other."""

    BIOMETRICS = "annex_iii_1_biometrics", "Annex III 1: biometrics"
    CRITICAL_INFRASTRUCTURE = "annex_iii_2_critical_infrastructure", "Annex III 2: critical infrastructure"
    EDUCATION = "annex_iii_3_education", "Annex III 3: education and vocational training"
    EMPLOYMENT = "annex_iii_4_employment", "Annex III 4: employment and workers management"
    ESSENTIAL_SERVICES = "annex_iii_5_essential_services", "Annex III 5: essential private and public services"
    LAW_ENFORCEMENT = "annex_iii_6_law_enforcement", "Annex III 6: law enforcement"
    MIGRATION = "annex_iii_7_migration", "Annex III 7: migration, asylum and border control"
    JUSTICE = "annex_iii_8_justice_democracy", "Annex III 8: administration of justice and democracy"
    ANNEX_I = "annex_i_product_safety", "Annex I: safety component of a regulated product"
    OTHER = "other", "Other"


class ProviderRole(models.TextChoices):
    PROVIDER = "provider", "Provider"
    DEPLOYER = "deployer", "Deployer"
    BOTH = "both", "Provider and deployer"


class Modality(models.TextChoices):
    TEXT = "text", "Text"
    IMAGE = "image", "Image"
    AUDIO = "audio", "Audio"
    VIDEO = "video", "Video"
    VIRTUAL_SCENE = "virtual_scene", "Virtual scene"
    INTERACTIVE_UI = "interactive_ui", "Interactive UI"
    NONE = "none", "None (a classifier's decisions)"


class MetricStatus(models.TextChoices):
    """A metric's status in an audit; the values are the metric engine's (audit/metrics/catalog.py)."""

    PASS = _catalog.PASS, "Pass"
    WARN = _catalog.WARN, "Warn"
    FAIL = _catalog.FAIL, "Fail"
    NOT_APPLICABLE = _catalog.NOT_APPLICABLE, "Not applicable"


class ModelFormat(models.TextChoices):
    TORCH_ZOO = "torch-zoo", "torch-zoo (zip: config.json + weights.safetensors)"
    TORCH_EXPORT = "torch-export", "torch-export (.pt2)"
    ONNX = "onnx", "ONNX (.onnx)"
    SKLEARN = "sklearn", "scikit-learn via skops (.skops)"
    GGUF = "gguf", "GGUF (.gguf): a generative language model, no dataset"


# Formats of generative models: evaluated by the genai app, never audited, trained or run on a dataset.
GENERATIVE_FORMATS = (ModelFormat.GGUF,)


class DataFormat(models.TextChoices):
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"


# The field lists are the metric engine's (TRANS-01, DATA-01): one source of truth.
DATASHEET_FIELDS = (*_DATASHEET_FIELDS, "personal_data_legal_basis")
