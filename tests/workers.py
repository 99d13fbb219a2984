"""Real Celery worker processes for the integration tests: started against the test database and broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """Return a DATABASE_URL that points a subprocess at the test database."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def start_worker(name: str, *, queues: str = "cpu,default", **env) -> subprocess.Popen:
    environment = {**os.environ, "ASSAY_CELERY_EAGER": "0", "DATABASE_URL": database_url(),
                   "ASSAY_ARTIFACT_DIR": str(settings.ASSAY_ARTIFACT_DIR), "ASSAY_DATA_DIR": str(settings.DATA_DIR),
                   **{k: str(v) for k, v in env.items()}}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "assay", "worker", "-Q", queues, "--concurrency", "1",
         "-l", "warning", "--without-gossip", "--without-mingle", "-n", f"{name}-{os.getpid()}@%h"],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )


def stop_worker(proc: subprocess.Popen) -> str:
    """Stop the worker and its pool, and return what it printed."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate(timeout=20)
    return out or ""


def pool_children(proc: subprocess.Popen) -> list[int]:
    """Return the pids of the worker's pool processes (the ones that run tasks)."""
    out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def wait_for(predicate, *, timeout: float, interval: float = 0.3, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout} s")


def broker_messages() -> list[str]:
    """Return the names of the messages waiting in the filesystem broker (empty for other brokers)."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    folder = options.get("data_folder_in") if settings.CELERY_BROKER_URL.startswith("filesystem://") else None
    return sorted(os.listdir(folder)) if folder and os.path.isdir(folder) else []


def sandbox_children() -> list[int]:
    """Return the pids of this process's descendants that run the sandbox's child entry (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found = []
    for pid in parents:
        ancestor, steps = parents.get(pid), 0
        while ancestor and ancestor != os.getpid() and steps < 64:
            ancestor, steps = parents.get(ancestor), steps + 1
        if ancestor == os.getpid():
            try:
                if b"child_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except OSError:
                continue
    return found
