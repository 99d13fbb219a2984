"""The shipped references (docs/) are linked from the dashboard and served to signed-in users."""

from django.test import Client


def test_the_dashboard_links_and_serves_the_shipped_docs(alice):
    client = Client()
    client.force_login(alice)
    assert 'href="/docs/METRICS.md"' in client.get("/docs/").content.decode()
    r = client.get("/docs/METRICS.md")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/markdown")
    assert client.get("/docs/..%2Fassay%2Fsettings.py").status_code == 404
    assert client.get("/docs/NOPE.md").status_code == 404


def test_it_serves_no_doc_to_an_anonymous_visitor(db):
    assert Client().get("/docs/METRICS.md").status_code == 302
