"""Watermarking and provenance of generated images (WATERMARK.md).

What other apps may use: `evidence_for(system)`, the stamping policy and latest verified sample that
compliance rests its watermark items on (watermark/evidence.py, with `layer_shown` for reading a report).
"""


def evidence_for(system):
    """Return `watermark.evidence.evidence_for(system)`: the models load after the app registry, so on call."""
    from .evidence import evidence_for as read

    return read(system)
