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


def test_the_favicon_browsers_ask_for_is_there(db):
    r = Client().get("/favicon.ico")
    assert r.status_code == 301 and r["Location"].endswith("assay/favicon.svg")
    assert Client().get(r["Location"]).status_code == 200
