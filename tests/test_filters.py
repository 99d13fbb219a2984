"""List filters (core/filters.py): the query parameters of every list, and one answer for a bad id or value."""

import pytest

# Every list's id parameters, by endpoint family: a value that is not an id is a 400 naming the parameter.
ID_PARAMS = [
    ("/api/v1/datasets", "system"),
    ("/api/v1/models", "system"),
    ("/api/v1/audits", "model_version"),
    ("/api/v1/audits", "dataset_version"),
    ("/api/v1/dp-trainings", "model_version"),
    ("/api/v1/dp-trainings", "dataset_version"),
    ("/api/v1/watermark/records", "system"),
    ("/api/v1/schedules", "system"),
    ("/api/v1/reports", "system"),
    ("/api/v1/reports", "schedule"),
    ("/api/v1/attestations", "system"),
    ("/api/v1/documents", "system"),
    # not lists, but the same answer
    ("/api/v1/audits/compare?a=1", "b"),
    ("/api/v1/watermark/policy", "system"),
]

# Parameters with a fixed set of values: anything else is a 400 naming the parameter and the values.
CHOICE_PARAMS = [
    ("/api/v1/audits", "status"),
    ("/api/v1/dp-trainings", "status"),
    ("/api/v1/reports", "kind"),
    ("/api/v1/documents", "kind"),
]


def _with(url: str, param: str, value: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{param}={value}"


@pytest.mark.parametrize("url,param", ID_PARAMS)
@pytest.mark.parametrize("value", ["abc", "-1", "1.5", str(2**63)])
def test_it_answers_a_bad_id_with_a_400_naming_the_parameter(as_alice, alice_org, error_of, url, param, value):
    # when
    response = as_alice.get(_with(url, param, value))

    # then
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["fields"] == {param: ["Expected an integer id"]}
    assert param in error["message"]


@pytest.mark.parametrize("url,param", CHOICE_PARAMS)
def test_it_answers_an_unknown_value_with_a_400_naming_the_parameter(as_alice, alice_org, error_of, url, param):
    # when
    response = as_alice.get(_with(url, param, "nonsense"))

    # then
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [param]
    assert error["fields"][param][0].startswith("Expected one of ")


def test_it_answers_a_bad_sweep_with_a_400_naming_it(as_alice, alice_org, error_of):
    # when
    response = as_alice.get("/api/v1/dp-trainings?sweep=not-a-uuid")

    # then
    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["sweep"]


@pytest.mark.parametrize("url", ["/api/v1/datasets", "/api/v1/audits", "/api/v1/reports", "/api/v1/documents"])
def test_it_ignores_empty_parameters(as_alice, alice_org, url):
    # when
    response = as_alice.get(f"{url}?system=&status=&kind=&organization=")

    # then
    assert response.status_code == 200


def test_it_filters_versions_by_system_and_name(as_alice, alice_dataset, alice_system, charlie_system):
    # when
    mine = as_alice.get(f"/api/v1/datasets?system={alice_system.pk}").json()["results"]
    named = as_alice.get(f"/api/v1/datasets?name={alice_dataset.name}").json()["results"]
    other = as_alice.get(f"/api/v1/datasets?system={charlie_system.pk}").json()["results"]
    unknown = as_alice.get("/api/v1/datasets?name=no-such-name").json()["results"]

    # then
    assert [d["id"] for d in mine] == [d["id"] for d in named] == [alice_dataset.pk]
    assert other == [] and unknown == []


def test_it_filters_by_organization_id_or_slug(as_alice, alice_dataset, alice_org):
    # when
    by_id = as_alice.get(f"/api/v1/datasets?organization={alice_org.pk}").json()["results"]
    by_slug = as_alice.get(f"/api/v1/datasets?organization={alice_org.slug}").json()["results"]
    unknown = as_alice.get("/api/v1/datasets?organization=no-such-org").json()["results"]

    # then
    assert [d["id"] for d in by_id] == [d["id"] for d in by_slug] == [alice_dataset.pk]
    assert unknown == []


def test_it_filters_the_audit_log_by_exact_values(as_alice, alice_dataset):
    # when
    rows = as_alice.get(f"/api/v1/audit-log?object_type=DatasetVersion&object_id={alice_dataset.pk}").json()["results"]
    none = as_alice.get("/api/v1/audit-log?action=no.such.action").json()["results"]

    # then
    assert rows and {(r["object_type"], r["object_id"]) for r in rows} == {("DatasetVersion", str(alice_dataset.pk))}
    assert none == []
