"""Demo evidence for the poster image generator: its own stamped outputs as evidence samples.

`manage.py demo` calls `load_samples` once: two synthetic posters are stamped under the system's
policy (every layer) and added as output samples, so that the label and watermark items rest on
samples verified from the pixels (OCR) and after the robustness transformations.
"""

from __future__ import annotations

import io

from PIL import Image

from watermark import robustness
from watermark import services as wm_services

from . import samples
from .models import EvidenceSample

DEMO_SEEDS = (11, 12)


def load_samples(system, user) -> list[EvidenceSample]:
    """Stamp and add the demo posters as output samples (nothing when the system already has samples)."""
    existing = list(EvidenceSample.objects.filter(system=system, removed__isnull=True))
    if existing:
        return existing
    added = []
    for seed in DEMO_SEEDS:
        buffer = io.BytesIO()
        Image.fromarray(robustness.synthetic_image(seed, (512, 512), "scene")).save(buffer, "PNG")
        stamped, _ = wm_services.stamp(buffer.getvalue(), organization=system.organization, user=user,
                                       options=wm_services.StampOptions(system=system, model_version="demo-poster-1"))
        added.append(samples.add_sample(user=user, system=system, data=stamped.data,
                                        filename=f"demo-poster-{seed}.png"))
    return added
