from django.db import models

from .explicit import CORNERS

# The layers' keys in the API, the policy, the provenance record and the CLI (--no-visible): a contract.
# "visible" is the explicit label (WATERMARK.md's word, used everywhere else).
LAYERS = ("visible", "metadata", "c2pa", "invisible")


class Corner(models.TextChoices):
    TOP_LEFT = CORNERS[0], "Top left"
    TOP_RIGHT = CORNERS[1], "Top right"
    BOTTOM_LEFT = CORNERS[2], "Bottom left"
    BOTTOM_RIGHT = CORNERS[3], "Bottom right"


class Source(models.TextChoices):
    API = "api", "API"
    DASHBOARD = "dashboard", "Dashboard"
    CLI = "cli", "Command line"
    BATCH = "batch", "Batch"


class C2PAState(models.TextChoices):
    VALID = "valid", "Valid (trusted certificate)"
    VALID_UNTRUSTED = "valid-untrusted", "Valid, development certificate"
    INVALID = "invalid", "Invalid"
    ABSENT = "absent", "Absent"


class BatchMode(models.TextChoices):
    """What a watermark job does with its images: stamp them (a batch), or verify one (a large image)."""

    STAMP = "stamp", "Stamp"
    VERIFY = "verify", "Verify"
