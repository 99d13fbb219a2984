"""Load and validate the checklist data in compliance/frameworks/*.yaml; no Django.

Every problem names the file and line: an unknown or missing field, a duplicate id, a bad date,
a word outside the vocabulary. `load_frameworks` raises FrameworkError with all of them, so that
a broken file stops the service at start-up instead of producing a wrong checklist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import vocabulary as v

DEFAULT_DIR = Path(__file__).resolve().parent / "frameworks"
FILE_FIELDS = {"bundle", "instrument", "title", "version", "as_of", "items"}
REQUIRED_ITEM_FIELDS = ("id", "framework", "article", "title", "requirement", "applicability", "evidence_type",
                        "evidence_hint", "applies_from", "verification", "source_url")
OPTIONAL_ITEM_FIELDS = ("applies_from_original", "metrics", "document_kind", "layers", "also_attest", "notes",
                        "date_basis", "title_zh", "requirement_zh", "informational")
APPLICABILITY_FIELDS = {"risk_tier": v.RISK_TIERS, "role": v.ROLES, "modality": v.MODALITIES,
                        "conditions": tuple(v.CONDITIONS)}
ID_PATTERN = re.compile(r"^(EU|CN)-[A-Z0-9]+(-[A-Z0-9]+)*$")


class FrameworkError(ValueError):
    """The checklist data is broken; the message lists every problem as `file:line: problem`."""


@dataclass(frozen=True)
class Item:
    """One checklist row."""

    id: str
    framework: str
    bundle: str
    article: str
    title: str
    requirement: str
    applicability: dict[str, tuple[str, ...]]
    evidence_type: str
    evidence_hint: str
    applies_from: dict[str, dt.date]
    verification: str
    source_url: str
    source_file: str
    line: int
    applies_from_original: dict[str, dt.date] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    document_kind: str = ""
    layers: tuple[str, ...] = ()
    also_attest: bool = False
    notes: str = ""
    date_basis: str = "law"
    informational: bool = False  # "encouraged" (鼓励): never "not met"
    title_zh: str = ""
    requirement_zh: str = ""

    @property
    def text_version(self) -> str:
        """Return a short hash of what an attestation vouches for: the article, wording and dates.

        A new framework version that changes any of them changes this, and attestations made
        against the old text ask for renewal (COMPLIANCE.md A2.2).
        """
        dates = ",".join(f"{k}={d.isoformat()}" for k, d in sorted(self.applies_from.items()))
        text = "\n".join([self.article, self.title, self.requirement, dates])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FrameworkFile:
    """One YAML file: an instrument of a bundle, with its version and content hash."""

    path: str
    bundle: str
    instrument: str
    title: str
    version: str
    as_of: dt.date
    sha256: str
    items: tuple[Item, ...]

    def describe(self) -> dict[str, str]:
        """Return the file's identity as exports name it."""
        return {"file": Path(self.path).name, "instrument": self.instrument, "title": self.title,
                "version": self.version, "as_of": self.as_of.isoformat(), "sha256": self.sha256}


@dataclass(frozen=True)
class Registry:
    """Every framework file, and the items of each bundle in file order."""

    files: tuple[FrameworkFile, ...]

    def bundle_items(self, bundle: str) -> list[Item]:
        """Return the items of one bundle (eu_ai_act, cn_genai)."""
        return [item for f in self.files if f.bundle == bundle for item in f.items]

    def bundle_versions(self, bundle: str) -> list[dict[str, str]]:
        """Return the identity (file, version, sha256) of every file of one bundle."""
        return [f.describe() for f in self.files if f.bundle == bundle]

    def item(self, item_id: str) -> Item | None:
        """Return the item with this id, or None."""
        return next((i for f in self.files for i in f.items if i.id == item_id), None)


#
# YAML with line numbers
#


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader that keeps dates as text (validated here, with a line) and records mapping lines.

    libyaml's parser where PyYAML has it (every Django start loads the frameworks: 0.1 s, not 1.7 s).
    """


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Map(dict):
    """A mapping that remembers its line and each key's line (1-based)."""

    line = 0
    key_lines: dict[str, int]


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Map:
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in result:
            raise FrameworkError(f"{loader.name}:{line}: duplicate key {key!r}")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    loader = _Loader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise FrameworkError(f"{path}:{line}: YAML syntax error: {exc.problem or exc}") from None
    finally:
        loader.dispose()


#
# Validation
#


class _Problems(list):
    def add(self, path: Path, line: int, message: str) -> None:
        self.append(f"{path}:{line}: {message}")


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)) else None
    except ValueError:
        return None


def _dates(raw: Any, path: Path, line: int, name: str, problems: _Problems) -> dict[str, dt.date]:
    """Return {route: date} from a date or a mapping of route → date."""
    mapping = raw if isinstance(raw, dict) else {"default": raw}
    out = {}
    for route, value in mapping.items():
        where = raw.key_lines.get(route, line) if isinstance(raw, _Map) else line
        if route not in v.ROUTES:
            problems.add(path, where, f"{name}: unknown route {route!r} (expected one of {', '.join(v.ROUTES)})")
            continue
        parsed = _date(value)
        if parsed is None:
            problems.add(path, where, f"{name}: bad date {value!r} (expected YYYY-MM-DD)")
            continue
        out[route] = parsed
    if not mapping:
        problems.add(path, line, f"{name}: no date")
    return out


def _word_list(raw: Any, allowed: tuple[str, ...], path: Path, line: int, name: str,
               problems: _Problems) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(w, str) for w in raw):
        problems.add(path, line, f"{name}: expected a list of words")
        return ()
    for word in raw:
        if word not in allowed:
            problems.add(path, line, f"{name}: unknown value {word!r} (expected one of {', '.join(allowed)})")
    return tuple(raw)


def _applicability(raw: Any, path: Path, line: int, problems: _Problems) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        problems.add(path, line, "applicability: expected a mapping")
        return {}
    out = {}
    for key in raw:
        if key not in APPLICABILITY_FIELDS:
            problems.add(path, line, f"applicability: unknown field {key!r}")
    for key, allowed in APPLICABILITY_FIELDS.items():
        if key not in raw:
            if key != "conditions":
                problems.add(path, line, f"applicability: missing field {key!r}")
            out[key] = ()
            continue
        out[key] = _word_list(raw[key], allowed, path, line, f"applicability.{key}", problems)
    return out


def _item(raw: Any, bundle: str, path: Path, problems: _Problems) -> Item | None:
    if not isinstance(raw, _Map):
        problems.add(path, getattr(raw, "line", 0), "an item must be a mapping")
        return None
    line, lines = raw.line, raw.key_lines
    before = len(problems)
    for key in raw:
        if key not in REQUIRED_ITEM_FIELDS and key not in OPTIONAL_ITEM_FIELDS:
            problems.add(path, lines[key], f"unknown field {key!r} in item {raw.get('id', '?')}")
    for key in REQUIRED_ITEM_FIELDS:
        if key not in raw or raw[key] in (None, ""):
            problems.add(path, line, f"missing field {key!r} in item {raw.get('id', '?')}")
    if len(problems) > before:
        return None
    _check_words(raw, bundle, path, problems)
    applies_from = _dates(raw["applies_from"], path, lines["applies_from"], "applies_from", problems)
    original = {}
    if "applies_from_original" in raw:
        original = _dates(raw["applies_from_original"], path, lines["applies_from_original"],
                          "applies_from_original", problems)
    return Item(
        id=str(raw["id"]), framework=raw["framework"], bundle=bundle, article=str(raw["article"]),
        title=str(raw["title"]), requirement=" ".join(str(raw["requirement"]).split()),
        applicability=_applicability(raw["applicability"], path, lines["applicability"], problems),
        evidence_type=raw["evidence_type"], evidence_hint=" ".join(str(raw["evidence_hint"]).split()),
        applies_from=applies_from, verification=v.VERIFICATION.get(raw["verification"], ""),
        source_url=str(raw["source_url"]), source_file=path.name, line=line, applies_from_original=original,
        metrics=tuple(raw.get("metrics") or ()), document_kind=raw.get("document_kind", ""),
        layers=tuple(raw.get("layers") or ()), also_attest=bool(raw.get("also_attest", False)),
        notes=str(raw.get("notes", "")), informational=bool(raw.get("informational", False)), date_basis=str(raw.get("date_basis", "law")),
        title_zh=str(raw.get("title_zh", "")), requirement_zh=" ".join(str(raw.get("requirement_zh", "")).split()),
    )


def _check_words(raw: _Map, bundle: str, path: Path, problems: _Problems) -> None:
    """Check the single-word fields and the fields that depend on the evidence type."""
    lines = raw.key_lines
    if not ID_PATTERN.match(str(raw["id"])):
        problems.add(path, lines["id"], f"bad id {raw['id']!r}")
    if v.INSTRUMENTS.get(raw["framework"]) != bundle:
        problems.add(path, lines["framework"], f"framework {raw['framework']!r} is not an instrument of {bundle}")
    if raw["verification"] not in v.VERIFICATION:
        problems.add(path, lines["verification"], f"verification must be V, S or U, not {raw['verification']!r}")
    if raw.get("date_basis", "law") not in v.DATE_BASES:
        problems.add(path, lines["date_basis"], f"date_basis must be one of {', '.join(v.DATE_BASES)}")
    kind = raw["evidence_type"]
    if kind not in v.EVIDENCE_TYPES:
        problems.add(path, lines["evidence_type"], f"unknown evidence_type {kind!r}")
    if kind == "metric_report":
        metrics = raw.get("metrics")
        if not isinstance(metrics, list):
            problems.add(path, lines.get("evidence_type"), "a metric_report item needs a metrics list (may be [])")
        else:
            bad = [m for m in metrics if m != v.ACCURACY and not re.match(v.METRIC_ID_PATTERN, str(m))]
            if bad:
                problems.add(path, lines["metrics"], f"unknown metric ids {bad}")
    if kind == "document" and raw.get("document_kind") not in v.DOCUMENT_KINDS:
        problems.add(path, lines.get("document_kind", raw.line),
                     f"a document item needs a known document_kind, not {raw.get('document_kind')!r}")
    if kind == "watermark_check":
        layers = raw.get("layers")
        if not isinstance(layers, list) or not layers or any(x not in v.WATERMARK_LAYERS for x in layers):
            problems.add(path, lines.get("layers", raw.line),
                         f"a watermark_check item needs layers from {', '.join(v.WATERMARK_LAYERS)}")


def _load_file(path: Path, problems: _Problems) -> FrameworkFile | None:
    data = _parse_yaml(path)
    if not isinstance(data, _Map):
        problems.add(path, 1, "expected a mapping with bundle, instrument, title, version, as_of, items")
        return None
    for key in data:
        if key not in FILE_FIELDS:
            problems.add(path, data.key_lines[key], f"unknown field {key!r}")
    missing = FILE_FIELDS - set(data)
    if missing:
        problems.add(path, 1, f"missing fields {sorted(missing)}")
        return None
    bundle = data["bundle"]
    if bundle not in v.BUNDLES:
        problems.add(path, data.key_lines["bundle"], f"unknown bundle {bundle!r}")
    as_of = _date(data["as_of"])
    if as_of is None:
        problems.add(path, data.key_lines["as_of"], f"bad date {data['as_of']!r} (expected YYYY-MM-DD)")
    if not isinstance(data["items"], list):
        problems.add(path, data.key_lines["items"], "items must be a list")
        return None
    items = [_item(raw, bundle, path, problems) for raw in data["items"]]
    return FrameworkFile(path=str(path), bundle=bundle, instrument=str(data["instrument"]), title=str(data["title"]),
                         version=str(data["version"]), as_of=as_of or dt.date.min,
                         sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                         items=tuple(i for i in items if i is not None))


def load_frameworks(directory: str | Path | None = None) -> Registry:
    """Return every framework of `directory` (default compliance/frameworks), validated.

    Raises FrameworkError listing every problem as `file:line: problem`.
    """
    directory = Path(directory or DEFAULT_DIR)
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise FrameworkError(f"{directory}: no framework files (*.yaml)")
    problems = _Problems()
    files = []
    for path in paths:
        try:
            loaded = _load_file(path, problems)
        except FrameworkError as exc:
            problems.append(str(exc))
            continue
        if loaded is not None:
            files.append(loaded)
    seen: dict[str, str] = {}
    for f in files:
        for item in f.items:
            if item.id in seen:
                problems.add(Path(f.path), item.line, f"duplicate id {item.id!r} (first at {seen[item.id]})")
            else:
                seen[item.id] = f"{Path(f.path).name}:{item.line}"
    for bundle in v.BUNDLES:
        if not any(f.bundle == bundle for f in files) and not problems:
            problems.add(directory, 0, f"no file for bundle {bundle!r}")
    if problems:
        raise FrameworkError("Broken compliance framework data:\n" + "\n".join(problems))
    return Registry(files=tuple(files))
