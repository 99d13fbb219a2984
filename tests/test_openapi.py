"""The OpenAPI schema and its browsable docs."""


def test_it_serves_the_openapi_schema(client, db):
    # when
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    # then
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/systems/", "/api/v1/datasets/", "/api/v1/audit-log/verify/"} <= set(paths)


def test_it_serves_the_api_docs(client, db):
    # when
    response = client.get("/api/docs/")

    # then
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
