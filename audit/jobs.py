"""Audit runs: start, execute (in a worker or in-process), cancel, compare."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from core import artifacts, auditlog
from core.choices import FINISHED_STATUSES, JobStatus
from core.errors import AssayError
from core.jobs import JobCancelled, JobRunner, finish, request_cancel, run_job
from core.models import AuditLogEntry

from . import services
from .choices import GENERATIVE_FORMATS, ModelFormat
from .models import AuditRun, DatasetVersion, MetricResult, ModelVersion
from .results import status_change

if TYPE_CHECKING:
    from .metrics.base import AuditContext

TORCH_FORMATS = (ModelFormat.TORCH_ZOO, ModelFormat.TORCH_EXPORT)


class AuditError(AssayError):
    """An audit request was refused; `fields` maps input fields to messages."""


def queue_for(model_version: ModelVersion) -> str:
    """Return the Celery queue: `gpu` for torch models when GPU workers are configured, else `cpu`."""
    return "gpu" if settings.ASSAY_GPU_QUEUE and model_version.format in TORCH_FORMATS else "cpu"


def validate_config(config: dict | None) -> dict:
    from .metrics.engine import validate_config as engine_validate

    try:
        return engine_validate(config or {})
    except ValueError as exc:
        raise AuditError(str(exc), {"config": str(exc)}) from None


def start_audit(*, user, model_version: ModelVersion, dataset_version: DatasetVersion,
                config: dict | None = None, enqueue: bool = True) -> AuditRun:
    """Create a queued AuditRun and enqueue it once the transaction commits."""
    if model_version.organization_id != dataset_version.organization_id:
        raise AuditError("The model and dataset versions belong to different organisations")
    if model_version.format in GENERATIVE_FORMATS:  # an AuditError, so that a schedule's firing records it
        message = services.not_a_classifier(model_version)
        raise AuditError(message, {"model_version": message})
    missing = [a for a in dataset_version.sensitive_attributes if a not in dataset_version.columns]
    if missing:
        raise AuditError(f"Sensitive attributes missing from the dataset: {', '.join(missing)}")
    from .services import check_contract

    check_contract(model_version, dataset_version)  # 400 now, not a failed job later
    config = validate_config(config)
    with transaction.atomic():
        run = AuditRun.objects.create(organization=model_version.organization, model_version=model_version,
                                      dataset_version=dataset_version, config=config, created_by=user)
        auditlog.record("audit.start", organization=run.organization, actor=user, obj=run,
                        payload={"model_version": model_version.pk, "dataset_version": dataset_version.pk})
        if enqueue:
            AuditRunner.enqueue(run)
    return run


def cancel_audit(run: AuditRun, *, user) -> AuditRun:
    """Cancel a queued run at once; ask a running one to stop at its next metric."""
    if run.status in FINISHED_STATUSES:
        raise AuditError(f"The audit has already {run.status}")
    with transaction.atomic():
        request_cancel(AuditRun, run.pk)
        auditlog.record("audit.cancel", organization=run.organization, actor=user, obj=run)
    run.refresh_from_db()
    return run


class AuditRunner(JobRunner):
    """An audit run as a job: computed in the model sandbox, its results stored in one transaction."""

    model = AuditRun
    task_name = "assay.audit.execute"
    failure_action = "audit.fail"
    label = "Audit"
    related = ("model_version__artifact", "dataset_version__artifact")

    @classmethod
    def queue_for(cls, row: AuditRun) -> str:
        return queue_for(row.model_version)

    def compute(self, row: AuditRun, progress, should_cancel) -> dict:
        return _compute(row, progress, should_cancel)

    def store(self, row: AuditRun, result: dict) -> None:
        _store(row, result)

    def finished(self, row: AuditRun) -> None:
        _finished(row.pk)


def execute_audit(run_id: int) -> bool:
    """Claim and run one audit; store its results in one transaction. Safe to call twice.

    Returns False when the job could not be claimed (finished, or held by a live worker).
    """
    return run_job(AuditRunner, run_id)


def _finished(run_id: int) -> None:
    """Tell whoever listens (the reports app) that the run ended; they enqueue on commit, never wait."""
    from .signals import audit_finished

    audit_finished.send(sender=AuditRun, run_id=run_id)


def _compute(run: AuditRun, progress, should_cancel) -> dict:
    """Run the whole audit in the model sandbox (the model is never loaded in this process)."""
    from dataclasses import asdict

    from core import sandbox

    progress(1, "loading model and data")
    mv, dv = run.model_version, run.dataset_version
    request = {**services.model_request(mv.format, dv, mv.classes), "config": run.config,
               "context": asdict(context_for(run)), "training_assumed": mv.training_dataset_id is None}
    try:
        outcome = sandbox.run("audit.run", request, services.model_inputs(artifacts.read(mv.artifact), dv),
                              progress=progress, should_cancel=should_cancel)
    except sandbox.SandboxCancelled:
        raise JobCancelled() from None
    return checked_result(outcome.result)


def checked_result(result: dict) -> dict:
    """Return the sandbox's Result JSON after checking its shape: it came from a process that ran the model."""
    from .metrics.catalog import CATALOG, FAIL, NOT_APPLICABLE, PASS, WARN

    metrics = result.get("metrics") if isinstance(result, dict) else None
    if not isinstance(metrics, dict) or set(metrics) - set(CATALOG) or not isinstance(result.get("dimensions"), dict):
        raise ValueError("The sandboxed audit returned a malformed result")
    statuses = {PASS, WARN, FAIL, NOT_APPLICABLE}
    for mid, metric in metrics.items():
        value = metric.get("value") if isinstance(metric, dict) else "?"
        if value is not None and not isinstance(value, (int, float)):
            raise ValueError(f"The sandboxed audit returned a malformed value for {mid}")
        if metric.get("status") not in statuses:
            raise ValueError(f"The sandboxed audit returned an unknown status for {mid}")
    return result


def _store(run: AuditRun, result: dict) -> None:
    from .metrics.catalog import CATALOG

    rows = [
        MetricResult(audit_run=run, metric_id=mid, dimension=CATALOG[mid].dimension, value=m["value"],
                     status=m["status"], reason=m.get("reason"), details=m.get("details") or {},
                     duration_s=m.get("duration_s") or result["timings"]["metrics_s"].get(mid, 0))
        for mid, m in result["metrics"].items()
    ]
    scores = {name: d["score"] for name, d in result["dimensions"].items()}
    with transaction.atomic():
        if not finish(AuditRun, run.pk, JobStatus.SUCCEEDED, result=result, dimension_scores=scores,
                      device=result["device"], stage="done"):
            return  # cancelled or claimed elsewhere meanwhile: store nothing
        MetricResult.objects.filter(audit_run=run).delete()
        MetricResult.objects.bulk_create(rows)
        auditlog.record("audit.succeed", organization=run.organization_id, actor="worker", obj=run,
                        payload={"scores": scores, "model_sha256": result["model"]["sha256"]})


def context_for(run: AuditRun) -> AuditContext:
    """Return the registry facts TRANS-01/02, DATA-01 and PRIV-02 read."""
    from .metrics.base import AuditContext

    mv = run.model_version
    training = mv.training_dataset or run.dataset_version
    expected = [("model.upload", "ModelVersion", mv.pk)]
    if mv.dp and mv.dp.get("training_run"):  # a DP variant: its training run started and succeeded
        expected += [(action, "DPTrainingRun", mv.dp["training_run"]) for action in ("dp.start", "dp.succeed")]
    expected += [("audit.start", "AuditRun", pk) for pk in
                 AuditRun.objects.filter(model_version=mv).values_list("pk", flat=True)]
    present = []
    for action, otype, oid in expected:
        if AuditLogEntry.objects.filter(organization_id=mv.organization_id, action=action, object_type=otype,
                                        object_id=str(oid)).exists():
            present.append(f"{action}:{oid}")
    chain = auditlog.verify(mv.organization_id)
    card = dict(mv.model_card)
    card.setdefault("version", str(mv.version))
    from .services import thresholds_of

    return AuditContext(
        model_card=card, datasheet=dict(training.datasheet), dp=mv.dp, registered=True,
        thresholds=thresholds_of(run.organization),
        audit_trail={"chain_ok": chain["ok"], "expected": [f"{a}:{o}" for a, _, o in expected],
                     "present": present},
    )


def compare(a: AuditRun, b: AuditRun) -> dict:
    """Return both audits side by side: per metric the two values and statuses, and the change."""
    ra, rb = a.results, b.results
    metrics = {}
    for mid in sorted(set(ra.metric_ids()) | set(rb.metric_ids())):
        ma, mb = ra.metric(mid), rb.metric(mid)
        va, vb = (ma.value if ma else None), (mb.value if mb else None)
        sa, sb = (ma.status if ma else None), (mb.status if mb else None)
        metrics[mid] = {"a": {"value": va, "status": sa}, "b": {"value": vb, "status": sb},
                        "delta": (vb - va) if va is not None and vb is not None else None,
                        "status_change": status_change(sa, sb)}
    dims = {d: {"a": a.dimension_scores.get(d), "b": b.dimension_scores.get(d)}
            for d in sorted(set(a.dimension_scores) | set(b.dimension_scores))}
    return {"a": a.pk, "b": b.pk, "metrics": metrics, "dimensions": dims,
            "thresholds_differ": thresholds_differ(a.result or {}, b.result or {})}


COMPARE_MAX = 12  # audits compared at once (API and dashboard)


def compare_many(runs: list[AuditRun]) -> dict:
    """Return `runs` side by side in the order given: per metric every value and status, and first-to-last change."""
    results = [r.results for r in runs]
    metrics = {}
    for mid in sorted(set().union(*(res.metric_ids() for res in results))):
        views = [res.metric(mid) for res in results]
        values = [v.value if v else None for v in views]
        statuses = [v.status if v else None for v in views]
        first, last = values[0], values[-1]
        metrics[mid] = {"values": values, "statuses": statuses,
                        "delta": (last - first) if first is not None and last is not None else None,
                        "status_change": status_change(statuses[0], statuses[-1])}
    names = sorted(set().union(*(r.dimension_scores for r in runs)))
    return {"audits": [{"id": r.pk, "model_version": r.model_version_id, "dataset_version": r.dataset_version_id,
                        "finished": r.finished.isoformat() if r.finished else None}
                       for r in runs],
            "metrics": metrics, "dimensions": {d: [r.dimension_scores.get(d) for r in runs] for d in names},
            "thresholds_differ": [{"audit": other.pk, **entry} for other in runs[1:]
                                  for entry in thresholds_differ(runs[0].result or {}, other.result or {})]}


def thresholds_differ(a: dict, b: dict) -> list[dict]:
    """Return the metrics whose thresholds (or informational mark) differ between two Result JSONs.

    A run from before thresholds were recorded reads as the catalog's defaults, which the entry says.
    """
    from .metrics.catalog import thresholds_used

    ta, tb = a.get("thresholds"), b.get("thresholds")
    default = thresholds_used({})
    out = []
    for mid in sorted(set(ta or default) | set(tb or default)):
        ea, eb = (ta or default).get(mid), (tb or default).get(mid)
        keys = ("pass", "warn", "informational")
        if {k: (ea or {}).get(k) for k in keys} != {k: (eb or {}).get(k) for k in keys}:
            out.append({"metric": mid, "a": ea, "b": eb,
                        "note": None if ta and tb else "one run predates recorded thresholds: catalog defaults assumed"})
    return out
