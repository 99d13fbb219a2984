from core.jobs import runner_task

from . import services

execute_dp_training_task = runner_task(services.DPTrainingRunner)  # "assay.privacy.train_dp"
