from core.jobs import runner_task

from . import jobs

evaluate_task = runner_task(jobs.EvaluationRunner, soft_time_limit=6 * 3600)  # "assay.genai.evaluate"
