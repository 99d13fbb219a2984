from core.jobs import runner_task

from . import samples

execute_sample_task = runner_task(samples.SampleRunner, soft_time_limit=1800)  # "assay.compliance.sample"
