"""Run code that touches an uploaded model in a child process that cannot hurt the service.

Uploaded models are hostile until proven otherwise (ARCHITECTURE.md, Security posture). Every parse,
inspection and inference of a model file goes through `run()`, which starts a child Python
process through bubblewrap:

- new user, network, PID, IPC, UTS and cgroup namespaces; no capabilities; a new session;
- an empty environment (a PATH, a locale and the BLAS/OpenMP knobs, nothing else: no `ASSAY_*`
  secret, no `DATABASE_URL`, no broker URL);
- the system, the Python installation, the virtualenv and the code read-only; the data folder
  (database, encrypted artifacts, keys) hidden behind an empty tmpfs; a size-capped private tmpfs
  as working directory and `/tmp`;
- the inputs in a read-only folder and the outputs in a write-only-by-the-child folder, both made
  for this one call; results come back as JSON and `.npy` arrays (loaded with
  `allow_pickle=False`), never as pickles;
- a seccomp filter that refuses every new process (threads are allowed), and rlimits on address
  space, CPU seconds, file size, open files and processes, plus a wall-clock timeout that the
  parent enforces.

Where bubblewrap cannot run (a container without user namespaces, a developer's Mac) the same child
runs with the scrubbed environment, an empty working directory and the rlimits only;
`manage.py check` warns, and `ASSAY_SANDBOX=required` refuses to start.

This module imports nothing from Django at module level: the child process imports it too.
The parent side reads its limits from the settings (`limits()`), the child side (`child_main`)
from its request.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import platform
import resource
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ENTRIES",
    "Limits",
    "SandboxError",
    "SandboxLimitError",
    "SandboxResult",
    "backend",
    "bubblewrap_works",
    "limits",
    "run",
]

ROOT = Path(__file__).resolve().parent.parent
IN_DIR, OUT_DIR, WORK_DIR = "/sandbox/in", "/sandbox/out", "/sandbox/work"
RESULT_NAME = "result.json"
MAX_EVENT_LINE = 1 << 20  # a progress line is a few dozen bytes
MAX_RESULT_BYTES = 256 * 1024**2  # an audit's Result JSON is a few megabytes
PROGRESS_EVERY_S = 0.25
# What the child may run: a fixed table, never a name that came from a request.
ENTRIES = {
    "model.check": "audit.sandboxed:check_model",
    "audit.run": "audit.sandboxed:run_audit",
    "dp.train": "privacy.sandboxed:train",
    "genai.generate": "genai.sandboxed:generate",
    "selftest": "core.sandbox_selftest:probe",
}
# Environment variables the child keeps: none carries a secret; OpenBLAS needs its core type on
# some processors (wrong results otherwise), the thread counts keep a child to its share of cores.
_KEPT_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "TZ")


class SandboxError(Exception):
    """The sandboxed work failed; `str()` is one line a user may read.

    `kind` says what failed: "format" and "contract" (the model or its inputs were refused),
    "value" (bad input), "memory", "cpu", "time", "file-size" (a limit), "crash" or "internal".
    """

    def __init__(self, message: str, kind: str = "internal", error_type: str = ""):
        super().__init__(message)
        self.kind = kind
        self.error_type = error_type


class SandboxLimitError(SandboxError):
    """The child hit one of its limits and was stopped."""


class SandboxCancelled(Exception):
    """`should_cancel` said stop; the child was killed."""


@dataclass(frozen=True)
class Limits:
    """What one sandboxed call may use. Sizes in bytes, times in seconds."""

    memory: int = 4 * 1024**3
    cpu_seconds: int = 3600
    wall_seconds: int = 3600
    file_size: int = 1024**3
    tmpfs_size: int = 512 * 1024**2
    processes: int = 256
    open_files: int = 1024

    def describe(self, kind: str) -> str:
        if kind == "memory":
            return f"its memory limit of {_size(self.memory)}"
        if kind == "cpu":
            return f"its CPU-time limit of {self.cpu_seconds} s"
        if kind == "time":
            return f"its time limit of {self.wall_seconds} s"
        if kind == "file-size":
            return f"its file-size limit of {_size(self.file_size)}"
        return "a limit"


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"


@dataclass
class SandboxResult:
    """What a sandboxed call returned: its JSON result and the files it wrote (bytes, bounded)."""

    result: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    backend: str = "bubblewrap"
    seconds: float = 0.0

    def array(self, name: str):
        """Return the `.npy` output `name` as a NumPy array (never unpickled)."""
        import io

        import numpy as np

        return np.load(io.BytesIO(self.files[name]), allow_pickle=False)


#
# Parent side
#


def limits(kind: str = "job") -> Limits:
    """Return the limits for `kind` ("check": the upload check, "job": audits and DP training)."""
    from django.conf import settings

    wall = settings.ASSAY_SANDBOX_CHECK_SECONDS if kind == "check" else settings.ASSAY_SANDBOX_JOB_SECONDS
    return Limits(
        memory=settings.ASSAY_SANDBOX_MEMORY_MB * 1024**2,
        cpu_seconds=wall * max(1, os.cpu_count() or 1),
        wall_seconds=wall,
        file_size=settings.ASSAY_SANDBOX_FILE_MB * 1024**2,
        tmpfs_size=settings.ASSAY_SANDBOX_TMPFS_MB * 1024**2,
        processes=settings.ASSAY_SANDBOX_PROCESSES,
    )


def _mode() -> str:
    try:
        from django.conf import settings

        return settings.ASSAY_SANDBOX
    except Exception:  # no Django settings: a plain script (bench) uses the default
        return os.environ.get("ASSAY_SANDBOX", "auto")


def _hidden_paths() -> list[Path]:
    """The folders the child must never see: the data folder and wherever secrets and artifacts live."""
    paths = []
    try:
        from django.conf import settings

        for name in ("DATA_DIR", "ASSAY_ARTIFACT_DIR", "ASSAY_AUDIT_CHECKPOINT_DIR", "STATIC_ROOT"):
            value = getattr(settings, name, None)
            if value:
                paths.append(Path(value))
    except Exception:  # no Django settings
        pass
    if os.environ.get("ASSAY_DATA_DIR"):
        paths.append(Path(os.environ["ASSAY_DATA_DIR"]))
    paths.append(ROOT / "data")
    return [p.resolve() for p in paths]


_BWRAP_OK: bool | None = None


def bubblewrap_works() -> bool:
    """Return True when bubblewrap is installed and can create its namespaces here (cached)."""
    global _BWRAP_OK
    if _BWRAP_OK is None:
        bwrap = shutil.which("bwrap")
        _BWRAP_OK = False
        if bwrap:
            try:
                probe = subprocess.run(
                    [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
                     "--dev", "/dev", "true"], capture_output=True, timeout=20)
                _BWRAP_OK = probe.returncode == 0
            except (OSError, subprocess.SubprocessError):
                _BWRAP_OK = False
    return _BWRAP_OK


def backend() -> str:
    """Return "bubblewrap" or "fallback"; raise SandboxError when bubblewrap is required and missing."""
    mode = _mode()
    if mode == "fallback":
        return "fallback"
    if bubblewrap_works():
        return "bubblewrap"
    if mode == "required":
        raise SandboxError("ASSAY_SANDBOX=required but bubblewrap (bwrap) cannot run on this machine")
    return "fallback"


def _child_env() -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    env.update({k: os.environ[k] for k in _KEPT_ENV if k in os.environ})
    return env


def _seccomp_program() -> bytes | None:
    """Return a BPF program refusing every new process but allowing threads; None off x86-64/arm64.

    fork/vfork answer EPERM; clone answers EPERM unless it makes a thread (CLONE_THREAD); clone3
    answers ENOSYS so that the C library falls back to clone for threads; another ABI is killed.
    """
    machine = platform.machine()
    if machine in ("x86_64", "AMD64"):
        arch, clone, clone3, forks = 0xC000003E, 56, 435, (57, 58)
    elif machine in ("aarch64", "arm64"):
        arch, clone, clone3, forks = 0xC00000B7, 220, 435, ()
    else:
        return None
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys, kill = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38, 0x80000000
    fork_checks = [(jeq, 0, 0, nr) for nr in forks]  # jump targets filled below
    body = [(ld, 0, 0, 4), (jeq, 0, 0, arch), (ld, 0, 0, 0), (jge, 0, 0, 0x40000000), *fork_checks,
            (jeq, 0, 0, clone3), (jeq, 0, 0, clone), (ld, 0, 0, 16), (jset, 0, 0, 0x00010000)]
    n = len(body)
    at_allow, at_eperm, at_enosys, at_kill = n, n + 1, n + 2, n + 3
    program = []
    for pc, (code, _, _, k) in enumerate(body):
        jt = jf = 0
        if pc == 1:
            jf = at_kill - pc - 1
        elif code in (jge, jeq) and pc >= 3 and k not in (clone3, clone):
            jt = at_eperm - pc - 1
        elif code == jeq and k == clone3:
            jt = at_enosys - pc - 1
        elif code == jeq and k == clone:
            jf = at_allow - pc - 1
        elif code == jset:
            jt, jf = at_allow - pc - 1, at_eperm - pc - 1
        program.append((code, jt, jf, k))
    program += [(ret, 0, 0, allow), (ret, 0, 0, eperm), (ret, 0, 0, enosys), (ret, 0, 0, kill)]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program)


def _bind_system(args: list[str]) -> None:
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(top), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
                "/etc/alternatives", "/etc/ssl/certs", "/etc/fonts"):
        args += ["--ro-bind-try", etc, etc]


def _bwrap_command(python: list[str], in_dir: Path, out_dir: Path, limits_: Limits, seccomp_fd: int | None
                   ) -> list[str]:
    args = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--clearenv"]
    for key, value in _child_env().items():
        args += ["--setenv", key, value]
    _bind_system(args)
    # /proc, /dev and the private /tmp first: the code may live under /tmp (a CI clone), and a bind
    # made before the tmpfs would vanish under it
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits_.tmpfs_size), "--tmpfs", "/tmp"]
    bound = []
    for path in {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), ROOT}:
        if not any(str(path).startswith(str(b) + os.sep) for b in bound):
            bound.append(path)
    # a venv's python is a symlink into the base installation: bind what it points to as well
    bound.append(Path(python[0]).resolve().parent)
    for path in dict.fromkeys(bound):
        if not str(path).startswith("/usr/"):
            args += ["--ro-bind", str(path), str(path)]
    for hidden in _hidden_paths():
        if hidden.exists() and any(hidden == b or str(hidden).startswith(str(b) + os.sep) for b in bound):
            args += ["--tmpfs", str(hidden)]
    for device in _gpu_devices():  # CUDA needs its device nodes and reads /sys
        args += ["--dev-bind", device, device]
    if _gpu_devices():
        args += ["--ro-bind-try", "/sys", "/sys"]
    # the working directory is its own empty tmpfs: /tmp holds the path to the code when the checkout is under /tmp
    args += ["--ro-bind", str(in_dir), IN_DIR, "--bind", str(out_dir), OUT_DIR,
             "--size", str(limits_.tmpfs_size), "--tmpfs", WORK_DIR, "--chdir", WORK_DIR]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return [*args, "--", *python]


def _gpu_devices() -> list[str]:
    """Return the NVIDIA device nodes of this host ([] without a GPU or with ASSAY_SANDBOX_GPU=0)."""
    if os.environ.get("ASSAY_SANDBOX_GPU", "1") == "0":
        return []
    return sorted(str(p) for p in Path("/dev").glob("nvidia*") if not p.is_dir())


def _python_command(in_dir: str, out_dir: str, warm: bool = False) -> list[str]:
    # -I: no PYTHONPATH, no user site, no current folder; the code's folder is put on the path by hand.
    boot = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
            f"from core.sandbox import child_main; child_main({in_dir!r}, {out_dir!r}, warm={warm!r})")
    python = Path(sys.prefix) / "bin" / "python"
    return [str(python if python.exists() else sys.executable), "-I", "-c", boot]


def _exit_reason(code: int) -> tuple[str, str]:
    """Map a child's exit code (negative signal, or bubblewrap's 128 + signal) to (kind, words)."""
    sig = -code if code < 0 else code - 128 if code > 128 else 0
    if sig == signal.SIGXCPU or sig == signal.SIGKILL:
        return "cpu", ""
    if sig == signal.SIGXFSZ:
        return "file-size", ""
    if sig in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
        return "crash", f"crashed ({signal.Signals(sig).name}), possibly at its memory limit"
    if sig == signal.SIGSYS:
        return "crash", "made a system call the sandbox forbids"
    return "crash", f"stopped with exit status {code}"


def run(entry: str, request: dict[str, Any], inputs: dict[str, bytes | Path] | None = None, *,
        limits_: Limits | None = None, progress: Callable[[float, str], None] | None = None,
        should_cancel: Callable[[], bool] | None = None, what: str = "the model") -> SandboxResult:
    """Run ENTRIES[entry] in the sandbox on `request` (JSON) and `inputs` (file name -> bytes, or a file's path:
    a large table is copied in without being read into this process's memory).

    Returns its result and output files. Raises SandboxError (one line: a refused model, a bad
    input, a crash), SandboxLimitError (a limit was hit; the child was killed) or SandboxCancelled.
    """
    if entry not in ENTRIES:
        raise ValueError(f"unknown sandbox entry {entry!r}")
    limits_ = limits_ or limits("job")
    use = backend()
    started = time.perf_counter()
    warm = _warm_child(use, limits_) if entry in WARM_ENTRIES and _warm_enabled() else None
    scratch = warm.scratch if warm else Path(tempfile.mkdtemp(prefix="assay-sandbox-"))
    try:
        in_dir, out_dir = scratch / "in", scratch / "out"
        if not warm:
            in_dir.mkdir()
            out_dir.mkdir()
        for name, data in (inputs or {}).items():
            if "/" in name or name.startswith("."):
                raise ValueError(f"bad sandbox input name {name!r}")
            if isinstance(data, Path):
                shutil.copyfile(data, in_dir / name)
            else:
                (in_dir / name).write_bytes(data)
        spec = {"entry": entry, "request": request, "limits": asdict(limits_)}
        if use == "bubblewrap" and _gpu_devices():
            # CUDA reserves far more address space than it uses: no RLIMIT_AS where the GPU is visible
            spec["limits"]["memory"] = 0
        (in_dir / "request.json").write_text(json.dumps(spec))
        if warm:
            try:
                warm.process.stdin.write(b"go\n")
                warm.process.stdin.flush()
            except OSError:  # it died while waiting: the supervisor reports how
                pass
        result = _supervise(use, in_dir, out_dir, scratch, limits_, progress, should_cancel, what,
                            (warm.process, warm.stderr) if warm else None)
        files = _outputs(out_dir, limits_, what)
        return SandboxResult(result, files, use, time.perf_counter() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if entry in WARM_ENTRIES and _warm_enabled():
            _prestart(use, limits_)  # the next job's child imports its libraries while this process is idle


#
# Pre-warmed children: a sandboxed child started before its job, libraries imported, one job each
#

# Jobs whose child may be started ahead of time (workers run them back to back).
WARM_ENTRIES = ("audit.run", "dp.train", "selftest")
_PRELOAD = ("torch", "pandas", "sklearn.linear_model", "sklearn.tree", "audit.sandboxed", "audit.runner",
            "audit.modelio.loaders", "audit.metrics.engine", "audit.metrics.fairness", "audit.metrics.explainability",
            "audit.metrics.robustness", "audit.metrics.privacy", "audit.metrics.data", "audit.metrics.transparency")


@dataclass
class _Warm:
    process: subprocess.Popen
    scratch: Path
    stderr: Path
    key: tuple


_POOL: dict[tuple, _Warm] = {}


# Set in Celery worker processes (assay/celery.py): "auto" means warm children there and nowhere else.
_IN_WORKER = False


def _warm_enabled() -> bool:
    try:
        from django.conf import settings

        value = getattr(settings, "ASSAY_SANDBOX_WARM", "auto")
    except Exception:  # no Django settings
        value = os.environ.get("ASSAY_SANDBOX_WARM", "auto")
    if value == "auto":
        return _IN_WORKER
    return value in (True, "1", "true", "True")


def warm_up_worker(**_: Any) -> None:
    """Celery's worker_process_init: mark this process a worker and start its first job's child now."""
    global _IN_WORKER
    _IN_WORKER = True
    if _warm_enabled():
        try:
            _prestart(backend(), limits("job"))
        except Exception as exc:  # a worker must start even if no child can; the job then reports why
            logging.getLogger(__name__).warning("could not pre-start a sandboxed child: %s", exc)


def _prestart(use: str, limits_: Limits) -> None:
    """Start the child the next job with these limits will use (non-blocking).

    One idle child per process: a child waiting with other limits (a DP run's after an audit's) is
    stopped first, so a worker never holds more than one idle interpreter's memory.
    """
    key = (use, limits_, os.getpid())
    current = _POOL.get(key)
    if current is not None and current.process.poll() is None:
        return
    for other in [k for k in _POOL if k != key and k[2] == os.getpid()]:
        _stop(_POOL.pop(other))
    scratch = Path(tempfile.mkdtemp(prefix="assay-sandbox-"))
    (scratch / "in").mkdir()
    (scratch / "out").mkdir()
    spec = asdict(limits_)
    if use == "bubblewrap" and _gpu_devices():
        spec["memory"] = 0
    (scratch / "in" / "limits.json").write_text(json.dumps(spec))
    process, stderr = _launch(use, scratch / "in", scratch / "out", scratch, limits_, warm=True)
    _POOL[key] = _Warm(process, scratch, stderr, key)


def _warm_child(use: str, limits_: Limits) -> _Warm | None:
    """Return the waiting child for these limits (taken out of the pool), or None to start a cold one."""
    warm = _POOL.pop((use, limits_, os.getpid()), None)
    if warm is None:
        return None
    if warm.process.poll() is not None:  # died while waiting (killed, out of memory): start afresh
        shutil.rmtree(warm.scratch, ignore_errors=True)
        return None
    return warm


def _stop(warm: _Warm) -> None:
    if warm.process.poll() is None:
        _kill(warm.process)
    for stream in (warm.process.stdin, warm.process.stdout):
        if stream is not None:
            stream.close()
    shutil.rmtree(warm.scratch, ignore_errors=True)


def discard_warm_children() -> None:
    """Kill the children waiting for a job and remove their folders (at exit, and in tests)."""
    for key in list(_POOL):
        _stop(_POOL.pop(key))


atexit.register(discard_warm_children)


MAX_OUTPUT_FILES = 8


def _outputs(out_dir: Path, limits_: Limits, what: str) -> dict[str, bytes]:
    """Return the child's output files, refusing more than MAX_OUTPUT_FILES or more bytes than a file may hold."""
    found = [p for p in out_dir.iterdir() if p.name != RESULT_NAME]
    if len(found) > MAX_OUTPUT_FILES:
        raise SandboxError(f"{what} wrote {len(found)} output files; at most {MAX_OUTPUT_FILES} are read", "crash")
    total = sum(p.lstat().st_size for p in found)
    if total > limits_.file_size:
        raise SandboxLimitError(f"{what} exceeded {limits_.describe('file-size')}", "file-size")
    return {p.name: p.read_bytes() for p in sorted(found) if p.is_file() and not p.is_symlink()}


def _launch(use: str, in_dir: Path, out_dir: Path, scratch: Path, limits_: Limits, warm: bool = False
            ) -> tuple[subprocess.Popen, Path]:
    """Start the sandboxed child; a warm one imports its libraries and waits on stdin for its one job."""
    seccomp_r = None
    if use == "bubblewrap":
        program = _seccomp_program()
        if program is not None:
            seccomp_r, seccomp_w = os.pipe()
            os.write(seccomp_w, program)  # a few hundred bytes: fits the pipe buffer
            os.close(seccomp_w)
        command = _bwrap_command(_python_command(IN_DIR, OUT_DIR, warm), in_dir, out_dir, limits_, seccomp_r)
        cwd = None
    else:
        work = scratch / "work"
        work.mkdir()
        command = _python_command(str(in_dir), str(out_dir), warm)
        cwd = str(work)
    stderr_path = scratch / "stderr"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE if warm else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
            cwd=cwd,
            env=_child_env(), pass_fds=(seccomp_r,) if seccomp_r is not None else (), start_new_session=True,
        )
    if seccomp_r is not None:
        os.close(seccomp_r)
    return process, stderr_path


def _supervise(use: str, in_dir: Path, out_dir: Path, scratch: Path, limits_: Limits, progress, should_cancel,
               what: str, started: tuple[subprocess.Popen, Path] | None = None) -> dict[str, Any]:
    process, stderr_path = started or _launch(use, in_dir, out_dir, scratch, limits_)
    try:
        outcome = _follow(process, limits_, progress, should_cancel)
    finally:
        if process.poll() is None:
            _kill(process)
        process.stdout.close()
        if process.stdin is not None:
            process.stdin.close()
    kind = outcome.get("limit")
    if kind:
        raise SandboxLimitError(f"{what} exceeded {limits_.describe(kind)}", kind)
    if "error" in outcome:
        error = outcome["error"]
        error_kind = str(error.get("kind", "internal"))
        if error_kind in ("memory", "file-size", "cpu"):
            raise SandboxLimitError(f"{what} exceeded {limits_.describe(error_kind)}", error_kind)
        raise SandboxError(_one_line(str(error.get("message", "failed"))), error_kind,
                           str(error.get("type", "")))
    code = process.returncode
    if not outcome.get("done"):
        kind, words = _exit_reason(code)
        if kind in ("cpu", "file-size"):
            raise SandboxLimitError(f"{what} exceeded {limits_.describe(kind)}", kind)
        _log_stderr(stderr_path)
        raise SandboxError(f"{what} {words}", kind)
    result_path = out_dir / RESULT_NAME
    if not result_path.is_file() or result_path.is_symlink():
        raise SandboxError(f"{what} gave no result", "crash")
    if result_path.stat().st_size > MAX_RESULT_BYTES:
        raise SandboxError(f"{what} gave a result larger than {_size(MAX_RESULT_BYTES)}", "crash")
    try:
        return json.loads(result_path.read_bytes())
    except ValueError:
        raise SandboxError(f"{what} gave a result that is not JSON", "crash") from None


def _log_stderr(path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - 4000))
            tail = handle.read().decode(errors="replace")
    except OSError:
        return
    logging.getLogger(__name__).warning("sandboxed child failed; its last output:\n%s", tail)


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _follow(process: subprocess.Popen, limits_: Limits, progress, should_cancel) -> dict[str, Any]:
    """Read the child's events until it exits; kill it on cancel or at the wall-clock limit."""
    deadline = time.monotonic() + limits_.wall_seconds
    outcome: dict[str, Any] = {}
    buffer = b""
    next_cancel_check = next_progress = 0.0
    pending: tuple[float, str] | None = None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    try:
        while True:
            now = time.monotonic()
            if now > deadline:
                _kill(process)
                return {"limit": "time"}
            if should_cancel is not None and now >= next_cancel_check:
                next_cancel_check = now + 1.0
                if should_cancel():
                    _kill(process)
                    raise SandboxCancelled()
            if pending is not None and now >= next_progress:  # the latest report, at most every PROGRESS_EVERY_S
                progress(*pending)
                pending, next_progress = None, now + PROGRESS_EVERY_S
            if not selector.select(timeout=min(PROGRESS_EVERY_S, max(0.01, deadline - now))):
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:  # the child closed its end: it exits now, or is killed at the deadline
                if pending is not None and progress is not None:
                    progress(*pending)
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _kill(process)
                    return {"limit": "time"}
                return outcome
            buffer += chunk
            if len(buffer) > MAX_EVENT_LINE and b"\n" not in buffer:
                _kill(process)
                return {"error": {"kind": "crash", "message": "the sandboxed process wrote garbage"}}
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                event = _event(line)
                if "progress" in event and progress is not None:
                    try:
                        percent = min(100.0, max(0.0, float(event["progress"])))
                    except (TypeError, ValueError, OverflowError):
                        continue
                    # kept as the latest and written by the loop: a few rows a second, whatever the child sends
                    pending = (percent, str(event.get("stage", ""))[:200])
                elif "error" in event or "done" in event:
                    outcome = event
    finally:
        selector.close()


def _event(line: bytes) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def _one_line(text: str, limit: int = 500) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


#
# Child side
#


def _set_limits(spec: dict[str, int]) -> None:
    def cap(which: int, value: int) -> None:
        try:
            soft, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    if int(spec["memory"]) > 0:
        cap(resource.RLIMIT_AS, int(spec["memory"]))
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (int(spec["cpu_seconds"]), int(spec["cpu_seconds"]) + 5))
    except (ValueError, OSError):
        pass
    cap(resource.RLIMIT_FSIZE, int(spec["file_size"]))
    cap(resource.RLIMIT_NPROC, int(spec["processes"]))
    cap(resource.RLIMIT_NOFILE, int(spec["open_files"]))
    cap(resource.RLIMIT_CORE, 0)


class _Events:
    """The child's side of the event pipe: one JSON object a line."""

    def __init__(self, fd: int):
        self.stream = os.fdopen(fd, "w", buffering=1)

    def emit(self, event: dict[str, Any]) -> None:
        self.stream.write(json.dumps(event) + "\n")
        self.stream.flush()

    def progress(self, percent: float, stage: str) -> None:
        # every call: the engine reports once a metric, DP training once an epoch; the parent coalesces
        self.emit({"progress": round(float(percent), 2), "stage": stage})


def child_main(in_dir: str, out_dir: str, warm: bool = False) -> None:
    """The child process: set limits, run the entry, write result.json, report on the event pipe.

    A warm child sets its limits, imports its libraries, then waits on stdin for the one job whose
    request its parent writes into the input folder; its CPU limit counts from that moment.
    """
    events = _Events(os.dup(1))
    os.dup2(2, 1)  # whatever a library prints goes to stderr, never into the event stream
    try:
        if warm:
            _wait_for_job(Path(in_dir))
        spec = json.loads(Path(in_dir, "request.json").read_text())
        if not warm:
            _set_limits(spec["limits"])
        module_name, function_name = ENTRIES[spec["entry"]].split(":")
        import importlib

        function = getattr(importlib.import_module(module_name), function_name)
        result = function(spec["request"], Path(in_dir), Path(out_dir), events.progress)
        Path(out_dir, RESULT_NAME).write_text(json.dumps(result, allow_nan=True))
        events.emit({"done": True})
    except MemoryError:
        events.emit({"error": {"kind": "memory", "message": "out of memory"}})
        os._exit(1)
    except BaseException as exc:  # noqa: BLE001 - everything becomes one line for the parent
        events.emit({"error": {"kind": _error_kind(exc), "type": type(exc).__name__,
                               "message": _one_line(str(exc) or type(exc).__name__)}})
        import traceback

        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def _wait_for_job(in_dir: Path) -> None:
    limits_ = json.loads((in_dir / "limits.json").read_text())
    _set_limits({**limits_, "cpu_seconds": int(limits_["cpu_seconds"]) + 120})  # room for the imports
    import importlib

    for name in _PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if not sys.stdin.buffer.readline():  # the parent went away before a job came
        os._exit(0)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(usage.ru_utime + usage.ru_stime) + int(limits_["cpu_seconds"])
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    except (ValueError, OSError):
        pass


def _error_kind(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "ModelFormatError":
        return "format"
    if name == "ModelContractError":
        return "contract"
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 27:  # EFBIG
        return "file-size"
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        return "value"
    return "internal"
