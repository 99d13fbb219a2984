"""Watermarking and provenance of generated images (WATERMARK.md).

What other apps may use: `evidence_for(system)`, the stamping policy compliance shows beside its
watermark items, and the latest verification (informational: compliance rests those items on the
system's output samples, compliance/samples.py, never on a verify call); `layer_shown` reads a
verify report per layer, the explicit label from the pixels (watermark/ocr.py).
"""


def evidence_for(system):
    """Return `watermark.evidence.evidence_for(system)`: the models load after the app registry, so on call."""
    from .evidence import evidence_for as read

    return read(system)
