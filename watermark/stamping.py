"""Stamp an image with the four layers, and read them back: pure functions, no Django.

Order matters. The explicit label is drawn first and the invisible watermark added over the
result, so the watermark covers the final pixels. The file is then encoded; the AIGC label is
inserted into the encoded bytes with an integrity code over the pixels as they decode from
that file (lossy formats change them); the C2PA manifest is signed last, over the file that
already holds the AIGC label, and hard-binds its bytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from . import contentcredentials, explicit, imageio, implicit, invisible


@dataclass
class StampSpec:
    """What to stamp; the caller (a service) has resolved policy, keys and identifiers."""

    visible: bool = True  # the explicit label (the layer's key is "visible" in the API, policy and CLI)
    metadata: bool = True
    c2pa: bool = True
    invisible: bool = True
    text: str = explicit.DEFAULT_TEXT
    corner: str = explicit.DEFAULT_CORNER
    key: bytes | None = None  # the organisation's watermark/HMAC secret
    payload: int | None = None  # the invisible watermark's payload
    producer: str = ""  # AIGC ContentProducer
    produce_id: str = ""  # AIGC ProduceID
    credentials: contentcredentials.Credentials | None = None
    system: str = ""
    model_version: str = ""
    title: str = "image"
    record_id: str = ""
    generator: str = "0.1"
    output_format: str | None = None  # PNG, JPEG or WEBP; None keeps the input's
    namespace: str = implicit.DEFAULT_NAMESPACE


@dataclass
class Stamped:
    data: bytes
    format: str
    label: explicit.LabelFacts | None
    aigc: dict | None
    pixel_sha256: str
    width: int
    height: int
    timings_ms: dict = field(default_factory=dict)

    @property
    def mime(self) -> str:
        return imageio.FORMATS[self.format]


def check(decoded: imageio.Decoded, spec: StampSpec) -> None:
    """Raise ImageError or LabelError before anything is recorded when `spec` cannot be applied."""
    if spec.visible:
        explicit.validate_text(spec.text)
        explicit.validate_corner(spec.corner)
    if spec.invisible and min(decoded.rgb.shape[:2]) < invisible.MIN_SIDE:
        raise imageio.ImageError(
            f"The image is {decoded.size[0]}×{decoded.size[1]}: the invisible watermark needs at least "
            f"{invisible.MIN_SIDE} px on the shorter side (turn that layer off for smaller images)"
        )
    if spec.metadata:
        implicit.check_value("ContentProducer", spec.producer)
        implicit.check_value("ProduceID", spec.produce_id)


def stamp(decoded: imageio.Decoded, spec: StampSpec) -> Stamped:
    """Return the stamped file. Raises ImageError, LabelError, MetadataError or ContentCredentialsError."""
    check(decoded, spec)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    rgb, alpha, facts = decoded.rgb, decoded.alpha, None
    if spec.visible:
        base = Image.fromarray(rgb, "RGB")
        if alpha is not None:
            base.putalpha(Image.fromarray(alpha, "L"))
        labelled, facts = explicit.draw(base, spec.text, spec.corner)
        rgb = np.asarray(labelled.convert("RGB"), dtype=np.uint8)
        alpha = np.asarray(labelled.getchannel("A"), dtype=np.uint8) if alpha is not None else None
        clock = _lap(timings, "visible", clock)
    if spec.invisible:
        if spec.key is None or spec.payload is None:
            raise ValueError("the invisible layer needs a key and a payload")
        rgb = invisible.embed(rgb, spec.key, spec.payload)
        clock = _lap(timings, "invisible", clock)
    fmt = spec.output_format or decoded.format
    data = imageio.encode(rgb, fmt, alpha=alpha, icc_profile=decoded.icc_profile)
    clock = _lap(timings, "encode", clock)
    pixel_hash = _pixel_hash_of(data, fmt, rgb, alpha)
    aigc = None
    if spec.metadata:
        if spec.key is None:
            raise ValueError("the metadata layer needs a key for its integrity code")
        aigc = implicit.build(key=spec.key, producer=spec.producer, produce_id=spec.produce_id,
                              pixel_sha256=pixel_hash)
        data = implicit.write(data, fmt, aigc, namespace=spec.namespace)
        clock = _lap(timings, "metadata", clock)
    if spec.c2pa:
        if spec.credentials is None:
            raise ValueError("the c2pa layer needs signing credentials")
        manifest = contentcredentials.manifest_definition(
            title=spec.title, generator=spec.generator, system=spec.system, model_version=spec.model_version,
            aigc=aigc, record_id=spec.record_id)
        data = contentcredentials.sign(data, imageio.FORMATS[fmt], spec.credentials, manifest)
        clock = _lap(timings, "c2pa", clock)
    height, width = rgb.shape[:2]
    return Stamped(data=data, format=fmt, label=facts, aigc=aigc["AIGC"] if aigc else None, pixel_sha256=pixel_hash,
                   width=width, height=height, timings_ms=timings)


def _pixel_hash_of(data: bytes, fmt: str, rgb: np.ndarray, alpha: np.ndarray | None) -> str:
    """Return the pixel SHA-256 of the encoded file: lossless PNG decodes to `rgb` itself."""
    if fmt == "PNG":
        return imageio.pixel_sha256(rgb, alpha)
    height, width = rgb.shape[:2]  # our own output, of the size already accepted
    decoded = imageio.decode(data, max_pixels=max(width * height, imageio.MAX_PIXELS),
                             max_side=max(width, height, imageio.MAX_SIDE))
    return imageio.pixel_sha256(decoded.rgb, decoded.alpha)


def _lap(timings: dict, name: str, since: float) -> float:
    now = time.perf_counter()
    timings[name] = round((now - since) * 1000, 2)
    return now


#
# Reading the layers back
#


@dataclass
class Inspection:
    """The key-independent part of verify: metadata, C2PA, and the image prepared for detection."""

    decoded: imageio.Decoded
    metadata: dict
    c2pa: dict
    pixel_sha256: str
    analysis: invisible.Analysis


def inspect(data: bytes, decoded: imageio.Decoded, *, trust_anchors: bytes | None = None) -> Inspection:
    return Inspection(
        decoded=decoded,
        metadata=implicit.read(data),
        c2pa=contentcredentials.read(data, decoded.mime, trust_anchors=trust_anchors),
        pixel_sha256=imageio.pixel_sha256(decoded.rgb, decoded.alpha),
        analysis=invisible.Analysis(decoded.rgb),
    )


def detect(inspection: Inspection, key: bytes) -> invisible.Detection:
    """Return the invisible-watermark decision for one key."""
    return invisible.detect(None, key, analysis=inspection.analysis)


def metadata_report(inspection: Inspection) -> dict:
    """Return the implicit layer's report, without the integrity check (that needs a key)."""
    sources = inspection.metadata["sources"]
    fields = sources.get("iTXt") or sources.get("XMP")
    report = {"present": fields is not None, "fields": fields, "complete": False, "integrity": None}
    if fields is None:
        return report
    problems = implicit.check(fields)
    if len(sources) > 1 and sources.get("iTXt") != sources.get("XMP"):
        problems.append("the iTXt and XMP copies differ")
    if inspection.metadata["count"] > len(sources):
        problems.append(f"the file carries {inspection.metadata['count']} AIGC labels (one allowed)")
    report["complete"] = not problems
    if problems:
        report["problems"] = problems
    report["locations"] = sorted(sources)
    return report
