from django.db import models


class TargetKind(models.TextChoices):
    GGUF = "gguf", "Local model (GGUF, run in the model sandbox)"
    ENDPOINT = "endpoint", "OpenAI-compatible endpoint"


class ItemVerdict(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    UNDETERMINED = "undetermined", "Undetermined"


class HumanVerdict(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
