"""DP training workflows: start (one run or a sweep), execute in a worker or in-process, cancel.

Training itself is `privacy.dp` (no Django); this module loads the parent zoo model and the
dataset version's rows, hands them over, registers the result as a child model version whose
`dp` record PRIV-02 reads, and starts its audit on the same dataset version.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, replace
from types import SimpleNamespace

from django.conf import settings
from django.db import IntegrityError, transaction

from audit import jobs as audit_jobs
from audit import services as registry
from audit.choices import ModelFormat
from audit.models import AuditRun, DatasetVersion, ModelVersion
from core import artifacts, auditlog
from core.choices import FINISHED_STATUSES, JobStatus
from core.errors import AssayError
from core.jobs import JobCancelled, JobRunner, finish, request_cancel, run_job

from . import params as dp
from .choices import MAX_SWEEP_VARIANTS
from .models import DPTrainingRun

logger = logging.getLogger(__name__)

NOT_TRAINABLE = "DP training needs a trainable zoo architecture"
PARAMETERS = ("epsilon", "noise_multiplier", "delta", "max_grad_norm", "epochs", "batch_size", "lr", "seed",
              "accountant")


class DPTrainingError(AssayError):
    """A DP training request was refused; `fields` maps input fields to messages (answered with a 400)."""


def queue_for_dp() -> str:
    """Return the Celery queue of DP training: `gpu` when GPU workers are configured, else `cpu`."""
    return "gpu" if settings.ASSAY_GPU_QUEUE else "cpu"


def params_of(run: DPTrainingRun) -> dp.DPParams:
    """Return the run's parameters as `privacy.dp` takes them."""
    return dp.DPParams(**{name: getattr(run, name) for name in PARAMETERS})


#
# Starting
#


def _check_source(model_version: ModelVersion, dataset_version: DatasetVersion) -> None:
    if model_version.format != ModelFormat.TORCH_ZOO:
        message = f"{NOT_TRAINABLE} (torch-zoo); model version {model_version.pk} is {model_version.format}"
        raise DPTrainingError(message, {"model_version": message})
    if model_version.organization_id != dataset_version.organization_id:
        raise DPTrainingError("The model and dataset versions belong to different organisations")
    registry.check_contract(model_version, dataset_version)


def _validated(params: dp.DPParams, n_train: int) -> dp.DPParams:
    try:
        return dp.validate_params(params, n_train)
    except dp.DPParamsError as exc:
        raise DPTrainingError(f"Invalid DP training parameters: {exc}", exc.fields) from None


def training_rows(dataset_version: DatasetVersion) -> int:
    """Return the complete training rows of the dataset version: n in δ < 1/n and in q = B/n."""
    return len(registry.load_splits(dataset_version).train)


def start_dp_training(*, user, model_version: ModelVersion, dataset_version: DatasetVersion,
                      params: dp.DPParams, enqueue: bool = True, reference_audit: bool = True,
                      sweep: uuid.UUID | None = None, n_train: int | None = None) -> DPTrainingRun:
    """Validate, create a queued DPTrainingRun and enqueue it once the transaction commits.

    `reference_audit` also audits the non-private parent on the dataset version unless an audit
    of it there exists or is under way: the dashboard compares the variants with it.
    """
    _check_source(model_version, dataset_version)
    n_train = training_rows(dataset_version) if n_train is None else n_train
    params = _validated(params, n_train)
    with transaction.atomic():
        run = DPTrainingRun.objects.create(
            organization=model_version.organization, model_version=model_version, dataset_version=dataset_version,
            sweep=sweep, n_train=n_train, created_by=user, **{name: getattr(params, name) for name in PARAMETERS},
        )
        auditlog.record("dp.start", organization=run.organization, actor=user, obj=run, payload={
            "model_version": model_version.pk, "dataset_version": dataset_version.pk, "n_train": n_train,
            "sweep": str(sweep) if sweep else None, **{name: getattr(params, name) for name in PARAMETERS},
        })
        if reference_audit:
            ensure_reference_audit(user=user, model_version=model_version, dataset_version=dataset_version)
        if enqueue:
            DPTrainingRunner.enqueue(run)
    return run


def start_sweep(*, user, model_version: ModelVersion, dataset_version: DatasetVersion, epsilons: Sequence[float],
                params: dp.DPParams, enqueue: bool = True) -> list[DPTrainingRun]:
    """Start one run per distinct ε (ascending), sharing the other parameters and one sweep id."""
    if params.noise_multiplier is not None:
        raise DPTrainingError("A sweep varies ε: give epsilons, not a noise multiplier",
                              {"noise_multiplier": "not allowed in a sweep"})
    wanted = sorted(set(epsilons))
    if not 1 <= len(wanted) <= MAX_SWEEP_VARIANTS:
        message = f"give 1 to {MAX_SWEEP_VARIANTS} distinct values of ε, got {len(wanted)}"
        raise DPTrainingError(f"Invalid sweep: {message}", {"epsilons": message})
    _check_source(model_version, dataset_version)
    n_train = training_rows(dataset_version)
    for epsilon in wanted:  # all or nothing: every variant is valid before any is created
        _validated(replace(params, epsilon=epsilon), n_train)
    sweep = uuid.uuid4()
    with transaction.atomic():
        return [
            start_dp_training(user=user, model_version=model_version, dataset_version=dataset_version,
                              params=replace(params, epsilon=epsilon), enqueue=enqueue,
                              reference_audit=i == 0, sweep=sweep, n_train=n_train)
            for i, epsilon in enumerate(wanted)
        ]


def ensure_reference_audit(*, user, model_version: ModelVersion, dataset_version: DatasetVersion) -> AuditRun | None:
    """Return the latest audit of the parent on the dataset version that has not failed, or start one.

    None when the parent cannot be audited there: the variants' own audits will say why.
    """
    existing = (AuditRun.objects.filter(model_version=model_version, dataset_version=dataset_version)
                .exclude(status__in=[JobStatus.FAILED, JobStatus.CANCELLED]).order_by("-created").first())
    if existing is not None:
        return existing
    try:
        return audit_jobs.start_audit(user=user, model_version=model_version, dataset_version=dataset_version)
    except audit_jobs.AuditError as exc:
        logger.warning("No reference audit of model version %s: %s", model_version.pk, exc)
        return None


def cancel_dp_training(run: DPTrainingRun, *, user) -> DPTrainingRun:
    """Cancel a queued run at once; ask a running one to stop (within about a second of training)."""
    if run.status in FINISHED_STATUSES:
        raise DPTrainingError(f"The DP training has already {run.status}")
    with transaction.atomic():
        request_cancel(DPTrainingRun, run.pk)
        auditlog.record("dp.cancel", organization=run.organization, actor=user, obj=run)
    run.refresh_from_db()
    return run


#
# Executing
#


class DPTrainingRunner(JobRunner):
    """A DP training run as a job: trained in the model sandbox, registered as a child model version and audited."""

    model = DPTrainingRun
    task_name = "assay.privacy.train_dp"
    failure_action = "dp.fail"
    label = "DP training"
    related = ("model_version__artifact", "dataset_version__artifact", "model_version__system")
    cancelled = (JobCancelled, dp.TrainingCancelled)

    def __init__(self, *, enqueue_audit: bool = True):
        self.enqueue_audit = enqueue_audit

    @classmethod
    def queue_for(cls, row: DPTrainingRun) -> str:
        return queue_for_dp()

    def compute(self, row: DPTrainingRun, progress, should_cancel) -> tuple[TrainedVariant, dict, bytes]:
        trained = _train(row, progress, should_cancel)
        if should_cancel():  # asked while the sandbox wrote its last epoch: register nothing
            raise JobCancelled()
        return trained

    def store(self, row: DPTrainingRun, result: tuple[TrainedVariant, dict, bytes]) -> None:
        _store(row, *result, enqueue_audit=self.enqueue_audit)


def execute_dp_training(run_id: int, *, enqueue_audit: bool = True) -> bool:
    """Claim and run one DP training; register its model version and start its audit. Safe to call twice.

    The audit of the new model version is queued on commit, or left queued for the caller to run
    in-process when `enqueue_audit` is False (`run.audit`). Returns False when the run could not
    be claimed (finished, or held by a live worker).
    """
    return run_job(DPTrainingRunner, run_id, enqueue_audit=enqueue_audit)


class TrainedVariant(SimpleNamespace):
    """What the sandboxed training returned about the variant: `DPResult.record()`'s fields, as attributes."""

    def record(self) -> dict:
        return dict(vars(self))


def _train(run: DPTrainingRun, progress, should_cancel) -> tuple[TrainedVariant, dict, bytes]:
    """Train the variant in the model sandbox (`privacy.sandboxed.train`): the parent is never loaded here."""
    from core import sandbox

    mv, dv = run.model_version, run.dataset_version
    request = {**registry.model_request(mv.format, dv, mv.classes), "params": asdict(params_of(run))}
    try:
        outcome = sandbox.run("dp.train", request, registry.model_inputs(artifacts.read(mv.artifact), dv),
                              progress=progress, should_cancel=should_cancel, what="the DP training")
    except sandbox.SandboxCancelled:
        raise JobCancelled() from None
    summary, bundle = outcome.result["summary"], outcome.files.get("model.zip")
    if bundle is None:
        raise ValueError("The DP training returned no model")
    DPTrainingRun.objects.filter(pk=run.pk).update(device=str(summary.get("device", ""))[:32])
    return TrainedVariant(**outcome.result["record"]), summary, bundle


def _variant_card(parent: ModelVersion, dataset: DatasetVersion, result: TrainedVariant) -> dict:
    card = {k: v for k, v in parent.model_card.items() if k not in ("version", "performance")}
    card["training_data"] = (f"{dataset} (training split), DP-SGD: ε = {result.epsilon:.3g} at δ = {result.delta:g} "
                             f"({result.accountant.upper()} accountant), σ = {result.noise_multiplier:.4g}, "
                             f"C = {result.max_grad_norm:g}, {result.epochs} epochs")
    return card


def _register_variant(run: DPTrainingRun, result: TrainedVariant, bundle: bytes) -> ModelVersion:
    parent = run.model_version
    name = parent.name if parent.name.endswith("-dp") else f"{parent.name}-dp"

    def register() -> ModelVersion:
        with transaction.atomic():
            return registry.register_model(
                user=run.created_by, system=parent.system, name=name, filename=f"{name}.zip", data=bundle,
                fmt=ModelFormat.TORCH_ZOO, validate_on=run.dataset_version,
                model_card=_variant_card(parent, run.dataset_version, result), training_dataset=run.dataset_version,
                parent=parent, dp={**result.record(), "training_run": run.pk},
            )

    for _ in range(2):  # two variants finishing at once may race for the next version number
        try:
            return register()
        except IntegrityError:
            continue
    return register()


def _store(run: DPTrainingRun, result: TrainedVariant, summary: dict, bundle: bytes, *, enqueue_audit: bool) -> None:
    with transaction.atomic():
        version = _register_variant(run, result, bundle)
        summary = {**summary, "model_version": version.pk}
        if not finish(DPTrainingRun, run.pk, JobStatus.SUCCEEDED, result=summary, result_model=version, stage="done"):
            transaction.set_rollback(True)  # cancelled or claimed elsewhere meanwhile: register nothing
            return
        auditlog.record("dp.succeed", organization=run.organization_id, actor="worker", obj=run, payload={
            "model_version": version.pk, "parent": run.model_version_id, "epsilon": result.epsilon,
            "delta": result.delta, "accountant": result.accountant, "noise_multiplier": result.noise_multiplier,
        })
        audit = audit_jobs.start_audit(user=run.created_by, model_version=version,
                                       dataset_version=run.dataset_version, config={}, enqueue=enqueue_audit)
        DPTrainingRun.objects.filter(pk=run.pk).update(audit=audit)


#
# Reading: the privacy / utility / fairness trade-off
#

TRADEOFF_METRICS = ("FAIR-03", "PRIV-01", "PRIV-02", "PRIV-03")
# The per-group table every FAIR metric's details carry; FAIR-05 is the accuracy gap, so its groups are the point.
GROUP_METRIC = "FAIR-05"


def group_accuracy(audit: AuditRun | None) -> dict[str, dict[str, dict]]:
    """Return {attribute: {group: {"accuracy", "n"}}} from an audit's FAIR-05 table ({} when absent).

    Multi-class audits report per class; the worst class's table is taken.
    """
    if audit is None:
        return {}
    return {attr: {g: {"accuracy": row.get("accuracy"), "n": row.get("n")} for g, row in table.rows.items()}
            for attr, table in audit.group_table(GROUP_METRIC).items()}


def audit_point(audit: AuditRun | None) -> dict:
    """Return the trade-off values of a succeeded audit: the metrics' values and the per-group accuracy."""
    if audit is None or audit.status != JobStatus.SUCCEEDED or not audit.results:
        return {}
    values = {mid: audit.metric(mid) for mid in TRADEOFF_METRICS}
    return {**{mid: m.value for mid, m in values.items() if m is not None},
            "groups": group_accuracy(audit), "audit": audit.pk}


def reference_audit(model_version: ModelVersion, dataset_version: DatasetVersion) -> AuditRun | None:
    """Return the parent's latest audit on the dataset version (succeeded first, else the one under way)."""
    audits = AuditRun.objects.filter(model_version=model_version, dataset_version=dataset_version)
    return (audits.filter(status=JobStatus.SUCCEEDED).order_by("-finished").first()
            or audits.exclude(status__in=FINISHED_STATUSES).order_by("-created").first())


def tradeoff(model_version: ModelVersion, dataset_version: DatasetVersion) -> dict:
    """Return the sweep chart's data for a parent on a dataset version.

    {"points": one per succeeded variant, by ε spent: {"run", "epsilon", "target", "accuracy",
    FAIR-03 …, "groups"}, "reference": the parent's {"accuracy", FAIR-03 …, "groups"},
    "reference_audit": AuditRun or None, "pending": runs still queued or running}.
    """
    runs = list(DPTrainingRun.objects.filter(model_version=model_version, dataset_version=dataset_version)
                .select_related("audit").order_by("created"))
    points = [{"run": run.pk, "epsilon": run.result["epsilon"], "target": run.epsilon,
               "noise_multiplier": run.result["noise_multiplier"], "accuracy": run.result["accuracy"],
               "audit_status": run.audit.status if run.audit else None, **audit_point(run.audit)}
              for run in runs if run.status == JobStatus.SUCCEEDED]
    audit = reference_audit(model_version, dataset_version)
    accuracy = next((run.result["parent_accuracy"] for run in runs if run.result), None)
    return {"points": sorted(points, key=lambda p: p["epsilon"]), "reference": {"accuracy": accuracy,
                                                                                **audit_point(audit)},
            "reference_audit": audit, "pending": [run for run in runs if run.status not in FINISHED_STATUSES]}
