"""Moderation workflows: keyword libraries, policies and their versions, moderating texts, evaluations.

Every write appends to the organisation's audit log. Moderating reads the database only when a
compiled policy is older than ASSAY_MODERATION_CACHE_SECONDS (then it checks that nothing it was
compiled from changed) and never writes to it: decisions go to the spool (decisions.py).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Organization
from core import artifacts, auditlog, safezip
from core.errors import AssayError

from . import decisions, metrics, pii, rules
from .choices import CATEGORIES, RISK_CATEGORY, RISKS, DecisionSource, PolicyAction
from .engine import DEFAULT_THRESHOLD, Engine, Verdict
from .models import (
    KeywordEntry,
    KeywordLibrary,
    ModerationClassifier,
    ModerationEvaluation,
    ModerationPolicy,
    PolicyVersion,
)

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"
DEMO_LIBRARY = "Demo keywords (EN+ZH)"
DEFAULT_POLICY = "Default"
MAX_TEXT_BYTES_FILE = 50 * 1024 * 1024


class ModerationError(AssayError):
    """A moderation request or upload that Assay refuses, with the fields it concerns."""


#
# Files: keyword libraries and labelled sets (CSV, XLSX, JSONL)
#


def read_rows(data: bytes, filename: str) -> list[dict[str, str]]:
    """Return the rows of an uploaded CSV, XLSX or JSONL file as dicts of lower-cased column → text."""
    if len(data) > MAX_TEXT_BYTES_FILE:
        raise ModerationError("The file is larger than 50 MB", {"file": "too large"})
    name = filename.lower()
    if name.endswith(".xlsx"):
        rows = _xlsx_rows(data)
    elif name.endswith((".jsonl", ".ndjson")):
        rows = _jsonl_rows(data)
    elif name.endswith((".csv", ".txt")) or not name:
        rows = _csv_rows(data)
    else:
        raise ModerationError("Upload a .csv, .xlsx or .jsonl file", {"file": "unsupported format"})
    return [{str(k).strip().lower(): ("" if v is None else str(v)).strip() for k, v in r.items() if k is not None}
            for r in rows]


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ModerationError("The file is not UTF-8 text", {"file": "not UTF-8"}) from None


def _csv_rows(data: bytes) -> list[dict]:
    try:
        return list(csv.DictReader(io.StringIO(_decode(data))))
    except csv.Error as exc:
        raise ModerationError(f"The CSV file cannot be read: {exc}", {"file": str(exc)}) from None


def _jsonl_rows(data: bytes) -> list[dict]:
    rows = []
    for n, line in enumerate(_decode(data).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise ModerationError(f"Line {n} is not JSON", {"file": f"line {n}"}) from None
        if not isinstance(row, dict):
            raise ModerationError(f"Line {n} is not a JSON object", {"file": f"line {n}"})
        if isinstance(row.get("categories"), list):
            row["categories"] = ";".join(str(c) for c in row["categories"])
        rows.append(row)
    return rows


XLSX_LIMITS = safezip.Limits(max_entries=200, max_entry_bytes=200 * 1024 * 1024,
                             max_total_bytes=400 * 1024 * 1024, max_ratio=100.0)


def _xlsx_rows(data: bytes) -> list[dict]:
    import zipfile

    import openpyxl

    try:  # a workbook is a zip: its directory is checked (entries, sizes, ratio) before openpyxl inflates it
        safezip.SafeZip(data, XLSX_LIMITS).verify()
    except safezip.UnsafeZip as exc:
        raise ModerationError(f"The XLSX file is refused: {exc}", {"file": str(exc)}) from None
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ModerationError(f"The XLSX file cannot be read: {exc}", {"file": "not an XLSX workbook"}) from None
    sheet = book.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    header = next(values, None) or ()
    rows = [dict(zip(header, row, strict=False)) for row in values if any(v not in (None, "") for v in row)]
    book.close()
    return rows


def parse_entries(rows: list[dict[str, str]]) -> list[dict]:
    """Return library entries from file rows (`text` or `keyword`; `category` and/or `risk`; `id`,
    `language`, `regex` or `kind` optional), or raise ModerationError naming the first bad row."""
    limit = int(getattr(settings, "ASSAY_MODERATION_MAX_KEYWORDS", 200_000))
    if len(rows) > limit:
        raise ModerationError(f"A library holds at most {limit} entries; the file has {len(rows)}",
                              {"file": "too many entries"})
    entries, refs = [], set()
    for n, row in enumerate(rows, 1):
        text = row.get("text") or row.get("keyword") or ""
        risk = row.get("risk", "").upper()
        category = row.get("category", "").lower() or RISK_CATEGORY.get(risk, "")
        kind = row.get("kind", "").lower()
        regex = row.get("regex", "").lower() in ("1", "true", "yes") or kind == "regex"
        problem = _entry_problem(text, category, risk, regex)
        if kind and kind not in ("keyword", "regex"):
            problem = f"kind must be keyword or regex, not {kind!r}"
        if problem:
            raise ModerationError(f"Row {n}: {problem}", {"file": f"row {n}: {problem}"})
        ref = (row.get("id") or str(n))[:64]
        if ref in refs:
            raise ModerationError(f"Row {n}: the id {ref!r} is used twice", {"file": f"row {n}: duplicate id"})
        refs.add(ref)
        entries.append({"ref": ref, "text": text, "category": category, "risk": risk, "regex": regex,
                        "language": row.get("language", "")[:16]})
    return entries


def _entry_problem(text: str, category: str, risk: str, regex: bool) -> str | None:
    if not text:
        return "the keyword is empty"
    if len(text) > 1000:
        return "the keyword is longer than 1000 characters"
    if risk and risk not in RISKS:
        return f"unknown risk code {risk!r} (GB/T 45654 Appendix A codes: A.1.1 … A.5.2)"
    if category not in CATEGORIES:
        return f"category must be one of {', '.join(CATEGORIES)} (or give a risk code), not {category!r}"
    if regex:
        try:
            rules._compile_regex(text)
        except rules.RuleError as exc:
            return str(exc)
    return None


#
# Libraries
#


def create_library(organization: Organization, *, name: str, entries: list[dict], user=None, description: str = "",
                   demo: bool = False) -> KeywordLibrary:
    """Create a keyword library with its entries (parse_entries' output)."""
    if not name.strip():
        raise ModerationError("Name the library", {"name": "required"})
    try:
        with transaction.atomic():
            library = KeywordLibrary.objects.create(organization=organization, name=name.strip()[:200],
                                                    description=description, demo=demo, created_by=user)
            KeywordEntry.objects.bulk_create([KeywordEntry(library=library, **e) for e in entries], batch_size=2000)
            auditlog.record("moderation.library.create", organization=organization, actor=user, obj=library,
                            payload={"name": library.name, "entries": len(entries), "demo": demo})
    except IntegrityError:
        raise ModerationError(f"A library named {name!r} exists already", {"name": "exists"}) from None
    return library


def replace_entries(library: KeywordLibrary, entries: list[dict], *, user=None) -> KeywordLibrary:
    """Replace a library's entries (a new upload); its version goes up."""
    with transaction.atomic():
        before = library.entries.count()
        library.entries.all().delete()
        KeywordEntry.objects.bulk_create([KeywordEntry(library=library, **e) for e in entries], batch_size=2000)
        _bump(library)
        auditlog.record("moderation.library.replace", organization=library.organization_id, actor=user, obj=library,
                        payload={"before": {"entries": before}, "after": {"entries": len(entries),
                                                                            "version": library.version}})
    return library


def add_entry(library: KeywordLibrary, entry: dict, *, user=None) -> KeywordEntry:
    problem = _entry_problem(entry.get("text", ""), entry.get("category", ""), entry.get("risk", ""),
                             bool(entry.get("regex")))
    if problem:
        raise ModerationError(problem, {"text": problem})
    with transaction.atomic():
        ref = entry.get("ref") or f"e{library.entries.count() + 1}-{uuid.uuid4().hex[:6]}"
        if library.entries.filter(ref=ref).exists():
            raise ModerationError(f"The id {ref!r} is taken", {"ref": "exists"})
        row = KeywordEntry.objects.create(library=library, ref=ref, text=entry["text"], category=entry["category"],
                                          risk=entry.get("risk", ""), regex=bool(entry.get("regex")),
                                          language=entry.get("language", ""))
        _bump(library)
        auditlog.record("moderation.library.add", organization=library.organization_id, actor=user, obj=library,
                        payload={"entry": ref, "category": row.category, "risk": row.risk, "version": library.version})
    return row


def delete_entry(entry: KeywordEntry, *, user=None) -> None:
    library = entry.library
    with transaction.atomic():
        ref = entry.ref
        entry.delete()
        _bump(library)
        auditlog.record("moderation.library.remove", organization=library.organization_id, actor=user, obj=library,
                        payload={"entry": ref, "version": library.version})


def _bump(library: KeywordLibrary) -> None:
    KeywordLibrary.objects.filter(pk=library.pk).update(version=library.version + 1, updated=timezone.now())
    library.refresh_from_db()


def demo_library(organization: Organization, user=None) -> KeywordLibrary:
    """Return the organisation's demo keyword library, created from the bundled list on first use."""
    library = KeywordLibrary.objects.filter(organization=organization, name=DEMO_LIBRARY).first()
    if library is None:
        data = (DEMO_DATA / "demo_keywords.csv").read_bytes()
        entries = parse_entries(read_rows(data, "demo_keywords.csv"))
        library = create_library(organization, name=DEMO_LIBRARY, entries=entries, user=user, demo=True,
                                 description="Synthetic demo list written for Assay (English and Chinese); not a real "
                                             "keyword library")
    return library


#
# Policies
#


def validate_config(organization: Organization, config: dict, base: dict | None = None) -> dict:
    """Return a complete policy configuration from `config` over `base`, or raise ModerationError."""
    out = {**default_config(), **(base or {})}  # a version saved before a field existed gets its default
    unknown = set(config) - set(out)
    if unknown:
        raise ModerationError(f"Unknown policy fields: {', '.join(sorted(unknown))}",
                              {k: "unknown field" for k in sorted(unknown)})
    out.update(config)
    libs = out["libraries"]
    if not isinstance(libs, list) or not all(isinstance(i, int) for i in libs):
        raise ModerationError("libraries must be a list of library ids", {"libraries": "expected ids"})
    found = set(KeywordLibrary.objects.filter(organization=organization, pk__in=libs).values_list("pk", flat=True))
    if missing := [i for i in libs if i not in found]:
        raise ModerationError(f"No such keyword library: {missing[0]}", {"libraries": f"{missing[0]} not found"})
    limit = int(getattr(settings, "ASSAY_MODERATION_MAX_KEYWORDS", 200_000))
    if libs and KeywordEntry.objects.filter(library_id__in=libs).count() > limit:
        raise ModerationError(f"A policy's libraries may hold at most {limit} entries together",
                              {"libraries": "too many entries"})
    if not isinstance(out["pii"], list) or any(k not in pii.KINDS for k in out["pii"]):
        raise ModerationError(f"pii must be a list of {', '.join(pii.KINDS)}", {"pii": "unknown detector"})
    if out["classifier"] is not None:
        ok = isinstance(out["classifier"], int) and ModerationClassifier.objects.filter(
            organization=organization, pk=out["classifier"], model_artifact__isnull=False).exists()
        if not ok:
            raise ModerationError("classifier must be the id of a trained classifier of this organisation",
                                  {"classifier": "not a trained classifier"})
    th = out["thresholds"]
    if not isinstance(th, dict) or any(k not in CATEGORIES or isinstance(v, bool) or not isinstance(v, int | float)
                                       or not 0 < v <= 1 for k, v in th.items()):
        raise ModerationError("thresholds map categories to numbers in (0, 1]", {"thresholds": "invalid"})
    if out["action"] not in PolicyAction.values:
        raise ModerationError(f"action must be one of {', '.join(PolicyAction.values)}", {"action": "invalid"})
    if not isinstance(out["keep_text"], bool):
        raise ModerationError("keep_text must be true or false", {"keep_text": "invalid"})
    out["thresholds"] = {k: float(v) for k, v in th.items()}
    return out


def default_config() -> dict:
    return {"libraries": [], "pii": list(pii.KINDS), "classifier": None, "thresholds": {},
            "action": PolicyAction.FLAG.value, "keep_text": False}


def create_policy(organization: Organization, *, name: str, config: dict, user=None,
                  is_default: bool = False) -> ModerationPolicy:
    """Create a policy and its version 1."""
    config = validate_config(organization, config)
    if not name.strip():
        raise ModerationError("Name the policy", {"name": "required"})
    try:
        with transaction.atomic():
            policy = ModerationPolicy.objects.create(organization=organization, name=name.strip()[:200], version=1,
                                                     is_default=is_default)
            PolicyVersion.objects.create(organization=organization, policy=policy, number=1, config=config,
                                         created_by=user)
            auditlog.record("moderation.policy.create", organization=organization, actor=user, obj=policy,
                            payload={"name": policy.name, "version": 1, "after": config})
    except IntegrityError:
        raise ModerationError(f"A policy named {name!r} exists already", {"name": "exists"}) from None
    return policy


def update_policy(policy: ModerationPolicy, changes: dict, *, user=None) -> PolicyVersion:
    """Save `changes` as the policy's next version (nothing when they change nothing); audit-logged."""
    with transaction.atomic():
        policy = ModerationPolicy.objects.select_for_update().get(pk=policy.pk)
        before = policy.current().config
        after = validate_config(policy.organization, changes, base=before)
        if after == before:
            return policy.current()
        number = policy.version + 1
        version = PolicyVersion.objects.create(organization_id=policy.organization_id, policy=policy, number=number,
                                               config=after, created_by=user)
        ModerationPolicy.objects.filter(pk=policy.pk).update(version=number, updated=timezone.now())
        auditlog.record("moderation.policy.update", organization=policy.organization_id, actor=user, obj=policy,
                        payload={"version": number, "before": {k: before.get(k) for k in after if before.get(k) != after[k]},
                                 "after": {k: after[k] for k in after if before.get(k) != after[k]}})
    return version


def default_policy(organization: Organization, user=None) -> ModerationPolicy:
    """Return the organisation's default policy, created on first use: the PII detectors and the demo list."""
    policy = ModerationPolicy.objects.filter(organization=organization, is_default=True).first()
    if policy is not None:
        return policy
    library = demo_library(organization, user)
    try:
        return create_policy(organization, name=DEFAULT_POLICY, is_default=True, user=user,
                             config={"libraries": [library.pk], "pii": list(pii.KINDS)})
    except ModerationError:  # a concurrent first call created it
        return ModerationPolicy.objects.get(organization=organization, is_default=True)


#
# Compiled policies, cached per process
#


@dataclass
class Compiled:
    version: PolicyVersion
    engine: Engine
    fingerprint: tuple
    checked: float


_compiled: dict[int, Compiled] = {}  # policy id → compiled current version
_compile_lock = threading.Lock()
_lookups: dict[tuple, tuple[float, object]] = {}


def cached(key: tuple, compute):
    """Return compute() (never an exception), remembered for ASSAY_MODERATION_CACHE_SECONDS in this process.

    The moderation call resolves the caller's organisation (and role) and the policy this way: a
    membership or a policy removed takes up to that many seconds to apply to it.
    """
    ttl = float(getattr(settings, "ASSAY_MODERATION_CACHE_SECONDS", 5))
    now = time.monotonic()
    hit = _lookups.get(key)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    value = compute()
    if ttl > 0:
        if len(_lookups) > 10_000:
            _lookups.clear()
        _lookups[key] = (now, value)
    return value


def _fingerprint(policy_id: int) -> tuple:
    number = ModerationPolicy.objects.filter(pk=policy_id).values_list("version", flat=True).first()
    version = PolicyVersion.objects.get(policy_id=policy_id, number=number)
    libs = tuple(KeywordLibrary.objects.filter(pk__in=version.config["libraries"]).order_by("pk")
                 .values_list("pk", "version"))
    return (version.pk, libs), version


def compiled(policy: ModerationPolicy) -> Compiled:
    """Return the policy's current version compiled, from this process's cache while it is fresh."""
    ttl = float(getattr(settings, "ASSAY_MODERATION_CACHE_SECONDS", 5))
    hit = _compiled.get(policy.pk)
    now = time.monotonic()
    if hit is not None and now - hit.checked < ttl:
        return hit
    fingerprint, version = _fingerprint(policy.pk)
    if hit is not None and hit.fingerprint == fingerprint:
        hit.checked = now
        return hit
    with _compile_lock:
        engine = build_engine(version)
        _compiled[policy.pk] = Compiled(version, engine, fingerprint, now)
    return _compiled[policy.pk]


def build_engine(version: PolicyVersion) -> Engine:
    """Compile a policy version: its libraries into one automaton, its classifier loaded."""
    config = version.config
    entries = [rules.Entry(key=f"{e.library_id}:{e.ref}", text=e.text, category=e.category, risk=e.risk,
                           regex=e.regex)
               for e in KeywordEntry.objects.filter(library_id__in=config["libraries"]).order_by("library_id", "pk")]
    classifier = None
    if config.get("classifier"):
        from .classifier import LinearClassifier

        row = ModerationClassifier.objects.select_related("model_artifact").get(pk=config["classifier"])
        classifier = LinearClassifier.from_bytes(artifacts.read(row.model_artifact))
    return Engine(index=rules.KeywordIndex(entries) if entries else None, pii_kinds=tuple(config["pii"]),
                  classifier=classifier, thresholds=config.get("thresholds") or {}, action=config["action"])


def resolve_policy(organization: Organization, ref=None) -> ModerationPolicy:
    """Return the organisation's policy named by id (or its default when `ref` is None)."""
    if ref in (None, ""):
        return default_policy(organization)
    if isinstance(ref, bool) or not (isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit())):
        raise ModerationError("policy must be a policy id", {"policy": "expected an integer id"})
    policy = ModerationPolicy.objects.filter(organization=organization, pk=int(ref)).first()
    if policy is None:
        from django.http import Http404

        raise Http404("Policy not found.")
    return policy


#
# Moderating
#


def moderate(texts: Sequence[str], *, organization: Organization, policy: ModerationPolicy,
             source: str = DecisionSource.API, system_id: int | None = None, record: bool = True) -> dict:
    """Moderate `texts` under `policy`; return the OpenAI-shaped response with Assay's object per result."""
    c = compiled(policy)
    verdicts = c.engine.check(list(texts))
    now = timezone.now().isoformat()
    results, records = [], []
    for text, v in zip(texts, verdicts, strict=True):
        decision_id = str(uuid.uuid4())
        results.append(result_body(text, v, c.version, decision_id))
        records.append(decision_record(text, v, c.version, decision_id, source=source, system_id=system_id,
                                       created=now))
    if record:
        decisions.append(records)
    return {"id": f"modr-{uuid.uuid4().hex}", "model": f"assay-moderation/{policy.name}@v{c.version.number}",
            "results": results}


def result_body(text: str, v: Verdict, version: PolicyVersion, decision_id: str) -> dict:
    assay = {"policy": {"id": version.policy_id, "name": version.policy.name, "version": version.number},
             "action": version.action, "outcome": v.outcome, "rules": [h.as_dict(text) for h in v.hits],
             "risks": v.risks, "decision_id": decision_id}
    if v.masked is not None:
        assay["masked_input"] = v.masked
    return {"flagged": v.flagged, "categories": v.categories, "category_scores": v.scores, "assay": assay}


def decision_record(text: str, v: Verdict, version: PolicyVersion, decision_id: str, *, source: str,
                    system_id: int | None, created: str) -> dict:
    keep = bool(version.config.get("keep_text"))
    hits = [h.as_dict(text) for h in v.hits]
    if not keep:
        for h in hits:
            h.pop("match", None)
    return {"id": decision_id, "organization": version.organization_id, "policy_version": version.pk,
            "source": source, "system": system_id, "input_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "flagged": v.flagged, "outcome": v.outcome, "categories": v.flagged_categories, "scores": v.scores,
            "risks": v.risks, "rules": hits, "text": text if keep else None, "created": created}


#
# Evaluations
#


def parse_labelled(rows: list[dict[str, str]]) -> tuple[list[str], list[set[str]], list[str]]:
    """Return (texts, category sets, ids) from rows with `text` and `categories` (`;`, `,` or `|` separated;
    empty or "none" for harmless)."""
    limit = int(getattr(settings, "ASSAY_MODERATION_EVAL_MAX_ROWS", 20_000))
    if not rows:
        raise ModerationError("The labelled set is empty", {"file": "no rows"})
    if len(rows) > limit:
        raise ModerationError(f"A labelled set holds at most {limit} rows", {"file": "too many rows"})
    if "text" not in rows[0] or "categories" not in rows[0]:
        raise ModerationError("The labelled set needs the columns text and categories", {"file": "missing columns"})
    texts, labels, ids = [], [], []
    for n, row in enumerate(rows, 1):
        cats = {c.strip().lower() for c in row["categories"].replace("|", ";").replace(",", ";").split(";")}
        cats -= {"", "none", "safe"}
        if bad := cats - set(CATEGORIES):
            raise ModerationError(f"Row {n}: unknown category {sorted(bad)[0]!r} (use {', '.join(CATEGORIES)})",
                                  {"file": f"row {n}"})
        if not row["text"]:
            raise ModerationError(f"Row {n}: the text is empty", {"file": f"row {n}"})
        texts.append(row["text"])
        labels.append(cats)
        ids.append(row.get("id") or str(n))
    return texts, labels, ids


def run_evaluation(policy: ModerationPolicy, *, data: bytes, filename: str, user=None,
                   save: bool = True) -> ModerationEvaluation:
    """Moderate a labelled set under the policy's current version (no decisions recorded) and score it."""
    texts, labels, ids = parse_labelled(read_rows(data, filename))
    c = compiled(policy)
    verdicts = c.engine.check(texts)
    predicted = [set(v.flagged_categories) for v in verdicts]
    results = metrics.evaluate(labels, predicted, CATEGORIES, texts=texts, ids=ids)
    results["policy"] = {"id": policy.pk, "name": policy.name, "version": c.version.number}
    results["thresholds"] = {k: c.engine.thresholds.get(k, DEFAULT_THRESHOLD) for k in CATEGORIES}
    evaluation = ModerationEvaluation(organization_id=policy.organization_id, policy_version=c.version,
                                      name=Path(filename).name[:255], data_sha256=hashlib.sha256(data).hexdigest(),
                                      n=len(texts), results=results, created_by=user)
    if save:
        with transaction.atomic():
            evaluation.save()
            auditlog.record("moderation.evaluation", organization=policy.organization_id, actor=user, obj=evaluation,
                            payload={"policy": policy.pk, "version": c.version.number, "n": len(texts),
                                     "data_sha256": evaluation.data_sha256,
                                     "flagged_f1": results["flagged"]["f1"]})
    return evaluation
