"""Load and queue benchmark: wrk against gunicorn on PostgreSQL, and 200 audits through 2 Celery workers.

Run by hand (not in CI), on a machine with PostgreSQL on 127.0.0.1:5432 and Redis on 6379:

    .venv/bin/python bench/load.py --out bench/load.md

Everything runs on this machine: the load generator shares the 2 cores with the server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DB = "assay_load"
PORT = 8177


def sh(*args, env=None, check=True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, check=check, capture_output=True, text=True, **kw)


def manage(env, *args) -> str:
    return sh(PY, "manage.py", *args, env=env).stdout


def prepare(env) -> dict:
    """Return ids and a token after a fresh database, the demo, 60 extra systems and one audit."""
    sh("psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {DB}", "postgres")
    sh("psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {DB}", "postgres")
    manage(env, "migrate", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    out = manage(env, "demo")
    token = re.search(r"API token ([0-9a-f]{40})", out).group(1)
    script = (
        "from accounts.models import Organization; from audit.models import AISystem; from core import auditlog\n"
        "org = Organization.objects.get(slug='demo')\n"
        "for i in range(60):\n"
        "    s, _ = AISystem.objects.get_or_create(organization=org, name=f'Load system {i}')\n"
        "    auditlog.record('system.create', organization=org, actor='bench', obj=s)\n"
    )
    sh(PY, "manage.py", "shell", "-v", "0", "-c", script, env=env)
    manage(env, "run_audit", "--model-version", "1", "--dataset-version", "1")
    return {"token": token, "audit": 1}


def wrk(url: str, token: str, connections: int, seconds: int, script: str | None = None, *,
        timeout: int = 10, warmup: int = 3) -> dict:
    """Run wrk for `seconds` after `warmup` seconds of the same load whose figures are dropped."""
    args = ["wrk", "-t2", f"-c{connections}", "--latency", f"--timeout={timeout}s",
            "-H", f"Authorization: Token {token}"]
    if script:
        args += ["-s", script]
    if warmup:
        subprocess.run([*args, f"-d{warmup}s", url], capture_output=True, text=True, check=True)
    text = subprocess.run([*args, f"-d{seconds}s", url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", text)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {"rps": rps, "p50_ms": _ms(p50), "p99_ms": _ms(p99),
            "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": sum(map(int, socket.groups())) if socket else 0}


def _ms(match) -> float:
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def serve(env, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen([str(Path(PY).parent / "gunicorn"), "assay.wsgi", "-b", f"127.0.0.1:{PORT}",
                             "-w", str(workers), "--log-level", "warning"], cwd=ROOT, env=env,
                            start_new_session=True)
    for _ in range(60):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/login/", timeout=1)
            return proc
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("gunicorn did not start")


BOUNDARY = "assayloadboundary"


def verify_script(token: str, workdir: Path) -> Path:
    """Stamp one generated 512x512 PNG through the API and return a wrk script that POSTs it to verify."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    base = np.clip(rng.normal(128, 40, (64, 64, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(base).resize((512, 512), Image.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    stamped = _multipart_post(f"http://127.0.0.1:{PORT}/api/v1/watermark/stamp", token, buffer.getvalue())
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + stamped + f"\r\n--{BOUNDARY}--\r\n".encode()
    (workdir / "verify-body.bin").write_bytes(body)
    script = workdir / "verify.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.headers["Content-Type"] = "multipart/form-data; boundary={BOUNDARY}"\n'
        f'local f = io.open("{workdir / "verify-body.bin"}", "rb")\nwrk.body = f:read("*all")\nf:close()\n'
    )
    return script


def _multipart_post(url: str, token: str, png: bytes) -> bytes:
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{BOUNDARY}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": f"Token {token}", "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def queue_test(env, count: int) -> dict:
    """Submit `count` audits at once to 2 workers; return how many finished, failed, duplicated."""
    script = (
        "from audit import jobs; from audit.models import ModelVersion, DatasetVersion\n"
        "m = ModelVersion.objects.get(pk=1); d = DatasetVersion.objects.get(pk=1)\n"
        f"ids = [jobs.start_audit(user=None, model_version=m, dataset_version=d).pk for _ in range({count})]\n"
        "print(min(ids), max(ids))\n"
    )
    workers = [subprocess.Popen([PY, "-m", "celery", "-A", "assay", "worker", "-Q", "cpu,default", "-c", "1",
                                 "-l", "warning", "-n", f"load{i}@%h"], cwd=ROOT, env=env, start_new_session=True)
               for i in range(2)]
    started = time.monotonic()
    lo, hi = map(int, sh(PY, "manage.py", "shell", "-v", "0", "-c", script, env=env).stdout.split())
    check = (
        "from audit.models import AuditRun, MetricResult; from django.db.models import Count\n"
        f"runs = AuditRun.objects.filter(pk__gte={lo}, pk__lte={hi})\n"
        "per = MetricResult.objects.filter(audit_run__in=runs).values('audit_run').annotate(n=Count('id'))\n"
        "import json; print(json.dumps({'succeeded': runs.filter(status='succeeded').count(),"
        " 'failed': runs.filter(status='failed').count(), 'open': runs.filter(status__in=['queued','running']).count(),"
        " 'result_sets_not_23': sum(1 for p in per if p['n'] != 23), 'retried': runs.filter(attempts__gt=1).count()}))\n"
    )
    try:
        while True:
            state = json.loads(sh(PY, "manage.py", "shell", "-v", "0", "-c", check, env=env).stdout)
            if state["open"] == 0 or time.monotonic() - started > 3600:
                break
            time.sleep(5)
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGTERM)
            w.wait(timeout=60)
    return {**state, "submitted": count, "seconds": round(time.monotonic() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "bench" / "load.md"))
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--audits", type=int, default=200)
    parser.add_argument("--no-queue", action="store_true", help="skip the 200-audit queue test")
    parser.add_argument("--wrk-timeout", type=int, default=10, help="seconds before wrk counts a request as timed out")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before each measurement, not counted")
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="assay-load-")
    env = {**os.environ, "ASSAY_DATA_DIR": data_dir, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
           "CELERY_BROKER_URL": "redis://127.0.0.1:6379/14", "ASSAY_CELERY_EAGER": "0"}
    ids = prepare(env)
    server = serve(env, args.web_workers)
    rows = []
    try:
        targets = {
            "GET /api/v1/systems (list)": "/api/v1/systems",
            "GET /api/v1/audit-log (list)": "/api/v1/audit-log",
            "GET /api/v1/audits (list)": "/api/v1/audits",
            f"GET /api/v1/audits/{ids['audit']}/results": f"/api/v1/audits/{ids['audit']}/results",
        }
        verify = verify_script(ids["token"], Path(data_dir))
        for label, path in targets.items():
            for c in (8, 32, 128):
                rows.append((label, c, wrk(f"http://127.0.0.1:{PORT}{path}", ids["token"], c, args.seconds,
                                           timeout=args.wrk_timeout, warmup=args.warmup)))
        if verify.exists():
            for c in (8, 32, 128):
                rows.append(("POST /api/v1/watermark/verify", c,
                             wrk(f"http://127.0.0.1:{PORT}/api/v1/watermark/verify", ids["token"], c, args.seconds,
                                 str(verify), timeout=args.wrk_timeout, warmup=args.warmup)))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)  # in-flight requests finish before the data folder goes
    queue = None if args.no_queue else queue_test(env, args.audits)
    write_report(Path(args.out), rows, queue, args)
    shutil.rmtree(data_dir, ignore_errors=True)


def write_report(path: Path, rows, queue, args) -> None:
    lines = [
        "# Load and queue benchmark", "",
        f"Command: `.venv/bin/python bench/load.py --seconds {args.seconds} --web-workers {args.web_workers} "
        f"--audits {args.audits} --wrk-timeout {args.wrk_timeout} --warmup {args.warmup}"
        f"{' --no-queue' if args.no_queue else ''}`", "",
        f"Set-up: PostgreSQL 15 on 127.0.0.1, gunicorn {args.web_workers} sync workers, page size 50, token auth, "
        f"wrk (2 threads, {args.wrk_timeout} s timeout, {args.warmup} s of the same load before each measurement, "
        "not counted) on the same 2 cores; Redis broker for the queue test; demo data (UCI Adult MLP, "
        "62 systems, audit-log entries).", "",
        "| endpoint | connections | requests/s | p50 ms | p99 ms | non-2xx | socket errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, c, r in rows:
        lines.append(f"| {label} | {c} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['non_2xx']} | "
                     f"{r['socket_errors']} |")
    if queue is None:
        path.write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        return
    lines += ["", "## Queue test", "",
              f"{queue['submitted']} audits of the demo MLP submitted at once to 2 Celery workers (1 process each): "
              f"{queue['succeeded']} succeeded, {queue['failed']} failed, {queue['open']} still open, "
              f"{queue['result_sets_not_23']} result sets without exactly 23 metrics, {queue['retried']} retried; "
              f"{queue['seconds']} s in all.", ""]
    path.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
