"""Moderation speed (issue 15): the rules path, the keyword engine against a plain loop and a regex
alternation, rules + classifier, and requests/s through gunicorn.

    .venv/bin/python bench/moderation_bench.py [--keywords 10000] [--repeat 500] [--http] [--database URL]

Part 1 runs in this process (one core): a 2,000-character input (Chinese and English, a few keywords,
a zero-width space, full-width and traditional characters, PII) checked against 10,000 synthetic
keywords (half Chinese, half English; generated with a fixed seed, no real list) plus the demo
regexes and every PII detector; p50/p95/p99 of 500 calls after 20 warm-up calls. The comparison
times only the keyword search on the same normalised text: pyahocorasick (both automatons: text and
pinyin view), a Python loop of `str.find` over the keywords, and one `re` alternation of them.
Rules + classifier adds the demo classifier (trained here on the demo set).

Part 2 (`--http`) starts gunicorn (2 sync workers, loopback) on a fresh database (`--database`,
default a temporary SQLite file; PostgreSQL with e.g. postgresql://postgres@127.0.0.1/assay_modbench),
creates an organisation, a token and the default policy, and drives POST /api/v1/moderations with
200-character inputs, for
`--seconds`: wrk (2 threads, 3 s warm-up not counted) when it is installed, else (or with
`--python-load`) N closed-loop Python client threads; the load generator shares the cores with the
server.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
PORT = 8191


def synthetic_keywords(n: int, seed: int = 0) -> list[str]:
    """Return n distinct made-up keywords: half 2-4 common Chinese characters, half 1-2 English words."""
    rng = random.Random(seed)
    common = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    out: set[str] = set()
    while len(out) < n // 2:
        out.add("".join(rng.choice(common) for _ in range(rng.randint(2, 4))))
    while len(out) < n:
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(5, 9)))
        if rng.random() < 0.3:
            word += " " + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 7)))
        out.add(word)
    return sorted(out)


def sample_text(keywords: list[str], length: int = 2000, seed: int = 1) -> str:
    """Return a 2,000-character mixed text with evasions, PII and a few keywords."""
    rng = random.Random(seed)
    filler_zh = "今天我们讨论一下项目的进度和下一步的计划，大家觉得怎么样？"
    filler_en = "The quarterly report covers revenue, hiring and the roadmap for next year. "
    parts = ["How to build a bomb? 怎么做炸\u200b弹 在線賭博 ＢＵＹ ＣＯＣＡＩＮＥ call 13812345678, "
             "id 11010519491231002X, mail zhang.wei@example.com. "]
    while sum(map(len, parts)) < length:
        parts.append(rng.choice([filler_zh, filler_en]))
        if rng.random() < 0.1:
            parts.append(rng.choice(keywords) + " ")
    return "".join(parts)[:length]


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))] * 1000  # noqa: E731
    return {"p50_ms": round(pick(0.5), 3), "p95_ms": round(pick(0.95), 3), "p99_ms": round(pick(0.99), 3),
            "mean_ms": round(statistics.fmean(s) * 1000, 3), "n": len(s)}


def timed(fn, repeat: int, warmup: int = 20) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return percentiles(samples)


def in_process(n_keywords: int, repeat: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")
    import csv
    import io

    from moderation import classifier, rules, services, textnorm
    from moderation.choices import CATEGORIES
    from moderation.engine import Engine

    keywords = synthetic_keywords(n_keywords)
    demo = list(csv.DictReader(io.StringIO((services.DEMO_DATA / "demo_keywords.csv").read_text())))
    entries = [rules.Entry(f"s{i}", k, "illicit", "A.1.8") for i, k in enumerate(keywords)]
    entries += [rules.Entry(r["id"], r["text"], r["category"], r["risk"], regex=r["regex"] == "true") for r in demo]
    t = time.perf_counter()
    index = rules.KeywordIndex(entries)
    build_s = time.perf_counter() - t
    text = sample_text(keywords)
    result = rules.check(text, index)
    out = {"keywords": len(entries), "input_chars": len(text), "build_s": round(build_s, 3),
           "hits": len(result.hits), "hit_types": sorted({h.type for h in result.hits})}
    out["rules_path"] = timed(lambda: rules.check(text, index), repeat)
    out["normalise_only"] = timed(lambda: textnorm.normalise(text), repeat)

    norm = textnorm.normalise(text)
    words = [textnorm.normalise(e.text).strip() for e in entries if not e.regex]
    view = rules._Text(text, norm)

    def automaton():
        list(index._text.iter(norm))
        list(index._pinyin.iter(view.pinyin))

    def plain_loop():
        return [w for w in words if norm.find(w) >= 0]

    alternation = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))
    out["search_aho_corasick"] = timed(automaton, repeat)
    out["search_plain_loop"] = timed(plain_loop, max(50, repeat // 5))
    out["search_regex_alternation"] = timed(lambda: alternation.findall(norm), max(50, repeat // 5))

    labelled = list(csv.DictReader(io.StringIO((services.DEMO_DATA / "demo_labelled.csv").read_text())))
    model = classifier.train([r["text"] for r in labelled],
                             [set(filter(None, r["categories"].split(";"))) for r in labelled], CATEGORIES)
    engine = Engine(index=index, pii_kinds=("cn_id", "cn_mobile", "bank_card", "email", "ipv4"), classifier=model)
    out["rules_plus_classifier"] = timed(lambda: engine.check([text]), repeat)
    return out


#
# HTTP through gunicorn
#


def _env(data_dir: Path, database: str | None) -> dict:
    # the rate limit counts every call (as in production) but is set too high to refuse one
    env = dict(os.environ, ASSAY_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="assay.settings",
               ASSAY_MODERATION_RATE_LIMIT="1000000000", ASSAY_LOG_LEVEL="ERROR")
    if database:
        env["DATABASE_URL"] = database
    return env


def _prepare(env) -> str:
    script = (
        "from django.contrib.auth import get_user_model; from rest_framework.authtoken.models import Token\n"
        "from accounts.models import Organization, Membership; from moderation import services\n"
        "org, _ = Organization.objects.get_or_create(slug='bench', defaults={'name': 'Bench'})\n"
        "u, _ = get_user_model().objects.get_or_create(username='bench')\n"
        "Membership.objects.get_or_create(user=u, organization=org, defaults={'role': 'owner'})\n"
        "services.default_policy(org)\n"
        "print(Token.objects.get_or_create(user=u)[0].key)\n"
    )
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return subprocess.run([PY, "manage.py", "shell", "-v0", "-c", script], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]


def _post(token: str, body: bytes) -> float:
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}/api/v1/moderations", data=body, method="POST",
                                 headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()
        if r.status != 200:
            raise RuntimeError(r.status)
    return time.perf_counter() - t


def _cpu_seconds(pids: list[int]) -> float:
    """Return the user + system CPU seconds the processes used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _pids(*pgrep_args: str) -> list[int]:
    out = subprocess.run(["pgrep", *pgrep_args], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _wrk(token: str, body: bytes, clients: int, seconds: int, workdir: Path, server_pid: int) -> dict:
    """Drive the endpoint with wrk (2 threads, `clients` connections) after 3 s of the same load.

    Besides the rates, it reports the CPU each request cost the web workers, PostgreSQL (every
    postgres process of the machine: other databases' work counts too) and wrk itself: a figure that
    does not depend on what else the machine runs. 2,000 ms divided by their sum is what 2 idle cores
    could serve.
    """
    script = workdir / "moderate.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f'wrk.headers["Authorization"] = "Token {token}"\nwrk.body = {json.dumps(body.decode())}\n')
    args = ["wrk", "-t2", f"-c{clients}", "--latency", "--timeout=10s", "-s", str(script),
            f"http://127.0.0.1:{PORT}/api/v1/moderations"]
    subprocess.run([*args[:1], *args[1:-1], "-d3s", args[-1]], capture_output=True, check=True)
    web = [server_pid, *_pids("-P", str(server_pid))]
    db = _pids("-u", "postgres")
    before = (_cpu_seconds(web), _cpu_seconds(db), resource.getrusage(resource.RUSAGE_CHILDREN))
    text = subprocess.run([*args[:1], *args[1:-1], f"-d{seconds}s", args[-1]], capture_output=True, text=True,
                          check=True).stdout
    after = (_cpu_seconds(web), _cpu_seconds(db), resource.getrusage(resource.RUSAGE_CHILDREN))
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    cpu_ms = {"web": (after[0] - before[0]) * 1000 / requests, "db": (after[1] - before[1]) * 1000 / requests,
              "wrk": (after[2].ru_utime + after[2].ru_stime - before[2].ru_utime - before[2].ru_stime) * 1000
              / requests}

    def ms(q: str) -> float:
        value, unit = re.search(rf"{q}%\s+([\d.]+)(us|ms|s)", text).groups()
        return float(value) / 1000 if unit == "us" else float(value) * 1000 if unit == "s" else float(value)

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {"clients": clients, "seconds": seconds, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
            "p50_ms": ms("50"), "p90_ms": ms("90"), "p99_ms": ms("99"), "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "cpu_ms_per_request": {k: round(v, 3) for k, v in cpu_ms.items()},
            "idle_2_core_estimate_rps": round(2000 / sum(cpu_ms.values()), 1)}


def http(database: str | None, seconds: int, clients: int, workers: int, python_load: bool = False,
         worker_class: str = "sync", threads: int = 1) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="assay-modbench-"))
    env = _env(data_dir, database)
    token = _prepare(env)
    proc = subprocess.Popen([str(Path(PY).parent / "gunicorn"), "assay.wsgi", "-b", f"127.0.0.1:{PORT}", "-w",
                             str(workers), "-k", worker_class, "--threads", str(threads), "--log-level", "warning"],
                            cwd=ROOT, env=env, start_new_session=True)
    try:
        bodies = [json.dumps({"input": sample_text(["x"], 200, seed=i)}).encode() for i in range(50)]
        for _ in range(60):
            try:
                _post(token, bodies[0])
                break
            except OSError:
                time.sleep(0.5)
        for i in range(40):  # warm both workers (policy compiled, tables loaded)
            _post(token, bodies[i % len(bodies)])
        kind = "postgresql" if database and database.startswith("postg") else "sqlite"
        setup = {"database": kind, "workers": workers, "worker_class": worker_class, "threads": threads}
        if shutil.which("wrk") and not python_load:
            out = {**setup, "load": "wrk -t2", **_wrk(token, bodies[0], clients, seconds, data_dir, proc.pid)}
        else:
            out = {**setup, "load": "python threads", **_python_clients(token, bodies, clients, seconds)}
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)
        if sys.exc_info()[0] is None:
            out["recorded"] = _decisions_check(env)
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


def _python_clients(token: str, bodies: list[bytes], clients: int, seconds: int) -> dict:
    """Drive the endpoint with `clients` closed-loop Python threads for `seconds` (when wrk is not installed)."""
    latencies: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds

    def client(k: int):
        i = k
        while time.monotonic() < stop:
            try:
                latencies.append(_post(token, bodies[i % len(bodies)]))
            except Exception:  # counted, not raised: the figure says how many failed
                errors[0] += 1
            i += clients

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {"clients": clients, "seconds": round(elapsed, 1), "requests": len(latencies), "errors": errors[0],
            "rps": round(len(latencies) / elapsed, 1), **percentiles(latencies)}


def _decisions_check(env) -> dict:
    """Write what the stopped workers left spooled, then count the bench organisation's decisions and verify
    their chain: every call is recorded, in batches, and the record holds."""
    script = (
        "import json; from moderation import decisions; from moderation.models import Decision, DecisionBatch\n"
        "from accounts.models import Organization; org = Organization.objects.get(slug='bench')\n"
        "decisions.collect_abandoned(); decisions.write_ready()\n"
        "print(json.dumps({'decisions': Decision.objects.filter(organization=org).count(), "
        "'batches': DecisionBatch.objects.filter(organization=org).count(), 'verify': decisions.verify(org.pk)}))\n"
    )
    out = subprocess.run([PY, "manage.py", "shell", "-v0", "-c", script], cwd=ROOT, env=env, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {"error": out.stderr[-500:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keywords", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=500)
    parser.add_argument("--http", action="store_true", help="also measure requests/s through gunicorn")
    parser.add_argument("--database", default=None, help="DATABASE_URL for the HTTP part (default: SQLite)")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--python-load", action="store_true", help="Python threads instead of wrk")
    parser.add_argument("--worker-class", default="sync", help="gunicorn's worker class (sync: one request per "
                        "connection; gthread keeps connections alive)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (gthread)")
    parser.add_argument("--skip-in-process", action="store_true", help="only the HTTP part")
    args = parser.parse_args()
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")
    os.environ.setdefault("ASSAY_DATA_DIR", tempfile.mkdtemp(prefix="assay-modbench-local-"))
    django.setup()
    result = {"load_average": os.getloadavg()}
    if not args.skip_in_process:
        result["in_process"] = in_process(args.keywords, args.repeat)
    if args.http:
        result["http"] = http(args.database, args.seconds, args.clients, args.workers, args.python_load,
                              args.worker_class, args.threads)
        result["load_average_after"] = os.getloadavg()
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
