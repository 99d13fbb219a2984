"""The evaluation job: plan → answers (sandboxed GGUF or endpoint) → judges → items and rates.

One `EvaluationRunner` on core's JobRunner: progress, cancel (the sandboxed child is killed, the
endpoint's pending calls are dropped), and the items and rates written in one transaction.
"""

from __future__ import annotations

import time

from django.db import transaction

from audit.runner import ASSAY_VERSION
from core import artifacts, auditlog, sandbox
from core.choices import JobStatus
from core.jobs import JobCancelled, JobRunner, finish, run_job

from . import banks, evaluation, services
from .choices import TargetKind
from .generation import Cancelled
from .models import Evaluation, EvaluationItem


class EvaluationRunner(JobRunner):
    """Run one generative safety evaluation."""

    model = Evaluation
    task_name = "assay.genai.evaluate"
    failure_action = "genai.evaluation.fail"
    label = "Generative evaluation"
    queue = "cpu"
    related = ("organization", "target", "target__model_artifact", "system")
    cancelled = (JobCancelled, sandbox.SandboxCancelled, Cancelled)

    def compute(self, row: Evaluation, progress, should_cancel) -> dict:
        versions = list(row.bank_versions.select_related("bank").order_by("pk"))
        items = services.bank_items(versions)
        cases = evaluation.plan(items, seed=row.seed, sizes=row.sizes or None, mutation_names=row.mutations)
        if not cases:
            raise services.GenaiError("The banks hold no prompt (generated_content, should_refuse, should_not_refuse)")
        progress(2, f"sending {len(cases)} prompts")
        prompts = [c["prompt"] for c in cases]

        def gen_progress(percent: float, stage: str) -> None:
            progress(2 + int(percent * 0.88), stage)  # a cancel is seen by should_cancel (the child is killed)

        target = row.target
        if target.kind == TargetKind.GGUF:
            from .generation import local_answers

            got = local_answers(artifacts.read(target.model_artifact), prompts, max_new_tokens=row.max_new_tokens,
                                seed=row.seed, progress=gen_progress, should_cancel=should_cancel)
            described = {"kind": "gguf", "name": target.name, "sha256": target.model_artifact.sha256}
            if target.model_version_id:
                described["model_version"] = target.model_version_id
        else:
            got = services.endpoint_of(target).answers(prompts, max_tokens=row.max_new_tokens, seed=row.seed,
                                                       progress=gen_progress, should_cancel=should_cancel)
            described = {"kind": "endpoint", "name": target.name, **got["endpoint"]}
        if should_cancel():
            raise JobCancelled()
        progress(92, "judging the answers")
        started = time.perf_counter()
        judges = services.judges_for(row.organization, items)
        verdicts = judges.judge(cases, got["answers"])
        judge_s = time.perf_counter() - started
        scored = evaluation.score(cases, got["answers"], verdicts)
        queue = services.review_indices([i["verdict"] for i in scored["items"]], sample=row.review_sample, seed=row.seed)
        return {"cases": cases, "scored": scored, "queue": queue, "versions": versions, "target": described,
                "calls": got.get("calls"), "timings": {"load_s": got.get("load_s"), "generate_s": got["generate_s"],
                                                       "judge_s": round(judge_s, 3)},
                "classifier": judges.classifier is not None}

    def store(self, row: Evaluation, out: dict) -> None:
        scored = out["scored"]
        result = result_head(row.seed, out["target"], out["versions"], out["cases"], scored, out["timings"])
        if out["calls"] is not None:
            result["calls"] = {"n": len(out["calls"]), "retried": sum(c.get("attempts", 1) > 1 for c in out["calls"])}
        with transaction.atomic():
            EvaluationItem.objects.filter(evaluation=row).delete()  # a redelivered job writes its items once
            EvaluationItem.objects.bulk_create([
                EvaluationItem(evaluation=row, index=n, bank=i["bank"], ref=i["id"], kind=i["kind"], risk=i["risk"],
                               language=i["language"], mutation=i["mutation"] or "", prompt=i["prompt"],
                               answer=i["answer"], verdicts={k: v for k, v in i["verdicts"].items() if k != "human"},
                               verdict=i["verdict"], in_review=n in out["queue"])
                for n, i in enumerate(scored["items"])])
            if finish(Evaluation, row.pk, JobStatus.SUCCEEDED, result=result, verdicts_sha256=scored["verdicts_sha256"],
                      stage="done"):
                auditlog.record("genai.evaluation.succeed", organization=row.organization, actor="worker", obj=row,
                                payload={"verdicts_sha256": scored["verdicts_sha256"], "n": len(scored["items"]),
                                         "status": {k: v.get("status") for k, v in result["rates"].items()
                                                    if isinstance(v, dict) and "status" in v}})

    def finished(self, row: Evaluation) -> None:
        """Tell whoever listens (the reports app) that the evaluation ended; they enqueue on commit, never wait."""
        from .signals import evaluation_finished

        evaluation_finished.send(sender=Evaluation, evaluation_id=row.pk)


def result_head(seed: int, target: dict, versions, cases, scored: dict, timings: dict) -> dict:
    """Return the Result JSON of GENAI.md without its items (they are stored as rows)."""
    return {
        "assay_version": ASSAY_VERSION, "target": target, "seed": seed,
        "banks": [{"name": v.bank.name, "version": str(v.number), "sha256": v.sha256, "demo": v.bank.demo,
                   "coverage": {"ok": v.coverage.get("ok", False), "missing": v.coverage.get("missing", [])}}
                  for v in versions],
        "sampling": {"n": len(cases), "standard_sizes": banks.minimums()["sample"],
                     "standard_sizes_met": evaluation.standard_sizes_met(cases)},
        "rates": scored["rates"], "by_risk": scored["by_risk"], "undetermined": scored["undetermined"],
        "heatmap": evaluation.by_risk_and_mutation(scored["items"]),
        "verdicts_sha256": scored["verdicts_sha256"], "timings": timings,
    }


def execute_evaluation(pk: int) -> bool:
    return run_job(EvaluationRunner, pk)
