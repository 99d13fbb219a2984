"""Watermark jobs: many images (a zip or several files) stamped by a worker into one zip, and single
images too large to stamp or verify in a web worker.

A batch zip is checked in the web process before anything is stored (core/safezip.py: entry count,
declared sizes, compression ratio, overlapping entries, names, nested zips); the worker inflates each
entry with a cap, whatever its header says, and writes its output zip with clean, unique names.
"""

from __future__ import annotations

import io
import json
import posixpath
import zipfile

from django.conf import settings
from django.db import transaction
from rest_framework.utils.encoders import JSONEncoder

from accounts.choices import Action
from accounts.models import Organization
from core import artifacts, auditlog, safezip
from core.choices import FINISHED_STATUSES, JobStatus
from core.jobs import JobCancelled, JobRunner, finish, request_cancel, run_job
from core.lazy import LazyModule

from .choices import BatchMode, Source
from .models import ProvenanceRecord, WatermarkBatch
from .services import StampOptions, WatermarkError, stamp, verify

imageio = LazyModule("watermark.imageio")  # NumPy loads with the first image

MiB = 1024 * 1024
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


def max_files() -> int:
    return int(getattr(settings, "ASSAY_BATCH_MAX_FILES", 1000))


def zip_limits() -> safezip.Limits:
    """Return the limits of a batch zip, from the settings (ASSAY_BATCH_*, ASSAY_ZIP_MAX_RATIO)."""
    return safezip.Limits(
        max_entries=2 * max_files() + 64,  # folders and macOS resource forks come with the images
        max_entry_bytes=int(getattr(settings, "ASSAY_BATCH_MAX_FILE_MB", 100)) * MiB,
        max_total_bytes=int(getattr(settings, "ASSAY_BATCH_MAX_TOTAL_MB", 512)) * MiB,
        max_ratio=float(getattr(settings, "ASSAY_ZIP_MAX_RATIO", 100)),
    )


def pack_uploads(files: list[tuple[str, bytes]]) -> bytes:
    """Return the batch's input as one zip: a single uploaded zip as it is, several files zipped."""
    if len(files) > max_files():
        raise WatermarkError(f"{len(files)} files were sent; at most {max_files()} are accepted", {"files": "too many"})
    if len(files) == 1 and safezip.is_zip(files[0][1]):
        return files[0][1]
    buffer = io.BytesIO()
    with safezip.Writer(buffer) as archive:
        for name, data in files:
            archive.write(posixpath.basename(safezip.clean_name(name, "image")), data)
    return buffer.getvalue()


def _is_listed(name: str) -> bool:
    return not name.startswith("__MACOSX/") and not posixpath.basename(name).startswith(".")


def open_batch(zipped: bytes) -> tuple[safezip.SafeZip, list[zipfile.ZipInfo]]:
    """Return the checked archive and its files, or raise WatermarkError for one that cannot be a batch."""
    try:
        archive = safezip.SafeZip(zipped, zip_limits())
    except safezip.UnsafeZip as exc:
        raise WatermarkError(f"The batch is refused: {exc}", {"files": str(exc)}) from None
    infos = [i for i in archive.entries if _is_listed(archive.name(i))]
    if not infos:
        raise WatermarkError("The batch holds no files", {"files": "empty"})
    if len(infos) > max_files():
        raise WatermarkError(f"The batch holds {len(infos)} files; at most {max_files()} are accepted",
                             {"files": "too many"})
    return archive, infos


def entries(zipped: bytes) -> list[zipfile.ZipInfo]:
    """Return the files of a batch zip after every check, each entry inflated once with its caps (nothing kept)."""
    archive, infos = open_batch(zipped)
    try:
        archive.verify()
    except safezip.UnsafeZip as exc:
        raise WatermarkError(f"The batch is refused: {exc}", {"files": str(exc)}) from None
    finally:
        archive.close()
    return infos


def start_batch(*, user, organization: Organization, files: list[tuple[str, bytes]], options: StampOptions,
                enqueue: bool = True, mode: str = BatchMode.STAMP,
                organizations: list[Organization] | None = None) -> WatermarkBatch:
    """Store the upload, create a queued job and enqueue it once the transaction commits.

    `mode` verify: the job verifies the image(s) with the keys of `organizations` (the caller's).
    """
    zipped = pack_uploads(files)
    infos = entries(zipped)
    try:
        imageio.normalise_format(options.output_format)
    except imageio.ImageError as exc:
        raise WatermarkError(str(exc), {"format": str(exc)}) from None
    job_options = {"layers": options.layers, "text": options.text, "corner": options.corner,
                   "format": options.output_format}
    if mode == BatchMode.VERIFY:
        job_options = {"organizations": [org.pk for org in organizations or [organization]]}
    with transaction.atomic():
        artifact = artifacts.store(zipped, organization=organization, filename="batch-input.zip")
        batch = WatermarkBatch.objects.create(
            organization=organization, system=options.system, model_version=options.model_version, mode=mode,
            options=job_options, input_artifact=artifact, total=len(infos), created_by=user)
        auditlog.record(f"watermark.{'batch' if mode == BatchMode.STAMP else 'verify'}.start",
                        organization=organization, actor=user, obj=batch,
                        payload={"files": len(infos), "input_sha256": artifact.sha256})
        if enqueue:
            BatchRunner.enqueue(batch)
    return batch


def cancel_batch(batch: WatermarkBatch, *, user) -> WatermarkBatch:
    """Cancel a queued job at once; ask a running one to stop before its next image (no zip is made)."""
    if batch.status in FINISHED_STATUSES:
        raise WatermarkError(f"The batch has already {batch.status}")
    with transaction.atomic():
        request_cancel(WatermarkBatch, batch.pk)
        auditlog.record("watermark.batch.cancel", organization=batch.organization, actor=user, obj=batch)
    batch.refresh_from_db()
    return batch


class BatchRunner(JobRunner):
    """A watermark batch as a job: each image stamped (or verified) in turn, the outputs stored as one zip."""

    model = WatermarkBatch
    task_name = "assay.watermark.batch"
    failure_action = "watermark.batch.fail"
    label = "Watermark batch"
    related = ("organization", "system", "input_artifact", "created_by")

    def compute(self, row: WatermarkBatch, progress, should_cancel) -> tuple[bytes | None, list[dict]]:
        return (_run_verify if row.mode == BatchMode.VERIFY else _run)(row, progress, should_cancel)

    def store(self, row: WatermarkBatch, result: tuple[bytes | None, list[dict]]) -> None:
        output, results = result
        failed = sum(1 for r in results if r.get("error"))
        with transaction.atomic():
            artifact = None
            if output is not None:
                artifact = artifacts.store(output, organization=row.organization,
                                           filename=f"batch-{row.pk}-stamped.zip")
            if finish(WatermarkBatch, row.pk, JobStatus.SUCCEEDED, result_artifact=artifact, results=results,
                      done=len(results), failed=failed, stage="done"):
                auditlog.record("watermark.batch.succeed", organization=row.organization, actor="worker", obj=row,
                                payload={"stamped" if output is not None else "verified": len(results) - failed,
                                         "failed": failed, "output_sha256": artifact.sha256 if artifact else None})


def execute_batch(batch_id: int) -> bool:
    """Claim and run one job. Safe to run twice: images a previous attempt stamped are reused.

    Returns False when the job could not be claimed (finished, or held by a live worker).
    """
    return run_job(BatchRunner, batch_id)


def _options(batch: WatermarkBatch, name: str) -> StampOptions:
    opts = batch.options or {}
    return StampOptions(layers=opts.get("layers") or {}, text=opts.get("text"), corner=opts.get("corner"),
                        output_format=opts.get("format"), system=batch.system, model_version=batch.model_version,
                        source=Source.BATCH, filename=name, keep_output=True)


def _run(batch: WatermarkBatch, progress, should_cancel) -> tuple[bytes, list[dict]]:
    archive, infos = open_batch(artifacts.read(batch.input_artifact))
    done = {r.filename: r for r in ProvenanceRecord.objects.filter(batch=batch).select_related("output_artifact")}
    buffer, results = io.BytesIO(), []
    with archive, safezip.Writer(buffer) as out:
        for n, info in enumerate(infos):
            if should_cancel():
                raise JobCancelled()
            name = archive.name(info)
            record = done.get(name)
            try:
                if record is None:
                    _, record = stamp(archive.read(info), organization=batch.organization, user=batch.created_by,
                                      actor_name="worker", options=_options(batch, name), batch=batch)
                stamped = artifacts.read(record.output_artifact)
                # The input's folders are kept; the writer makes every name safe and unique.
                out.write(posixpath.join(posixpath.dirname(name), posixpath.basename(record.output_artifact.filename)),
                          stamped)
                results.append({"name": name, "record": record.pk, "payload": record.payload,
                                "produce_id": record.produce_id_text})
            except (WatermarkError, safezip.UnsafeZip) as exc:
                results.append({"name": name, "error": str(exc)})
            WatermarkBatch.objects.filter(pk=batch.pk).update(done=n + 1, failed=sum(1 for r in results if "error" in r))
            progress(int(100 * (n + 1) / max(len(infos), 1)) - 1, f"stamped {n + 1} of {len(infos)}")
        out.write("results.json", _json(results))
    return buffer.getvalue(), results


def _run_verify(batch: WatermarkBatch, progress, should_cancel) -> tuple[None, list[dict]]:
    """Verify each image with the keys of the organisations the creator asked for (and may still view)."""
    archive, infos = open_batch(artifacts.read(batch.input_artifact))
    wanted = (batch.options or {}).get("organizations") or [batch.organization_id]
    orgs = list(Organization.objects.restrict(batch.created_by, Action.VIEW).filter(pk__in=wanted)
                if batch.created_by_id else Organization.objects.none())
    results = []
    with archive:
        for n, info in enumerate(infos):
            if should_cancel():
                raise JobCancelled()
            name = archive.name(info)
            try:
                report = verify(archive.read(info), organizations=orgs, user=batch.created_by)
                record = report.get("record") or {}
                results.append({"name": name, "record": record.get("id"), "report": _plain(report)})
            except (WatermarkError, safezip.UnsafeZip) as exc:
                results.append({"name": name, "error": str(exc)})
            progress(int(100 * (n + 1) / max(len(infos), 1)) - 1, f"verified {n + 1} of {len(infos)}")
    return None, results


def _plain(report: dict) -> dict:
    """Return the report as plain JSON values (what the API would have answered)."""
    return json.loads(json.dumps(report, cls=JSONEncoder))


def _json(results: list[dict]) -> str:
    return json.dumps(results, indent=2, ensure_ascii=False)
