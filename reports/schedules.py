"""Scheduled audits and evaluations: schedule rows kept in step with django-celery-beat, firing, the finish hook.

Each Schedule owns one PeriodicTask (task `assay.reports.fire_schedule`, args [schedule id]). A
firing starts an audit (audit.jobs.start_audit) or, for a schedule of kind genai, a generative
evaluation (genai.services.start_scheduled_evaluation), and records a ScheduledRun; when that job
ends, the audit app's `audit_finished` or the genai app's `evaluation_finished` signal
(reports.receivers) enqueues the report task on commit, so no worker ever waits for another task.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from celery.schedules import crontab as celery_crontab
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from audit import jobs
from audit.choices import FINISHED_STATUSES
from audit.models import AISystem
from audit.services import check_contract
from core import auditlog, outbound
from core.errors import AssayError
from genai import services as genai

from .choices import ScheduleKind
from .models import Schedule, ScheduledRun
from .queue import FIRE_SCHEDULE, enqueue_report

logger = logging.getLogger(__name__)
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
MIN_INTERVAL_S = 60
MAX_RECIPIENTS = 50
SWEEP_LIMIT = 20


class ScheduleError(AssayError):
    """Bad schedule input; becomes a 400 with its message and fields."""


#
# Validation
#


def parse_cron(text: str) -> dict[str, str]:
    """Return the five crontab fields of `text` ("m h dom mon dow"); raise ScheduleError on nonsense."""
    parts = (text or "").split()
    if len(parts) != 5:
        raise ScheduleError(f"A cron expression has five fields (minute hour day month weekday); got {text!r}",
                            {"cron": "expected five fields, e.g. '0 6 * * 1'"})
    fields = dict(zip(CRON_FIELDS, parts, strict=True))
    try:
        celery_crontab(**fields)
    except (ValueError, TypeError, IndexError) as exc:
        raise ScheduleError(f"Bad cron expression {text!r}: {exc}", {"cron": str(exc)}) from None
    return fields


def check_webhook_url(url: str) -> str:
    """Return the URL when Assay may call it now (core.outbound.check_url); raise ScheduleError otherwise.

    The host is resolved here and again at every call: a loopback, private, link-local or other
    non-public address is refused unless ASSAY_OUTBOUND_ALLOW_PRIVATE=1.
    """
    if not url:
        return ""
    try:
        outbound.check_url(url)
    except outbound.RefusedURL as exc:
        raise ScheduleError(f"The webhook URL is refused: {exc}", {"webhook_url": str(exc)}) from None
    return url


def _check(values: dict) -> dict:
    """Return the cleaned schedule values: one timing, valid config, consistent objects."""
    cron, interval = (values.get("cron") or "").strip(), values.get("interval_seconds")
    if bool(cron) == (interval is not None):
        raise ScheduleError("Give exactly one of cron and interval_seconds",
                            {"cron": "give a cron expression or an interval, not both or neither"})
    if cron:
        parse_cron(cron)
    elif interval < MIN_INTERVAL_S:
        raise ScheduleError(f"The interval must be at least {MIN_INTERVAL_S} seconds",
                            {"interval_seconds": f"at least {MIN_INTERVAL_S}"})
    values["kind"] = values.get("kind") or ScheduleKind.AUDIT
    if values["kind"] == ScheduleKind.GENAI:
        _check_evaluation(values)
    else:
        _check_audit(values)
    if len(values.get("recipients") or []) > MAX_RECIPIENTS:
        raise ScheduleError(f"At most {MAX_RECIPIENTS} recipients", {"recipients": "too many"})
    values["webhook_url"] = check_webhook_url(values.get("webhook_url") or "")
    if values["webhook_url"] and not values.get("webhook_secret"):
        raise ScheduleError("A webhook needs a secret to sign its calls", {"webhook_secret": "required with a URL"})
    return {**values, "cron": " ".join(cron.split()), "interval_seconds": None if cron else interval}


def _check_audit(values: dict) -> None:
    """Check an audit schedule's model, dataset and audit config (cleaned in place)."""
    system, model, dataset = values["system"], values.get("model_version"), values.get("dataset_version")
    if dataset is None:
        raise ScheduleError("An audit schedule names a dataset version", {"dataset_version": "required"})
    if values.get("target") is not None or values.get("banks"):
        raise ScheduleError("An audit schedule has no target or banks (those are a genai schedule's)",
                            {"target": "only for kind genai"})
    if model is not None and model.system_id != system.pk:
        raise ScheduleError("The model version belongs to another system", {"model_version": "not of this system"})
    if dataset.organization_id != system.organization_id:
        raise ScheduleError("The dataset version belongs to another organisation",
                            {"dataset_version": "not of this organisation"})
    if model is not None or system.current_model_id is not None:
        check_contract(model or system.current_model, dataset)
    if model is None and system.current_model_id is None:
        raise ScheduleError("The system has no current model: name a model version or set one",
                            {"model_version": "required while the system has no current model"})
    values["config"] = jobs.validate_config(values.get("config") or {})


def _check_evaluation(values: dict) -> None:
    """Check a genai schedule's target, banks and evaluation options (cleaned in place)."""
    system, target, banks = values["system"], values.get("target"), list(values.get("banks") or [])
    if values.get("model_version") is not None or values.get("dataset_version") is not None:
        raise ScheduleError("A genai schedule evaluates a target on banks, not a model on a dataset",
                            {"dataset_version": "only for kind audit"})
    if target is None:
        raise ScheduleError("A genai schedule names a target", {"target": "required"})
    if target.system_id != system.pk:
        raise ScheduleError("The target belongs to another system", {"target": "not of this system"})
    if not banks:
        raise ScheduleError("A genai schedule names at least one bank", {"banks": "required"})
    if any(b.organization_id != system.organization_id for b in banks):
        raise ScheduleError("A bank belongs to another organisation", {"banks": "not of this organisation"})
    empty = [b.name for b in banks if b.version == 0]
    if empty:
        raise ScheduleError(f"The bank {empty[0]!r} has no version yet", {"banks": "empty bank"})
    try:
        values["config"] = genai.schedule_options(values.get("config") or {})
    except genai.GenaiError as exc:
        raise ScheduleError(str(exc), exc.fields) from None
    values["banks"] = sorted(set(banks), key=lambda b: b.pk)


#
# CRUD (each write also updates the beat entry and the audit log)
#

FIELDS = ("name", "kind", "system", "model_version", "dataset_version", "target", "cron", "interval_seconds",
          "config", "recipients", "webhook_url", "webhook_secret", "enabled")
FOREIGN_KEYS = ("system", "model_version", "dataset_version", "target")


def _public(schedule: Schedule) -> dict:
    data = {f: getattr(schedule, f"{f}_id" if f in FOREIGN_KEYS else f) for f in FIELDS if f != "webhook_secret"}
    if schedule.kind == ScheduleKind.GENAI:  # audit schedules log what they always logged
        data["banks"] = sorted(schedule.banks.values_list("pk", flat=True))
    else:
        data.pop("kind"), data.pop("target")
    return {**data, "has_webhook_secret": bool(schedule.webhook_secret)}


def create_schedule(*, user, values: dict) -> Schedule:
    """Create a schedule and its beat entry; return it."""
    values = _check(dict(values))
    system: AISystem = values["system"]
    with transaction.atomic():
        schedule = Schedule.objects.create(organization=system.organization, created_by=user,
                                           **{f: values.get(f) for f in FIELDS if f in values})
        schedule.banks.set(values.get("banks") or [])
        sync_beat(schedule)
        auditlog.record("schedule.create", organization=schedule.organization, actor=user, obj=schedule,
                        payload=_public(schedule))
    return schedule


def update_schedule(schedule: Schedule, *, user, changes: dict) -> Schedule:
    """Apply `changes` (a partial update), keep the beat entry in step, and return the schedule."""
    before = _public(schedule)
    current = {**{f: getattr(schedule, f) for f in FIELDS}, "banks": list(schedule.banks.all())}
    if changes.get("kind", schedule.kind) != schedule.kind:
        raise ScheduleError("A schedule's kind cannot change: create another schedule", {"kind": "cannot change"})
    if "cron" in changes and changes["cron"] and "interval_seconds" not in changes:
        changes = {**changes, "interval_seconds": None}
    if changes.get("interval_seconds") is not None and "cron" not in changes:
        changes = {**changes, "cron": ""}
    values = _check({**current, **changes})
    with transaction.atomic():
        for field in FIELDS:
            setattr(schedule, field, values[field])
        schedule.save()
        schedule.banks.set(values.get("banks") or [])
        sync_beat(schedule)
        auditlog.record("schedule.update", organization=schedule.organization, actor=user, obj=schedule,
                        payload={"changes": auditlog.diff(before, _public(schedule))})
    return schedule


def delete_schedule(schedule: Schedule, *, user) -> None:
    """Delete a schedule and its beat entry; its reports stay."""
    with transaction.atomic():
        auditlog.record("schedule.delete", organization=schedule.organization, actor=user, obj=schedule,
                        payload=_public(schedule))
        task_id = schedule.periodic_task_id
        schedule.delete()
        PeriodicTask.objects.filter(pk=task_id).delete()


def sync_beat(schedule: Schedule) -> None:
    """Create or update the PeriodicTask that fires `schedule` (its crontab or interval, on/off)."""
    crontab = interval = None
    if schedule.cron:
        crontab, _ = CrontabSchedule.objects.get_or_create(**parse_cron(schedule.cron), timezone="UTC")
    else:
        interval, _ = IntervalSchedule.objects.get_or_create(every=schedule.interval_seconds,
                                                             period=IntervalSchedule.SECONDS)
    task = schedule.periodic_task or PeriodicTask(name=f"assay-schedule-{schedule.pk}")
    task.task, task.args, task.queue = FIRE_SCHEDULE, json.dumps([schedule.pk]), "default"
    task.crontab, task.interval, task.enabled = crontab, interval, schedule.enabled
    what = "evaluation" if schedule.kind == ScheduleKind.GENAI else "audit"
    task.description = f"Assay scheduled {what} {schedule.pk}: {schedule.name}"[:200]
    task.save()
    if schedule.periodic_task_id != task.pk:
        Schedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task


#
# Firing
#


def fire(schedule_id: int, now: datetime | None = None) -> ScheduledRun | None:
    """Start the schedule's audit or evaluation now and record the firing; a start that fails gets a failure report."""
    schedule = Schedule.objects.select_related("system__current_model", "model_version", "dataset_version",
                                               "target").filter(pk=schedule_id).first()
    if schedule is None or not schedule.enabled:
        return None
    now = now or timezone.now()
    genai_kind = schedule.kind == ScheduleKind.GENAI
    with transaction.atomic():
        fired = ScheduledRun.objects.create(organization=schedule.organization, schedule=schedule,
                                            system=schedule.system, fired_at=now)
        try:
            with transaction.atomic():
                if genai_kind:
                    fired.evaluation = genai.start_scheduled_evaluation(
                        schedule.target, schedule.banks.order_by("pk"), schedule.config, user=schedule.created_by)
                else:
                    fired.audit_run = _start_audit(schedule)
        except (jobs.AuditError, genai.GenaiError) as exc:
            fired.error = str(exc)
            enqueue_report(fired.pk)
        fired.save(update_fields=["audit_run", "evaluation", "error"])
        started = {"evaluation": fired.evaluation_id} if genai_kind else {"audit_run": fired.audit_run_id}
        auditlog.record("schedule.fire", organization=schedule.organization, actor="beat", obj=schedule,
                        payload={"scheduled_run": fired.pk, **started, "error": fired.error})
    sweep_unreported()
    return fired


def _start_audit(schedule: Schedule):
    model = schedule.model_version or schedule.system.current_model
    if model is None:
        raise jobs.AuditError("The system has no current model to audit")
    return jobs.start_audit(user=schedule.created_by, model_version=model,
                            dataset_version=schedule.dataset_version, config=schedule.config)


def sweep_unreported() -> int:
    """Enqueue reports of firings whose audit or evaluation ended without one (e.g. failed by the reaper)."""
    ended = Q(audit_run__status__in=FINISHED_STATUSES) | Q(evaluation__status__in=FINISHED_STATUSES)
    pending = ScheduledRun.objects.filter(report__isnull=True, error="").filter(  # error: no report can be rendered
        ended).values_list("pk", flat=True)[:SWEEP_LIMIT]
    for pk in pending:
        enqueue_report(pk)
    return len(pending)

