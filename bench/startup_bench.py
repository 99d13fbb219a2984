"""Start-up costs (issue 12): what Django start-up imports, `watermark verify` wall time, `audit_file` start-up.

    python bench/startup_bench.py [--repeat 5]

Prints a markdown table: for `manage.py help`, `manage.py check`, the web process (WSGI app + URL
conf) and `manage.py watermark --help`, the wall time and which heavy modules (torch, numpy,
pandas, scipy, matplotlib, onnx, onnxruntime, sklearn) `python -X importtime` saw; the median wall
time of `manage.py watermark verify` on a 512 × 512 PNG; and the median time from process start to
the first metric of `manage.py audit_file` on the Adult data with a zoo MLP (the model runs in the
sandbox, so this includes the sandboxed child's start).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "numpy", "pandas", "scipy", "matplotlib", "onnx", "onnxruntime", "sklearn")
WEB = ("import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'assay.settings'); "
       "from django.core.wsgi import get_wsgi_application; get_wsgi_application(); import assay.urls")


def _heavy(stderr: str) -> list[str]:
    found = set()
    for line in stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() in HEAVY:
            found.add(parts[2].strip())
    return sorted(found)


def _timed(cmd: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    return time.perf_counter() - start, done.stderr


def start_up(env: dict, repeat: int) -> list[tuple[str, float, list[str]]]:
    py = sys.executable
    rows = []
    for name, cmd in (("manage.py help", [py, "manage.py", "help"]), ("manage.py check", [py, "manage.py", "check"]),
                      ("web process (WSGI app + URL conf)", [py, "-c", WEB]),
                      ("manage.py watermark --help", [py, "manage.py", "watermark", "--help"])):
        walls = [_timed(cmd, env)[0] for _ in range(repeat)]
        _, trace = _timed([py, "-X", "importtime", *cmd[1:]], env)
        rows.append((name, statistics.median(walls), _heavy(trace)))
    return rows


def watermark_verify(env: dict, repeat: int, work: Path) -> float:
    import numpy as np
    from PIL import Image

    image = work / "512.png"
    Image.fromarray((np.random.default_rng(0).random((512, 512, 3)) * 255).astype("uint8")).save(image)
    return statistics.median(_timed([sys.executable, "manage.py", "watermark", "verify", str(image)], env)[0]
                             for _ in range(repeat))


def audit_file_start(env: dict, repeat: int, work: Path) -> float:
    import pandas as pd

    sys.path.insert(0, str(REPO))
    from audit.modelio.bundle import save_zoo_bundle
    from audit.modelio.training import train_zoo_model

    frame = pd.read_csv(REPO / "audit" / "demo_data" / "adult.csv.gz")
    frame.to_csv(work / "adult.csv", index=False)
    features = [c for c in frame.columns if c not in ("income", "split", "sex", "race")]
    module, config = train_zoo_model(frame[frame.split == "train"].dropna(), features=features, target="income",
                                     positive_label=">50K", epochs=1)[:2]
    save_zoo_bundle(module, config, work / "model.zip")
    cmd = [sys.executable, "manage.py", "audit_file", "--data", str(work / "adult.csv"), "--target", "income",
           "--positive-label", ">50K", "--sensitive", "sex", "--split-column", "split", "--model",
           str(work / "model.zip"), "--format", "torch-zoo", "--json", str(work / "out.json")]
    firsts = []
    for _ in range(repeat):
        start = time.perf_counter()
        process = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seen, first = b"", None
        while chunk := process.stderr.read(1):
            seen += chunk
            if first is None and re.search(rb"% (FAIR|EXPL|ROB|PRIV|TRANS|DATA)-", seen):
                first = time.perf_counter() - start
        process.wait()
        firsts.append(first)
    return statistics.median(firsts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "ASSAY_DATA_DIR": str(work / "data"), "PYTHONWARNINGS": "ignore"}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=REPO, check=True)
        print(f"load average before: {open('/proc/loadavg').read().split()[0]}")
        print("| start-up | wall (s, median) | heavy modules imported |\n|---|---:|---|")
        for name, wall, heavy in start_up(env, args.repeat):
            print(f"| {name} | {wall:.2f} | {', '.join(heavy) or 'none'} |")
        print(f"\n`watermark verify` on a 512² PNG: {watermark_verify(env, args.repeat, work):.2f} s wall (median)")
        print(f"`audit_file` start-up, process start to first metric: "
              f"{audit_file_start(env, max(1, args.repeat // 2), work):.2f} s (median)")


if __name__ == "__main__":
    main()
