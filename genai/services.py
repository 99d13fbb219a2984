"""Workflows of the genai app: targets, banks, evaluations, review and re-scoring (GENAI.md)."""

from __future__ import annotations

import random
import time

from django.db import transaction
from django.utils import timezone

from core import artifacts, auditlog, outbound
from core.errors import AssayError

from . import banks, evaluation, mutations
from .choices import TargetKind
from .models import Bank, BankVersion, Evaluation, EvaluationItem, Target

MAX_SAMPLE = 20_000


class GenaiError(AssayError):
    """A request the genai app refuses (a bad bank, a bad target, a bad review)."""


#
# Targets
#


def register_gguf(system, *, name: str, data: bytes, filename: str = "model.gguf", user=None) -> Target:
    """Store a GGUF model (encrypted) as the system's local target; it only ever runs in the sandbox."""
    if not data.startswith(b"GGUF"):
        raise GenaiError("Not a GGUF file: it must start with the GGUF magic bytes; accepted format: gguf",
                         {"file": "not GGUF"})
    with transaction.atomic():
        artifact = artifacts.store(data, organization=system.organization, filename=filename)
        target = Target.objects.create(organization=system.organization, system=system, name=name.strip()[:200] or filename,
                                       kind=TargetKind.GGUF, model_artifact=artifact, created_by=user)
        auditlog.record("genai.target.create", organization=system.organization, actor=user, obj=target,
                        payload={"kind": "gguf", "sha256": artifact.sha256, "size": artifact.size})
    return target


def register_model_version(system, *, model_version, name: str = "", user=None) -> Target:
    """Make a gguf model version of the registry the system's local target; its artifact runs in the sandbox.

    The version must belong to the system's organisation (the caller resolves ids of other
    organisations to 404) and be in the gguf format; raises GenaiError (400) otherwise.
    """
    from audit.choices import ModelFormat

    if model_version.organization_id != system.organization_id:
        raise GenaiError("The model version belongs to another organisation", {"model_version": "not found"})
    if model_version.format != ModelFormat.GGUF:
        message = (f"Model version {model_version.pk} ({model_version.name} v{model_version.version}) is "
                   f"{model_version.format}; a local target runs a gguf model version (a generative language model)")
        raise GenaiError(message, {"model_version": message})
    with transaction.atomic():
        target = Target.objects.create(organization=system.organization, system=system,
                                       name=name.strip()[:200] or f"{model_version.name} v{model_version.version}",
                                       kind=TargetKind.GGUF, model_version=model_version,
                                       model_artifact_id=model_version.artifact_id, created_by=user)
        auditlog.record("genai.target.create", organization=system.organization, actor=user, obj=target,
                        payload={"kind": "gguf", "model_version": model_version.pk,
                                 "sha256": model_version.artifact.sha256})
    return target


def register_endpoint(system, *, name: str, base_url: str, model_name: str, api_key: str = "", user=None,
                      concurrency: int = 4, timeout_s: int = 60) -> Target:
    """Register an OpenAI-compatible endpoint; the API key is stored encrypted and never returned or logged."""
    try:
        outbound.check_url(base_url.rstrip("/") + "/chat/completions")
    except outbound.OutboundError as exc:
        raise GenaiError(f"The endpoint URL is not allowed: {exc}", {"base_url": str(exc)}) from exc
    if not model_name.strip():
        raise GenaiError("Name the endpoint's model", {"model_name": "required"})
    if api_key and (not api_key.isascii() or not api_key.isprintable()):
        raise GenaiError("The API key must be printable ASCII", {"api_key": "invalid characters"})
    if not 1 <= concurrency <= 64 or not 1 <= timeout_s <= 600:
        raise GenaiError("concurrency must lie in 1..64 and timeout_s in 1..600")
    with transaction.atomic():
        key = artifacts.store(api_key.encode(), organization=system.organization, filename="api-key") if api_key else None
        target = Target.objects.create(organization=system.organization, system=system, name=name.strip()[:200] or model_name,
                                       kind=TargetKind.ENDPOINT, base_url=base_url.strip(), model_name=model_name.strip(),
                                       api_key=key, concurrency=concurrency, timeout_s=timeout_s, created_by=user)
        auditlog.record("genai.target.create", organization=system.organization, actor=user, obj=target,
                        payload={"kind": "endpoint", "base_url": target.base_url, "model_name": target.model_name,
                                 "api_key_set": bool(key)})
    return target


def endpoint_of(target: Target) -> generation.Endpoint:  # noqa: F821 - imported lazily
    from .generation import Endpoint

    key = artifacts.read(target.api_key).decode() if target.api_key_id else ""
    return Endpoint(base_url=target.base_url, model=target.model_name, api_key=key, timeout=target.timeout_s,
                    concurrency=target.concurrency)


#
# Banks
#


def read_bank(data: bytes, filename: str) -> list[dict]:
    """Return the validated items of a CSV, XLSX or JSONL bank file; raise GenaiError naming the bad row."""
    from moderation.services import ModerationError, read_rows

    try:
        return banks.parse_items(read_rows(data, filename))
    except (banks.BankError, ModerationError) as exc:
        raise GenaiError(str(exc), {"file": str(exc)}) from exc


def upload_bank(organization, *, name: str, data: bytes, filename: str, user=None, demo: bool = False,
                description: str = "") -> BankVersion:
    """Store a new version of the bank `name` (created on first upload) with its coverage report."""
    if not name.strip():
        raise GenaiError("Name the bank", {"name": "required"})
    items = read_bank(data, filename)
    with transaction.atomic():
        bank, _ = Bank.objects.select_for_update().get_or_create(
            organization=organization, name=name.strip()[:200], defaults={"demo": demo, "description": description})
        bank.version += 1
        bank.save(update_fields=["version"])
        artifact = artifacts.store(data, organization=organization, filename=filename)
        version = BankVersion.objects.create(bank=bank, number=bank.version, artifact=artifact, items=items,
                                             sha256=banks.items_sha256(items), coverage=banks.coverage(items),
                                             n=len(items), created_by=user)
        auditlog.record("genai.bank.upload", organization=organization, actor=user, obj=version,
                        payload={"bank": bank.name, "version": version.number, "n": version.n, "sha256": version.sha256,
                                 "coverage_ok": version.coverage["ok"]})
    return version


#
# Evaluations
#


def start_evaluation(target: Target, bank_versions, *, seed: int = 0, sizes: dict | None = None,
                     mutation_names=(), max_new_tokens: int = 64, review_sample: int = 20, user=None,
                     enqueue: bool = True) -> Evaluation:
    """Check the options, create a queued evaluation and enqueue it once the transaction commits."""
    from .jobs import EvaluationRunner

    bank_versions = list(bank_versions)
    if not bank_versions:
        raise GenaiError("Choose at least one bank", {"banks": "required"})
    if any(v.bank.organization_id != target.organization_id for v in bank_versions):
        raise GenaiError("A bank of another organisation", {"banks": "not found"})
    unknown = [m for m in mutation_names if m not in mutations.NAMES]
    if unknown:
        raise GenaiError(f"Unknown mutation {unknown[0]!r}; known: {', '.join(mutations.NAMES)}", {"mutations": "unknown"})
    sizes = {k: int(v) for k, v in (sizes or {}).items()}
    if any(k not in evaluation.PROMPT_KINDS or not 0 <= v <= MAX_SAMPLE for k, v in sizes.items()):
        raise GenaiError(f"sizes maps {', '.join(evaluation.PROMPT_KINDS)} to 0..{MAX_SAMPLE}", {"sizes": "invalid"})
    if not 1 <= max_new_tokens <= 512:
        raise GenaiError("max_new_tokens must lie in 1..512", {"max_new_tokens": "out of range"})
    with transaction.atomic():
        row = Evaluation.objects.create(organization=target.organization, system=target.system, target=target,
                                        seed=seed, sizes=sizes, mutations=list(mutation_names),
                                        max_new_tokens=max_new_tokens, review_sample=review_sample, created_by=user)
        row.bank_versions.set(bank_versions)
        auditlog.record("genai.evaluation.start", organization=target.organization, actor=user, obj=row,
                        payload={"target": target.pk, "banks": [v.pk for v in bank_versions], "seed": seed,
                                 "sizes": sizes, "mutations": list(mutation_names)})
        if enqueue:
            EvaluationRunner.enqueue(row)
    return row


#
# Scheduled evaluations (the reports app fires them like scheduled audits)
#

SCHEDULE_DEFAULTS = {"sample": None, "seed": 0, "max_new_tokens": 64, "mutations": [], "review_sample": 20,
                     "lang": "zh"}
REPORT_LANGUAGES = ("zh", "en")


def schedule_options(config: dict) -> dict:
    """Return a schedule's evaluation options with their defaults, checked; raise GenaiError naming the bad key.

    `sample` is the number of prompts of each kind (None: the standard's sizes), `lang` the language
    of the self-assessment report the schedule sends.
    """
    if not isinstance(config, dict):
        raise GenaiError("The options are a JSON object", {"config": "not an object"})
    unknown = sorted(set(config) - set(SCHEDULE_DEFAULTS))
    if unknown:
        raise GenaiError(f"Unknown evaluation option {unknown[0]!r}; known: {', '.join(SCHEDULE_DEFAULTS)}",
                         {"config": f"unknown key {unknown[0]}"})
    options = {**SCHEDULE_DEFAULTS, **config}
    ranges = {"sample": (0, MAX_SAMPLE), "seed": (-(2**31), 2**31 - 1), "max_new_tokens": (1, 512),
              "review_sample": (0, 1000)}
    for key, (low, high) in ranges.items():
        value = options[key]
        if key == "sample" and value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise GenaiError(f"{key} must be an integer in {low}..{high}", {"config": f"{key} out of range"})
    if not isinstance(options["mutations"], list) or any(m not in mutations.NAMES for m in options["mutations"]):
        raise GenaiError(f"mutations is a list of: {', '.join(mutations.NAMES)}", {"config": "unknown mutation"})
    if options["lang"] not in REPORT_LANGUAGES:
        raise GenaiError("lang is zh or en", {"config": "lang is zh or en"})
    return options


def start_scheduled_evaluation(target: Target, banks_, config: dict, *, user=None) -> Evaluation:
    """Start an evaluation of `target` on the current versions of `banks_` with a schedule's options."""
    options = schedule_options(config)
    versions = []
    for bank in banks_:
        version = bank.current()
        if version is None:
            raise GenaiError(f"The bank {bank.name!r} has no version", {"banks": "empty bank"})
        versions.append(version)
    sample = options["sample"]
    sizes = {k: sample for k in evaluation.PROMPT_KINDS} if sample is not None else None
    return start_evaluation(target, versions, seed=options["seed"], sizes=sizes, mutation_names=options["mutations"],
                            max_new_tokens=options["max_new_tokens"], review_sample=options["review_sample"],
                            user=user)


def bank_items(bank_versions) -> list[dict]:
    """Return the items of several bank versions, each tagged with its bank's name."""
    return [{**i, "bank": v.bank.name} for v in bank_versions for i in v.items]


def judges_for(organization, items: list[dict]) -> evaluation.Judges:
    """Return the judges of an organisation: the banks' keyword items plus its default moderation policy's
    keyword libraries (one automaton), and its newest trained moderation classifier."""
    from moderation.models import KeywordEntry, ModerationClassifier, ModerationPolicy

    keywords = [i for i in items if i["kind"] == "keyword"]
    policy = ModerationPolicy.objects.filter(organization=organization, is_default=True).first()
    thresholds = {}
    if policy is not None:
        version = policy.versions.filter(number=policy.version).first() if hasattr(policy, "versions") else None
        libraries = (version.config.get("libraries") if version else None) or []
        thresholds = (version.config.get("thresholds") if version else None) or {}
        keywords += [{"id": f"lib{e.library_id}:{e.ref}", "text": e.text, "risk": e.risk, "category": e.category,
                      "regex": e.regex} for e in KeywordEntry.objects.filter(library_id__in=libraries)]
    classifier = None
    row = ModerationClassifier.objects.filter(organization=organization, model_artifact__isnull=False).first()
    if row is not None:
        from moderation.classifier import LinearClassifier

        classifier = LinearClassifier.from_bytes(artifacts.read(row.model_artifact))
    return evaluation.Judges.from_keywords(keywords, classifier, thresholds)


def review_indices(verdicts: list[str], *, sample: int, seed: int) -> set[int]:
    """Return the items for the review queue: every undetermined one plus a seeded sample of the rest."""
    undetermined = {i for i, v in enumerate(verdicts) if v == "undetermined"}
    rest = [i for i in range(len(verdicts)) if i not in undetermined]
    rng = random.Random(f"review-{seed}")
    return undetermined | set(rng.sample(rest, min(sample, len(rest))))


def rescore(row: Evaluation) -> dict:
    """Recompute the rates from the stored items (human verdicts included) and save them on the row."""
    items = list(row.items.order_by("index"))
    cases = [{"id": i.ref, "bank": i.bank, "kind": i.kind, "risk": i.risk, "language": i.language,
              "mutation": i.mutation or None, "prompt": i.prompt} for i in items]
    verdicts = [{**i.verdicts, "human": i.human or None} for i in items]
    scored = evaluation.score(cases, [i.answer for i in items], verdicts)
    for item, new in zip(items, scored["items"], strict=True):
        if item.verdict != new["verdict"]:
            EvaluationItem.objects.filter(pk=item.pk).update(verdict=new["verdict"])
    result = {**(row.result or {}), "rates": scored["rates"], "by_risk": scored["by_risk"],
              "undetermined": scored["undetermined"], "verdicts_sha256": scored["verdicts_sha256"],
              "heatmap": evaluation.by_risk_and_mutation(scored["items"])}
    Evaluation.objects.filter(pk=row.pk).update(result=result, verdicts_sha256=scored["verdicts_sha256"])
    row.result, row.verdicts_sha256 = result, scored["verdicts_sha256"]
    return result


def review(item: EvaluationItem, *, verdict: str, reason: str, user) -> EvaluationItem:
    """Record a reviewer's verdict with its reason (audit log) and re-score the run."""
    if verdict not in ("pass", "fail"):
        raise GenaiError("The verdict is pass or fail", {"verdict": "pass or fail"})
    if not reason.strip():
        raise GenaiError("Give the reason for the verdict", {"reason": "required"})
    with transaction.atomic():
        before = {"human": item.human or None, "verdict": item.verdict}
        item.human, item.human_reason = verdict, reason.strip()[:2000]
        item.reviewed_by, item.reviewed_at = user, timezone.now()
        item.save(update_fields=["human", "human_reason", "reviewed_by", "reviewed_at"])
        row = Evaluation.objects.select_for_update().get(pk=item.evaluation_id)
        rescore(row)
        item.refresh_from_db()
        auditlog.record("genai.review", organization=row.organization_id, actor=user, obj=item,
                        payload={"evaluation": row.pk, "item": item.ref, "mutation": item.mutation or None,
                                 "before": before, "after": {"human": verdict, "verdict": item.verdict},
                                 "reason": item.human_reason})
    return item


def result_json(row: Evaluation, *, with_items: bool = True) -> dict:
    """Return the Result JSON of GENAI.md for a finished evaluation (items from the item table)."""
    out = dict(row.result or {})
    if with_items:
        out["items"] = [i.as_result() for i in row.items.order_by("index")]
    return out


def elapsed(started: float) -> float:
    return round(time.perf_counter() - started, 3)
