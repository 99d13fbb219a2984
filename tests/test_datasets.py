"""Dataset uploads: bad input is refused with a 400 that names the problem and stores nothing."""

import os

import pytest

from audit.models import DatasetVersion
from core.models import Artifact, AuditLogEntry


@pytest.fixture
def nothing_stored(artifact_dir, db):
    """Return a check that no version, artifact, audit-log entry or file was added since the fixture ran."""

    def snapshot():
        files = sorted(p for p in artifact_dir.rglob("*") if p.is_file()) if artifact_dir.exists() else []
        return (DatasetVersion.objects.count(), Artifact.objects.count(), AuditLogEntry.objects.count(), files)

    before = snapshot()
    return lambda: snapshot() == before


def _frame_with(helpers, **columns):
    frame = helpers.make_frame()
    for name, values in columns.items():
        frame[name] = values
    return frame


BAD_UPLOADS = {
    # name: (form overrides, or a function of helpers giving the file; field named; words in the message)
    "missing target column": ({"target": "outcome"}, None, "target", "'outcome' is not in the file"),
    "one-class target": ({}, lambda h: h.csv_bytes(_frame_with(h, label="good")), "target", "only one class"),
    "unknown sensitive attribute": ({"sensitive_attributes": "sex,race"}, None, "sensitive_attributes", "race"),
    "positive label not in target": ({"positive_label": "approved"}, None, "positive_label", "'approved'"),
    "missing feature column": ({"features": "age,income,postcode"}, None, "features", "postcode"),
    "split column absent": ({"split_column": "fold"}, None, "split_column", "'fold' is not in the file"),
    "split column without test rows": ({"split_column": "split"}, lambda h: h.csv_bytes(_frame_with(h, split="train")),
                                       "split_column", "must hold 'train' and 'test'"),
    "unknown categorical column": ({"categorical": "colour"}, None, "categorical", "colour"),
    "unknown datasheet field": ({"datasheet": '{"favourite_colour": "blue"}'}, None, "datasheet", "favourite_colour"),
}


@pytest.mark.parametrize(("overrides", "make_file", "field", "words"), list(BAD_UPLOADS.values()), ids=list(BAD_UPLOADS))
def test_it_refuses_a_bad_schema_naming_the_problem(overrides, make_file, field, words, as_alice, alice_system,
                                                    helpers, nothing_stored, error_of):
    # given
    data = make_file(helpers) if make_file else helpers.csv_bytes(helpers.make_frame())
    form = helpers.dataset_form(alice_system, data, **overrides)

    # when
    response = as_alice.post("/api/v1/datasets", form, format="multipart")

    # then
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert field in error["fields"]
    assert words in error["message"]
    assert nothing_stored()


UNPARSABLE = {
    "binary garbage": (bytes(range(256)) * 8, "credit.csv", "Could not parse the CSV file"),
    "image bytes": (b"\x89PNG\r\n\x1a\n" + os.urandom(256), "credit.csv", "Could not parse the CSV file"),
    "broken parquet": (b"PAR1" + bytes(range(200)) + b"PAR1", "credit.parquet", "Could not parse the PARQUET file"),
    "csv named parquet": (b"age,label\n1,good\n2,bad\n", "credit.parquet", "not a Parquet file"),
    "empty file": (b"", "credit.csv", "empty"),
    "header only": (b"age,income,label\n", "credit.csv", "no rows"),
}


@pytest.mark.parametrize(("data", "filename", "words"), list(UNPARSABLE.values()), ids=list(UNPARSABLE))
def test_it_refuses_an_unparsable_file(data, filename, words, as_alice, alice_system, helpers, nothing_stored,
                                       error_of):
    # when
    response = as_alice.post("/api/v1/datasets", helpers.dataset_form(alice_system, data, filename=filename),
                             format="multipart")

    # then
    assert response.status_code == 400, response.content
    assert words in error_of(response)["message"]
    assert nothing_stored()


def test_it_refuses_an_upload_to_another_organisations_system(as_charlie, alice_system, helpers, nothing_stored):
    # when
    response = as_charlie.post("/api/v1/datasets", helpers.dataset_form(alice_system, helpers.csv_bytes(helpers.make_frame())),
                               format="multipart")

    # then
    assert response.status_code == 404
    assert nothing_stored()


def test_it_stores_a_csv_with_its_split_column(as_alice, alice_system, helpers, frame):
    # when
    response = as_alice.post("/api/v1/datasets", helpers.dataset_form(alice_system, helpers.csv_bytes(frame),
                                                                      split_column="split"), format="multipart")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rows"], body["rows_train"], body["rows_eval"]) == (60, 40, 20)
    assert body["file_format"] == "csv" and body["version"] == 1
    assert body["features"] == ["age", "income", "housing"]
    assert body["categorical"] == ["housing"]
    assert body["sensitive_attributes"] == ["sex"]
    version = DatasetVersion.objects.get(pk=body["id"])
    assert version.created_by.username == "alice" and version.artifact.size == len(helpers.csv_bytes(frame))


def test_it_stores_a_parquet_file_split_by_test_size(as_alice, alice_system, helpers, frame):
    # when
    form = helpers.dataset_form(alice_system, helpers.parquet_bytes(frame), filename="credit.parquet", test_size=0.25)
    response = as_alice.post("/api/v1/datasets", form, format="multipart")

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["file_format"] == "parquet"
    assert (body["rows"], body["rows_train"], body["rows_eval"]) == (60, 45, 15)
    assert "split" in body["features"]  # no split column named: it is just another column


def test_it_makes_each_upload_a_new_version(as_alice, alice_system, helpers, frame):
    # given
    data = helpers.csv_bytes(frame)

    # when
    first = as_alice.post("/api/v1/datasets", helpers.dataset_form(alice_system, data), format="multipart")
    second = as_alice.post("/api/v1/datasets", helpers.dataset_form(alice_system, data), format="multipart")
    other = as_alice.post("/api/v1/datasets", helpers.dataset_form(alice_system, data, name="holdout"),
                          format="multipart")

    # then
    assert [r.json()["version"] for r in (first, second, other)] == [1, 2, 1]
    assert first.json()["sha256"] == second.json()["sha256"]
    listed = as_alice.get("/api/v1/datasets", {"system": alice_system.pk, "name": "credit"}).json()["results"]
    assert [row["version"] for row in listed] == [2, 1]


def test_it_keeps_a_version_immutable(alice_dataset):
    # given
    alice_dataset.target = "sex"

    # when / then
    with pytest.raises(ValueError, match="immutable"):
        alice_dataset.save()
    alice_dataset.refresh_from_db()
    assert alice_dataset.target == "label"


def test_it_offers_no_way_to_edit_a_version_through_the_api(as_alice, alice_dataset):
    # when
    response = as_alice.patch(f"/api/v1/datasets/{alice_dataset.pk}", {"target": "sex"}, format="json")

    # then
    assert response.status_code == 405
    alice_dataset.refresh_from_db()
    assert alice_dataset.target == "label"
