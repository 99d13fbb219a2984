"""DATA-03 on injected backdoors: rows flagged per format, trigger and rate, and on clean data.

    .venv/bin/python bench/poisoning_bench.py [--rates 0.01 0.02 0.03 0.05] [--formats sklearn ...]

Trains a model of each format on the synthetic credit set of tests/backdoor.py, clean and with each
trigger at each rate, runs DATA-03 as the audit does (catalog k) and prints, per case, the value
and the share of the sampled poisoned rows it flagged. The catalog's k was chosen from this grid.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import backdoor as bd  # noqa: E402
from tests.metrics.test_poisoning import _data03  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--formats", nargs="+", default=["torch-zoo", "torch-export", "sklearn", "onnx"])
    parser.add_argument("--rates", nargs="+", type=float, default=[0.01, 0.02, 0.03, 0.05])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    clean = bd.credit_frame()
    train_rows = np.flatnonzero(clean["split"].to_numpy() == "train")
    from audit.metrics.data import SPECTRAL_K

    print(f"k = {SPECTRAL_K:g}; value = DATA-03 (share of 2,000 sampled training rows flagged); "
          "recall = flagged share of the sampled poisoned rows")
    for fmt in args.formats:
        started = time.perf_counter()
        outcome = _data03(fmt, clean, bd.model_bytes(fmt, clean))
        print(f"\n{fmt} ({outcome.details['representations']}): clean value {outcome.value:.4f}")
        for trigger in bd.TRIGGERS:
            cells = []
            for rate in args.rates:
                frame, poisoned = bd.poison(clean, trigger, rate)
                outcome = _data03(fmt, frame, bd.model_bytes(fmt, frame))
                truth = set(np.flatnonzero(poisoned[train_rows]).tolist())
                sampled = outcome.details["rows"] / len(train_rows)
                recall = len(set(outcome.details["flagged_rows"]) & truth) / max(1.0, len(truth) * sampled)
                cells.append(f"{rate:.0%}: value {outcome.value:.3f}, recall {recall:.2f}")
            print(f"  {trigger:<28} " + " | ".join(cells))
        print(f"  ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
