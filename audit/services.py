"""Registry workflows: register systems, dataset versions and model versions, read them back.

Each write validates first, stores the artifact encrypted, saves the row and appends to the audit
log in one transaction: bad input changes nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd
from django.db import transaction
from django.db.models import Max

from . import artifacts, auditlog
from .choices import DATASHEET_FIELDS, MODEL_CARD_FIELDS, ModelFormat
from .datasets import DatasetError, Schema, parse_table, sniff_table_format, split_mask, validate
from .models import AISystem, DatasetVersion, ModelVersion

ACCEPTED_FORMATS = (
    "torch-zoo (zip: config.json + weights.safetensors), torch-export (.pt2), onnx (.onnx), "
    "sklearn (skops .skops)"
)


class RegistryError(ValueError):
    """A registration was refused; `fields` maps input fields to messages."""

    def __init__(self, message: str, fields: dict | None = None):
        super().__init__(message)
        self.fields = fields or {}


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
        )
        auditlog.record("dataset.upload", organization=system.organization, actor=user, obj=version,
                        payload={"system": system.pk, "name": name, "version": version.version,
                                 "sha256": artifact.sha256, "rows": len(frame)})
    return version


def schema_of(version: DatasetVersion) -> Schema:
    return Schema(target=version.target, positive_label=version.positive_label, features=version.features,
                  categorical=version.categorical, sensitive_attributes=version.sensitive_attributes,
                  split_column=version.split_column, test_size=version.test_size)


def load_frame(version: DatasetVersion) -> pd.DataFrame:
    """Return the dataset version's table, decrypted and integrity-checked."""
    return parse_table(artifacts.read(version.artifact), version.file_format)


@dataclass
class Splits:
    train: pd.DataFrame
    eval: pd.DataFrame
    schema: Schema
    dropped_missing: int


def load_splits(version: DatasetVersion) -> Splits:
    """Return the training and evaluation rows (rows with missing values in used columns dropped)."""
    frame = load_frame(version)
    schema = schema_of(version)
    return split_frame(frame, schema)


def split_frame(frame: pd.DataFrame, schema: Schema) -> Splits:
    schema = schema.resolved(frame)
    used = list(dict.fromkeys([*schema.features, schema.target, *schema.sensitive_attributes]))
    complete = frame.dropna(subset=used).reset_index(drop=True)
    train = split_mask(complete, schema)
    return Splits(complete[train].reset_index(drop=True), complete[~train].reset_index(drop=True), schema,
                  len(frame) - len(complete))


#
# Models
#


def register_model(*, user, system: AISystem, name: str, filename: str, data: bytes, fmt: str,
                   validate_on: DatasetVersion, model_card: dict | None = None,
                   training_dataset: DatasetVersion | None = None, parent: ModelVersion | None = None,
                   dp: dict | None = None, make_current: bool = True) -> ModelVersion:
    """Validate the model by running it on 32 rows of `validate_on`, store it, and return the version."""
    model_card = _clean_fields(model_card, MODEL_CARD_FIELDS, "model_card")
    if fmt not in ModelFormat.values:
        raise RegistryError(f"Unknown format {fmt!r}; accepted formats: {ACCEPTED_FORMATS}", {"format": "unknown"})
    loaded = load_model_bytes(fmt, data, validate_on)
    with transaction.atomic():
        artifact = artifacts.store(data, organization=system.organization, filename=filename)
        version = ModelVersion.objects.create(
            organization=system.organization, system=system, name=name,
            version=_next_version(ModelVersion, system, name), artifact=artifact, created_by=user, format=fmt,
            classes=list(loaded.classes), features=list(loaded.features), model_card=model_card,
            validated_on=validate_on, training_dataset=training_dataset, parent=parent, dp=dp,
        )
        if make_current:
            AISystem.objects.filter(pk=system.pk).update(current_model=version)
        auditlog.record("model.upload", organization=system.organization, actor=user, obj=version,
                        payload={"system": system.pk, "name": name, "version": version.version, "format": fmt,
                                 "sha256": artifact.sha256, "validated_on": validate_on.pk,
                                 "parent": parent.pk if parent else None})
    return version


def target_classes(splits: Splits) -> list[str]:
    """Return the class values a model without declared classes is assumed to have: the sorted targets."""
    from .modelio.encoder import category_key

    values = pd.concat([splits.train[splits.schema.target], splits.eval[splits.schema.target]]).dropna().unique()
    return [category_key(v) for v in sorted(values)]


def load_model_bytes(fmt: str, data: bytes, dataset: DatasetVersion):
    """Return the loaded model, validated on 32 rows of `dataset`; RegistryError when unusable."""
    from .modelio import ModelFormatError, load_model, validate_contract

    splits = load_splits(dataset)
    try:
        loaded = load_model(fmt, data, features=splits.schema.features, categorical=splits.schema.categorical,
                            train_frame=splits.train, classes=target_classes(splits))
        validate_contract(loaded, splits.train.head(32))
    except (ModelFormatError, ValueError) as exc:
        raise RegistryError(str(exc), {"file": str(exc)}) from None
    return loaded


def load_model_version(version: ModelVersion, dataset: DatasetVersion):
    """Return the stored model, loaded (the artifact is integrity-checked first)."""
    from .modelio import load_model

    splits = load_splits(dataset)
    return load_model(version.format, artifacts.read(version.artifact), features=splits.schema.features,
                      categorical=splits.schema.categorical, train_frame=splits.train,
                      classes=version.classes or target_classes(splits)), splits


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


__all__ = ["RegistryError", "DatasetError", "register_dataset", "register_model", "load_frame", "load_splits",
           "split_frame", "load_model_version", "schema_of", "ACCEPTED_FORMATS"]
