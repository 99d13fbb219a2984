from django.db import models


class Accountant(models.TextChoices):
    """Opacus' privacy accountants: PRV (Gopi et al. 2021, tighter) or RDP (Mironov 2017)."""

    PRV = "prv", "PRV (privacy random variables)"
    RDP = "rdp", "RDP (Rényi differential privacy)"


# What a sweep trains when the request names no ε.
DEFAULT_SWEEP_EPSILONS = (0.5, 1.0, 2.0, 4.0, 8.0)
MAX_SWEEP_VARIANTS = 10
# Values a sweep request may list (duplicates included) before they are even parsed further.
MAX_SWEEP_VALUES = 100
