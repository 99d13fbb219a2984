"""DP training inside the model sandbox (`core.sandbox`): the parent's weights are never loaded outside it.

`train` runs in the sandboxed child: it loads the zoo model and the dataset rows, retrains the
architecture from a fresh initialisation with DP-SGD (`privacy.dp`), and writes the trained bundle
to `model.zip` in the output folder. No Django here.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any


def train(request: dict[str, Any], in_dir: Path, out_dir: Path, progress) -> dict[str, Any]:
    """Return {"record": DPResult.record(), "summary": accuracy etc.}; write out_dir/model.zip."""
    import torch

    from audit import runner
    from audit.modelio.bundle import save_zoo_bundle
    from audit.modelio.zoo import build_module
    from audit.sandboxed import _load, _splits

    from . import dp

    progress(1, "loading model and data")
    splits = _splits(request, in_dir)
    loaded = _load(request, in_dir, splits)
    data = runner.prepare(loaded, splits.train, splits.eval, splits.schema, started=time.perf_counter()).data
    config = loaded.native.config
    with torch.random.fork_rng(devices=[]):  # a fresh initialisation: the parent's weights saw the rows without DP
        torch.manual_seed(int(request["params"]["seed"]))
        module = build_module(config["architecture"], config["args"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x, y = torch.tensor(data.x_train, dtype=torch.float32), torch.tensor(data.y_train)
    result = dp.train_dp(module, x, y, dp.DPParams(**request["params"]), device=device,
                         progress=lambda percent, stage: progress(2 + percent * 0.9, stage))
    if result.fixes:
        raise ValueError(f"Opacus had to change the architecture ({'; '.join(result.fixes)}), which its zoo config "
                         "cannot record: register an architecture without those layers")
    progress(93, "evaluating")
    x_eval, y_eval = torch.tensor(data.x_eval, dtype=torch.float32), torch.tensor(data.y_eval)
    summary = {**result.record(), "epoch_seconds": [round(s, 4) for s in result.epoch_seconds], "device": device,
               "accuracy": dp.accuracy(result.module, x_eval, y_eval),
               "parent_accuracy": dp.accuracy(loaded.native.module, x_eval, y_eval)}
    buffer = io.BytesIO()
    save_zoo_bundle(result.module, config, buffer)
    (out_dir / "model.zip").write_bytes(buffer.getvalue())
    return {"record": result.record(), "summary": summary}
