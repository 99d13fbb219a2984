"""Explainability (EXPL-01 … EXPL-05): batched Integrated Gradients and what is built on them.

Integrated Gradients follow captum's `IntegratedGradients` exactly (Gauss-Legendre nodes on
[0, 1] by default, ``attr = (x − b) · Σ_k w_k ∇f(b + α_k (x − b))``), but every path point of
many rows goes through the model in one batch. Attributions are computed once for the
`ig_rows` evaluation rows and reused by EXPL-01/04 and as a(x) inside EXPL-02/03. Black-box
models get feature ablation with the same baseline.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.tree import DecisionTreeClassifier

from audit.metrics.state import AuditState, MetricOutcome, PerturbationSpace

__all__ = [
    "integrated_gradients",
    "feature_ablation",
    "uniform_perturbation",
    "gaussian_perturbation",
    "importance_entropy",
    "sensitivity_from_attributions",
    "infidelity_from_terms",
]

IG_METHODS = ("gausslegendre", "riemann_trapezoid")
UNKNOWN_IG_METHOD_ERROR = "Unknown Integrated Gradients method {!r}; expected one of " + ", ".join(IG_METHODS) + "."
EMPTY_IMPORTANCE_ERROR = "Feature importances must be non-empty and non-negative with a positive sum."

ForwardFn = Callable[[torch.Tensor], torch.Tensor]
Target = torch.Tensor | int


def select_target(out: torch.Tensor, target: Target) -> torch.Tensor:
    """Return out[i, target_i] per row (a single class index applies to every row)."""
    if isinstance(target, int):
        return out[:, target]
    return out.gather(1, target.view(-1, 1)).squeeze(1)


def _nodes(steps: int, method: str) -> tuple[list[float], list[float]]:
    """Return (step sizes, alphas) as captum's `approximation_parameters` does."""
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(steps)
        return list(0.5 * w), list(0.5 * (1 + x))
    if method == "riemann_trapezoid":  # captum's weights: 1/n, halved at both ends
        sizes = [1.0 / steps] * steps
        sizes[0] /= 2
        sizes[-1] /= 2
        return sizes, torch.linspace(0, 1, steps).tolist()
    raise ValueError(UNKNOWN_IG_METHOD_ERROR.format(method))


def integrated_gradients(
    forward: ForwardFn,
    x: torch.Tensor,
    baseline: torch.Tensor,
    *,
    target: Target,
    steps: int = 50,
    method: str = "gausslegendre",
    max_points: int = 65536,
) -> torch.Tensor:
    r"""Return Integrated Gradients attributions (n, p) of output `target` of `forward`.

    .. math:: a_{ij} = (x_{ij} - b_j) \sum_k w_k \,
              \partial_j f_t\bigl(b + \alpha_k (x_i - b)\bigr)

    `a_ij` is the part of f(x_i) − f(b) that row i owes to column j (completeness); rows are
    processed in chunks of at most `max_points` path points, all steps of a chunk in one batch.
    """
    sizes, alphas = _nodes(steps, method)
    shape = (-1, 1, *([1] * (x.dim() - 1)))
    alpha = torch.tensor(alphas, dtype=x.dtype, device=x.device).view(shape)
    weight = torch.tensor(sizes, dtype=x.dtype, device=x.device).view(shape)
    chunk = max(1, max_points // steps)
    out = []
    for start in range(0, len(x), chunk):
        xs = x[start : start + chunk]
        delta = xs - baseline
        path = (baseline + alpha * delta.unsqueeze(0)).reshape(-1, *x.shape[1:]).requires_grad_(True)
        t = target if isinstance(target, int) else target[start : start + chunk].repeat(steps)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(select_target(forward(path), t).sum(), path)
        out.append(delta * (grad.view(steps, len(xs), *x.shape[1:]) * weight).sum(dim=0))
    return torch.cat(out) if out else torch.zeros_like(x)


def feature_ablation(forward: ForwardFn, x: torch.Tensor, baseline: torch.Tensor, *, target: Target) -> torch.Tensor:
    r"""Return column ablation attributions :math:`a_{ij} = f_t(x_i) - f_t(x_i \text{ with } x_{ij} = b_j)`.

    All p ablated copies of every row are evaluated in one call of `forward`.
    """
    n, p = x.shape
    with torch.inference_mode():
        eye = torch.eye(p, dtype=torch.bool, device=x.device)
        ablated = torch.where(eye, baseline.expand(p, p), x.unsqueeze(1)).reshape(n * p, p)
        t = target if isinstance(target, int) else target.repeat_interleave(p)
        return select_target(forward(x), target).unsqueeze(1) - select_target(forward(ablated), t).view(n, p)


def uniform_perturbation(x: torch.Tensor, *, radius: float, space: PerturbationSpace,
                         generator: torch.Generator) -> torch.Tensor:
    """Return x plus uniform noise in the L∞ ball of `radius` standardised units, clipped (EXPL-02)."""
    noise = torch.rand(x.shape, generator=generator, dtype=torch.float64).to(x) * 2 - 1
    return space.clip(x + space.step(noise, radius))


def gaussian_perturbation(x: torch.Tensor, baseline: torch.Tensor, *, sigma: float, space: PerturbationSpace,
                          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (perturbation I, perturbed input x − noise) for captum `infidelity` (EXPL-03).

    The noise is N(0, σ) in standardised units on continuous columns, x − noise is clipped,
    and I = (x − x′) / (x − b) (captum's `multiply_by_inputs=True` convention for global
    attributions such as Integrated Gradients; a zero denominator counts as 1).
    """
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float64).to(x)
    perturbed = space.clip(x - space.step(noise, sigma))
    denom = x - baseline
    return (x - perturbed) / torch.where(denom == 0, torch.ones_like(denom), denom), perturbed


def importance_entropy(importance: np.ndarray) -> float:
    r"""Return the normalised entropy of feature importances.

    .. math:: H = -\sum_j p_j \ln p_j / \ln d, \quad p_j = I_j / \sum_k I_k

    1 means importance is spread evenly over all d features, 0 that one feature carries it all.
    """
    importance = np.asarray(importance, dtype=np.float64)
    if importance.size == 0 or np.any(importance < 0) or importance.sum() <= 0:
        raise ValueError(EMPTY_IMPORTANCE_ERROR)
    if importance.size == 1:
        return 0.0
    p = importance / importance.sum()
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / np.log(importance.size))


def sensitivity_from_attributions(base: torch.Tensor, perturbed: torch.Tensor, samples: int) -> torch.Tensor:
    r"""Return per-row :math:`\max_k \|a(x'_k) - a(x)\|_2 / \|a(x)\|_2` as captum's `sensitivity_max`.

    `perturbed` holds the `samples` explanations of each row consecutively (repeat-interleave
    order); a zero ‖a(x)‖ counts as 1, as in captum.
    """
    n = base.shape[0]
    diff = perturbed.reshape(n, samples, -1) - base.reshape(n, 1, -1)
    norm = torch.linalg.vector_norm(base.reshape(n, -1), dim=1)
    norm = torch.where(norm == 0, torch.ones_like(norm), norm)
    return (torch.linalg.vector_norm(diff, dim=2) / norm.view(n, 1)).max(dim=1).values


def infidelity_from_terms(attr_dot_perturb: torch.Tensor, output_diff: torch.Tensor) -> torch.Tensor:
    r"""Return per-row normalised infidelity from (n, samples) arrays of ⟨I, a⟩ and f(x) − f(x − I).

    .. math:: \beta = \frac{\sum_k u_k v_k}{\sum_k u_k^2},\quad
              \mathrm{INFD} = \frac{1}{K}\sum_k (\beta u_k - v_k)^2

    captum `infidelity(normalize=True)`; 0 means the attribution predicts every output change.
    """
    a2, ab, b2 = (attr_dot_perturb**2).sum(1), (attr_dot_perturb * output_diff).sum(1), (output_diff**2).sum(1)
    beta = ab / torch.where(a2 == 0, torch.ones_like(a2), a2)
    return (beta * beta * a2 - 2 * beta * ab + b2) / attr_dot_perturb.shape[1]


# ------------------------------------------------------------------------------ engine side
def _target(state: AuditState, x: torch.Tensor) -> torch.Tensor | int:
    """Attribution target: the positive class (binary) or each row's predicted class."""
    if state.n_classes == 2:
        return int(state.data.positive_index)
    return state.predict_tensor(x)


def explain(state: AuditState, x: torch.Tensor, target: Target | None = None) -> torch.Tensor:
    """Return column-level attributions of rows `x`: IG (torch) or feature ablation (black box)."""
    target = _target(state, x) if target is None else target
    baseline = state.to_tensor(state.baseline)
    if state.model.differentiable:
        return integrated_gradients(state.outputs, x, baseline, target=target, steps=state.config["ig_steps"],
                                    max_points=state.batch_size * 8)
    return feature_ablation(state.outputs, x, baseline, target=target)


def attributions(state: AuditState) -> torch.Tensor:
    """Return the shared column-level attributions of the `ig_rows` evaluation rows (`AuditState.attributions`)."""
    return state.attributions


def compute_attributions(state: AuditState) -> torch.Tensor:
    """Compute what `AuditState.attributions` holds: IG (or ablation) on the attribution rows."""
    return explain(state, state.to_tensor(state.data.x_eval[state.attribution_rows])).detach()


def group_features(state: AuditState, attr: torch.Tensor) -> torch.Tensor:
    """Sum column attributions signed into raw features: (n, p) → (n, d)."""
    return attr.reshape(len(attr), -1) @ torch.as_tensor(state.feature_matrix, dtype=attr.dtype, device=attr.device)


def feature_importance(state: AuditState) -> np.ndarray:
    """Return I_j = mean_i |a_ij| per raw feature over the attribution rows."""
    return group_features(state, attributions(state)).abs().mean(dim=0).double().cpu().numpy()


def _method(state: AuditState) -> str:
    if state.model.differentiable:
        return f"integrated gradients ({state.config['ig_steps']} steps, gausslegendre), target logit"
    return "feature ablation on predict_proba (black-box model)"


def _common(state: AuditState) -> dict:
    return {"method": _method(state), "baseline": "training mean", "rows": int(len(state.attribution_rows))}


def importance_entropy_outcome(state: AuditState) -> MetricOutcome:
    """EXPL-01: normalised entropy of mean |attribution| per raw feature."""
    importance = feature_importance(state)
    details = {**_common(state), "features": len(importance),
               "importance": dict(zip(state.feature_names, importance.tolist(), strict=True))}
    if not np.isfinite(importance).all() or importance.sum() <= 0:
        return MetricOutcome(None, {**details, "note": "all attributions are zero or non-finite"})
    return MetricOutcome(importance_entropy(importance), details)


def sensitive_reliance_outcome(state: AuditState) -> MetricOutcome:
    """EXPL-04: share of total importance carried by sensitive attributes that are model inputs."""
    importance = feature_importance(state)
    sensitive = [f for f in state.feature_names if f in state.data.sensitive_eval]
    details = {**_common(state), "sensitive_inputs": sensitive}
    if importance.sum() <= 0 or not np.isfinite(importance).all():
        return MetricOutcome(None, {**details, "note": "all attributions are zero or non-finite"})
    share = sum(importance[state.feature_names.index(f)] for f in sensitive) / importance.sum()
    return MetricOutcome(float(share), details)


def sensitivity_outcome(state: AuditState) -> MetricOutcome:
    """EXPL-02: mean over rows of captum's `sensitivity_max` of the feature-level attributions."""
    cfg = state.config
    rows = min(cfg["sensitivity_rows"], len(state.attribution_rows))
    samples = cfg["sensitivity_samples"]
    x = state.to_tensor(state.data.x_eval[state.attribution_rows[:rows]])
    target = _target(state, x)
    base = group_features(state, attributions(state)[:rows])
    expanded = torch.repeat_interleave(x, samples, dim=0)
    perturbed = uniform_perturbation(expanded, radius=cfg["sensitivity_radius"], space=state.space,
                                     generator=state.generator(2))
    t = target if isinstance(target, int) else torch.repeat_interleave(target, samples)
    moved = group_features(state, explain(state, perturbed, t).detach())
    per_row = sensitivity_from_attributions(base, moved, samples).double().cpu().numpy()
    details = {**_common(state), "rows": rows, "samples": samples, "radius": cfg["sensitivity_radius"],
               "norm": "L2 of feature-level attributions, divided by ||a(x)||_2 (captum sensitivity_max)"}
    return _mean_outcome(per_row, details)


def infidelity_outcome(state: AuditState) -> MetricOutcome:
    """EXPL-03: captum `infidelity(normalize=True)` with Gaussian perturbations, mean over rows."""
    cfg = state.config
    rows, samples = min(cfg["sensitivity_rows"], len(state.attribution_rows)), cfg["infidelity_samples"]
    x = state.to_tensor(state.data.x_eval[state.attribution_rows[:rows]])
    target = _target(state, x)
    attr = attributions(state)[:rows]
    expanded = torch.repeat_interleave(x, samples, dim=0)
    perturbation, perturbed = gaussian_perturbation(expanded, state.to_tensor(state.baseline),
                                                    sigma=cfg["infidelity_sigma"], space=state.space,
                                                    generator=state.generator(3))
    t = target if isinstance(target, int) else torch.repeat_interleave(target, samples)
    with torch.inference_mode():
        f_x = select_target(state.outputs(x), target).repeat_interleave(samples)
        f_pert = torch.cat([select_target(state.outputs(perturbed[i : i + state.batch_size]), _slice(t, i, state.batch_size))
                            for i in range(0, len(perturbed), state.batch_size)])
    dot = (torch.repeat_interleave(attr, samples, dim=0) * perturbation).reshape(len(perturbed), -1).sum(1)
    per_row = infidelity_from_terms(dot.view(rows, samples), (f_x - f_pert).view(rows, samples))
    details = {**_common(state), "rows": rows, "samples": samples, "sigma": cfg["infidelity_sigma"],
               "normalize": True, "perturbation": "(x - x') / (x - baseline), multiply_by_inputs=True"}
    return _mean_outcome(per_row.double().cpu().numpy(), details)


def _slice(t: torch.Tensor | int, start: int, size: int) -> torch.Tensor | int:
    return t if isinstance(t, int) else t[start : start + size]


def _mean_outcome(per_row: np.ndarray, details: dict) -> MetricOutcome:
    if len(per_row) == 0:
        return MetricOutcome(None, details, reason="no evaluation rows")
    value = float(per_row.mean())
    if not np.isfinite(value):
        return MetricOutcome(None, {**details, "note": "non-finite: an explanation or output overflowed"})
    return MetricOutcome(value, details)


def surrogate_tree(state: AuditState) -> DecisionTreeClassifier:
    """Return the depth-limited tree fitted to the model's ŷ on ≤ `surrogate_rows` training rows."""
    return state.surrogate_tree


def compute_surrogate_tree(state: AuditState) -> DecisionTreeClassifier:
    """Fit what `AuditState.surrogate_tree` holds (missing values are a tree's to route, as sklearn does)."""
    rows = state.surrogate_rows
    tree = DecisionTreeClassifier(max_depth=state.config["surrogate_depth"], random_state=state.seed)
    return tree.fit(state.flat(state.data.x_train[rows]), state.yhat_train[rows])


def decision_transparency_outcome(state: AuditState) -> MetricOutcome:
    """EXPL-05: agreement on evaluation rows between the model's ŷ and the surrogate tree's."""
    if len(state.data.x_train) == 0:
        return MetricOutcome(None, reason="no training rows to fit the surrogate tree")
    tree = surrogate_tree(state)
    agreement = float(np.mean(tree.predict(state.flat(state.data.x_eval)) == state.yhat_eval))
    return MetricOutcome(agreement, {"depth": state.config["surrogate_depth"],
                                     "training_rows": int(len(state.surrogate_rows)), "leaves": int(tree.get_n_leaves())})
