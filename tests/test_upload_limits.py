"""Hostile uploads: a CSV with a million columns, a body over the limit, a pickle with an .onnx name."""

import pickle
import resource

from audit.models import DatasetVersion, ModelVersion
from core.models import Artifact


def test_a_csv_with_a_million_columns_is_refused_cheaply(as_alice, alice_system, helpers, error_of):
    header = ",".join(f"c{i}" for i in range(1_000_000)).encode()
    data = header + b"\n" + b",".join(b"1" for _ in range(1_000_000)) + b"\n"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = as_alice.post("/api/v1/datasets", helpers.dataset_form(alice_system, data), format="multipart")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert r.status_code == 400
    assert "columns" in error_of(r)["message"]
    assert grown_mb < 300  # pandas never parsed it
    assert not DatasetVersion.objects.exists() and not Artifact.objects.exists()


def test_a_body_over_the_limit_is_refused_before_it_is_read(as_alice, alice_system, settings, helpers, error_of):
    settings.ASSAY_MAX_UPLOAD_MB = 1
    data = helpers.csv_bytes(helpers.make_frame(rows=60_000))
    assert len(data) > 1024 * 1024
    r = as_alice.post("/api/v1/datasets", helpers.dataset_form(alice_system, data), format="multipart")
    assert r.status_code == 413
    assert "limit" in error_of(r)["message"]
    assert not DatasetVersion.objects.exists()


def test_a_pickle_renamed_to_onnx_is_refused(as_alice, alice_system, alice_dataset, helpers, error_of):
    payload = pickle.dumps({"weights": [1, 2, 3]})
    r = as_alice.post("/api/v1/models", {
        "system": alice_system.pk, "name": "evil", "format": "onnx", "dataset_version": alice_dataset.pk,
        "file": helpers.upload_file(payload, "model.onnx"),
    }, format="multipart")
    assert r.status_code == 400
    assert "accepted formats" in error_of(r)["message"].lower()
    assert not ModelVersion.objects.exists()
