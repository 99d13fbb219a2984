"""Measure what the model sandbox (`core.sandbox`) costs per upload check and per audit on Adult.

For each case the same entry of `audit.sandboxed` runs two ways, alternately, N times:

- *in-process*: a fresh `python -I` process (the sandbox child's command line and environment, no
  bubblewrap, no rlimits) calls the entry directly on inputs written to a temp folder. "cold" is the
  wall time from writing the inputs to the end of the first call, imports included (what the
  sandbox child pays too); "warm" is a second call in the same process, libraries already loaded
  (what a long-running web or worker process paid before the sandbox);
- *sandboxed*: `core.sandbox.run(entry, request, inputs, limits_=...)`, the product's path.

Upload checks: a torch-zoo MLP (zip) on every Adult feature; a torch-export program and an ONNX
export of a zoo MLP on the numeric Adult features (an exported program takes the declared feature
columns as one float tensor: uploads carry no encoder); a scikit-learn pipeline saved with skops.
Audit: the whole audit of the zoo MLP; the metric values must be identical both ways.
Then `bench/audit_bench.py --repeat 3` gives the engine's and the peer's totals, and the ratio is
recomputed with the sandbox's audit overhead added to the engine's total (target ≥ 3×).

    python bench/sandbox_bench.py [--data PATH] [--repeat 5] [--threads 2] [--epochs 2] [--skip-peer]

ASSAY_SANDBOX=fallback measures the fallback (no bubblewrap: scrubbed environment and rlimits only).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_ADULT = REPO.parent / "shared" / "datasets" / "adult.csv"
DEFAULT_DATA = SHARED_ADULT if SHARED_ADULT.exists() else REPO / "audit" / "demo_data" / "adult.csv.gz"
NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
SENSITIVE = ["sex", "race"]
TOTAL_ROW = re.compile(r"\|\s*\*\*total\*\*\s*\|\s*\*\*([\d.]+)\*\*\s*\|\s*\*\*([\d.]+)\*\*\s*\|")
TOTALS_LINE = re.compile(r"best of \d+ \(totals: .*\)")


# ------------------------------------------------------------------------ the in-process child
def _inprocess_child(entry: str, in_dir: str, out_dir: str) -> None:
    """Run `entry` of audit.sandboxed twice on in_dir; write result.json and timing.json to out_dir."""
    from audit import sandboxed

    function = {"model.check": sandboxed.check_model, "audit.run": sandboxed.run_audit}[entry]
    request = json.loads(Path(in_dir, "request.json").read_text())["request"]
    started = time.monotonic()
    result = function(request, Path(in_dir), Path(out_dir), lambda percent, stage: None)
    first_done = time.monotonic()
    Path(out_dir, "result.json").write_text(json.dumps(result, allow_nan=True))
    first_written = time.monotonic()
    function(request, Path(in_dir), Path(out_dir), lambda percent, stage: None)
    warm = time.monotonic() - first_written
    Path(out_dir, "timing.json").write_text(json.dumps(
        {"first_written": first_written, "call_s": first_done - started, "warm_s": warm}))


def run_inprocess(entry: str, request: dict, inputs: dict[str, bytes]) -> dict:
    """Return {"cold_s", "warm_s", "result"}: the entry in a fresh process, no sandbox."""
    from core import sandbox

    scratch = Path(tempfile.mkdtemp(prefix="assay-bench-"))
    try:
        t0 = time.monotonic()
        in_dir, out_dir, work = scratch / "in", scratch / "out", scratch / "work"
        for folder in (in_dir, out_dir, work):
            folder.mkdir()
        for name, data in inputs.items():
            (in_dir / name).write_bytes(data)
        (in_dir / "request.json").write_text(json.dumps({"entry": entry, "request": request}))
        boot = (f"import sys; sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(REPO / 'bench')!r}); "
                f"import sandbox_bench; sandbox_bench._inprocess_child({entry!r}, {str(in_dir)!r}, {str(out_dir)!r})")
        # the sandbox child's command line (-I) and environment, without bubblewrap
        done = subprocess.run([sys.executable, "-I", "-c", boot], cwd=work, env=sandbox._child_env(),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"in-process {entry} failed:\n{done.stderr[-3000:]}")
        timing = json.loads((out_dir / "timing.json").read_text())
        result = json.loads((out_dir / "result.json").read_text())
        return {"cold_s": timing["first_written"] - t0, "warm_s": timing["warm_s"], "call_s": timing["call_s"],
                "result": result}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_sandboxed(entry: str, request: dict, inputs: dict[str, bytes], kind: str) -> dict:
    from core import sandbox

    t0 = time.monotonic()
    outcome = sandbox.run(entry, request, inputs, limits_=sandbox.limits(kind))
    return {"sandboxed_s": time.monotonic() - t0, "result": outcome.result, "backend": outcome.backend}


# ------------------------------------------------------------------------------- the models
def read_table(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def adult_schema(table: bytes, features: list[str] | None = None):
    """Return (frame, resolved Schema, Splits) of Adult as the demo registers it."""
    from audit.datasets import Schema, parse_table, validate
    from audit.splits import split_frame

    frame = parse_table(table, "csv")
    schema = validate(frame, Schema(target="income", positive_label=">50K", sensitive_attributes=SENSITIVE,
                                    split_column="split", features=features or [],
                                    categorical=[] if features else None))
    return schema, split_frame(frame, schema)


def build_models(table: bytes, epochs: int) -> list[tuple[str, str, object, bytes]]:
    """Return [(label, format, Schema, model bytes)] for the four upload formats."""
    import torch
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from audit.modelio.bundle import save_zoo_bundle
    from audit.modelio.encoder import EncoderSpec
    from audit.modelio.training import export_onnx, export_torch, train_zoo_model

    def zoo(splits):
        s = splits.schema
        return train_zoo_model(splits.train, features=s.features, target=s.target, positive_label=s.positive_label,
                               categorical=s.categorical, args={"hidden": [64, 64]}, epochs=epochs, seed=0)

    models = []
    schema, splits = adult_schema(table)
    module, config = zoo(splits)
    buffer = io.BytesIO()
    save_zoo_bundle(module, config, buffer)
    models.append(("torch-zoo MLP (zip)", "torch-zoo", schema, buffer.getvalue()))

    num_schema, num_splits = adult_schema(table, NUMERIC)
    num_module, num_config = zoo(num_splits)
    example = torch.from_numpy(EncoderSpec.from_json(num_config["encoder"]).transform(num_splits.train.head(8)))
    models.append(("torch-export (.pt2) of a zoo MLP", "torch-export", num_schema, export_torch(num_module, example)))
    models.append(("ONNX export of a zoo MLP", "onnx", num_schema, export_onnx(num_module, example)))

    import skops.io as sio

    categorical = [c for c in schema.categorical if c in schema.features]
    numeric = [c for c in schema.features if c not in categorical]
    columns = ColumnTransformer([("num", StandardScaler(), numeric),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])
    pipeline = make_pipeline(columns, LogisticRegression(max_iter=500)).fit(
        splits.train[schema.features], splits.train[schema.target].astype(str))
    models.append(("scikit-learn pipeline (skops)", "sklearn", schema, sio.dumps(pipeline)))
    return models


def request_for(fmt: str, schema, classes: list[str] | None = None, **extra) -> dict:
    """Return the sandbox request `audit.services.model_request` builds for a registered dataset."""
    from dataclasses import asdict

    return {"format": fmt, "file_format": "csv", "schema": asdict(schema), "classes": classes, **extra}


# ------------------------------------------------------------------------------ measuring
def measure(entry: str, request: dict, inputs: dict[str, bytes], kind: str, repeat: int) -> dict:
    """Alternate in-process and sandboxed runs `repeat` times; return the medians and the last results."""
    cold, warm, boxed, engine = [], [], [], {"in-process": [], "sandboxed": []}
    inproc = sandboxed = None
    for i in range(repeat):  # alternate which way goes first, so that bursts of load hit both alike
        if i % 2:
            sandboxed = run_sandboxed(entry, request, inputs, kind)
            inproc = run_inprocess(entry, request, inputs)
        else:
            inproc = run_inprocess(entry, request, inputs)
            sandboxed = run_sandboxed(entry, request, inputs, kind)
        cold.append(inproc["cold_s"])
        warm.append(inproc["warm_s"])
        boxed.append(sandboxed["sandboxed_s"])
        for way, out in (("in-process", inproc), ("sandboxed", sandboxed)):
            if "timings" in out["result"]:  # an audit: the engine's own total (metrics only)
                engine[way].append(out["result"]["timings"]["total_s"])
    return {"cold": statistics.median(cold), "warm": statistics.median(warm), "sandboxed": statistics.median(boxed),
            "best": {"cold": min(cold), "warm": min(warm), "sandboxed": min(boxed)},
            "all": {"cold": cold, "warm": warm, "sandboxed": boxed, "engine_total": engine},
            "inproc_result": inproc["result"], "sandboxed_result": sandboxed["result"],
            "backend": sandboxed["backend"]}


def empty_round_trip(repeat: int) -> float:
    """Median seconds of a sandboxed call that imports nothing heavy (the selftest environment probe)."""
    from core import sandbox

    times = []
    for _ in range(repeat):
        t0 = time.monotonic()
        sandbox.run("selftest", {"probe": "env"}, {}, limits_=sandbox.limits("check"))
        times.append(time.monotonic() - t0)
    return statistics.median(times)


def metric_values(result: dict) -> str:
    """Return the Result JSON's metric values and statuses as canonical JSON (NaN compares equal)."""
    return json.dumps({mid: [m["value"], m["status"]] for mid, m in sorted(result["metrics"].items())},
                      allow_nan=True)


def peer_bench(args: argparse.Namespace) -> dict:
    """Run bench/audit_bench.py and return its engine and peer totals."""
    command = [sys.executable, str(REPO / "bench" / "audit_bench.py"), "--repeat", str(args.peer_repeat),
               "--data", str(args.data), "--threads", str(args.threads), "--epochs", str(args.epochs)]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout
    match = TOTAL_ROW.search(out)
    if not match:
        raise RuntimeError(f"no total row in audit_bench's output:\n{out}")
    totals = TOTALS_LINE.search(out)
    return {"assay": float(match.group(1)), "peer": float(match.group(2)),
            "totals": totals.group(0) if totals else ""}


def _s(v: float) -> str:
    return f"{v:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each case, each way; medians reported")
    parser.add_argument("--threads", type=int, default=2, help="OMP/MKL/OpenBLAS threads of every child")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs of the zoo MLPs")
    parser.add_argument("--peer-repeat", type=int, default=3, help="--repeat of bench/audit_bench.py")
    parser.add_argument("--skip-peer", action="store_true", help="do not run bench/audit_bench.py")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args(argv)

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(args.threads)  # the sandbox child keeps these (core.sandbox._KEPT_ENV)
    data_dir = tempfile.mkdtemp(prefix="assay-bench-data-")
    os.environ["DJANGO_SETTINGS_MODULE"] = "assay.settings"
    os.environ["ASSAY_DATA_DIR"] = data_dir
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from core import sandbox

    load_before = Path("/proc/loadavg").read_text().split()[:3]
    backend = sandbox.backend()
    table = read_table(args.data)
    print(f"backend {backend}; load average before {' '.join(load_before)}; {os.cpu_count()} CPUs; "
          f"{args.threads} threads; median of {args.repeat}", file=sys.stderr)

    models = build_models(table, args.epochs)
    rows, raw = [], {"backend": backend, "load_before": load_before, "repeat": args.repeat, "cases": {}}
    empty = empty_round_trip(args.repeat)
    raw["empty_round_trip_s"] = empty
    for label, fmt, schema, data in models:
        request = request_for(fmt, schema)
        out = measure("model.check", request, {"model": data, "dataset": table}, "check", args.repeat)
        assert out["inproc_result"] == out["sandboxed_result"], (label, out["inproc_result"], out["sandboxed_result"])
        rows.append((f"upload check: {label}, {len(data) / 1024:.0f} KiB", out))
        print(f"  {label}: {out['all']}", file=sys.stderr)

    label, fmt, schema, data = models[0]
    request = request_for(fmt, schema, config=None, context=None, training_assumed=True)
    audit = measure("audit.run", request, {"model": data, "dataset": table}, "job", args.repeat)
    same = metric_values(audit["inproc_result"]) == metric_values(audit["sandboxed_result"])
    assert same, "the audit's metric values differ between in-process and sandboxed"
    rows.append((f"audit: {label}, all metrics", audit))
    print(f"  audit: {audit['all']}", file=sys.stderr)
    engine = {way: statistics.median(v) for way, v in audit["all"]["engine_total"].items()}

    lines = [f"Backend `{backend}`; medians of {args.repeat}; {args.threads} threads (OMP/MKL/OpenBLAS) in every "
             f"child; load average before the run {' '.join(load_before)}. Each cell: median (best) of the runs; "
             "overheads: difference of the medians (of the bests).", "",
             "| case | cold in-process (s) | warm in-process (s) | sandboxed (s) | overhead vs cold (s) "
             "| overhead vs warm (s) |", "|---|---:|---:|---:|---:|---:|",
             f"| empty sandboxed call (selftest probe, no heavy imports) | – | – | {_s(empty)} | – | – |"]
    for name, out in rows:
        best = out["best"]
        lines.append(f"| {name} | {_s(out['cold'])} ({_s(best['cold'])}) | {_s(out['warm'])} ({_s(best['warm'])}) | "
                     f"{_s(out['sandboxed'])} ({_s(best['sandboxed'])}) | {out['sandboxed'] - out['cold']:+.2f} "
                     f"({best['sandboxed'] - best['cold']:+.2f}) | {out['sandboxed'] - out['warm']:+.2f} "
                     f"({best['sandboxed'] - best['warm']:+.2f}) |")
    lines += ["", f"Audit metric values and statuses identical in-process and sandboxed: {'yes' if same else 'NO'} "
              f"({len(audit['sandboxed_result']['metrics'])} metrics). The engine's own total (`timings.total_s`, "
              f"metrics only) in the same runs: {engine['in-process']:.2f} s in-process (first call), "
              f"{engine['sandboxed']:.2f} s sandboxed (medians)."]
    raw["cases"] = {name: {k: out[k] for k in ("cold", "warm", "sandboxed", "best", "all")} for name, out in rows}
    raw["audit_metrics_identical"] = same
    if not args.skip_peer:
        peer = peer_bench(args)
        # best of the runs, as audit_bench.py takes the best of its runs: load only ever adds time
        best = audit["best"]
        over_cold, over_warm = best["sandboxed"] - best["cold"], best["sandboxed"] - best["warm"]
        engine_best = min(audit["all"]["engine_total"]["sandboxed"])
        lines += ["", f"`bench/audit_bench.py --repeat {args.peer_repeat}`: {peer['totals']}", "",
                  "| | Assay engine (s) | + sandbox audit overhead (s) | Assay with the sandbox (s) | peer (s) "
                  "| ratio |", "|---|---:|---:|---:|---:|---:|",
                  f"| engine only (issue 3's figure) | {peer['assay']:.3f} | – | {peer['assay']:.3f} | "
                  f"{peer['peer']:.3f} | {peer['peer'] / peer['assay']:.1f}× |"]
        for name, over in (("overhead vs warm in-process", over_warm), ("overhead vs cold in-process", over_cold)):
            total = peer["assay"] + max(over, 0.0)
            lines.append(f"| ratio with the sandbox's overhead ({name}) | {peer['assay']:.3f} | {over:+.2f} "
                         f"| {total:.3f} | {peer['peer']:.3f} | **{peer['peer'] / total:.1f}×** |")
        lines.append(f"| the product's path: engine total inside the sandbox, this script's zoo MLP | "
                     f"{engine_best:.3f} | – | {engine_best:.3f} | {peer['peer']:.3f} | "
                     f"{peer['peer'] / engine_best:.1f}× |")
        lines += ["", "Overheads here: differences of the best runs (audit_bench.py reports its best of "
                  f"{args.peer_repeat} too). Target: the audit ≥ 3× the peer pipeline with the sandbox's overhead "
                  "included."]
        raw["peer_bench"] = peer
    report = "\n".join(lines)
    print(report)
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
