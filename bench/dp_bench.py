"""Benchmark Assay's DP training (privacy.dp) against non-private training and Opacus' own modes.

On UCI Adult's training split (30,162 rows once rows with missing values are dropped, encoded by
Assay's zoo encoder) with the zoo MLP of hidden widths (64, 32), batch 256, seed 0:

- seconds per epoch: DP with book-keeping clipping (Assay's default for linear models), with
  Opacus' ghost clipping and with Opacus' hooks, each against non-private Adam on the same data
  (tensor batches, as audit.modelio.training trains; and through a torch DataLoader, the input
  Opacus takes). Every DP mode runs in its own process, its epochs interleaved with the two
  baselines' so that a busy spell on a shared machine slows both sides of a pair; the ratio is
  the median of the per-pair ratios, after one warm-up round. Wall and CPU seconds are kept.
- peak memory: one epoch per process, the peak RSS above the RSS once libraries and data are
  loaded;
- accuracy on the test split at ε = 1, 2, 8 (5 epochs, δ = 1e-5, PRV accountant) against the
  non-private MLP trained for the same 5 epochs, overall and per sex and race group.

    python bench/dp_bench.py [--data PATH] [--threads 1] [--repeats 5] [--json OUT] [--no-accuracy]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "adult.csv"
TARGET, POSITIVE, SPLIT = "income", ">50K", "split"
SENSITIVE = ("sex", "race")
HIDDEN = [64, 32]
BATCH, SEED, LR = 256, 0, 1e-3
DP_MODES = ("book-keeping", "ghost", "hooks")
MEMORY_MODES = ("non-private", "non-private-dataloader", *DP_MODES)
EPSILONS = (1.0, 2.0, 8.0)
ACCURACY_EPOCHS = 5
NOISE_FOR_TIMING = 1.0  # any σ: timing does not depend on it, and it skips the accountant's search


def load(path: str | Path):
    """Return (x_train, y_train, x_test, y_test, groups_test) encoded like a zoo model; groups: {attribute: array}."""
    import numpy as np
    import pandas as pd
    import torch

    sys.path.insert(0, str(REPO))
    from audit.modelio.encoder import EncoderSpec, default_categorical

    frame = pd.read_csv(path).dropna().reset_index(drop=True)
    frame[TARGET] = frame[TARGET].str.strip().str.rstrip(".")
    features = [c for c in frame.columns if c not in (TARGET, SPLIT)]
    train, test = frame[frame[SPLIT] == "train"], frame[frame[SPLIT] == "test"]
    encoder = EncoderSpec.fit(train, features, default_categorical(train, features))

    def tensors(part):
        return (torch.from_numpy(encoder.transform(part)),
                torch.from_numpy((part[TARGET] == POSITIVE).to_numpy().astype(np.int64)))

    return (*tensors(train), *tensors(test), {a: test[a].to_numpy() for a in SENSITIVE})


def fresh_mlp(n_inputs: int):
    import torch

    from audit.modelio.zoo import build_module

    torch.manual_seed(SEED)
    return build_module("mlp", {"n_inputs": n_inputs, "n_classes": 2, "hidden": HIDDEN}).train()


def non_private_train(module, x, y, epochs: int = 1, *, dataloader: bool = False) -> list[tuple[float, float]]:
    """Train without DP (Adam, mean cross-entropy, shuffled batches of 256); return each epoch's (wall s, CPU s)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    optimiser = torch.optim.Adam(module.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(SEED)
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, generator=generator)
    seconds = []
    for _ in range(epochs):
        wall, cpu = time.perf_counter(), time.process_time()
        batches = loader if dataloader else ((x[i], y[i]) for i in torch.randperm(len(x), generator=generator)
                                              .split(BATCH))
        for xb, yb in batches:
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(module(xb), yb).backward()
            optimiser.step()
        seconds.append((time.perf_counter() - wall, time.process_time() - cpu))
    return seconds


def dp_epoch(module, x, y, mode: str) -> tuple[float, float]:
    """Train one DP epoch in `mode` (σ = 1, the accountant is not timed): (wall s, CPU s)."""
    from privacy import dp

    params = dp.DPParams(noise_multiplier=NOISE_FOR_TIMING, epochs=1, batch_size=BATCH, lr=LR, seed=SEED,
                         accountant="rdp")
    result = dp.train_dp(module, x, y, params, mode=mode)
    return result.epoch_seconds[0], result.epoch_cpu_seconds[0]


def time_mode(mode: str, data_path: str, repeats: int) -> dict:
    """Return one DP mode's epoch times, each repeat interleaved with the two non-private baselines.

    Interleaving keeps the ratios honest on a shared machine: a slow spell slows both sides of a
    pair. The first round warms up allocators and kernels and is dropped.
    """
    x, y, *_ = load(data_path)
    runs = {"non-private": [], "non-private-dataloader": [], mode: []}
    for i in range(repeats + 1):
        epochs = {"non-private": non_private_train(fresh_mlp(x.shape[1]), x, y)[0],
                  "non-private-dataloader": non_private_train(fresh_mlp(x.shape[1]), x, y, dataloader=True)[0],
                  mode: dp_epoch(fresh_mlp(x.shape[1]), x, y, mode)}
        if i:
            for name, value in epochs.items():
                runs[name].append(value)
    out = {name: {"median_s": statistics.median(w for w, _ in v), "min_s": min(w for w, _ in v),
                  "median_cpu_s": statistics.median(c for _, c in v)} for name, v in runs.items()}
    for base in ("non-private", "non-private-dataloader"):
        ratios = [d[0] / b[0] for d, b in zip(runs[mode], runs[base], strict=True)]
        out[mode][f"ratio_to_{base}"] = statistics.median(ratios)
    return {"mode": mode, "repeats": repeats, "rows": len(x), "epochs": out}


def memory_mode(mode: str, data_path: str) -> dict:
    """Return the peak RSS of one epoch in `mode`, above the RSS once the data are loaded (its own process)."""
    import opacus.accountants.utils  # noqa: F401  (imported before the baseline: libraries are not training memory)
    import opacus.grad_sample  # noqa: F401
    import opacus.validators  # noqa: F401

    x, y, *_ = load(data_path)
    loaded = _rss_mb()
    if mode.startswith("non-private"):
        non_private_train(fresh_mlp(x.shape[1]), x, y, dataloader=mode.endswith("dataloader"))
    else:
        dp_epoch(fresh_mlp(x.shape[1]), x, y, mode)
    return {"mode": mode, "peak_rss_mb": _rss_mb(), "peak_above_loaded_mb": _rss_mb() - loaded}


def accuracy_at(epsilon: float | None, data_path: str) -> dict:
    """Return test accuracy, overall and per sex and race group, after 5 epochs at ε (None: non-private)."""
    import numpy as np

    from privacy import dp

    x, y, x_test, y_test, groups = load(data_path)
    module = fresh_mlp(x.shape[1])
    started = time.perf_counter()
    if epsilon is None:
        non_private_train(module, x, y, ACCURACY_EPOCHS)
        record = {}
    else:
        result = dp.train_dp(module, x, y, dp.DPParams(epsilon=epsilon, epochs=ACCURACY_EPOCHS, batch_size=BATCH,
                                                       lr=LR, seed=SEED))
        module, record = result.module, result.record()
    seconds = time.perf_counter() - started
    by_group = {f"{a}={g}": {"accuracy": dp.accuracy(module, x_test[values == g], y_test[values == g]),
                             "rows": int((values == g).sum())}
                for a, values in groups.items() for g in np.unique(values)}
    return {"epsilon_target": epsilon, "epsilon": record.get("epsilon"), "delta": record.get("delta"),
            "noise_multiplier": record.get("noise_multiplier"), "accuracy": dp.accuracy(module, x_test, y_test),
            "by_group": by_group, "train_seconds": seconds}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(args: list[str], threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, __file__, *args, "--threads", str(threads)], env=env, cwd=REPO,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--no-accuracy", action="store_true")
    parser.add_argument("--phase", help=argparse.SUPPRESS)  # internal: one measurement in this process
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.phase:
        kind, _, value = args.phase.partition(":")
        measure = {"time": lambda: time_mode(value, args.data, args.repeats),
                   "memory": lambda: memory_mode(value, args.data),
                   "accuracy": lambda: accuracy_at(None if value == "none" else float(value), args.data)}[kind]
        print(json.dumps(measure()))
        return

    report = {"machine": _machine(args.threads), "command": " ".join(["python", *sys.argv]), "timing": {},
              "memory": {}, "accuracy": []}
    for mode in DP_MODES:
        timing = _child(["--data", args.data, "--repeats", str(args.repeats), "--phase", f"time:{mode}"], args.threads)
        report["timing"][mode] = timing
        epochs = timing["epochs"]
        print(f"{mode:14s} {epochs[mode]['median_s']:.3f} s/epoch; non-private {epochs['non-private']['median_s']:.3f}"
              f" (×{epochs[mode]['ratio_to_non-private']:.2f}), with a DataLoader "
              f"{epochs['non-private-dataloader']['median_s']:.3f} (×{epochs[mode]['ratio_to_non-private-dataloader']:.2f})",
              file=sys.stderr)
    for mode in MEMORY_MODES:
        report["memory"][mode] = _child(["--data", args.data, "--phase", f"memory:{mode}"], args.threads)
    if not args.no_accuracy:
        for epsilon in (None, *EPSILONS):
            report["accuracy"].append(_child(["--data", args.data, "--phase",
                                              f"accuracy:{'none' if epsilon is None else epsilon}"], args.threads))
    text = json.dumps(report, indent=2)
    if args.json_path:
        Path(args.json_path).write_text(text)
    print(text)


def _machine(threads: int) -> dict:
    import platform

    import opacus
    import torch

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": threads,
            "torch": torch.__version__, "opacus": opacus.__version__, "python": platform.python_version(),
            "cuda": torch.cuda.is_available()}


if __name__ == "__main__":
    main()
