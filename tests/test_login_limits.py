"""Login limits (django-axes, accounts/ratelimit.py): per normalised username and address, on every login
door (/login/, /admin/login/, the token endpoint), shared by every process, never a global account lock."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache, caches
from django.db import connection
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent
HERE, THERE = "198.51.100.7", "203.0.113.9"
LIMIT = settings.AXES_FAILURE_LIMIT


def login(client, path, username, password, address):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def token(username, password, address):
    return APIClient().post("/api/v1/auth/token", {"username": username, "password": password}, format="json",
                            REMOTE_ADDR=address)


@pytest.fixture
def staff_alice(alice):
    alice.is_staff = True
    alice.save()
    return alice


def test_the_limit_is_ten_tries_per_five_minutes():
    assert LIMIT == 10 and settings.ASSAY_LOGIN_WINDOW_S == 300
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_ten_failures_for_a_spelling_of_alice_lock_alice_from_that_address_on_every_door(client, staff_alice):
    # given: ten wrong passwords for "Alice " (spaces, capital) from one address
    for i in range(LIMIT):
        r = login(client, "/login/", "Alice ", "wrong", HERE)
        assert r.status_code == (429 if i == LIMIT - 1 else 200)

    # then: "alice" with the right password is refused from that address, at every login door
    r = login(client, "/login/", "alice", "password", HERE)
    assert r.status_code == 429 and b"Too many attempts" in r.content
    assert "_auth_user_id" not in client.session
    r = login(client, "/admin/login/", "ALICE", "password", HERE)
    assert r.status_code == 429 and "_auth_user_id" not in client.session
    r = token("alice", "password", HERE)
    assert r.status_code == 429 and r.json()["error"]["code"] == "throttled" and "token" not in r.json()
    assert r["Retry-After"] == "300"

    # and: from another address the owner still gets in, on every door
    assert token("alice", "password", THERE).status_code == 200
    r = login(client, "/admin/login/", "alice", "password", THERE)
    assert r.status_code == 302 and client.session["_auth_user_id"] == str(staff_alice.pk)
    client.logout()
    r = login(client, "/login/", "alice", "password", THERE)
    assert r.status_code == 302 and client.session["_auth_user_id"] == str(staff_alice.pk)


def test_failures_on_the_admin_login_and_the_token_endpoint_count_together(client, staff_alice):
    for _ in range(4):
        login(client, "/admin/login/", "alice", "wrong", HERE)
    for _ in range(3):
        token(" ALICE", "wrong", HERE)
    for _ in range(2):
        login(client, "/login/", "alice\t", "wrong", HERE)
    assert login(client, "/admin/login/", "alice", "password", HERE).status_code == 302  # the 10th try: right
    client.logout()
    # a success clears the pair's count
    for _ in range(LIMIT - 1):
        assert token("alice", "wrong", HERE).status_code == 400
    assert token("alice", "wrong", HERE).status_code == 429
    assert login(client, "/admin/login/", "alice", "password", HERE).status_code == 429
    assert token("Alice", "password", HERE).status_code == 429


def test_ten_failures_on_the_admin_login_lock_the_pair(client, staff_alice):
    for _ in range(LIMIT):
        login(client, "/admin/login/", "alice", "wrong", HERE)
    assert login(client, "/admin/login/", "alice", "password", HERE).status_code == 429
    assert login(client, "/login/", "alice", "password", HERE).status_code == 429
    assert login(client, "/admin/login/", "alice", "password", THERE).status_code == 302


def test_one_address_has_a_looser_limit_over_all_usernames(client, alice, settings):
    settings.ASSAY_LOGIN_ADDRESS_LIMIT = 15
    for i in range(15):
        login(client, "/login/", f"guess{i % 5}", "wrong", HERE)  # 3 tries each: no pair is near its limit
    assert login(client, "/login/", "alice", "password", HERE).status_code == 429
    assert token("alice", "password", HERE).status_code == 429
    assert login(client, "/login/", "alice", "password", THERE).status_code == 302


def test_the_embedded_cache_is_shared_by_every_process():
    assert "LocMem" not in settings.CACHES["default"]["BACKEND"]
    assert "Dummy" not in settings.CACHES["default"]["BACKEND"]
    cache.set("assay:test:shared", "from-parent", 60)
    code = ("import django; django.setup(); from django.core.cache import cache; "
            "assert cache.get('assay:test:shared') == 'from-parent'; cache.set('assay:test:shared', 'from-child', 60)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "ASSAY_TESTING": "1"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert caches["default"].get("assay:test:shared") == "from-child"


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_the_failure_count_is_shared_between_processes(client, alice):
    # given: another process (another web worker) saw five failures for alice from HERE
    code = ("import django, sys; django.setup(); from django.test import Client; c = Client(); "
            "codes = [c.post(p, {'username': 'Alice', 'password': 'wrong'}, REMOTE_ADDR=sys.argv[1]).status_code "
            "for p in ['/login/', '/admin/login/'] * 2 + ['/login/']]; assert codes == [200] * 5, codes")
    proc = subprocess.run([sys.executable, "-c", code, HERE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ASSAY_TESTING": "1", "DATABASE_URL": _database_url()})
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # when: this process sees five more
    codes = [login(client, "/login/", "alice", "wrong", HERE).status_code for _ in range(LIMIT - 5)]

    # then: the tenth of all is the one that locks, and alice is locked here and not elsewhere
    assert codes == [200] * (LIMIT - 6) + [429]
    assert login(client, "/login/", "alice", "password", HERE).status_code == 429
    assert login(client, "/login/", "alice", "password", THERE).status_code == 302
