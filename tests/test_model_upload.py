"""Model uploads: a safe format is loaded and run on the dataset before anything is stored."""

import pickle

import pytest

from audit.models import AISystem, ModelVersion
from core.models import Artifact, AuditLogEntry

ACCEPTED = ("torch-zoo", "torch-export", "onnx", "sklearn")


@pytest.fixture
def nothing_stored(artifact_dir, alice_dataset):
    """Return a check that no model version, artifact, audit-log entry or file was added since the fixture ran."""

    def snapshot():
        files = sorted(p for p in artifact_dir.rglob("*") if p.is_file())
        return (ModelVersion.objects.count(), Artifact.objects.count(), AuditLogEntry.objects.count(), files)

    before = snapshot()
    return lambda: snapshot() == before


def _form(system, dataset, helpers, data: bytes, filename: str, fmt: str) -> dict:
    return {"system": system.pk, "name": "scorer", "format": fmt, "dataset_version": dataset.pk,
            "file": helpers.upload_file(data, filename),
            "model_card": '{"intended_purpose": "Score loan applications"}'}


def test_it_registers_a_zoo_model(as_dave, alice_system, alice_dataset, helpers, zoo_bundle):
    # when
    response = as_dave.post("/api/v1/models", _form(alice_system, alice_dataset, helpers, zoo_bundle, "scorer.zip",
                                                    "torch-zoo"), format="multipart")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["format"], body["version"], body["classes"]) == ("torch-zoo", 1, ["bad", "good"])
    assert body["features"] == ["age", "income", "housing"]
    assert body["model_card"] == {"intended_purpose": "Score loan applications"}
    assert AISystem.objects.get(pk=alice_system.pk).current_model_id is None  # an upload is not a promotion
    entry = AuditLogEntry.objects.filter(action="model.upload").get()
    assert (entry.object_id, entry.actor_name) == (str(body["id"]), "dave")


def test_it_refuses_a_pickle_listing_the_accepted_formats(as_alice, alice_system, alice_dataset, helpers,
                                                          nothing_stored, error_of):
    # given
    data = pickle.dumps({"weights": [0.1, 0.2]})

    # when
    response = as_alice.post("/api/v1/models", _form(alice_system, alice_dataset, helpers, data, "model.onnx", "onnx"),
                             format="multipart")

    # then
    assert response.status_code == 400, response.content
    message = error_of(response)["message"]
    assert all(name in message for name in ACCEPTED), message
    assert nothing_stored()


def test_it_refuses_a_zoo_model_sent_as_another_format(as_alice, alice_system, alice_dataset, helpers, zoo_bundle,
                                                       nothing_stored, error_of):
    # when
    response = as_alice.post("/api/v1/models", _form(alice_system, alice_dataset, helpers, zoo_bundle, "scorer.zip",
                                                     "onnx"), format="multipart")

    # then
    assert response.status_code == 400
    assert "file" in error_of(response)["fields"]
    assert nothing_stored()


def test_it_refuses_a_model_validated_on_another_organisations_dataset(as_charlie, charlie_system, alice_dataset,
                                                                       helpers, nothing_stored):
    # when
    response = as_charlie.post("/api/v1/models", _form(charlie_system, alice_dataset, helpers, b"never loaded",
                                                       "m.zip", "torch-zoo"), format="multipart")

    # then
    assert response.status_code == 404
    assert nothing_stored()


def test_it_refuses_an_unknown_format(as_alice, alice_system, alice_dataset, helpers, nothing_stored, error_of):
    # when
    response = as_alice.post("/api/v1/models", _form(alice_system, alice_dataset, helpers, b"x", "m.pkl", "pickle"),
                             format="multipart")

    # then
    assert response.status_code == 400
    assert "format" in error_of(response)["fields"]
    assert nothing_stored()
