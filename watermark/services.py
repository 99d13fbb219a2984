"""Stamp and verify for an organisation: keys, policy, provenance records and the audit log.

The signal processing lives in the pure modules (`stamping`, `invisible`, `implicit`, …); this
module decides which keys and identifiers they get, and records what happened. Bad input raises
`WatermarkError` before anything is written.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from accounts.models import Organization
from audit.models import AISystem
from core import artifacts, auditlog
from core.errors import AssayError
from core.lazy import LazyModule

from . import contentcredentials, explicit, implicit
from .choices import LAYERS, Source
from .models import ProvenanceRecord, SigningCredential, Verification, WatermarkKey, WatermarkPolicy

KEY_BYTES = 32
# NumPy and SciPy load when an image is first handled, not when the web process starts
imageio = LazyModule("watermark.imageio")
invisible = LazyModule("watermark.invisible")
stamping = LazyModule("watermark.stamping")

ORG_TAG_BITS = 16
SERIAL_BITS = 32  # invisible.PAYLOAD_BITS (48) - ORG_TAG_BITS; a test holds the two together


class WatermarkError(AssayError):
    """Input that cannot be stamped or verified; views answer 400 with the message."""


#
# Keys and credentials
#


def _fingerprint(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()[:16]


def create_key(organization: Organization, *, user=None) -> WatermarkKey:
    """Generate a new stamping key for the organisation (older keys keep verifying)."""
    secret = os.urandom(KEY_BYTES)
    with transaction.atomic():
        artifact = artifacts.store(secret, organization=organization, filename="watermark-key.bin")
        key = WatermarkKey.objects.create(organization=organization, artifact=artifact,
                                          fingerprint=_fingerprint(secret), created_by=user)
        auditlog.record("watermark.key.create", organization=organization, actor=user, obj=key,
                        payload={"fingerprint": key.fingerprint})
    return key


def stamping_key(organization: Organization, *, user=None) -> tuple[WatermarkKey, bytes]:
    """Return the organisation's newest active key and its secret, creating the first on first use."""
    key = WatermarkKey.objects.filter(organization=organization, active=True).select_related("artifact").first()
    if key is None:
        key = create_key(organization, user=user)
    return key, artifacts.read(key.artifact)


def verification_keys(organization: Organization) -> list[tuple[WatermarkKey, bytes]]:
    """Return every key of the organisation (newest first) with its secret."""
    rows = WatermarkKey.objects.filter(organization=organization).select_related("artifact")
    return [(row, artifacts.read(row.artifact)) for row in rows]


def signing_credentials(organization: Organization, *, user=None) -> contentcredentials.Credentials:
    """Return the organisation's C2PA credentials, generating a development certificate on first use."""
    row = SigningCredential.objects.filter(organization=organization, active=True).select_related("private_key").first()
    if row is None:
        made = contentcredentials.generate_development_credentials(organization.name)
        with transaction.atomic():
            artifact = artifacts.store(made.private_key, organization=organization, filename="c2pa-signing-key.pem")
            row = SigningCredential.objects.create(
                organization=organization, certificate_chain=made.certificate_chain.decode(), private_key=artifact,
                development=True, fingerprint=contentcredentials.describe(made)["fingerprint_sha256"])
            auditlog.record("watermark.credential.create", organization=organization, actor=user, obj=row,
                            payload=contentcredentials.describe(made))
    return contentcredentials.Credentials(certificate_chain=row.certificate_chain.encode(),
                                          private_key=artifacts.read(row.private_key), development=row.development)


def trust_anchors() -> bytes | None:
    """Return the PEM trust anchors the operator configured (ASSAY_C2PA_TRUST_ANCHORS), if any."""
    path = getattr(settings, "ASSAY_C2PA_TRUST_ANCHORS", "")
    if not path:
        return None
    with open(path, "rb") as fh:
        return fh.read()


#
# Policy
#


def default_producer_code(organization: Organization) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", organization.slug).upper()[:64] or f"ORG-{organization.pk}"


def policy_for(organization: Organization, system: AISystem | None = None) -> WatermarkPolicy:
    """Return the policy for `system` (its own row, else the organisation's default, created if missing)."""
    if system is not None:
        own = WatermarkPolicy.objects.filter(organization=organization, system=system).first()
        if own is not None:
            return own
    policy = WatermarkPolicy.objects.filter(organization=organization, system__isnull=True).first()
    if policy is None:
        policy, _ = WatermarkPolicy.objects.get_or_create(organization=organization, system=None,
                                                          defaults={"producer_code": default_producer_code(organization)})
    return policy


POLICY_FIELDS = ("visible", "metadata", "c2pa", "invisible", "label_text", "corner", "producer_code")


def update_policy(organization: Organization, changes: dict, *, user, system: AISystem | None = None) -> WatermarkPolicy:
    """Change the organisation's (or one system's) policy after validating it; logged with before/after."""
    if "label_text" in changes:
        try:
            changes["label_text"] = explicit.validate_text(changes["label_text"])
        except explicit.LabelError as exc:
            raise WatermarkError(str(exc), {"label_text": str(exc)}) from None
    if "corner" in changes and changes["corner"] not in explicit.CORNERS:
        raise WatermarkError(f"Unknown corner {changes['corner']!r}", {"corner": "unknown corner"})
    if changes.get("producer_code"):
        try:
            implicit.check_value("ContentProducer", changes["producer_code"])
        except implicit.MetadataError as exc:
            raise WatermarkError(str(exc), {"producer_code": str(exc)}) from None
    with transaction.atomic():
        base = policy_for(organization, system)
        policy = base
        if system is not None and base.system_id is None:
            policy = WatermarkPolicy(organization=organization, system=system,
                                     **{f: getattr(base, f) for f in POLICY_FIELDS})
        before = {f: getattr(policy, f) for f in POLICY_FIELDS}
        for name in POLICY_FIELDS:
            if name in changes:
                setattr(policy, name, changes[name])
        if not policy.producer_code:
            policy.producer_code = default_producer_code(organization)
        policy.save()
        after = {f: getattr(policy, f) for f in POLICY_FIELDS}
        auditlog.record("watermark.policy.update", organization=organization, actor=user, obj=policy,
                        payload={"system": system.pk if system else None, "changes": auditlog.diff(before, after)})
    return policy


#
# Stamping
#


@dataclass
class StampOptions:
    """A request's choices; None means "as the policy says"."""

    layers: dict[str, bool | None] = field(default_factory=dict)
    text: str | None = None
    corner: str | None = None
    output_format: str | None = None
    system: AISystem | None = None
    model_version: str = ""
    source: str = Source.API
    filename: str = ""
    keep_input: bool = False  # store the upload (dashboard: the "before" preview)
    keep_output: bool = False  # store the stamped file (dashboard downloads, batches)


def payload_for(organization: Organization, record: ProvenanceRecord) -> int:
    """Return the 48-bit payload: 16 bits of organisation tag, 32 bits of record serial."""
    return ((organization.pk % (1 << ORG_TAG_BITS)) << SERIAL_BITS) | (record.pk % (1 << SERIAL_BITS))


def image_limits() -> dict[str, int]:
    """Return the hard limits of an image (ASSAY_IMAGE_MAX_PIXELS, ASSAY_IMAGE_MAX_SIDE), checked from its header."""
    return {"max_pixels": int(getattr(settings, "ASSAY_IMAGE_MAX_PIXELS", imageio.MAX_PIXELS)),
            "max_side": int(getattr(settings, "ASSAY_IMAGE_MAX_SIDE", imageio.MAX_SIDE))}


def decode_upload(data: bytes) -> imageio.Decoded:
    try:
        return imageio.decode(data, **image_limits())
    except imageio.ImageError as exc:
        raise WatermarkError(str(exc), {"file": str(exc)}) from None


def probe_upload(data: bytes) -> imageio.Probe:
    """Return the image's format and size from its header (nothing decoded); bombs raise WatermarkError."""
    try:
        return imageio.probe(data, **image_limits())
    except imageio.ImageError as exc:
        raise WatermarkError(str(exc), {"file": str(exc)}) from None


def needs_job(data: bytes) -> bool:
    """Return True when the image is too large to stamp or verify in a web worker (ASSAY_IMAGE_JOB_PIXELS):
    the API and the dashboard hand it to a watermark job. Raises WatermarkError for what is not an image."""
    return probe_upload(data).pixels > int(getattr(settings, "ASSAY_IMAGE_JOB_PIXELS", 4_194_304))


def resolve(organization: Organization, options: StampOptions) -> tuple[dict[str, bool], str, str, str]:
    """Return (layers, text, corner, producer code) for a request under the organisation's policy."""
    policy = policy_for(organization, options.system)
    layers = policy.layers()
    for name in LAYERS:
        if options.layers.get(name) is not None:
            layers[name] = bool(options.layers[name])
    return (layers, options.text or policy.label_text, options.corner or policy.corner,
            policy.producer_code or default_producer_code(organization))


def stamp(data: bytes, *, organization: Organization, user=None, actor_name: str = "",
          options: StampOptions | None = None, batch=None) -> tuple[stamping.Stamped, ProvenanceRecord]:
    """Stamp one image for the organisation and record it; nothing is recorded when it fails."""
    options = options or StampOptions()
    decoded = decode_upload(data)
    try:
        fmt = imageio.normalise_format(options.output_format)
    except imageio.ImageError as exc:
        raise WatermarkError(str(exc), {"format": str(exc)}) from None
    if options.system is not None and options.system.organization_id != organization.pk:
        raise WatermarkError("The system belongs to another organisation", {"system": "not found"})
    layers, text, corner, producer = resolve(organization, options)
    if not any(layers.values()):
        raise WatermarkError("Every layer is off: nothing to stamp", {"layers": "turn at least one layer on"})
    spec = stamping.StampSpec(**layers, text=text, corner=corner, producer=producer, output_format=fmt,
                              system=options.system.name if options.system else "", model_version=options.model_version,
                              title=options.filename or "image", namespace=settings.ASSAY_AIGC_XMP_NAMESPACE)
    try:
        stamping.check(decoded, spec)
    except (imageio.ImageError, explicit.LabelError, implicit.MetadataError) as exc:
        raise WatermarkError(str(exc)) from None
    key_row, spec.key = stamping_key(organization, user=user)
    if layers["c2pa"]:
        spec.credentials = signing_credentials(organization, user=user)
    with transaction.atomic():
        record = ProvenanceRecord.objects.create(
            organization=organization, system=options.system, model_version=options.model_version[:200],
            producer=producer, layers=layers, input_sha256=hashlib.sha256(data).hexdigest(),
            format=fmt or decoded.format, filename=options.filename[:255], source=options.source, batch=batch,
            created_by=user if getattr(user, "pk", None) else None,
            created_by_name=getattr(user, "username", "") or actor_name or "system")
        spec.payload = payload_for(organization, record)
        spec.produce_id = record.produce_id_text
        spec.record_id = record.produce_id_text
        try:
            result = stamping.stamp(decoded, spec)
        except (imageio.ImageError, explicit.LabelError, implicit.MetadataError,
                contentcredentials.ContentCredentialsError) as exc:
            raise WatermarkError(str(exc)) from None  # leaving the atomic block undoes the record
        record.payload = f"{spec.payload:012x}" if layers["invisible"] else ""
        record.label = result.label.to_dict() if result.label else None
        record.aigc = result.aigc
        record.c2pa = ({"signer": spec.credentials.leaf.subject.rfc4514_string(),
                        "development": spec.credentials.development} if layers["c2pa"] else None)
        record.output_sha256 = hashlib.sha256(result.data).hexdigest()
        record.pixel_sha256 = result.pixel_sha256
        record.format, record.width, record.height = result.format, result.width, result.height
        name = options.filename or "image"
        if options.keep_input:
            record.input_artifact = artifacts.store(data, organization=organization, filename=name)
        if options.keep_output:
            record.output_artifact = artifacts.store(
                result.data, organization=organization,
                filename=os.path.splitext(name)[0] + "-stamped" + imageio.EXTENSIONS[result.format])
        record.save()
        auditlog.record("watermark.stamp", organization=organization, actor=user or actor_name or "system",
                        obj=record, payload={
                            "layers": layers, "payload": record.payload, "produce_id": record.produce_id_text,
                            "input_sha256": record.input_sha256, "output_sha256": record.output_sha256,
                            "system": options.system.pk if options.system else None,
                            "model_version": record.model_version, "key": key_row.fingerprint,
                            "source": options.source})
    return result, record


#
# Verifying
#


def verify(data: bytes, *, organizations: list[Organization], user=None, record_sample: bool = True) -> dict:
    """Return the report of WATERMARK.md "Verify", trying only `organizations`' keys.

    The invisible watermark is looked for with each organisation's keys; the implicit label's
    integrity code is checked with the key of the organisation whose producer code it names,
    when that organisation is one of `organizations` (else "unknown key").
    """
    decoded = decode_upload(data)
    inspection = stamping.inspect(data, decoded, trust_anchors=trust_anchors())
    keyring = {org.pk: verification_keys(org) for org in organizations}
    invisible_report, record = _invisible(inspection, organizations, keyring)
    implicit_report, metadata_record = _implicit(inspection, organizations, keyring)
    record = record or metadata_record
    report = {
        "explicit": _explicit(record, decoded),
        "implicit": implicit_report,
        "c2pa": inspection.c2pa,
        "invisible": invisible_report,
        "record": record.summary() if record else None,
        "image": {"format": decoded.format, "width": decoded.size[0], "height": decoded.size[1],
                  "sha256": hashlib.sha256(data).hexdigest()},
    }
    if record is not None and record_sample:
        Verification.objects.create(organization=record.organization, record=record, system=record.system,
                                    report=report, input_sha256=report["image"]["sha256"],
                                    verified_by=user if getattr(user, "pk", None) else None)
    return report


def detect_invisible(data: bytes, *, organizations: list[Organization]) -> dict:
    """Return the invisible-watermark part of a verify report for `data` (nothing is recorded)."""
    decoded = decode_upload(data)
    inspection = stamping.inspect(data, decoded, trust_anchors=trust_anchors())
    keyring = {org.pk: verification_keys(org) for org in organizations}
    report, _ = _invisible(inspection, organizations, keyring)
    return report


def _invisible(inspection, organizations, keyring) -> tuple[dict, ProvenanceRecord | None]:
    best = None
    for org in organizations:
        for _, secret in keyring[org.pk]:
            detection = stamping.detect(inspection, secret)
            if detection.detected:
                record = _record_for_payload(org, detection.payload)
                report = detection.to_dict()
                report["organization"] = org.slug
                report["record"] = _record_brief(record)
                report["geometry"] = detection.geometry
                return report, record
            if best is None or detection.false_positive_probability < best.false_positive_probability:
                best = detection
    report = (best or invisible.Detection(False, None, 1.0, 0.0)).to_dict()
    report["record"] = None
    if not any(keyring.values()):
        report["note"] = "no watermark key to test with: the organisation has stamped nothing yet"
    return report, None


def _record_for_payload(org: Organization, payload: int) -> ProvenanceRecord | None:
    if payload >> SERIAL_BITS != org.pk % (1 << ORG_TAG_BITS):
        return None
    return (ProvenanceRecord.objects.filter(organization=org, payload=f"{payload:012x}")
            .select_related("organization", "system").first())


def _record_brief(record: ProvenanceRecord | None) -> dict | None:
    if record is None:
        return None
    return {"id": record.pk, "organization": record.organization.slug,
            "system": record.system.name if record.system_id else None, "model_version": record.model_version,
            "stamped_at": record.created.isoformat()}


def _implicit(inspection, organizations, keyring) -> tuple[dict, ProvenanceRecord | None]:
    report = stamping.metadata_report(inspection)
    fields = report["fields"]
    if fields is None:
        return report, None
    producer = fields.get("ContentProducer")
    record = None
    report["integrity"] = "unknown key"
    for org in organizations:
        codes = set(WatermarkPolicy.objects.filter(organization=org).values_list("producer_code", flat=True))
        if producer not in codes | {default_producer_code(org)}:
            continue
        matches = [secret for _, secret in keyring[org.pk]
                   if implicit.verify_integrity(fields, secret, inspection.pixel_sha256)]
        report["integrity"] = "ok" if matches else "mismatch"
        if matches:
            produce_id = str(fields.get("ProduceID", ""))
            record = (ProvenanceRecord.objects.filter(organization=org, produce_id=_uuid_or_none(produce_id))
                      .select_related("organization", "system").first() if _uuid_or_none(produce_id) else None)
        break
    return report, record


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=text)
    except ValueError:
        return None


def _explicit(record: ProvenanceRecord | None, decoded=None) -> dict:
    """Return the explicit label as the pixels show it (OCR), beside what the stamping record says was drawn.

    `ok` comes from the pixels only: a record whose label was cropped off or covered says so.
    """
    out: dict = {"recorded": False}
    if record is not None and record.label:
        label = record.label
        out = {"recorded": True, "text": label.get("text"), "corner": label.get("corner"),
               "height_ratio": label.get("height_ratio"), "box": label.get("box")}
    if decoded is None:
        return out
    try:
        from PIL import Image

        from . import ocr
        seen = ocr.read_label(Image.fromarray(decoded.rgb))
    except ImportError as exc:  # pragma: no cover - rapidocr-onnxruntime is a dependency
        return {**out, "ok": False, "ocr": None, "note": f"OCR unavailable: {exc}"}
    note = seen["note"]
    if out["recorded"] and not seen["found"]:
        note = (f"the stamping record says {out['text']!r} was drawn at {out['corner']}, but it is not in the "
                f"pixels (cropped off or covered); {note}")
    return {**out, "ok": bool(seen["ok"]), "found": bool(seen["found"]), "note": note, "ocr": seen}
