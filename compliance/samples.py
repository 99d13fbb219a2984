"""Output samples: a system's own outputs added as evidence, each verified for every label layer.

A sample is verified once, when it is added (COMPLIANCE.md A2.2, issue 14): the file as delivered
for every layer (explicit label read from the pixels by OCR, AIGC metadata, C2PA, invisible
watermark), then after each robustness transformation of `watermark/robustness.py` (JPEG 90/75/50,
resize 50 %, crop 80 %, noise, brightness, rotation) for the invisible watermark, and after JPEG 75
and resize 50 % for the explicit label. The label and watermark items read the whole set of a
system's samples; verifying an image on the verify page or API changes no evidence.

Layer rules on one sample:
- explicit: the label is in the file's pixels (wording, edge or corner, height ≥ 5 %);
- metadata: AIGC metadata present, complete, integrity ok (re-encoding strips it by design, so
  only the file as delivered counts);
- c2pa: manifest valid, or valid-untrusted with a development certificate (flagged);
- invisible: detected in the file and after at least INVISIBLE_MIN_SURVIVAL of the transformations.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
from typing import Any

from django.db import transaction
from django.utils import timezone
from PIL import Image

from core import artifacts, auditlog
from core.choices import JobStatus
from core.jobs import JobRunner, finish
from watermark import services as wm_services
from watermark.evidence import LAYERS, layer_shown

from .models import EvidenceSample, SampleJob

INVISIBLE_MIN_SURVIVAL = 0.75  # share of the transformations after which the watermark must still be detected
EXPLICIT_ATTACKS = ("jpeg75", "resize50")
THUMBNAIL_SIDE = 96  # a JPEG of a few kB: assessments keep it in their content


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def thumbnail(image: Image.Image) -> str:
    small = image.convert("RGB")
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def verify_sample(data: bytes, organization) -> tuple[dict[str, Any], Image.Image]:
    """Return the per-layer report of one sample (the file, then after the transformations), and its image."""
    from watermark import ocr, robustness

    started = time.perf_counter()
    report = wm_services.verify(data, organizations=[organization], record_sample=False)
    image = Image.fromarray(wm_services.decode_upload(data).rgb)
    layers = {}
    for layer in LAYERS:
        ok, note = layer_shown(layer, report)
        layers[layer] = {"ok": ok, "file": {"ok": ok, "note": note}, "attacks": {}}
    survived = 0
    for name, attack in robustness.ATTACKS.items():
        attacked = attack(image)
        inv = wm_services.detect_invisible(_png(attacked), organizations=[organization])
        detected = bool(inv.get("detected"))
        survived += detected
        layers["invisible"]["attacks"][name] = {"ok": detected,
                                                "false_positive_probability": inv.get("false_positive_probability")}
        if name in EXPLICIT_ATTACKS:
            seen = ocr.read_label(attacked)
            layers["explicit"]["attacks"][name] = {"ok": bool(seen["ok"]), "note": seen["note"]}
    share = survived / len(robustness.ATTACKS)
    inv = layers["invisible"]
    inv["survival"] = round(share, 3)
    inv["ok"] = inv["file"]["ok"] and share >= INVISIBLE_MIN_SURVIVAL
    inv["note"] = (f"{inv['file']['note']}; detected after {survived}/{len(robustness.ATTACKS)} transformations "
                   f"(needs ≥ {INVISIBLE_MIN_SURVIVAL:.0%})")
    for layer in ("explicit", "metadata", "c2pa"):
        layers[layer]["note"] = layers[layer]["file"]["note"]
    out = {"layers": layers, "image": report["image"], "record": report.get("record"),
           "explicit": report.get("explicit"), "c2pa_state": (report.get("c2pa") or {}).get("state"),
           "seconds": round(time.perf_counter() - started, 2)}
    return out, image


def add_sample(*, user, system, data: bytes, filename: str = "", web: bool = False) -> EvidenceSample:
    """Verify one of the system's outputs for every layer and keep it as evidence (audit-logged).

    `web`: the request comes from the API or a page, where an image above ASSAY_IMAGE_JOB_PIXELS is
    refused (its nine verifications would hold a web worker too long): `manage.py evidence_sample`
    takes any size the image limits allow.
    """
    if web and wm_services.needs_job(data):
        raise wm_services.WatermarkError(
            "This image is too large to verify as a sample in a web request (ASSAY_IMAGE_JOB_PIXELS): add it with "
            "python manage.py evidence_sample --system ID FILE", {"file": "too large for a web request"})
    report, image = verify_sample(data, system.organization)
    with transaction.atomic():
        return _create(user=user, system=system, data=data, filename=filename, report=report, image=image)


def _create(*, user, system, data: bytes, filename: str, report: dict, image: Image.Image,
            artifact=None) -> EvidenceSample:
    artifact = artifact or artifacts.store(data, organization=system.organization, filename=filename or "sample")
    sample = EvidenceSample.objects.create(
        organization=system.organization, system=system, artifact=artifact, filename=(filename or "")[:200],
        sha256=hashlib.sha256(data).hexdigest(), report=report, thumbnail=thumbnail(image),
        added_by=user if getattr(user, "pk", None) else None)
    auditlog.record("compliance.sample_add", organization=system.organization, actor=user, obj=sample,
                    payload={"system": system.pk, "sha256": sample.sha256,
                             "layers": {k: v["ok"] for k, v in report["layers"].items()}})
    return sample


def start_sample_job(*, user, system, data: bytes, filename: str = "") -> SampleJob:
    """Queue a large output for a worker to verify and add as a sample (the answer names the job)."""
    wm_services.probe_upload(data)  # refuse what is not an image, or a bomb, before queueing
    with transaction.atomic():
        artifact = artifacts.store(data, organization=system.organization, filename=filename or "sample")
        job = SampleJob.objects.create(organization=system.organization, system=system, input_artifact=artifact,
                                       filename=(filename or "")[:200],
                                       created_by=user if getattr(user, "pk", None) else None)
        SampleRunner.enqueue(job)
    return job


class SampleRunner(JobRunner):
    """Verify one large output sample in a worker and add it to the evidence."""

    model = SampleJob
    task_name = "assay.compliance.sample"
    failure_action = "compliance.sample_fail"
    label = "Output sample"
    related = ("organization", "system__organization", "input_artifact", "created_by")

    def compute(self, row: SampleJob, progress, should_cancel):
        progress(10, "verifying every layer after the transformations")
        data = artifacts.read(row.input_artifact)
        report, image = verify_sample(data, row.organization)
        return data, report, image

    def store(self, row: SampleJob, result) -> None:
        data, report, image = result
        with transaction.atomic():
            sample = _create(user=row.created_by or "worker", system=row.system, data=data, filename=row.filename,
                             report=report, image=image, artifact=row.input_artifact)
            if not finish(SampleJob, row.pk, JobStatus.SUCCEEDED, sample=sample, stage="done"):
                transaction.set_rollback(True)


def job_data(job: SampleJob) -> dict[str, Any]:
    return {"job": job.pk, "status": job.status, "progress": job.progress, "stage": job.stage, "error": job.error,
            "sample": job.sample_id, "api": f"/api/v1/systems/{job.system_id}/evidence-sample-jobs/{job.pk}"}


def remove_sample(*, user, sample: EvidenceSample) -> EvidenceSample:
    if sample.removed is None:
        with transaction.atomic():
            EvidenceSample.objects.filter(pk=sample.pk).update(removed=timezone.now())
            auditlog.record("compliance.sample_remove", organization=sample.organization, actor=user, obj=sample,
                            payload={"system": sample.system_id, "sha256": sample.sha256})
        sample.refresh_from_db()
    return sample


def sample_link(sample: EvidenceSample, layers: tuple[str, ...] = LAYERS) -> dict[str, Any]:
    report = sample.report.get("layers", {})
    return {"kind": "output_sample", "id": sample.pk, "filename": sample.filename, "sha256": sample.sha256,
            "added": sample.created.isoformat(), "thumbnail": sample.thumbnail,
            "layers": {k: {"ok": report.get(k, {}).get("ok", False), "note": report.get(k, {}).get("note", "")}
                       for k in layers},
            "api": f"/api/v1/systems/{sample.system_id}/evidence-samples/{sample.pk}"}
