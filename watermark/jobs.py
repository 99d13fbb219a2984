"""Watermark batches: many images (a zip or several files) stamped by a worker into one zip."""

from __future__ import annotations

import io
import json
import logging
import posixpath
import zipfile

from django.db import transaction

from accounts.models import Organization
from assay.jobs import claim, finish, readable_error, reporter
from audit import artifacts, auditlog
from audit.choices import JobStatus

from . import imageio
from .choices import Source
from .models import ProvenanceRecord, WatermarkBatch
from .services import StampOptions, WatermarkError, stamp

logger = logging.getLogger(__name__)
MAX_FILES = 1000
MAX_ENTRY_BYTES = 100 * 1024 * 1024
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


def pack_uploads(files: list[tuple[str, bytes]]) -> bytes:
    """Return the batch's input as one zip: a single uploaded zip as it is, several files zipped."""
    if len(files) == 1 and files[0][1][:4] == b"PK\x03\x04":
        return files[0][1]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in _unique_names([(posixpath.basename(n) or "image", d) for n, d in files]):
            archive.writestr(name, data)
    return buffer.getvalue()


def _unique_names(files):
    seen: dict[str, int] = {}
    for name, data in files:
        stem, ext = posixpath.splitext(name)
        n = seen.get(name, 0)
        seen[name] = n + 1
        yield (name if n == 0 else f"{stem}-{n}{ext}"), data


def entries(zipped: bytes) -> list[zipfile.ZipInfo]:
    """Return the image entries of a batch zip, or raise WatermarkError for one that cannot be a batch."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(zipped))
        infos = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
                 and not posixpath.basename(i.filename).startswith(".")]
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise WatermarkError(f"The batch is not a readable zip file: {exc}", {"files": "not a zip"}) from None
    if not infos:
        raise WatermarkError("The batch holds no files", {"files": "empty"})
    if len(infos) > MAX_FILES:
        raise WatermarkError(f"The batch holds {len(infos)} files; at most {MAX_FILES} are accepted", {"files": "too many"})
    if any(i.file_size > MAX_ENTRY_BYTES for i in infos) or sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
        raise WatermarkError("The zip expands to more than the batch limits allow (a zip bomb?)", {"files": "too large"})
    return infos


def start_batch(*, user, organization: Organization, files: list[tuple[str, bytes]], options: StampOptions,
                enqueue: bool = True) -> WatermarkBatch:
    """Store the upload, create a queued batch and enqueue it once the transaction commits."""
    zipped = pack_uploads(files)
    infos = entries(zipped)
    try:
        imageio.normalise_format(options.output_format)
    except imageio.ImageError as exc:
        raise WatermarkError(str(exc), {"format": str(exc)}) from None
    with transaction.atomic():
        artifact = artifacts.store(zipped, organization=organization, filename="batch-input.zip")
        batch = WatermarkBatch.objects.create(
            organization=organization, system=options.system, model_version=options.model_version,
            options={"layers": options.layers, "text": options.text, "corner": options.corner,
                     "format": options.output_format},
            input_artifact=artifact, total=len(infos), created_by=user)
        auditlog.record("watermark.batch.start", organization=organization, actor=user, obj=batch,
                        payload={"files": len(infos), "input_sha256": artifact.sha256})
        if enqueue:
            from .tasks import execute_batch_task

            transaction.on_commit(lambda: execute_batch_task.apply_async((batch.pk,), queue="cpu"))
    return batch


def execute_batch(batch_id: int) -> bool:
    """Claim and run one batch. Safe to run twice: images a previous attempt stamped are reused.

    Returns False when the batch could not be claimed (finished, or held by a live worker).
    """
    if not claim(WatermarkBatch, batch_id):
        return False
    batch = WatermarkBatch.objects.select_related("organization", "system", "input_artifact", "created_by").get(
        pk=batch_id)
    progress, _ = reporter(WatermarkBatch, batch_id)
    try:
        output, results = _run(batch, progress)
    except Exception as exc:  # the job must end readable, whatever broke
        logger.exception("Watermark batch %s failed", batch_id)
        if finish(WatermarkBatch, batch_id, JobStatus.FAILED, error=readable_error(exc)):
            auditlog.record("watermark.batch.fail", organization=batch.organization, actor="worker", obj=batch,
                            payload={"error": readable_error(exc)})
        return True
    failed = sum(1 for r in results if r.get("error"))
    with transaction.atomic():
        artifact = artifacts.store(output, organization=batch.organization, filename=f"batch-{batch.pk}-stamped.zip")
        if finish(WatermarkBatch, batch_id, JobStatus.SUCCEEDED, result_artifact=artifact, results=results,
                  done=len(results), failed=failed, stage="done"):
            auditlog.record("watermark.batch.succeed", organization=batch.organization, actor="worker", obj=batch,
                            payload={"stamped": len(results) - failed, "failed": failed,
                                     "output_sha256": artifact.sha256})
    return True


def _options(batch: WatermarkBatch, name: str) -> StampOptions:
    opts = batch.options or {}
    return StampOptions(layers=opts.get("layers") or {}, text=opts.get("text"), corner=opts.get("corner"),
                        output_format=opts.get("format"), system=batch.system, model_version=batch.model_version,
                        source=Source.BATCH, filename=name, keep_output=True)


def _run(batch: WatermarkBatch, progress) -> tuple[bytes, list[dict]]:
    zipped = artifacts.read(batch.input_artifact)
    infos = entries(zipped)
    archive = zipfile.ZipFile(io.BytesIO(zipped))
    done = {r.filename: r for r in ProvenanceRecord.objects.filter(batch=batch).select_related("output_artifact")}
    buffer, results = io.BytesIO(), []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
        for n, info in enumerate(infos):
            name = info.filename
            record = done.get(name)
            try:
                if record is None:
                    _, record = stamp(archive.read(info), organization=batch.organization, user=batch.created_by,
                                      actor_name="worker", options=_options(batch, name), batch=batch)
                stamped = artifacts.read(record.output_artifact)
                out.writestr(record.output_artifact.filename if "/" not in name else
                             posixpath.join(posixpath.dirname(name), record.output_artifact.filename), stamped)
                results.append({"name": name, "record": record.pk, "payload": record.payload,
                                "produce_id": record.produce_id_text})
            except WatermarkError as exc:
                results.append({"name": name, "error": str(exc)})
            WatermarkBatch.objects.filter(pk=batch.pk).update(done=n + 1, failed=sum(1 for r in results if "error" in r))
            progress(int(100 * (n + 1) / max(len(infos), 1)) - 1, f"stamped {n + 1} of {len(infos)}")
        out.writestr("results.json", _json(results))
    return buffer.getvalue(), results


def _json(results: list[dict]) -> str:
    return json.dumps(results, indent=2, ensure_ascii=False)
