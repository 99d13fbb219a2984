from core.jobs import job_task, runner_task

from . import jobs

train_classifier_task = runner_task(jobs.TrainingRunner, soft_time_limit=3600)  # "assay.moderation.train_classifier"


@job_task("assay.moderation.flush", queue="default", soft_time_limit=300)
def flush_decisions_task() -> None:
    """Write spooled decisions that quiet or dead processes left, and delete those past retention."""
    from . import decisions

    decisions.collect_abandoned()
    decisions.flush()
    decisions.purge_expired()
