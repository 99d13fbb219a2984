"""The model sandbox (core/sandbox.py): what a hostile model would try first, run through `sandbox.run`.

The probes of `core.sandbox_selftest` run in the sandboxed child exactly as a model's code would:
they try to reach a real server on 127.0.0.1, read and list the data and artifact folders, read the
environment's secrets, fork, write to the code, and exhaust memory, CPU, time and disk. The tests
assert that the sandbox stopped each one, that a limit gives a one-line SandboxLimitError, that a
cancelled call kills its child at once and that progress events arrive.

`TestSandbox` runs under the default backend (bubblewrap where it runs); `TestBubblewrapIsolation`
holds what only bubblewrap gives (no network, no view of the data folder, no new process) and is
skipped elsewhere; `TestFallback` repeats `TestSandbox` with ASSAY_SANDBOX=fallback (no bubblewrap:
a scrubbed environment, an empty working directory and the rlimits still hold). `TestMode` covers
ASSAY_SANDBOX=required without bubblewrap and the `manage.py check` warning.
"""

from __future__ import annotations

import io
import os
import socket
import socketserver
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from core import sandbox
from core.apps import check_sandbox
from core.sandbox import Limits, SandboxCancelled, SandboxError, SandboxLimitError
from tests.workers import sandbox_children

MiB = 1024 * 1024
GiB = 1024 * MiB
GENEROUS = Limits(wall_seconds=60, cpu_seconds=60)
SECRETS = {
    "ASSAY_SECRET_KEY": "sk-django-secret-4f1c",
    "ASSAY_AUDIT_LOG_KEY": "audit-log-hmac-key-77d2",
    "ASSAY_DATA_KEY": "fernet-key-material-0a9b",
    "DATABASE_URL": "postgres://assay:db-password-5e3a@db.internal:5432/assay",
    "CELERY_BROKER_URL": "redis://:broker-password-91c0@redis.internal:6379/0",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-6b21",
}


def probe(name: str, limits: Limits = GENEROUS, **request):
    """Run the self-test probe `name` in the sandbox and return its JSON result."""
    return sandbox.run("selftest", {"probe": name, **request}, limits_=limits).result


def wait_until_no_children(seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while sandbox_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sandbox_children(), "a sandboxed child outlived its call"


@pytest.fixture
def planted_secrets(monkeypatch):
    """Set the service's secrets in this process's environment, as a production web worker has them."""
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    return SECRETS


@pytest.fixture
def listening_server():
    """A real TCP server on 127.0.0.1 in a thread; returns (port, the list of connections it accepted)."""
    accepted: list[tuple[str, int]] = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            accepted.append(self.client_address)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], accepted
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def data_dir_secret(settings):
    """A secret file in the data folder (ASSAY_DATA_DIR: database, keys, broker), readable by this process."""
    folder = Path(settings.DATA_DIR)
    assert str(folder) == os.environ["ASSAY_DATA_DIR"]
    path = folder / f"secret-{uuid.uuid4().hex}.key"
    path.write_bytes(os.urandom(32))
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def artifact_secret(settings):
    """An artifact file in the artifact folder (tests/conftest.py gives each test its own)."""
    folder = Path(settings.ASSAY_ARTIFACT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ab" / f"{uuid.uuid4().hex}.bin"
    path.parent.mkdir()
    path.write_bytes(os.urandom(32))
    return path


@pytest.fixture
def checkout_data_secret():
    """A file in the checkout's own data folder (the default ASSAY_DATA_DIR), when that folder exists."""
    folder = sandbox.ROOT / "data"
    if not folder.is_dir():
        pytest.skip("the checkout has no data folder")
    path = folder / f".sandbox-test-{uuid.uuid4().hex}"
    path.write_bytes(os.urandom(32))
    yield path
    path.unlink(missing_ok=True)


#
# Every backend
#


class TestSandbox:
    """What holds under the backend the service would use here (bubblewrap where it runs)."""

    expected_backend: str | None = None

    @pytest.fixture(autouse=True)
    def mode(self, settings):
        settings.ASSAY_SANDBOX = "auto"
        return sandbox.backend()

    def test_it_runs_the_probe_under_the_expected_backend(self, mode):
        result = sandbox.run("selftest", {"probe": "thread"}, limits_=GENEROUS)
        assert result.backend == mode
        if self.expected_backend:
            assert mode == self.expected_backend
        assert result.result == {"threads": 1}

    def test_the_environment_holds_no_secret(self, planted_secrets):
        env = probe("env")["env"]
        assert not [key for key in env if key.startswith("ASSAY_")], env
        assert not set(env) & {"DATABASE_URL", "CELERY_BROKER_URL", "AWS_SECRET_ACCESS_KEY",
                               "DJANGO_SETTINGS_MODULE"}, env
        shown = repr(env)
        assert not [value for value in planted_secrets.values() if value in shown], env

    def test_the_working_directory_is_empty(self, monkeypatch):
        monkeypatch.chdir(sandbox.ROOT)  # a web worker runs in the checkout, beside manage.py and data/
        assert probe("listdir", path=".") == {"entries": []}
        assert probe("read", path="manage.py") == {"error": "FileNotFoundError"}

    def test_threads_work(self):
        assert probe("thread") == {"threads": 1}

    def test_results_come_back_as_json_and_arrays_never_unpickle(self):
        result = sandbox.SandboxResult({"a": 1}, {"plain.npy": _npy(np.arange(3)),
                                                  "pickled.npy": _npy(np.array([object()], dtype=object))})
        assert result.array("plain.npy").tolist() == [0, 1, 2]
        with pytest.raises(ValueError, match="allow_pickle"):
            result.array("pickled.npy")

    def test_memory_beyond_the_limit_is_a_one_line_limit_error(self):
        with pytest.raises(SandboxLimitError) as caught:
            probe("memory", Limits(memory=1 * GiB, wall_seconds=60), bytes=2 * GiB)
        assert str(caught.value) == "the model exceeded its memory limit of 1 GiB"
        assert caught.value.kind == "memory"

    def test_memory_within_the_limit_is_fine(self):
        assert probe("memory", Limits(memory=1 * GiB, wall_seconds=60), bytes=64 * MiB) == {"allocated": 64 * MiB}

    def test_cpu_time_beyond_the_limit_is_a_one_line_limit_error(self):
        started = time.monotonic()
        with pytest.raises(SandboxLimitError) as caught:
            probe("cpu", Limits(cpu_seconds=1, wall_seconds=60))
        assert str(caught.value) == "the model exceeded its CPU-time limit of 1 s"
        assert caught.value.kind == "cpu"
        assert time.monotonic() - started < 30
        wait_until_no_children()

    def test_wall_time_beyond_the_limit_is_a_one_line_limit_error(self):
        started = time.monotonic()
        with pytest.raises(SandboxLimitError) as caught:
            probe("sleep", Limits(wall_seconds=2), seconds=60)
        assert str(caught.value) == "the model exceeded its time limit of 2 s"
        assert caught.value.kind == "time"
        assert time.monotonic() - started < 2 + 5
        wait_until_no_children()

    def test_a_file_beyond_the_size_limit_is_a_one_line_limit_error(self):
        with pytest.raises(SandboxLimitError) as caught:
            probe("big-file", Limits(file_size=1 * MiB, wall_seconds=60), megabytes=8)
        assert str(caught.value) == "the model exceeded its file-size limit of 1 MiB"
        assert caught.value.kind == "file-size"

    def test_the_limit_message_names_what_was_sandboxed(self):
        with pytest.raises(SandboxLimitError, match="^the audit exceeded its time limit of 1 s$"):
            sandbox.run("selftest", {"probe": "sleep", "seconds": 30}, limits_=Limits(wall_seconds=1),
                        what="the audit")

    def test_cancel_kills_the_child_quickly(self):
        started = time.monotonic()
        with pytest.raises(SandboxCancelled):
            sandbox.run("selftest", {"probe": "sleep", "seconds": 60}, limits_=GENEROUS,
                        should_cancel=lambda: time.monotonic() - started > 0.5)
        assert time.monotonic() - started < 2.5
        wait_until_no_children(2.0)

    def test_progress_events_arrive_in_order(self):
        events: list[tuple[float, str]] = []
        result = sandbox.run("selftest", {"probe": "progress"}, limits_=GENEROUS,
                             progress=lambda percent, stage: events.append((percent, stage)))
        assert result.result == {"ok": True}
        assert len(events) >= 4, events
        assert [p for p, _ in events] == sorted(p for p, _ in events)
        assert events[0] == (0.0, "step 0")
        assert {stage for _, stage in events} <= {f"step {i}" for i in range(5)}

    def test_an_error_in_the_child_is_one_line(self):
        with pytest.raises(SandboxError) as caught:
            probe("no-such-probe")
        assert "unknown probe" in str(caught.value)
        assert "\n" not in str(caught.value)
        assert not isinstance(caught.value, SandboxLimitError)

    def test_only_the_fixed_entries_can_run(self):
        with pytest.raises(ValueError, match="unknown sandbox entry"):
            sandbox.run("os:system", {})

    def test_input_names_cannot_leave_the_input_folder(self):
        for name in ("../escape", ".hidden", "a/b"):
            with pytest.raises(ValueError, match="bad sandbox input name"):
                sandbox.run("selftest", {"probe": "thread"}, {name: b"x"}, limits_=GENEROUS)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


#
# What only bubblewrap gives
#


@pytest.fixture
def bubblewrap(settings):
    settings.ASSAY_SANDBOX = "auto"
    if sandbox.backend() != "bubblewrap":
        pytest.skip("bubblewrap cannot run here: the fallback has no namespaces")


@pytest.mark.usefixtures("bubblewrap")
class TestBubblewrapIsolation:
    def test_it_cannot_connect_to_a_server_on_the_hosts_loopback(self, listening_server):
        port, accepted = listening_server
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # the server does answer this process
            pass
        deadline = time.monotonic() + 5
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(accepted) == 1
        accepted.clear()

        result = probe("socket", host="127.0.0.1", port=port)

        assert "connected" not in result, result
        assert result.get("error"), result
        time.sleep(0.3)
        assert accepted == [], "the sandboxed child reached the server"

    def test_it_cannot_reach_the_outside_network(self):
        result = probe("socket", host="1.1.1.1", port=53)
        assert "connected" not in result and result.get("error"), result

    def test_it_cannot_read_or_list_the_data_folder(self, data_dir_secret):
        assert data_dir_secret.read_bytes()  # this process can
        assert probe("read", path=str(data_dir_secret)) == {"error": "FileNotFoundError"}
        listing = probe("listdir", path=str(data_dir_secret.parent))
        assert data_dir_secret.name not in listing.get("entries", []), listing
        for database in Path(data_dir_secret.parent).glob("*.sqlite3"):
            assert "read" not in probe("read", path=str(database))

    def test_it_cannot_read_or_list_the_artifact_folder(self, artifact_secret):
        assert probe("read", path=str(artifact_secret)) == {"error": "FileNotFoundError"}
        for folder in (artifact_secret.parent, artifact_secret.parent.parent):
            listing = probe("listdir", path=str(folder))
            assert "entries" not in listing or artifact_secret.parent.name not in listing["entries"], listing

    def test_it_cannot_read_the_checkouts_data_folder(self, checkout_data_secret):
        assert "read" not in probe("read", path=str(checkout_data_secret))
        listing = probe("listdir", path=str(checkout_data_secret.parent))
        assert checkout_data_secret.name not in listing.get("entries", []), listing

    def test_it_sees_the_code_read_only(self):
        target = sandbox.ROOT / f"sandbox-wrote-{uuid.uuid4().hex}"
        try:
            result = probe("write", path=str(target))
            assert result == {"error": "OSError"}, result
            assert not target.exists()
        finally:
            target.unlink(missing_ok=True)
        assert "read" in probe("read", path=str(sandbox.ROOT / "core" / "sandbox_selftest.py"))

    def test_it_cannot_fork(self):
        assert probe("fork") == {"error": "PermissionError"}
        assert probe("thread") == {"threads": 1}  # threads still work

    def test_it_sees_only_its_own_processes(self):
        listing = probe("listdir", path="/proc")
        pids = [int(name) for name in listing["entries"] if name.isdigit()]
        assert len(pids) <= 3, pids  # bubblewrap's init and the child, nothing of the host

    def test_its_tmp_is_private(self, tmp_path):
        planted = tmp_path / "host-file"
        planted.write_text("host")
        assert probe("read", path=str(planted)) == {"error": "FileNotFoundError"}
        # nothing of the host's /tmp; only the path down to the code when the checkout itself lives there
        under_tmp = sandbox.ROOT.parts[2:3] if sandbox.ROOT.parts[1:2] == ("tmp",) else ()
        assert probe("listdir", path="/tmp") == {"entries": list(under_tmp)}


#
# The fallback
#


class TestFallback(TestSandbox):
    """ASSAY_SANDBOX=fallback (no bubblewrap): the environment, working directory and limits still hold."""

    expected_backend = "fallback"

    @pytest.fixture(autouse=True)
    def mode(self, settings):
        settings.ASSAY_SANDBOX = "fallback"
        assert sandbox.backend() == "fallback"
        return "fallback"


#
# Modes
#


class TestMode:
    def test_required_without_bubblewrap_refuses(self, settings, monkeypatch):
        monkeypatch.setattr(sandbox, "_BWRAP_OK", False)
        settings.ASSAY_SANDBOX = "required"
        with pytest.raises(SandboxError, match="required"):
            sandbox.backend()
        with pytest.raises(SandboxError, match="required"):
            sandbox.run("selftest", {"probe": "thread"}, limits_=GENEROUS)

    def test_auto_without_bubblewrap_falls_back_and_check_warns(self, settings, monkeypatch):
        monkeypatch.setattr(sandbox, "_BWRAP_OK", False)
        settings.ASSAY_SANDBOX = "auto"
        assert sandbox.backend() == "fallback"
        assert [w.id for w in check_sandbox()] == ["core.W001"]

    def test_fallback_warns_even_where_bubblewrap_runs(self, settings):
        settings.ASSAY_SANDBOX = "fallback"
        assert [w.id for w in check_sandbox()] == ["core.W001"]

    def test_required_with_bubblewrap_runs_and_does_not_warn(self, settings):
        if not sandbox.bubblewrap_works():
            pytest.skip("bubblewrap cannot run here")
        settings.ASSAY_SANDBOX = "required"
        assert sandbox.backend() == "bubblewrap"
        assert check_sandbox() == []
        assert probe("thread") == {"threads": 1}
