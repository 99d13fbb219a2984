"""Audit memory and time against the evaluation row count: a torch-export MLP on 20 inputs, read from Parquet.

Writes `<dir>/scale_<rows>.parquet` (100,000 training rows, `rows` evaluation rows, a split column,
20 float inputs, a three-group attribute with a 3 % minority, an age, a binary target), trains and
exports one MLP on the training rows, then audits each file in its own process with the sandboxed
child's code (`audit.sandboxed.run_audit` with `"stream": true`, default config) and records that
process's wall time and peak RSS (`ru_maxrss`, the whole process: interpreter, torch and all).

    python bench/scale_bench.py [--rows 100000 1000000 10000000] [--dir /tmp/assay-scale] [--threads 2]

The figures go to bench/RESULTS_scale.json; bench/RESULTS.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAIN_ROWS = 100_000
INPUTS = [f"x{i}" for i in range(20)]
CHUNK = 500_000


def _rows(rng, n: int, split: str):
    import numpy as np
    import pyarrow as pa

    x = rng.standard_normal((n, len(INPUTS))).astype(np.float32) * np.linspace(0.5, 3, len(INPUTS), dtype=np.float32)
    group = rng.choice(np.array(["A", "B", "C"], dtype=object), size=n, p=[0.6, 0.37, 0.03])
    age = rng.integers(18, 80, n)
    logit = x[:, :5].sum(axis=1) / 3 - 0.4 * (group == "C") + 0.01 * (age - 45) + rng.normal(0, 0.5, n)
    target = np.where(logit > 0, "yes", "no").astype(object)
    columns = {name: x[:, i] for i, name in enumerate(INPUTS)}
    columns.update(group=group, age=age, approved=target, split=np.full(n, split, dtype=object))
    return pa.table(columns)


def make_data(folder: Path, rows: int) -> Path:
    """Write the Parquet file of `rows` evaluation rows (once; it is reused)."""
    import numpy as np
    import pyarrow.parquet as pq

    path = folder / f"scale_{rows}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    partial = path.with_suffix(".part")
    writer = None
    try:
        for split, n in (("train", TRAIN_ROWS), ("test", rows)):
            for start in range(0, n, CHUNK):
                table = _rows(rng, min(CHUNK, n - start), split)
                writer = writer or pq.ParquetWriter(partial, table.schema)
                writer.write_table(table, row_group_size=100_000)
    finally:
        if writer is not None:
            writer.close()
    partial.rename(path)
    return path


def make_model(folder: Path, data: Path) -> Path:
    """Train the MLP on the training rows of `data` and export it with torch.export."""
    path = folder / "mlp.pt2"
    if path.exists():
        return path
    import numpy as np
    import pyarrow.parquet as pq
    import torch

    sys.path.insert(0, str(REPO))
    from audit.modelio.training import export_torch, train_on_arrays

    table = pq.ParquetFile(data).read_row_groups([0]).to_pandas()  # the first 100,000 rows: training rows
    x = table[INPUTS].to_numpy(dtype=np.float32)
    y = (table["approved"] == "yes").to_numpy().astype(np.int64)
    module = train_on_arrays(x, y, args={"n_inputs": len(INPUTS), "n_classes": 2}, epochs=3, seed=0)
    path.write_bytes(export_torch(module, torch.as_tensor(x[:4])))
    return path


def audit_one(data: Path, model: Path, threads: int) -> dict:
    """Audit `data` in this process as the sandboxed child does; return rows, wall time and peak RSS."""
    import tempfile

    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(REPO))
    from audit.sandboxed import run_audit

    request = {"format": "torch-export", "file_format": "parquet", "stream": True, "classes": None,
               "schema": {"target": "approved", "positive_label": "yes", "features": INPUTS, "categorical": [],
                          "sensitive_attributes": ["group", "age"], "split_column": "split", "test_size": 0.3},
               "config": {}, "context": None, "training_assumed": True}
    with tempfile.TemporaryDirectory() as scratch:
        in_dir = Path(scratch)
        (in_dir / "dataset").symlink_to(data.resolve())
        (in_dir / "model").symlink_to(model.resolve())
        started = time.perf_counter()
        result = run_audit(request, in_dir, in_dir, lambda p, m: None)
        wall = time.perf_counter() - started
    rows = result["dataset"]["rows_eval"]
    return {"rows_eval": rows, "rows_train": result["dataset"]["rows_train"], "wall_s": round(wall, 1),
            "us_per_row": round(wall / rows * 1e6, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "load_s": result["timings"]["load_s"], "metrics_s": round(result["timings"]["total_s"], 1),
            "input_rows": result["dataset"]["input_rows"], "samples": sorted(result["samples"]),
            "fair01": result["metrics"]["FAIR-01"]["value"], "rob01": result["metrics"]["ROB-01"]["value"],
            "failing": sorted(k for k, v in result["metrics"].items() if v["status"] == "fail")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "assay-scale"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", nargs=2, metavar=("DATA", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(audit_one(Path(args.one[0]), Path(args.one[1]), args.threads)))
        return
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    for rows in args.rows:
        data = make_data(folder, rows)
        model = make_model(folder, make_data(folder, min(args.rows)))
        out = subprocess.run([sys.executable, __file__, "--one", str(data), str(model), "--threads", str(args.threads)],
                             capture_output=True, text=True, check=False)
        if out.returncode:
            sys.exit(f"audit of {data} failed:\n{out.stderr[-3000:]}")
        figure = json.loads(out.stdout.strip().splitlines()[-1])
        figure["file_mb"] = round(data.stat().st_size / 2**20)
        figure["load_average"] = os.getloadavg()[0]
        results.append(figure)
        print(json.dumps(figure), flush=True)
    (REPO / "bench" / "RESULTS_scale.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
