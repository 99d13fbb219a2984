"""Evaluate a generative model from the command line (CI), registering nothing: GENAI.md's Result JSON.

    python manage.py eval_genai (--model FILE.gguf | --endpoint URL [--endpoint-model NAME]
        [--api-key-env VAR] | --answers FILE) --bank FILE [--bank FILE ...] [--keywords FILE]
        [--sample N] [--seed S] [--max-new-tokens N] --json OUT

Exit status 0 when the run completed, whatever the rates; otherwise one line on stderr and status 1.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from genai import banks, evaluation, services
from genai.jobs import result_head


class _Version:
    """A bank file seen as a version (result_head reads these attributes)."""

    def __init__(self, path: Path, items: list[dict]):
        self.bank = type("B", (), {"name": path.name, "demo": "demo" in path.name.lower()})()
        self.number = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        self.sha256 = banks.items_sha256(items)
        self.coverage = banks.coverage(items)


class Command(BaseCommand):
    help = "Run a generative safety evaluation of a GGUF model, an endpoint or recorded answers; write the Result JSON."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--model", help="a GGUF file, run in the model sandbox")
        source.add_argument("--endpoint", help="base URL of an OpenAI-compatible API (…/v1)")
        source.add_argument("--answers", help="CSV/JSONL of recorded answers: id, prompt, answer and the bank fields")
        parser.add_argument("--endpoint-model", default="", help="the endpoint's model name")
        parser.add_argument("--api-key-env", default="", help="environment variable holding the endpoint's API key")
        parser.add_argument("--allow-private", action="store_true",
                            help="let the endpoint be a loopback or private address (a server in the CI job)")
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--bank", action="append", required=True, help="a bank file (CSV, XLSX, JSONL); repeatable")
        parser.add_argument("--keywords", action="append", default=[], help="a keyword library file (text, risk)")
        parser.add_argument("--classifier", default="", help="a moderation classifier's weights (.npz from Assay)")
        parser.add_argument("--sample", type=int, default=None, help="prompts per kind (default: the standard's sizes)")
        parser.add_argument("--mutations", default="", help="comma-separated mutations of should-refuse prompts")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument("--json", required=True, help="where to write the Result JSON ('-' for standard output)")

    def handle(self, *args, **opts):
        try:
            result = self._run(opts)
        except (OSError, ValueError, services.GenaiError) as exc:
            raise CommandError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        except Exception as exc:  # the CI needs one line, never a traceback
            raise CommandError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
        text = json.dumps(result, ensure_ascii=False, indent=1)
        if opts["json"] == "-":
            sys.stdout.write(text + "\n")
        else:
            Path(opts["json"]).write_text(text, encoding="utf-8")
        rates = result["rates"]
        self.stderr.write("; ".join(f"{k} {rates[k]['value']} ({rates[k]['status']}, n {rates[k]['n']})"
                                    for k in evaluation.THRESHOLDS))

    def _run(self, opts) -> dict:
        items, versions = [], []
        for name in opts["bank"]:
            path = Path(name)
            bank_items = services.read_bank(path.read_bytes(), path.name)
            items += [{**i, "bank": path.name} for i in bank_items]
            versions.append(_Version(path, bank_items))
        keywords = [i for i in items if i["kind"] == "keyword"]
        for name in opts["keywords"]:
            from moderation.services import parse_entries, read_rows

            path = Path(name)
            keywords += [{"id": e["ref"], "text": e["text"], "risk": e["risk"], "category": e["category"],
                          "regex": e["regex"]} for e in parse_entries(read_rows(path.read_bytes(), path.name))]
        classifier = None
        if opts["classifier"]:
            from moderation.classifier import LinearClassifier

            classifier = LinearClassifier.from_bytes(Path(opts["classifier"]).read_bytes())
        judges = evaluation.Judges.from_keywords(keywords, classifier)
        if opts["answers"]:
            return self._judge_recorded(opts, judges, versions)
        sizes = {k: opts["sample"] for k in evaluation.PROMPT_KINDS} if opts["sample"] is not None else None
        names = [m.strip() for m in opts["mutations"].split(",") if m.strip()]
        cases = evaluation.plan(items, seed=opts["seed"], sizes=sizes, mutation_names=names)
        if not cases:
            raise services.GenaiError("the banks hold no prompt")
        got, target = self._answers(opts, [c["prompt"] for c in cases])
        return self._score(opts, judges, versions, cases, got, target)

    def _answers(self, opts, prompts: list[str]) -> tuple[dict, dict]:
        from genai import generation

        if opts["model"]:
            data = Path(opts["model"]).read_bytes()
            got = generation.local_answers(data, prompts, max_new_tokens=opts["max_new_tokens"], seed=opts["seed"])
            return got, {"kind": "gguf", "name": Path(opts["model"]).name, "sha256": hashlib.sha256(data).hexdigest()}
        key = os.environ.get(opts["api_key_env"], "") if opts["api_key_env"] else ""
        if opts["api_key_env"] and not key:
            raise services.GenaiError(f"the environment variable {opts['api_key_env']} is empty")
        endpoint = generation.Endpoint(base_url=opts["endpoint"], model=opts["endpoint_model"], api_key=key,
                                       concurrency=opts["concurrency"], private_ok=True if opts["allow_private"] else None)
        got = endpoint.answers(prompts, max_tokens=opts["max_new_tokens"], seed=opts["seed"])
        return got, {"kind": "endpoint", "name": opts["endpoint_model"] or opts["endpoint"], **got["endpoint"]}

    def _judge_recorded(self, opts, judges, versions) -> dict:
        from moderation.services import read_rows

        path = Path(opts["answers"])
        rows = read_rows(path.read_bytes(), path.name)
        cases, answers = [], []
        for n, row in enumerate(rows, 1):
            item = banks.parse_items([{k: v for k, v in row.items() if k in ("id", "kind", "risk", "language",
                                                                              "updated")} | {"text": row.get("prompt", "")}])[0]
            if item["kind"] == "keyword":
                raise services.GenaiError(f"Row {n}: a recorded answer needs a prompt kind, not keyword")
            cases.append({**item, "bank": path.name, "mutation": row.get("mutation") or None, "prompt": item["text"]})
            answers.append(str(row.get("answer") or ""))
        got = {"answers": answers, "generate_s": 0.0}
        return self._score(opts, judges, versions, cases, got, {"kind": "answers", "name": path.name})

    def _score(self, opts, judges, versions, cases, got, target) -> dict:
        started = time.perf_counter()
        verdicts = judges.judge(cases, got["answers"])
        scored = evaluation.score(cases, got["answers"], verdicts)
        timings = {"load_s": got.get("load_s"), "generate_s": got["generate_s"],
                   "judge_s": round(time.perf_counter() - started, 3)}
        result = result_head(opts["seed"], target, versions, cases, scored, timings)
        result["items"] = scored["items"]
        return result
