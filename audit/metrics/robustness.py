"""Robustness (ROB-01 … ROB-04): FGSM, PGD, surrogate transfer and Gaussian noise.

Attacks move continuous columns only, in standardised units (ε times the training standard
deviation), and clip to the training range; images move in pixel space within [0, 1]. A
black-box model has no gradients: attacks are crafted on the ROB-03 logistic-regression
surrogate and transferred, and the details say so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from audit.metrics.state import AuditState, MetricOutcome, PerturbationSpace
from audit.metrics.uncertainty import cell_bootstrap, rng_for

__all__ = ["fgsm", "pgd", "noise_accuracy", "noise_correct_counts", "random_search", "LinearSurrogate"]

LossModel = Callable[[torch.Tensor], torch.Tensor]


def _loss_grad_sign(logits_fn: LossModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = torch.nn.functional.cross_entropy(logits_fn(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad.sign()


def fgsm(logits_fn: LossModel, x: torch.Tensor, y: torch.Tensor, *, epsilon: float, space: PerturbationSpace,
         batch_size: int = 8192) -> torch.Tensor:
    r"""Return FGSM examples :math:`\mathrm{clip}(x + \varepsilon\,s\odot m\odot\mathrm{sign}\nabla_x \ell(f(x), y))`.

    s is the per-column scale (training std), m the mask of moving columns; one step of size ε.
    """
    out = [space.clip(xb + space.step(_loss_grad_sign(logits_fn, xb, yb), epsilon))
           for xb, yb in zip(x.split(batch_size), y.split(batch_size), strict=True)]
    return torch.cat(out).detach() if out else x.clone()


def pgd(logits_fn: LossModel, x: torch.Tensor, y: torch.Tensor, *, epsilon: float, steps: int,
        space: PerturbationSpace, generator: torch.Generator, batch_size: int = 8192) -> torch.Tensor:
    r"""Return PGD examples (L∞ ball of ε standardised units, `steps` steps of 2.5ε/steps, random start).

    .. math:: x^{t+1} = \mathrm{clip}\bigl(\Pi_{B_\varepsilon(x)}(x^t + \alpha\,s\odot m\odot
              \mathrm{sign}\nabla \ell)\bigr),\quad x^0 = \mathrm{clip}(x + \varepsilon\,s\odot m\odot u),
              u \sim U[-1, 1]

    The random start is drawn for all rows at once, so results do not depend on `batch_size`.
    """
    start = torch.rand(x.shape, generator=generator, dtype=torch.float64).to(x) * 2 - 1
    alpha = 2.5 * epsilon / steps
    out = []
    for xb, yb, ub in zip(x.split(batch_size), y.split(batch_size), start.split(batch_size), strict=True):
        radius = space.step(torch.ones_like(xb), epsilon)
        adv = space.clip(xb + space.step(ub, epsilon))
        for _ in range(steps):
            adv = adv + space.step(_loss_grad_sign(logits_fn, adv, yb), alpha)
            adv = space.clip(torch.max(torch.min(adv, xb + radius), xb - radius))
        out.append(adv.detach())
    return torch.cat(out) if out else x.clone()


def noise_accuracy(predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor, *,
                   sigma: float, draws: int, space: PerturbationSpace, generator: torch.Generator) -> float:
    r"""Return mean accuracy over `draws` copies of x with N(0, σ) standardised noise, clipped.

    .. math:: \frac{1}{D}\sum_{d} \frac{1}{n}\sum_i [f(\mathrm{clip}(x_i + \sigma s\odot m\odot z_{di})) = y_i]
    """
    accs = []
    for _ in range(draws):
        noise = torch.randn(x.shape, generator=generator, dtype=torch.float64).to(x)
        accs.append(float((predict(space.clip(x + space.step(noise, sigma))) == y).double().mean()))
    return float(np.mean(accs))


def noise_correct_counts(predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor, *,
                         sigma: float, draws: int, space: PerturbationSpace, generator: torch.Generator) -> np.ndarray:
    """Return, per row, in how many of `draws` noisy copies the model is correct (same draws as `noise_accuracy`)."""
    counts = np.zeros(len(x), dtype=np.int64)
    for _ in range(draws):
        noise = torch.randn(x.shape, generator=generator, dtype=torch.float64).to(x)
        counts += (predict(space.clip(x + space.step(noise, sigma))) == y).cpu().numpy()
    return counts


class LinearSurrogate(torch.nn.Module):
    """A fitted sklearn logistic regression as a differentiable torch module (logits per class).

    It was fitted on standardised inputs ((x − mean) / scale, a missing value at the mean); the
    module takes raw design-matrix rows and standardises them itself.
    """

    def __init__(self, fitted: LogisticRegression, n_classes: int, dtype: torch.dtype, device: torch.device,
                 mean: np.ndarray | None = None, scale: np.ndarray | None = None):
        super().__init__()
        p = fitted.coef_.shape[1]
        self.mean = torch.as_tensor(np.zeros(p) if mean is None else mean, dtype=dtype, device=device)
        self.scale = torch.as_tensor(np.ones(p) if scale is None else scale, dtype=dtype, device=device)
        coef = torch.as_tensor(fitted.coef_, dtype=dtype, device=device)
        bias = torch.as_tensor(fitted.intercept_, dtype=dtype, device=device)
        if coef.shape[0] == 1:  # binary sklearn: one logit for classes_[1]
            coef, bias = torch.cat([torch.zeros_like(coef), coef]), torch.cat([torch.zeros_like(bias), bias])
        full_w = torch.zeros(n_classes, coef.shape[1], dtype=dtype, device=device)
        full_b = torch.full((n_classes,), -1e4, dtype=dtype, device=device)
        classes = torch.as_tensor(fitted.classes_, dtype=torch.long, device=device)
        full_w[classes], full_b[classes] = coef, bias
        self.weight, self.bias = full_w, full_b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.nan_to_num((x.reshape(len(x), -1) - self.mean) / self.scale, nan=0.0)
        return z @ self.weight.T + self.bias


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (z-scores with missing values at 0, mean, scale) of the columns of `x` (scale 1 if constant)."""
    with np.errstate(invalid="ignore"):
        mean, scale = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    mean = np.nan_to_num(mean, nan=0.0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return np.nan_to_num((x - mean) / scale, nan=0.0), mean, scale


STALL_ROUNDS = 20


def random_search(proba: Callable[[np.ndarray], np.ndarray], x: np.ndarray, start: np.ndarray, y: np.ndarray, *,
                  epsilon: float, scale: np.ndarray, mask: np.ndarray, low: np.ndarray, high: np.ndarray,
                  queries: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    r"""Return (examples, queries used): a score-based random search in the L∞ ball, from `start`.

    The query-based refinement of ROB-02 for black-box models (a Square-Attack-like search on
    tabular columns): each round, every row not yet misclassified proposes moving a random subset
    of its moving columns to a random vertex of the ball (x ± ε·scale), clipped to the training
    range, and keeps the proposal when the margin :math:`p_y - \max_{k \ne y} p_k` of the
    real model's probabilities decreases. The subset shrinks from every moving column (a random vertex)
    to one.
    One query = one row scored once; at most `queries` rounds per row, and a row whose last
    `STALL_ROUNDS` proposals all failed stops early (its neighbourhood is exhausted).
    """
    adv = start.copy()
    radius = epsilon * scale * mask
    moving = np.flatnonzero(mask > 0)
    if len(moving) == 0 or len(x) == 0:
        return adv, 0

    def margin(p: np.ndarray, rows: np.ndarray) -> np.ndarray:
        true = p[np.arange(len(rows)), y[rows]]
        other = p.copy()
        other[np.arange(len(rows)), y[rows]] = -np.inf
        return true - other.max(axis=1)

    active = np.arange(len(x))
    best = margin(proba(adv), active)
    stalled = np.zeros(len(x), dtype=np.int64)
    used = len(active)
    for round_ in range(queries):
        active = np.flatnonzero((best >= 0) & (stalled < STALL_ROUNDS))
        if len(active) == 0:
            break
        share = max(1, int(round(len(moving) * (1 - round_ / queries))))
        proposal = adv[active].copy()
        pick = rng.random((len(active), len(moving))).argsort(axis=1)[:, :share]
        cols = moving[pick]
        signs = rng.choice([-1.0, 1.0], size=cols.shape)
        rows = np.repeat(np.arange(len(active)), share)
        proposal[rows, cols.ravel()] = x[active][rows, cols.ravel()] + signs.ravel() * radius[cols.ravel()]
        proposal = np.clip(proposal, low, high)
        candidate = margin(proba(proposal), active)
        used += len(active)
        better = candidate < best[active]
        adv[active[better]] = proposal[better]
        best[active[better]] = candidate[better]
        stalled[active] = np.where(better, 0, stalled[active] + 1)
    return adv, used


# ------------------------------------------------------------------------------ engine side
def surrogate(state: AuditState) -> LinearSurrogate | None:
    """Return the logistic-regression surrogate fitted to the model's ŷ on training rows (`AuditState.linear_surrogate`)."""
    return state.linear_surrogate


def compute_surrogate(state: AuditState) -> LinearSurrogate | None:
    """Fit what `AuditState.linear_surrogate` holds, on standardised inputs; None when ŷ has one class."""
    rows = state.surrogate_rows
    y = state.yhat_train[rows]
    if len(np.unique(y)) < 2:
        return None
    z, mean, scale = _standardise(state.flat(state.data.x_train[rows]))
    lr = LogisticRegression(max_iter=1000, random_state=state.seed)
    return LinearSurrogate(lr.fit(z, y), state.n_classes, state.dtype, state.device, mean, scale)


def _eval_tensors(state: AuditState) -> tuple[torch.Tensor, torch.Tensor]:
    return state.eval_tensors


def compute_eval_tensors(state: AuditState) -> tuple[torch.Tensor, torch.Tensor]:
    """Compute what `AuditState.eval_tensors` holds: the evaluation rows and labels on the audit device."""
    return state.to_tensor(state.data.x_eval), torch.as_tensor(state.data.y_eval, dtype=torch.long, device=state.device)


def _attack_model(state: AuditState) -> tuple[LossModel | None, str]:
    if state.model.differentiable:
        return state.logits, "white-box gradients of the model"
    return surrogate(state), "transferred from the logistic-regression surrogate (black-box model)"


def adversarial(state: AuditState, kind: str) -> torch.Tensor | None:
    """Return FGSM ("fgsm"), PGD ("pgd") or surrogate-FGSM ("transfer") examples of all evaluation rows."""
    memo = state.adversarial_examples
    if kind not in memo:
        x, y = _eval_tensors(state)
        fn = surrogate(state) if kind == "transfer" else _attack_model(state)[0]
        cfg, adv = state.config, None
        if fn is not None and kind == "pgd":
            adv = pgd(fn, x, y, epsilon=cfg["epsilon"], steps=cfg["pgd_steps"], space=state.space,
                      generator=state.generator(4), batch_size=state.batch_size)
            if not state.model.differentiable and cfg["query_budget"] > 0:
                adv = _refine(state, x, adv, y)
        elif fn is not None:
            adv = fgsm(fn, x, y, epsilon=cfg["epsilon"], space=state.space, batch_size=state.batch_size)
        memo[kind] = adv
    return memo[kind]


def _refine(state: AuditState, x: torch.Tensor, adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Continue the surrogate's PGD with the query-based random search against the real model."""
    space = state.space
    flat = lambda t: t.detach().cpu().numpy().reshape(len(t), -1).astype(np.float64)  # noqa: E731
    shape = x.shape
    proba = lambda m: state.predict_proba(m.reshape(len(m), *shape[1:]))  # noqa: E731
    refined, used = random_search(
        proba, flat(x), flat(adv), y.cpu().numpy(), epsilon=state.config["epsilon"],
        scale=flat(space.scale[None])[0], mask=flat(space.mask[None])[0], low=flat(space.low[None])[0],
        high=flat(space.high[None])[0], queries=state.config["query_budget"], rng=rng_for(state.seed, "ROB-02"))
    state.queries_used = used
    return torch.as_tensor(refined.reshape(shape), dtype=adv.dtype, device=adv.device)


def _predict(state: AuditState, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([state.predict_tensor(xb) for xb in x.split(state.batch_size)])


def _relative_accuracy(state: AuditState, kind: str, extra: dict) -> MetricOutcome:
    if len(state.data.x_eval) == 0:
        return MetricOutcome(None, reason="no evaluation rows")
    method = _attack_model(state)[1]
    adv = adversarial(state, kind)
    if adv is None:
        return MetricOutcome(None, reason="the model predicts one class on the training rows: no surrogate to attack")
    clean = state.accuracy_eval
    y = _eval_tensors(state)[1]
    still = (_predict(state, adv) == y).cpu().numpy()
    attacked = float(still.mean())
    details = {"epsilon": state.config["epsilon"], "gradients": method, "clean_accuracy": clean,
               "adversarial_accuracy": attacked, **extra}
    if kind == "pgd" and state.queries_used is not None:
        details["refinement"] = {"method": "score-based random search against the model (L-inf ball, same epsilon)",
                                 "query_budget_per_row": state.config["query_budget"],
                                 "queries_used": int(state.queries_used)}
    if clean == 0:
        return MetricOutcome(None, {**details, "note": "clean accuracy is 0: the ratio is undefined"})
    details["ci95"] = _ratio_interval(state, kind, state.yhat_eval == state.data.y_eval, still.astype(np.float64), 1)
    details["n_boot"] = state.config["n_boot"]
    return MetricOutcome(attacked / clean, details)


def _ratio_interval(state: AuditState, metric: str, clean: np.ndarray, kept: np.ndarray, draws: int) -> list | None:
    """95 % interval of mean(kept) / mean(clean) under row resampling (kept = correct draws / draws)."""
    codes = np.column_stack([clean.astype(np.int64), np.rint(kept * draws).astype(np.int64)])
    return cell_bootstrap(codes, lambda w, cells: (w @ (cells[:, 1] / draws)) / (w @ cells[:, 0]),
                          n_boot=state.config["n_boot"], rng=rng_for(state.seed, metric))


def fgsm_outcome(state: AuditState) -> MetricOutcome:
    """ROB-01: accuracy under FGSM divided by clean accuracy."""
    return _relative_accuracy(state, "fgsm", {"units": _units(state)})


def pgd_outcome(state: AuditState) -> MetricOutcome:
    """ROB-02: accuracy under PGD divided by clean accuracy."""
    steps = state.config["pgd_steps"]
    return _relative_accuracy(state, "pgd", {"steps": steps, "step_size": 2.5 * state.config["epsilon"] / steps,
                                             "random_start": True, "units": _units(state)})


def _units(state: AuditState) -> str:
    return "pixels in [0, 1]" if state.data.image else "training std, continuous columns only, clipped to training range"


def transfer_outcome(state: AuditState) -> MetricOutcome:
    """ROB-03: share of surrogate-fooling FGSM examples (of correctly classified rows) that flip the model."""
    adv = adversarial(state, "transfer")
    if adv is None:
        return MetricOutcome(None, reason="the model predicts one class on the training rows: no surrogate to fit")
    _, y = _eval_tensors(state)
    correct = torch.as_tensor(state.yhat_eval, device=state.device) == y
    fools = surrogate(state)(adv).argmax(dim=1) != y
    eligible = correct & fools
    details = {"epsilon": state.config["epsilon"], "surrogate": "logistic regression on the model's predictions",
               "training_rows": int(len(state.surrogate_rows)), "eligible_rows": int(eligible.sum())}
    if int(eligible.sum()) == 0:
        return MetricOutcome(None, details, reason="no correctly classified row whose example fools the surrogate")
    flipped = (_predict(state, adv[eligible]) != y[eligible]).cpu().numpy()
    details["ci95"] = cell_bootstrap(flipped.astype(np.int64), lambda w, cells: (w @ cells[:, 0]) / w.sum(axis=1),
                                     n_boot=state.config["n_boot"], rng=rng_for(state.seed, "ROB-03"))
    details["n_boot"] = state.config["n_boot"]
    return MetricOutcome(float(flipped.mean()), details)


def noise_outcome(state: AuditState) -> MetricOutcome:
    """ROB-04: mean accuracy under Gaussian noise divided by clean accuracy."""
    if len(state.data.x_eval) == 0:
        return MetricOutcome(None, reason="no evaluation rows")
    x, y = _eval_tensors(state)
    cfg = state.config
    correct = noise_correct_counts(lambda z: _predict(state, z), x, y, sigma=cfg["noise_sigma"],
                                   draws=cfg["noise_draws"], space=state.space, generator=state.generator(5))
    noisy = float(correct.mean() / cfg["noise_draws"])
    clean = state.accuracy_eval
    details = {"sigma": cfg["noise_sigma"], "draws": cfg["noise_draws"], "clean_accuracy": clean,
               "noisy_accuracy": noisy, "units": _units(state)}
    if clean == 0:
        return MetricOutcome(None, {**details, "note": "clean accuracy is 0: the ratio is undefined"})
    details["ci95"] = _ratio_interval(state, "ROB-04", state.yhat_eval == state.data.y_eval,
                                      correct / cfg["noise_draws"], cfg["noise_draws"])
    details["n_boot"] = cfg["n_boot"]
    return MetricOutcome(noisy / clean, details)
