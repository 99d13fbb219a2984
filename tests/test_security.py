"""Security settings: CSP on the dashboard, rate-limited login and token endpoints, a clean deploy check."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

LOGIN_LIMIT = settings.AXES_FAILURE_LIMIT

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


def test_it_sends_a_content_security_policy_on_the_dashboard(client, alice):
    client.force_login(alice)
    r = client.get("/")
    assert r.status_code == 200
    assert "script-src 'self'" in r["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in r["Content-Security-Policy"]
    assert r["X-Content-Type-Options"] == "nosniff" and r["X-Frame-Options"] == "DENY"


def test_swagger_ui_is_served_without_a_cdn(client):
    r = client.get("/api/docs/")
    assert r.status_code == 200
    body = r.content.decode()
    assert "cdn.jsdelivr.net" not in body and "unpkg.com" not in body
    assert "swagger-ui" in body


def test_it_rate_limits_the_login_form(client, alice):
    for _ in range(LOGIN_LIMIT - 1):
        assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 429  # the last try
    r = client.post("/login/", {"username": "alice", "password": "password"})
    assert r.status_code == 429
    assert b"Too many attempts" in r.content
    assert "_auth_user_id" not in client.session


def test_it_gives_a_token_for_good_credentials_and_rate_limits_guessing(alice):
    from rest_framework.test import APIClient

    api = APIClient()
    r = api.post("/api/v1/auth/token", {"username": "alice", "password": "password"}, format="json")
    assert r.status_code == 200 and len(r.json()["token"]) == 40
    for _ in range(LOGIN_LIMIT):
        api.post("/api/v1/auth/token", {"username": "alice", "password": "nope"}, format="json")
    r = api.post("/api/v1/auth/token", {"username": "alice", "password": "password"}, format="json")
    assert r.status_code == 429 and r.json()["error"]["code"] == "throttled"


def test_the_deploy_check_is_clean_under_production_settings(tmp_path):
    env = {**os.environ, "ASSAY_PRODUCTION": "1", "ASSAY_DATA_DIR": str(tmp_path),
           "ASSAY_SECRET_KEY": "x" * 20 + "-production-secret-key-of-sufficient-length-and-variety-0123456789"}
    proc = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--tag", "security",
                           "--fail-level", "WARNING"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout
