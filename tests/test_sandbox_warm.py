"""Pre-warmed sandbox children (ASSAY_SANDBOX_WARM): started ahead of their job, one job each, same limits."""

import dataclasses
import os
import time

import pytest

from core import sandbox


@pytest.fixture
def warm(settings, monkeypatch):
    settings.ASSAY_SANDBOX_WARM = True
    monkeypatch.setenv("ASSAY_ENCRYPTION_KEY", "f" * 64)
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/assay")
    yield
    sandbox.discard_warm_children()


def _waiting() -> list:
    return [w for w in sandbox._POOL.values() if w.process.poll() is None]


def _wait_until_imported(seconds: float = 60) -> None:
    # a warm child that is still importing answers later; the tests only need it to exist and live
    deadline = time.monotonic() + seconds
    while not _waiting() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_it_runs_each_job_in_a_child_started_for_it_and_never_reuses_one(warm):
    first = sandbox.run("selftest", {"probe": "env"})
    _wait_until_imported()
    (child,) = _waiting()
    second = sandbox.run("selftest", {"probe": "env"})

    assert child.process.poll() is not None  # the waiting child took the job and is gone
    (replacement,) = _waiting()
    assert replacement.process.pid != child.process.pid
    for result in (first, second):
        env = result.result["env"]
        assert not any(k.startswith("ASSAY_") or k in ("DATABASE_URL", "CELERY_BROKER_URL") for k in env)
        assert "f" * 64 not in str(env) and "secret@db" not in str(env)


def test_a_warm_child_keeps_the_limits_and_is_cancelled_like_a_cold_one(warm):
    small = sandbox.Limits(memory=1024**3, cpu_seconds=30, wall_seconds=20, file_size=10 * 1024**2)
    sandbox.run("selftest", {"probe": "env"}, limits_=small)
    _wait_until_imported()
    with pytest.raises(sandbox.SandboxLimitError, match="exceeded its memory limit of 1 GiB"):
        sandbox.run("selftest", {"probe": "memory", "bytes": 2 * 1024**3}, limits_=small)
    _wait_until_imported()
    started = time.monotonic()
    with pytest.raises(sandbox.SandboxCancelled):
        sandbox.run("selftest", {"probe": "sleep", "seconds": 60}, limits_=small,
                    should_cancel=lambda: time.monotonic() - started > 1)
    assert time.monotonic() - started < 10


def test_discarding_kills_the_waiting_children_and_removes_their_folders(warm):
    sandbox.run("selftest", {"probe": "env"})
    _wait_until_imported()
    (child,) = _waiting()
    sandbox.discard_warm_children()
    assert child.process.poll() is not None and not child.scratch.exists() and sandbox._POOL == {}


def test_auto_is_off_outside_workers_and_on_in_a_worker_process(settings, monkeypatch):
    settings.ASSAY_SANDBOX_WARM = "auto"
    monkeypatch.setattr(sandbox, "_IN_WORKER", False)
    sandbox.run("selftest", {"probe": "env"})
    assert sandbox._POOL == {}  # web processes and commands start no idle child
    try:
        sandbox.warm_up_worker()  # what Celery's worker_process_init calls
        (child,) = _waiting()
        assert child.key == (sandbox.backend(), sandbox.limits("job"), os.getpid())
        _wait_until_imported()
        sandbox.run("selftest", {"probe": "env"})
        (replacement,) = _waiting()
        assert child.process.poll() is not None and replacement is not child  # took the job; the next one waits
    finally:
        sandbox.discard_warm_children()


def test_a_worker_process_holds_at_most_one_idle_child(warm):
    small = dataclasses.replace(sandbox.limits("job"), cpu_seconds=30, wall_seconds=30)
    sandbox.run("selftest", {"probe": "env"})
    sandbox.run("selftest", {"probe": "env"}, limits_=small)
    (child,) = _waiting()
    assert child.key[1] == small
