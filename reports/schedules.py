"""Scheduled audits: schedule rows kept in step with django-celery-beat, firing, and the finish hook.

Each Schedule owns one PeriodicTask (task `assay.reports.fire_schedule`, args [schedule id]). A
firing starts an audit (audit.jobs.start_audit) and records a ScheduledRun; when that audit ends,
the audit app's `audit_finished` signal (reports.receivers) enqueues the report task on commit, so
no worker ever waits for another task.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from celery.schedules import crontab as celery_crontab
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from audit import jobs
from audit.choices import FINISHED_STATUSES
from audit.models import AISystem
from audit.services import check_contract
from core import auditlog, outbound
from core.errors import AssayError

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
    system, model, dataset = values["system"], values.get("model_version"), values["dataset_version"]
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
    if len(values.get("recipients") or []) > MAX_RECIPIENTS:
        raise ScheduleError(f"At most {MAX_RECIPIENTS} recipients", {"recipients": "too many"})
    values["webhook_url"] = check_webhook_url(values.get("webhook_url") or "")
    if values["webhook_url"] and not values.get("webhook_secret"):
        raise ScheduleError("A webhook needs a secret to sign its calls", {"webhook_secret": "required with a URL"})
    return {**values, "cron": " ".join(cron.split()), "interval_seconds": None if cron else interval}


#
# CRUD (each write also updates the beat entry and the audit log)
#

FIELDS = ("name", "system", "model_version", "dataset_version", "cron", "interval_seconds", "config",
          "recipients", "webhook_url", "webhook_secret", "enabled")


def _public(schedule: Schedule) -> dict:
    data = {f: getattr(schedule, f"{f}_id" if f in ("system", "model_version", "dataset_version") else f)
            for f in FIELDS if f != "webhook_secret"}
    return {**data, "has_webhook_secret": bool(schedule.webhook_secret)}


def create_schedule(*, user, values: dict) -> Schedule:
    """Create a schedule and its beat entry; return it."""
    values = _check(dict(values))
    system: AISystem = values["system"]
    with transaction.atomic():
        schedule = Schedule.objects.create(organization=system.organization, created_by=user,
                                           **{f: values.get(f) for f in FIELDS if f in values})
        sync_beat(schedule)
        auditlog.record("schedule.create", organization=schedule.organization, actor=user, obj=schedule,
                        payload=_public(schedule))
    return schedule


def update_schedule(schedule: Schedule, *, user, changes: dict) -> Schedule:
    """Apply `changes` (a partial update), keep the beat entry in step, and return the schedule."""
    before = _public(schedule)
    current = {f: getattr(schedule, f) for f in FIELDS}
    if "cron" in changes and changes["cron"] and "interval_seconds" not in changes:
        changes = {**changes, "interval_seconds": None}
    if changes.get("interval_seconds") is not None and "cron" not in changes:
        changes = {**changes, "cron": ""}
    values = _check({**current, **changes})
    with transaction.atomic():
        for field in FIELDS:
            setattr(schedule, field, values[field])
        schedule.save()
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
    task.description = f"Assay scheduled audit {schedule.pk}: {schedule.name}"[:200]
    task.save()
    if schedule.periodic_task_id != task.pk:
        Schedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task


#
# Firing
#


def fire(schedule_id: int, now: datetime | None = None) -> ScheduledRun | None:
    """Start the schedule's audit now and record the firing; a start that fails gets a failure report."""
    schedule = Schedule.objects.select_related("system__current_model", "model_version",
                                               "dataset_version").filter(pk=schedule_id).first()
    if schedule is None or not schedule.enabled:
        return None
    now = now or timezone.now()
    model = schedule.model_version or schedule.system.current_model
    with transaction.atomic():
        fired = ScheduledRun.objects.create(organization=schedule.organization, schedule=schedule,
                                            system=schedule.system, fired_at=now)
        try:
            if model is None:
                raise jobs.AuditError("The system has no current model to audit")
            with transaction.atomic():
                fired.audit_run = jobs.start_audit(user=schedule.created_by, model_version=model,
                                                   dataset_version=schedule.dataset_version, config=schedule.config)
        except jobs.AuditError as exc:
            fired.error = str(exc)
            enqueue_report(fired.pk)
        fired.save(update_fields=["audit_run", "error"])
        auditlog.record("schedule.fire", organization=schedule.organization, actor="beat", obj=schedule,
                        payload={"scheduled_run": fired.pk, "audit_run": fired.audit_run_id, "error": fired.error})
    sweep_unreported()
    return fired


def sweep_unreported() -> int:
    """Enqueue reports of firings whose audit ended without one (e.g. failed by the stale-job reaper)."""
    pending = ScheduledRun.objects.filter(report__isnull=True, error="").filter(  # error: no report can be rendered
        audit_run__status__in=FINISHED_STATUSES).values_list("pk", flat=True)[:SWEEP_LIMIT]
    for pk in pending:
        enqueue_report(pk)
    return len(pending)

