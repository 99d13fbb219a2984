"""Benchmark Assay's `run_audit` against a peer pipeline of reference libraries on an Adult MLP.

The peer computes the same metrics the usual way, with no sharing between metrics: fairlearn
`MetricFrame` per attribute, captum `IntegratedGradients` (50 steps, 1,000 rows), captum
`sensitivity_max` and `infidelity` on 200 rows, plain torch FGSM and PGD-20 over all evaluation
rows, sklearn logistic-regression and tree surrogates, a loss-threshold attack with sklearn's ROC
curve and numpy spectral signatures. Each phase runs in its own subprocess so its peak RSS is
honest; both train the same seeded MLP. Fairness values must be identical.

    python bench/audit_bench.py [--data PATH] [--threads 2] [--epochs 2] [--repeat 3]
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
SHARED_ADULT = REPO.parent / "shared" / "datasets" / "adult.csv"
# ../shared's copy when it is beside the checkout, else the byte-identical one the demo ships.
DEFAULT_DATA = SHARED_ADULT if SHARED_ADULT.exists() else REPO / "audit" / "demo_data" / "adult.csv.gz"
NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship", "race", "sex",
               "native_country"]
SENSITIVE = ["sex", "race"]
FAIR_IDS = ["FAIR-01", "FAIR-02", "FAIR-03", "FAIR-04", "FAIR-05", "FAIR-06"]


def load_adult(path: str | Path):
    """Return (x_train, x_eval, y_train, y_eval, columns, column_features, categorical, s_train, s_eval).

    Rows with missing values are dropped; numeric columns are standardised with training
    statistics and categorical ones one-hot encoded.
    """
    import numpy as np
    import pandas as pd

    df = pd.read_csv(path).dropna().reset_index(drop=True)
    train = (df["split"] == "train").to_numpy()
    y = (df["income"].str.strip().str.rstrip(".") == ">50K").to_numpy().astype(np.int64)
    num = df[NUMERIC].to_numpy(dtype=np.float64)
    mean, std = num[train].mean(axis=0), num[train].std(axis=0)
    onehot = pd.get_dummies(df[CATEGORICAL], prefix_sep="=", dtype=np.float64)
    x = np.hstack([(num - mean) / std, onehot.to_numpy()])
    columns = NUMERIC + list(onehot.columns)
    features = NUMERIC + [c.split("=", 1)[0] for c in onehot.columns]
    categorical = np.array([False] * len(NUMERIC) + [True] * onehot.shape[1])
    sens = {a: df[a].to_numpy().astype(str) for a in SENSITIVE}
    return (x[train], x[~train], y[train], y[~train], columns, features, categorical,
            {a: v[train] for a, v in sens.items()}, {a: v[~train] for a, v in sens.items()})


def train_mlp(x, y, *, epochs: int = 2, seed: int = 0, hidden: int = 64):
    """Return a small seeded zoo MLP (p → hidden → hidden → 2 logits) trained with Adam (audit/modelio/training.py)."""
    from audit.modelio.training import train_on_arrays

    return train_on_arrays(x, y, architecture="mlp", args={"n_inputs": x.shape[1], "n_classes": 2,
                                                           "hidden": [hidden, hidden]}, epochs=epochs, seed=seed)


def build_audit_inputs(path: str | Path, *, epochs: int = 2, seed: int = 0):
    """Return (AuditModel, AuditData, torch module) for the seeded Adult MLP."""
    import numpy as np
    import torch

    from audit.metrics.base import AuditData, AuditModel

    x_tr, x_ev, y_tr, y_ev, columns, features, categorical, s_tr, s_ev = load_adult(path)
    module = train_mlp(x_tr, y_tr, epochs=epochs, seed=seed)

    def predict_proba(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(module(torch.as_tensor(x, dtype=torch.float32)), 1).double().numpy()

    model = AuditModel(format="torch-zoo", classes=["<=50K", ">50K"], predict=lambda x: predict_proba(x).argmax(1),
                       predict_proba=predict_proba, torch_module=module, outputs="logits")
    data = AuditData(x_train=x_tr, x_eval=x_ev, y_train=y_tr, y_eval=y_ev, sensitive_train=s_tr,
                     sensitive_eval=s_ev, columns=columns, column_features=features, categorical=categorical,
                     positive_index=1, training_assumed=True)
    return model, data, module


# ------------------------------------------------------------------------------ the peer pipeline
def _peer_fairness(module, data) -> dict:
    import numpy as np
    import torch
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    with torch.no_grad():
        yhat = module(torch.as_tensor(data.x_eval, dtype=torch.float32)).argmax(1).numpy()
    y, out = data.y_eval, {k: {} for k in FAIR_IDS}
    for attr in SENSITIVE:
        s = data.sensitive_eval[attr]
        frame = MetricFrame(metrics={"tpr": true_positive_rate, "acc": accuracy_score, "sel": selection_rate},
                            y_true=y, y_pred=yhat, sensitive_features=s)
        out["FAIR-01"][attr] = demographic_parity_difference(y, yhat, sensitive_features=s)
        out["FAIR-02"][attr] = demographic_parity_ratio(y, yhat, sensitive_features=s)
        out["FAIR-03"][attr] = equalized_odds_difference(y, yhat, sensitive_features=s)
        out["FAIR-04"][attr] = frame.difference()["tpr"]
        out["FAIR-05"][attr] = frame.difference()["acc"] / accuracy_score(y, yhat)
        label_gap = demographic_parity_difference(y, y, sensitive_features=s)
        out["FAIR-06"][attr] = out["FAIR-01"][attr] / label_gap if label_gap >= 1e-6 else np.nan
    return {k: {a: float(v) for a, v in d.items()} for k, d in out.items()}


def _peer_explainability(module, data) -> dict:
    import numpy as np
    import torch
    from captum.attr import IntegratedGradients
    from captum.metrics import infidelity, sensitivity_max
    from sklearn.tree import DecisionTreeClassifier

    from audit.metrics.state import sample_rows

    rng = np.random.default_rng(0)
    x_tr = torch.as_tensor(data.x_train, dtype=torch.float32)
    base = x_tr.mean(0, keepdim=True)
    std = x_tr.std(0, unbiased=False).clamp_min(1e-12) * torch.as_tensor(~data.categorical, dtype=torch.float32)
    lo, hi = x_tr.min(0).values, x_tr.max(0).values
    ig = IntegratedGradients(module)
    x = torch.as_tensor(data.x_eval[sample_rows(len(data.x_eval), 1000, seed=0)], dtype=torch.float32)
    attr = ig.attribute(x, baselines=base, target=1, n_steps=50)
    names = list(dict.fromkeys(data.column_features))
    group = torch.zeros(len(data.column_features), len(names))
    for i, f in enumerate(data.column_features):
        group[i, names.index(f)] = 1.0
    imp = (attr @ group).abs().mean(0).numpy()
    p = imp / imp.sum()
    entropy = float(-(p[p > 0] * np.log(p[p > 0])).sum() / np.log(len(p)))
    reliance = float(sum(imp[names.index(a)] for a in SENSITIVE) / imp.sum())
    x200 = x[:200]

    def perturb(z, radius):
        return torch.clamp(z + (torch.rand_like(z) * 2 - 1) * radius * std, lo, hi)

    def grouped_ig(z, **kw):
        out = ig.attribute(z, **kw)
        return tuple(a @ group for a in out) if isinstance(out, tuple) else out @ group

    sens = sensitivity_max(grouped_ig, x200, perturb_func=perturb,
                           perturb_radius=0.02, n_perturb_samples=10, baselines=base, target=1).mean().item()

    def gauss(z, b):
        noise = torch.as_tensor(rng.normal(size=tuple(z.shape)), dtype=torch.float32) * 0.1 * std
        zp = torch.clamp(z - noise, lo, hi)
        d = z - b
        return (z - zp) / torch.where(d == 0, torch.ones_like(d), d), zp

    attr200 = ig.attribute(x200, baselines=base, target=1, n_steps=50)
    infid = infidelity(module, gauss, x200, attr200, baselines=base, target=1, normalize=True).mean().item()
    rows = sample_rows(len(data.x_train), 20000, seed=1)
    with torch.no_grad():
        yhat_tr = module(x_tr).argmax(1).numpy()
        yhat_ev = module(torch.as_tensor(data.x_eval, dtype=torch.float32)).argmax(1).numpy()
    tree = DecisionTreeClassifier(max_depth=5, random_state=0).fit(data.x_train[rows], yhat_tr[rows])
    fidelity = float(np.mean(tree.predict(data.x_eval) == yhat_ev))
    return {"EXPL-01": entropy, "EXPL-02": sens, "EXPL-03": infid, "EXPL-04": reliance, "EXPL-05": fidelity}


def _peer_robustness(module, data, *, batch: int = 512) -> dict:
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from audit.metrics.state import sample_rows

    x_tr = torch.as_tensor(data.x_train, dtype=torch.float32)
    x, y = torch.as_tensor(data.x_eval, dtype=torch.float32), torch.as_tensor(data.y_eval)
    scale = x_tr.std(0, unbiased=False) * torch.as_tensor(~data.categorical, dtype=torch.float32)
    lo, hi, eps = x_tr.min(0).values, x_tr.max(0).values, 0.1

    def grad_sign(m, z, t):
        z = z.clone().requires_grad_(True)
        torch.nn.functional.cross_entropy(m(z), t).backward()
        return z.grad.sign()

    def accuracy(z):
        with torch.no_grad():
            return (module(z).argmax(1) == y).float().mean().item()

    fgsm, pgd = [], []
    for i in range(0, len(x), batch):
        xb, yb = x[i : i + batch], y[i : i + batch]
        fgsm.append(torch.clamp(xb + eps * scale * grad_sign(module, xb, yb), lo, hi))
        adv = torch.clamp(xb + eps * scale * (torch.rand_like(xb) * 2 - 1), lo, hi)
        for _ in range(20):
            adv = adv + 2.5 * eps / 20 * scale * grad_sign(module, adv, yb)
            adv = torch.clamp(torch.min(torch.max(adv, xb - eps * scale), xb + eps * scale), lo, hi)
        pgd.append(adv.detach())
    clean = accuracy(x)
    noisy = np.mean([accuracy(torch.clamp(x + 0.1 * scale * torch.randn_like(x), lo, hi)) for _ in range(3)])
    rows = sample_rows(len(data.x_train), 20000, seed=1)
    with torch.no_grad():
        yhat_tr = module(x_tr).argmax(1).numpy()
    lr = LogisticRegression(max_iter=1000).fit(data.x_train[rows], yhat_tr[rows])
    w = torch.as_tensor(lr.coef_[0], dtype=torch.float32)
    p_sur = torch.sigmoid(x @ w + float(lr.intercept_[0]))
    x_sur = torch.clamp(x + eps * scale * ((p_sur - y.float()).unsqueeze(1) * w).sign(), lo, hi)
    with torch.no_grad():
        correct = module(x).argmax(1) == y
        fools = torch.as_tensor(lr.predict(x_sur.numpy())) != y
        flips = module(x_sur).argmax(1) != y
    eligible = correct & fools
    return {"ROB-01": accuracy(torch.cat(fgsm)) / clean, "ROB-02": accuracy(torch.cat(pgd)) / clean,
            "ROB-03": flips[eligible].float().mean().item(), "ROB-04": float(noisy / clean)}


def _peer_privacy(module, data) -> dict:
    import numpy as np
    import torch
    from sklearn.metrics import roc_auc_score, roc_curve

    from audit.metrics.state import sample_rows

    def losses(x, y):
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(module(torch.as_tensor(x, dtype=torch.float32)),
                                                     torch.as_tensor(y), reduction="none").numpy()

    n = min(5000, len(data.x_train), len(data.x_eval))
    tr, ev = sample_rows(len(data.x_train), n, seed=2), sample_rows(len(data.x_eval), n, seed=3)
    scores = -np.concatenate([losses(data.x_train[tr], data.y_train[tr]), losses(data.x_eval[ev], data.y_eval[ev])])
    member = np.r_[np.ones(n), np.zeros(n)]
    fpr, tpr, _ = roc_curve(member, scores)
    acc = [float(np.mean(losses(x, y) < np.log(2))) for x, y in ((data.x_train, data.y_train),
                                                                (data.x_eval, data.y_eval))]
    return {"PRIV-01": float(np.max(tpr - fpr)), "PRIV-01-auc": float(roc_auc_score(member, scores)),
            "PRIV-03": acc[0] - acc[1]}


def _peer_data(module, data) -> dict:
    import numpy as np
    import pandas as pd

    from audit.metrics.state import sample_rows

    ratios = [pd.Series(data.sensitive_train[a]).value_counts() for a in SENSITIVE]
    rows = sample_rows(len(data.x_train), 2000, seed=4)
    x, y, flagged = data.x_train[rows], data.y_train[rows], 0
    for c in np.unique(y):
        r = x[y == c] - x[y == c].mean(0)
        s = (r @ np.linalg.svd(r, full_matrices=False)[2][0]) ** 2
        med = np.median(s)
        flagged += int((s > med + 100.0 * 1.4826 * np.median(np.abs(s - med))).sum())
    return {"DATA-02": float(min(v.min() / v.max() for v in ratios)), "DATA-03": flagged / len(rows)}


PEER_PHASES = {"fairness": _peer_fairness, "explainability": _peer_explainability,
               "robustness": _peer_robustness, "privacy": _peer_privacy, "data_governance": _peer_data}


# ------------------------------------------------------------------------------------- phases
def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_phase(phase: str, args: argparse.Namespace) -> dict:
    """Run one phase ("assay" or "peer") in this process and return its timings and values."""
    import torch

    torch.set_num_threads(args.threads)
    model, data, module = build_audit_inputs(args.data, epochs=args.epochs)
    setup_rss = _rss_mb()
    times, values = {}, {}
    if phase == "assay":
        import importlib

        from audit.metrics.catalog import CATALOG
        from audit.metrics.engine import run_audit

        # the catalog imports its metric modules on first use; import them before the clock starts,
        # as the peer's libraries are imported before its clock starts
        for spec in CATALOG.values():
            importlib.import_module("audit.metrics." + spec.function.split(":")[0])
        t0 = time.perf_counter()
        result = run_audit(model, data, device="cpu")
        total = time.perf_counter() - t0
        for metric_id, entry in result["metrics"].items():
            dim = CATALOG[metric_id].dimension
            times[dim] = times.get(dim, 0.0) + entry["duration_s"]
            values[metric_id] = entry["value"]
            if metric_id in FAIR_IDS:
                values[metric_id + "/by_attribute"] = {a: e["value"] for a, e in
                                                       entry["details"]["by_attribute"].items()}
    else:
        t0 = time.perf_counter()
        for dim, fn in PEER_PHASES.items():
            t = time.perf_counter()
            out = fn(module, data)
            times[dim] = time.perf_counter() - t
            if dim == "fairness":
                for k, by_attr in out.items():
                    values[k + "/by_attribute"] = by_attr
            else:
                values.update(out)
        total = time.perf_counter() - t0
    return {"phase": phase, "times": times, "total_s": total, "values": values,
            "setup_rss_mb": setup_rss, "peak_rss_mb": _rss_mb()}


def _child(phase: str, args: argparse.Namespace) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, __file__, "--phase", phase, "--data", str(args.data), "--threads", str(args.threads),
           "--epochs", str(args.epochs)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(assay: dict, peer: dict) -> str:
    """Return the markdown table comparing the two phases and check fairness values are identical."""
    lines = ["| dimension | Assay (s) | peer (s) | speed-up |", "|---|---:|---:|---:|"]
    for dim in PEER_PHASES:
        a, p = assay["times"].get(dim, 0.0), peer["times"][dim]
        lines.append(f"| {dim} | {a:.3f} | {p:.3f} | {p / a if a else float('inf'):.1f}× |")
    other = sum(v for k, v in assay["times"].items() if k not in PEER_PHASES)
    lines.append(f"| transparency (Assay only) | {other:.3f} | – | – |")
    lines.append(f"| **total** | **{assay['total_s']:.3f}** | **{peer['total_s']:.3f}** | "
                 f"**{peer['total_s'] / assay['total_s']:.1f}×** |")
    lines.append(f"| peak RSS (MB; after setup) | {assay['peak_rss_mb']:.0f} ({assay['setup_rss_mb']:.0f}) | "
                 f"{peer['peak_rss_mb']:.0f} ({peer['setup_rss_mb']:.0f}) | |")
    mismatches = [(k, a, peer["values"][k]) for k in FAIR_IDS
                  for a in [assay["values"][k + "/by_attribute"]] if a != peer["values"][k + "/by_attribute"]]
    lines.append("")
    lines.append("Fairness values identical (FAIR-01..06 per attribute): " + ("yes" if not mismatches else "NO"))
    shown = ["EXPL-01", "EXPL-02", "EXPL-03", "EXPL-04", "EXPL-05", "ROB-01", "ROB-02", "ROB-03", "ROB-04",
             "PRIV-01", "PRIV-03", "DATA-02", "DATA-03"]
    lines += ["", "| metric | Assay | peer |", "|---|---:|---:|"]
    lines += [f"| {k} | {_fmt(assay['values'].get(k))} | {_fmt(peer['values'].get(k))} |" for k in shown]
    assert not mismatches, f"fairness values differ: {mismatches}"
    return "\n".join(lines)


def _fmt(v) -> str:
    return "null" if v is None else f"{v:.4f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="alternate the phases N times, report the best")
    parser.add_argument("--phase", choices=["assay", "peer"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(run_phase(args.phase, args)))
        return
    runs: dict[str, list[dict]] = {"assay": [], "peer": []}
    for _ in range(args.repeat):  # alternate, so that load from other processes hits both alike
        for phase in runs:
            runs[phase].append(_child(phase, args))
    assay, peer = (min(runs[p], key=lambda r: r["total_s"]) for p in ("assay", "peer"))
    print(f"Adult MLP, CPU, {args.threads} threads, torch.set_num_threads({args.threads}); each phase in its own "
          f"process; best of {args.repeat} (totals: assay {[round(r['total_s'], 2) for r in runs['assay']]}, "
          f"peer {[round(r['total_s'], 2) for r in runs['peer']]})\n")
    print(report(assay, peer))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
