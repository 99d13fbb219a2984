"""DP training parameters, their validation and the privacy accounting: no torch at import.

The web process validates a DP request (and finds σ for a target ε with Opacus' accountant, imported
when asked) without loading torch; `privacy.dp` trains, in the model sandbox.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

ACCOUNTANTS = ("prv", "rdp")
MODES = ("auto", "book-keeping", "ghost", "hooks")
# Opacus' clip factor: C / (‖g_i‖ + 1e-6), at most 1.
CLIP_EPS = 1e-6
# How often a running loop asks whether it should stop, and reports progress inside an epoch.
CANCEL_CHECK_S = 1.0
PROGRESS_EVERY_S = 10.0
# Upper bounds: how much work (epochs × steps per epoch) and memory (a batch) one request may ask for.
MAX_EPOCHS = 1_000
MAX_STEPS = 1_000_000  # epochs × ceil(n_train / batch_size)
MAX_EPSILON = 20.0
MAX_NOISE_MULTIPLIER = 1e4
MAX_BATCH_SIZE = 1_000_000
MAX_GRAD_NORM = 1e4
MAX_LR = 100.0
# Opacus' RDP accountant warns when the best order is at the edge of its grid; the bound still holds.
RDP_ORDER_WARNING = "Optimal order is the (largest|smallest) alpha"

Progress = Callable[[int, str], None]


class DPParamsError(ValueError):
    """Invalid DP training parameters; `fields` maps each parameter to its message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class TrainingCancelled(Exception):
    """`should_cancel()` answered True: training stopped between two steps."""


@dataclass(frozen=True)
class DPParams:
    """What a DP training run is asked for: a target ε or a noise multiplier, and the SGD settings.

    `delta` None means `default_delta(n_train)`.
    """

    epsilon: float | None = None
    noise_multiplier: float | None = None
    delta: float | None = None
    max_grad_norm: float = 1.0
    epochs: int = 5
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    accountant: str = "prv"


def default_delta(n_train: int) -> float:
    """Return the largest power of ten strictly below 1 / n_train (30,162 rows → 1e-5, 1,000 → 1e-4).

    With d the number of digits of n, 10^(d-1) ≤ n < 10^d, so 10^-d < 1/n ≤ 10^-(d-1).
    """
    if n_train < 1:
        raise ValueError("default_delta needs at least one training row")
    return float(f"1e-{len(str(int(n_train)))}")


def _positive(value, name: str, errors: dict[str, str], *, integer: bool = False) -> None:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or number <= 0 or (integer and int(number) != number):
        errors[name] = f"must be a positive {'integer' if integer else 'number'}, got {value!r}"


def validate_params(params: DPParams, n_train: int) -> DPParams:
    """Return `params` with δ filled in, or raise DPParamsError naming every invalid parameter.

    ε and σ must be positive (exactly one given), 0 < δ < 1/n_train, sizes positive integers (a
    batch of n_train rows or more means q = 1: every step sees every row).
    """
    errors: dict[str, str] = {}
    if n_train < 1:
        raise DPParamsError({"dataset_version": "the dataset has no complete training rows"})
    if (params.epsilon is None) == (params.noise_multiplier is None):
        errors["epsilon"] = "give either a target epsilon or a noise multiplier (exactly one)"
    elif params.epsilon is not None:
        _positive(params.epsilon, "epsilon", errors)
    else:
        _positive(params.noise_multiplier, "noise_multiplier", errors)
    delta = default_delta(n_train) if params.delta is None else params.delta
    if not isinstance(delta, int | float) or not 0 < delta < 1 / n_train:
        errors["delta"] = f"must be in (0, 1/n_train) = (0, {1 / n_train:.3g}) for {n_train} training rows, got {delta!r}"
    _positive(params.max_grad_norm, "max_grad_norm", errors)
    _positive(params.lr, "lr", errors)
    for name in ("epochs", "batch_size"):
        _positive(getattr(params, name), name, errors, integer=True)
    for name, most in (("epochs", MAX_EPOCHS), ("batch_size", MAX_BATCH_SIZE), ("max_grad_norm", MAX_GRAD_NORM),
                       ("lr", MAX_LR)):
        if name not in errors and getattr(params, name) > most:
            errors[name] = f"must be at most {most:,}, got {getattr(params, name)}"
    if "epochs" not in errors and "batch_size" not in errors:
        steps = params.epochs * math.ceil(n_train / params.batch_size)
        if steps > MAX_STEPS:
            errors["epochs"] = (f"{params.epochs} epochs of batches of {params.batch_size} rows over {n_train:,} rows "
                                f"make {steps:,} steps; at most {MAX_STEPS:,} are accepted (fewer epochs or larger "
                                "batches)")
    if not isinstance(params.seed, int) or isinstance(params.seed, bool) or not 0 <= params.seed < 2**63:
        errors["seed"] = f"must be an integer in [0, 2^63), got {params.seed!r}"
    if params.accountant not in ACCOUNTANTS:
        errors["accountant"] = f"must be one of {', '.join(ACCOUNTANTS)}, got {params.accountant!r}"
    if "epsilon" not in errors and params.epsilon is not None and params.epsilon > MAX_EPSILON:
        errors["epsilon"] = f"must be at most {MAX_EPSILON:g} (a larger ε promises next to nothing), got {params.epsilon}"
    if errors:
        raise DPParamsError(errors)
    params = replace(params, delta=float(delta), epochs=int(params.epochs), batch_size=int(params.batch_size))
    if params.noise_multiplier is not None:
        _check_noise(params, n_train)
    return params


def _check_noise(params: DPParams, n_train: int) -> None:
    # A tiny σ spends an astronomical ε, which Opacus' PRV accountant needs minutes and gigabytes to
    # bound; RDP (milliseconds) screens it first, with room for RDP's looser bound.
    sigma = params.noise_multiplier
    if sigma > MAX_NOISE_MULTIPLIER:
        raise DPParamsError({"noise_multiplier": f"must be at most {MAX_NOISE_MULTIPLIER:g}, got {sigma:g}"})
    q, _, steps = schedule(n_train, params.batch_size, params.epochs)
    try:
        estimate = epsilon_spent(sigma, q, steps, params.delta, "rdp")
    except (ArithmeticError, ValueError):
        estimate = math.inf
    if not estimate <= 2 * MAX_EPSILON:
        raise DPParamsError({"noise_multiplier": f"too little noise: σ = {sigma:g} spends ε ≈ {estimate:.3g} (RDP) "
                                                 f"at δ = {params.delta:g}; give a σ that spends at most "
                                                 f"ε = {MAX_EPSILON:g}"})


def schedule(n_train: int, batch_size: int, epochs: int) -> tuple[float, int, int]:
    """Return (sample rate q, steps per epoch, steps): q = 1 / ceil(n / batch_size), as in Opacus."""
    per_epoch = math.ceil(n_train / batch_size)
    return 1 / per_epoch, per_epoch, per_epoch * epochs


def epsilon_spent(noise_multiplier: float, sample_rate: float, steps: int, delta: float,
                  accountant: str = "prv") -> float:
    """Return the ε at `delta` that Opacus' accountant gives `steps` Poisson-subsampled Gaussian steps."""
    from opacus.accountants import create_accountant

    acc = create_accountant(mechanism=accountant)
    acc.history = [(noise_multiplier, sample_rate, steps)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=RDP_ORDER_WARNING)
        return float(acc.get_epsilon(delta=delta))


def noise_multiplier_for(epsilon: float, delta: float, sample_rate: float, steps: int,
                         accountant: str = "prv") -> float:
    """Return Opacus' noise multiplier σ that keeps `steps` steps within (ε, δ).

    Opacus' `make_private_with_epsilon` asks for int(epochs / q) steps, which float rounding can
    make one short of the steps its loader runs (3 epochs of 75 batches → 224); asking for the
    exact count keeps the ε spent at or below the target.
    """
    from opacus.accountants.utils import get_noise_multiplier

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=RDP_ORDER_WARNING)
        try:
            return float(get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate,
                                              steps=steps, accountant=accountant))
        except ValueError as exc:
            raise DPParamsError({"epsilon": f"{exc} (no noise multiplier up to 1e6 reaches ε = {epsilon:g})"}) from None


