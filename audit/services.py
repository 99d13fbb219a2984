"""Registry workflows: register systems, dataset versions and model versions, read them back.

Each write validates first, stores the artifact encrypted, saves the row and appends to the audit
log in one transaction: bad input changes nothing.
"""

from __future__ import annotations

import io
from dataclasses import asdict
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Max

from core import artifacts, auditlog
from core.errors import AssayError

from .choices import DATASHEET_FIELDS, GENERATIVE_FORMATS, MODEL_CARD_FIELDS, ModelFormat
from .datasets import DatasetError, Schema, parse_table, sniff_table_format, split_mask, validate
from .models import AISystem, DatasetVersion, ModelVersion, Promotion
from .splits import Splits, split_frame, target_classes

if TYPE_CHECKING:
    import pandas as pd

ACCEPTED_FORMATS = (
    "torch-zoo (zip: config.json + weights.safetensors), torch-export (.pt2), onnx (.onnx), "
    "sklearn (skops .skops), gguf (.gguf, a generative language model)"
)


class RegistryError(AssayError):
    """A registration was refused; `fields` maps input fields to messages."""


def _next_version(model, system: AISystem, name: str) -> int:
    top = model.objects.filter(system=system, name=name).aggregate(v=Max("version"))["v"]
    return (top or 0) + 1


def _clean_fields(values: dict | None, allowed: tuple[str, ...], label: str) -> dict:
    values = dict(values or {})
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise RegistryError(f"Unknown {label} field(s): {', '.join(unknown)}; allowed: {', '.join(allowed)}",
                            {label: f"unknown: {', '.join(unknown)}"})
    return {k: v for k, v in values.items() if v not in (None, "")}


#
# AI systems
#

# The profile an API caller writes (compliance applicability reads it); id, organisation and dates are Assay's.
SYSTEM_FIELDS = ("name", "description", "intended_purpose", "domain", "annex_iii_point", "role", "output_modalities",
                 "public_in_mainland_china", "public_opinion_capacity", "users_can_download", "general_purpose",
                 "systemic_risk", "emotion_or_biometric", "placed_on_eu_market", "placed_before_2026_08_02",
                 "placed_on_market_on", "significantly_changed", "art6_3_derogation", "public_sector",
                 "interacts_with_persons", "biometric_editing", "no_public_opinion_reason",
                 "current_model")


def system_record(system: AISystem) -> dict:
    """Return the system as the audit log records it (the API's fields; the current model by id)."""
    return {"id": system.pk, "organization_id": system.organization_id,
            **{f: getattr(system, f) for f in SYSTEM_FIELDS if f != "current_model"},
            "current_model": system.current_model_id,
            "created": system.created.isoformat() if system.created else None,
            "updated": system.updated.isoformat() if system.updated else None}


def _check_system_name(organization, name: str | None, exclude: int | None = None) -> None:
    if AISystem.objects.filter(organization=organization, name=name).exclude(pk=exclude).exists():
        message = f"A system named {name!r} already exists"
        raise RegistryError(message, {"name": [message]})


def _system_values(values: dict) -> dict:
    unknown = sorted(set(values) - set(SYSTEM_FIELDS))
    if unknown:
        raise RegistryError(f"Unknown system field(s): {', '.join(unknown)}", {f: ["unknown field"] for f in unknown})
    return values


def create_system(*, user, organization, values: dict) -> AISystem:
    """Create an AI system in `organization` from profile `values` (SYSTEM_FIELDS) and log it.

    Raises RegistryError when the organisation already has a system of that name or a field is unknown.
    """
    values = _system_values(values)
    _check_system_name(organization, values.get("name"))
    with transaction.atomic():
        system = AISystem.objects.create(organization=organization, **values)
        auditlog.record("system.create", organization=organization, actor=user, obj=system,
                        payload=system_record(system))
    return system


def update_system(system: AISystem, *, user, values: dict) -> AISystem:
    """Change a system's profile `values` and log what changed (before and after, `updated` left out).

    Raises RegistryError when the new name is another system's in the organisation or a field is unknown.
    """
    values = _system_values(values)
    if "name" in values:
        _check_system_name(system.organization_id, values["name"], exclude=system.pk)
    if "current_model" in values and getattr(values["current_model"], "pk", values["current_model"]) != \
            system.current_model_id:
        message = (f"The current model changes only by a promotion with a reason: POST /api/v1/systems/{system.pk}"
                   "/promote with model_version and reason (owners and admins)")
        raise RegistryError(message, {"current_model": [message]})
    before = system_record(system)
    with transaction.atomic():
        for name, value in values.items():
            setattr(system, name, value)
        system.save()
        auditlog.record("system.update", organization=system.organization_id, actor=user, obj=system,
                        payload={"changes": auditlog.diff(before, system_record(system), ignore=("updated",))})
    return system


#
# Datasets
#


def register_dataset(*, user, system: AISystem, name: str, filename: str, data: bytes, schema: Schema,
                     datasheet: dict | None = None) -> DatasetVersion:
    """Validate, store and return a new dataset version of `system`."""
    datasheet = _clean_fields(datasheet, DATASHEET_FIELDS, "datasheet")
    fmt = sniff_table_format(filename, data)
    frame = parse_table(data, fmt)
    resolved = validate(frame, schema)
    train = split_mask(frame, resolved)
    with transaction.atomic():
        artifact = artifacts.store(data, organization=system.organization, filename=filename)
        version = DatasetVersion.objects.create(
            organization=system.organization, system=system, name=name,
            version=_next_version(DatasetVersion, system, name), artifact=artifact, created_by=user,
            file_format=fmt, features=resolved.features, categorical=resolved.categorical,
            target=resolved.target, positive_label=resolved.positive_label,
            sensitive_attributes=resolved.sensitive_attributes, split_column=resolved.split_column,
            test_size=resolved.test_size, datasheet=datasheet, rows=len(frame),
            rows_train=int(train.sum()), rows_eval=int((~train).sum()), columns=list(frame.columns),
            labels=target_labels(frame[resolved.target]),
        )
        auditlog.record("dataset.upload", organization=system.organization, actor=user, obj=version,
                        payload={"system": system.pk, "name": name, "version": version.version,
                                 "sha256": artifact.sha256, "rows": len(frame)})
    return version


def target_labels(column) -> list[str]:
    """Return the distinct target values as the model contract compares them (category keys), sorted."""
    from .modelio.encoder import category_keys

    return sorted({key for key in category_keys(column) if key is not None})


class ContractError(AssayError):
    """The model cannot read the dataset: refused when the job is requested, not when it runs."""


def check_contract(model_version: ModelVersion, dataset_version: DatasetVersion) -> None:
    """Raise ContractError (400) when `model_version` cannot be run on `dataset_version`.

    Compares what the upload check recorded of the model (the features it reads, its classes) with
    the dataset's columns, declared inputs and target values: missing columns, a different number
    of inputs for a model that takes one numeric array, a positive label or target values the
    model does not know. Nothing is loaded: the model file is only ever opened in the sandbox. A
    generative model (gguf) reads no dataset at all.
    """
    if model_version.format in GENERATIVE_FORMATS:
        message = not_a_classifier(model_version)
        raise ContractError(message, {"model_version": message})
    problems: dict[str, str] = {}
    features = [str(f) for f in (model_version.features or [])]
    columns = set(dataset_version.columns or [])
    missing = [f for f in features if f not in columns]
    if missing:
        problems["features"] = (f"the dataset lacks the model's input column(s): {', '.join(missing[:10])}"
                                f"{' …' if len(missing) > 10 else ''}")
    elif (model_version.format == ModelFormat.TORCH_EXPORT and dataset_version.features
          and len(dataset_version.features) != len(features)):
        problems["features"] = (f"the model takes {len(features)} inputs ({', '.join(features[:10])}) but the "
                                f"dataset declares {len(dataset_version.features)}")
    classes = [str(c) for c in (model_version.classes or [])]
    if classes:
        if str(dataset_version.positive_label) not in classes:
            problems["positive_label"] = (f"the positive label {dataset_version.positive_label!r} is not one of the "
                                          f"model's classes ({', '.join(classes[:10])})")
        unknown = [label for label in (dataset_version.labels or []) if label not in classes]
        if unknown:
            problems["classes"] = (f"the dataset's target holds values the model does not know: "
                                   f"{', '.join(unknown[:10])} (model classes: {', '.join(classes[:10])})")
    if problems:
        raise ContractError(f"Model version {model_version.pk} cannot read dataset version {dataset_version.pk}: "
                            + "; ".join(problems.values()), problems)


def not_a_classifier(model_version: ModelVersion) -> str:
    """Return why a generative model version cannot be audited, trained or run on a dataset."""
    return (f"Model version {model_version.pk} ({model_version.name} v{model_version.version}) is a "
            f"{model_version.format} generative language model, not a classifier: audits, DP training and "
            "scheduled audits need a classifier on a dataset; evaluate it with a genai target instead "
            "(POST /api/v1/genai/targets with model_version)")


def schema_of(version: DatasetVersion) -> Schema:
    return Schema(target=version.target, positive_label=version.positive_label, features=version.features,
                  categorical=version.categorical, sensitive_attributes=version.sensitive_attributes,
                  split_column=version.split_column, test_size=version.test_size)


def load_frame(version: DatasetVersion) -> pd.DataFrame:
    """Return the dataset version's table, decrypted and integrity-checked."""
    return parse_table(artifacts.read(version.artifact), version.file_format)


def load_splits(version: DatasetVersion) -> Splits:
    """Return the training and evaluation rows (rows with missing values in used columns dropped)."""
    frame = load_frame(version)
    schema = schema_of(version)
    return split_frame(frame, schema)


#
# Models
#


def register_model(*, user, system: AISystem, name: str, filename: str, data: bytes, fmt: str,
                   validate_on: DatasetVersion | None, model_card: dict | None = None,
                   training_dataset: DatasetVersion | None = None, parent: ModelVersion | None = None,
                   dp: dict | None = None) -> ModelVersion:
    """Validate the model, store it, and return the version.

    A classifier is run on 32 rows of `validate_on` in the sandbox; a generative model (gguf) takes
    no dataset (`validate_on` must be None) and only its header is checked here, its weights being
    loaded in the sandbox when an evaluation runs. The system's current model stays as it was: making
    a version current is a promotion (promote_model).
    """
    model_card = _clean_fields(model_card, MODEL_CARD_FIELDS, "model_card")
    if fmt not in ModelFormat.values:
        raise RegistryError(f"Unknown format {fmt!r}; accepted formats: {ACCEPTED_FORMATS}", {"format": "unknown"})
    if fmt in GENERATIVE_FORMATS:
        if validate_on is not None:
            message = f"A {fmt} model is not checked on a dataset: leave dataset_version out"
            raise RegistryError(message, {"dataset_version": message})
        checked = {"classes": [], "features": [], "header": check_generative_bytes(fmt, data)}
    elif validate_on is None:
        message = f"A {fmt} model is checked on 32 rows of a dataset version: name dataset_version"
        raise RegistryError(message, {"dataset_version": message})
    else:
        checked = check_model_bytes(fmt, data, validate_on)
    with transaction.atomic():
        artifact = artifacts.store(data, organization=system.organization, filename=filename)
        version = ModelVersion.objects.create(
            organization=system.organization, system=system, name=name,
            version=_next_version(ModelVersion, system, name), artifact=artifact, created_by=user, format=fmt,
            classes=checked["classes"], features=checked["features"], model_card=model_card,
            validated_on=validate_on, training_dataset=training_dataset, parent=parent, dp=dp,
        )
        payload = {"system": system.pk, "name": name, "version": version.version, "format": fmt,
                   "sha256": artifact.sha256, "validated_on": validate_on.pk if validate_on else None,
                   "parent": parent.pk if parent else None}
        if "header" in checked:
            payload["header"] = checked["header"]
        auditlog.record("model.upload", organization=system.organization, actor=user, obj=version, payload=payload)
    return version


def model_request(fmt: str, dataset: DatasetVersion, classes: list[str] | None = None) -> dict:
    """Return the JSON request the sandboxed model code reads (`audit.sandboxed`): format, table, schema."""
    from .datasets import Limits

    return {"format": fmt, "file_format": dataset.file_format, "schema": asdict(schema_of(dataset)),
            "classes": list(classes or []) or None, "table_limits": asdict(Limits.from_settings())}


def model_inputs(model_bytes: bytes, dataset: DatasetVersion) -> dict[str, bytes]:
    """Return the files the sandboxed model code reads: the model and the dataset table, decrypted."""
    return {"model": model_bytes, "dataset": artifacts.read(dataset.artifact)}


def check_model_bytes(fmt: str, data: bytes, dataset: DatasetVersion) -> dict:
    """Return {"classes", "features"} of the model in `data`, run on 32 rows of `dataset` in the sandbox.

    Raises RegistryError with the one-line reason when the model is refused, fails on the rows or
    hits a sandbox limit. The model is never deserialised in this process.
    """
    from core import sandbox

    try:
        return sandbox.run("model.check", model_request(fmt, dataset), model_inputs(data, dataset),
                           limits_=sandbox.limits("check")).result
    except sandbox.SandboxError as exc:
        raise RegistryError(str(exc), {"file": str(exc)}) from None


def check_generative_bytes(fmt: str, data: bytes) -> dict:
    """Return the header of a generative model file (gguf: version, tensors, kv, architecture, name).

    Only the header is read, with plain `struct` and every count bounded by the file's size: the
    weights are never loaded in this process. Raises RegistryError listing the accepted formats.
    """
    from .modelio.errors import ModelFormatError
    from .modelio.gguf_header import check_gguf, is_gguf
    from .modelio.sniff import check_format

    try:
        if not is_gguf(data):
            check_format(fmt, data)  # raises, naming a pickle or the format the file is in
        return check_gguf(data)
    except ModelFormatError as exc:
        raise RegistryError(str(exc), {"file": str(exc)}) from None


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


__all__ = ["RegistryError", "DatasetError", "register_dataset", "register_model", "load_frame", "load_splits",
           "split_frame", "target_classes", "check_model_bytes", "check_generative_bytes", "check_contract",
           "ContractError", "model_request",
           "model_inputs", "schema_of", "promote_model", "PROMOTION_REASON_MAX",
           "ACCEPTED_FORMATS"]


#
# Organisation thresholds
#


def thresholds_of(organization) -> dict:
    """Return the organisation's threshold overrides ({} when it keeps the catalog's)."""
    from .models import ThresholdPolicy

    policy = ThresholdPolicy.objects.filter(organization=organization).first()
    return dict(policy.overrides) if policy else {}


def set_thresholds(organization, *, user, overrides) -> dict:
    """Replace the organisation's overrides after checking them; log the change with a before/after diff.

    Raises AssayError (400) naming the metric when an entry is unknown, not numeric, or in the wrong
    order for the metric's direction.
    """
    from .metrics.catalog import validate_thresholds
    from .models import ThresholdPolicy

    try:
        clean = validate_thresholds(overrides)
    except ValueError as exc:
        raise AssayError(str(exc), {"thresholds": str(exc)}) from None
    with transaction.atomic():
        policy, _ = ThresholdPolicy.objects.select_for_update().get_or_create(organization=organization)
        before = dict(policy.overrides)
        policy.overrides, policy.updated_by = clean, user
        policy.save()
        keys = sorted(set(before) | set(clean))
        changes = auditlog.diff({k: before.get(k) for k in keys}, {k: clean.get(k) for k in keys})
        auditlog.record("thresholds.update", organization=organization, actor=user, obj=policy,
                        payload={"changes": changes})
    return clean


#
# Promotions
#

PROMOTION_REASON_MAX = 2000  # characters


def promote_model(system: AISystem, *, user, model_version: ModelVersion, reason: str) -> Promotion:
    """Make `model_version` the current model of `system` and return the Promotion that records it.

    The promotion (who, when, why, from which version to which) is saved and appended to the audit
    log in one transaction, the system row locked so that two promotions cannot both claim the same
    previous version. Raises RegistryError (400) naming the field when the reason is blank or too
    long, the version belongs to another system, or it is already the current model.
    """
    reason = (reason or "").strip()
    if not reason:
        message = "Say why this version is promoted: the reason is kept in the promotion history"
        raise RegistryError(message, {"reason": [message]})
    if len(reason) > PROMOTION_REASON_MAX:
        message = f"The reason is {len(reason)} characters long; at most {PROMOTION_REASON_MAX}"
        raise RegistryError(message, {"reason": [message]})
    if model_version.system_id != system.pk:
        message = (f"Model version {model_version.pk} ({model_version.name} v{model_version.version}) belongs to "
                   f"another system; promote it within its own system")
        raise RegistryError(message, {"model_version": [message]})
    with transaction.atomic():
        # FOR UPDATE OF the system row only: PostgreSQL refuses to lock the nullable side of the outer join
        locked = AISystem.objects.select_for_update(of=("self",)).select_related("current_model").get(pk=system.pk)
        previous = locked.current_model
        if previous is not None and previous.pk == model_version.pk:
            message = f"{model_version.name} v{model_version.version} is already the current model of {locked.name}"
            raise RegistryError(message, {"model_version": [message]})
        locked.current_model = model_version
        locked.save(update_fields=["current_model", "updated"])
        promotion = Promotion.objects.create(
            organization_id=locked.organization_id, system=locked, from_version=previous, to_version=model_version,
            reason=reason, promoted_by=user if getattr(user, "pk", None) else None,
            promoted_by_name=getattr(user, "username", "") or "")
        auditlog.record("model.promote", organization=locked.organization_id, actor=user, obj=locked,
                        payload={"promotion": promotion.pk, "system": locked.pk,
                                 "from_model_version": previous.pk if previous else None,
                                 "model_version": model_version.pk, "reason": reason})
    system.current_model, system.updated = model_version, locked.updated
    return promotion


def promotions_of(system: AISystem):
    """Return the system's promotions, newest first, with both versions and the promoter loaded."""
    return (Promotion.objects.filter(system=system)
            .select_related("from_version", "to_version", "promoted_by").order_by("-created", "-id"))


#
# Over time
#

TREND_AUDITS = 30  # the latest succeeded audits a trend shows


def metric_trends(system: AISystem, *, limit: int = TREND_AUDITS) -> dict:
    """Return each metric's values across the system's latest `limit` succeeded audits, oldest first.

    {"runs": [AuditRun], "metrics": {metric id: [{"value", "status"} or None per run]},
     "thresholds": {metric id: {"pass", "warn", "direction", …}}}. Values come from the MetricResult
    index (one query); None marks a run without that metric. Thresholds are the organisation's as the
    next audit would apply them (the bands); each value keeps the status its own audit gave it.
    """
    from core.choices import JobStatus

    from .metrics.catalog import CATALOG, thresholds_used
    from .models import AuditRun, MetricResult

    runs = list(AuditRun.objects.filter(model_version__system=system, status=JobStatus.SUCCEEDED)
                .select_related("model_version", "dataset_version").order_by("-created", "-id")[:limit])[::-1]
    index = {run.pk: i for i, run in enumerate(runs)}
    metrics: dict[str, list] = {mid: [None] * len(runs) for mid in CATALOG}
    rows = MetricResult.objects.filter(audit_run_id__in=index).values_list("audit_run_id", "metric_id", "value",
                                                                           "status")
    for run_id, metric_id, value, status in rows:
        metrics.setdefault(metric_id, [None] * len(runs))[index[run_id]] = {"value": value, "status": status}
    return {"runs": runs, "metrics": metrics, "thresholds": thresholds_used(thresholds_of(system.organization_id))}
