"""Differentially-private training (DP-SGD) of torch classifiers, accounted by Opacus; no Django.

Every step takes a Poisson sample of the training rows (each row independently with probability
q = 1 / ceil(n / batch_size), the rate Opacus' DPDataLoader uses), clips each row's gradient to
L2 norm C (`max_grad_norm`), adds Gaussian noise N(0, (σ·C)²) to the sum and divides it by the
expected batch size, then lets Adam step. Opacus' accountant (PRV or RDP) turns (σ, q, steps)
into the ε spent at δ; for a target ε, Opacus' `get_noise_multiplier` finds σ for the exact
number of steps that will run.

Two ways to clip, the same mechanism:

- **book-keeping** (Bu et al. 2023), for models whose trainable layers are all `nn.Linear`: one
  backward pass gives each layer's output gradients G (n, out) for its inputs A (n, in); the
  per-row norm of a linear layer's gradient is ‖g_i‖·‖a_i‖ (plus ‖g_i‖ for the bias), and the
  clipped sum is one product per layer, Σ_i c_i g_i a_iᵀ = (c ⊙ G)ᵀ A. No second backward pass
  (Opacus' ghost clipping needs one) and no per-row gradients in memory; an epoch's Poisson
  batches come from geometric gaps (`poisson_batches`), at a cost proportional to the rows drawn.
- **Opacus' PrivacyEngine** for any other architecture, after `ModuleValidator`'s fixes: ghost
  clipping when Opacus has norm samplers for every trainable layer, else per-row gradients
  from hooks.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ACCOUNTANTS",
    "MODES",
    "BookKeepingClipper",
    "DPParams",
    "DPParamsError",
    "DPResult",
    "TrainingCancelled",
    "accuracy",
    "default_delta",
    "epsilon_spent",
    "noise_multiplier_for",
    "poisson_batches",
    "schedule",
    "train_dp",
    "validate_params",
]

from .params import (  # noqa: F401  (re-exported: dp is where callers have always found them)
    ACCOUNTANTS,
    CANCEL_CHECK_S,
    CLIP_EPS,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_EPSILON,
    MAX_GRAD_NORM,
    MAX_LR,
    MAX_NOISE_MULTIPLIER,
    MAX_STEPS,
    MODES,
    PROGRESS_EVERY_S,
    RDP_ORDER_WARNING,
    DPParams,
    DPParamsError,
    Progress,
    TrainingCancelled,
    default_delta,
    epsilon_spent,
    noise_multiplier_for,
    schedule,
    validate_params,
)


@dataclass
class DPResult:
    """A trained DP model and what its privacy cost: the `record()` goes into ModelVersion.dp."""

    module: nn.Module
    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    epochs: int
    max_grad_norm: float
    batch_size: int
    lr: float
    seed: int
    accountant: str
    mode: str
    target_epsilon: float | None = None
    epoch_seconds: list[float] = field(default_factory=list)
    epoch_cpu_seconds: list[float] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)

    @property
    def seconds_per_epoch(self) -> float:
        """Return the mean wall-clock seconds of one epoch."""
        return sum(self.epoch_seconds) / len(self.epoch_seconds) if self.epoch_seconds else 0.0

    def record(self) -> dict:
        """Return the JSON record of the run: what PRIV-02 reads (epsilon, delta, accountant) and the rest."""
        skip = ("module", "epoch_seconds", "epoch_cpu_seconds", "mode")
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        return {**out, "grad_sample_mode": self.mode, "seconds_per_epoch": round(self.seconds_per_epoch, 4),
                "library": f"opacus {_opacus_version()}"}


def _opacus_version() -> str:
    import opacus

    return opacus.__version__


#
# Book-keeping clipping
#


class BookKeepingClipper:
    """Clipped, noised gradients with one backward pass, for modules whose trainable layers are all Linear.

    `private_grads(x, y)` sets each parameter's `.grad` to (Σ_i clip_i(∇ℓ_i) + N(0, (σC)²)) / E,
    what Opacus' DPOptimizer leaves before its step (loss_reduction "mean", E the expected batch
    size). The gradients are views of one flat buffer, reused from step to step, so the noise is
    one draw of N(0, (σC)²) over all parameters in order (Opacus draws parameter by parameter:
    the same distribution).
    """

    def __init__(self, module: nn.Module, *, max_grad_norm: float, noise_multiplier: float,
                 expected_batch_size: int, generator: torch.Generator | None = None):
        self.module = module
        self.max_grad_norm = float(max_grad_norm)
        self.noise_std = float(noise_multiplier) * self.max_grad_norm
        self.expected_batch_size = expected_batch_size
        self.generator = generator
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.layers = self.trainable_linears(module)
        if self.layers is None:
            raise ValueError("book-keeping clipping needs every trainable layer to be nn.Linear")
        if len({(p.dtype, p.device) for p in self.params}) != 1:
            raise ValueError("book-keeping clipping needs every trainable parameter on one device, in one dtype")
        # One flat gradient buffer, reused every step (the optimiser only reads `.grad` during its step).
        self._flat = torch.empty(sum(p.numel() for p in self.params), dtype=self.params[0].dtype,
                                 device=self.params[0].device)
        views = self._flat.split([p.numel() for p in self.params])
        self._grads = {id(p): view.view_as(p) for p, view in zip(self.params, views, strict=True)}
        self._plain = all(layer.weight.requires_grad and layer.bias is not None and layer.bias.requires_grad
                          for layer in self.layers)
        self._records: list[tuple[nn.Linear, torch.Tensor, torch.Tensor, int]] = []
        self._handles = [layer.register_forward_hook(self._record) for layer in self.layers]

    @staticmethod
    def trainable_linears(module: nn.Module) -> list[nn.Linear] | None:
        """Return the Linear layers holding every trainable parameter, or None if another layer holds one."""
        layers, covered = [], set()
        for sub in module.modules():
            own = [p for p in sub.parameters(recurse=False) if p.requires_grad]
            if own and not isinstance(sub, nn.Linear):
                return None
            if own:
                layers.append(sub)
                covered.update(id(p) for p in own)
        wanted = {id(p) for p in module.parameters() if p.requires_grad}
        return layers if covered == wanted and layers else None

    def _record(self, layer: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if torch.is_grad_enabled():  # the input is only read under no_grad: no need to detach it
            self._records.append((layer, inputs[0], output, output._version))

    def close(self) -> None:
        """Remove the forward hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list]:
        self._records = []
        logits = self.module(x)
        records, self._records = self._records, []
        if len(records) != len(self.layers) or len({id(r[0]) for r in records}) != len(records):
            raise ValueError("book-keeping clipping needs each linear layer to run exactly once per forward pass")
        if any(out._version != version for _, _, out, version in records):
            raise ValueError("book-keeping clipping cannot follow a linear layer whose output is changed in place")
        return logits, records

    def check(self, x: torch.Tensor) -> None:
        """Raise ValueError when the module cannot be clipped this way (run one forward pass on `x`)."""
        self._forward(x)

    def _clip_factors(self, records: list, outputs: tuple) -> torch.Tensor:
        """Return Opacus' per-row clip factors min(1, C / (‖∇ℓ_i‖ + 1e-6)), divided by E (the mean's scale)."""
        if self._plain and all(g.dim() == 2 for g in outputs):  # one input vector per row, weight and bias
            g_norms = torch.stack([torch.linalg.vector_norm(g, dim=1) for g in outputs])
            a_norms = torch.stack([torch.linalg.vector_norm(a, dim=1) for _, a, _, _ in records])
            norms = g_norms.square_().mul_(a_norms.square_().add_(1.0)).sum(0)  # ‖g aᵀ‖² + ‖g‖² = ‖g‖²(‖a‖² + 1)
        else:
            norms = sum(self._sq_norms(layer, a, g) for (layer, a, _, _), g in zip(records, outputs, strict=True))
        return norms.sqrt_().add_(CLIP_EPS).reciprocal_().mul_(self.max_grad_norm).clamp_(max=1.0).mul_(
            1 / self.expected_batch_size)

    @staticmethod
    def _sq_norms(layer: nn.Linear, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Return each row's squared gradient norm for this layer's weight and bias, without forming the gradient."""
        weight, bias = layer.weight.requires_grad, layer.bias is not None and layer.bias.requires_grad
        if g.dim() == 2:  # one input vector per row: ‖g aᵀ‖² + ‖g‖² = ‖g‖² (‖a‖² + [bias])
            g2 = torch.linalg.vecdot(g, g)
            a2 = torch.linalg.vecdot(a, a) if weight else torch.zeros_like(g2)
            return g2.mul_(a2.add_(1.0) if bias else a2)
        a, g = a.flatten(1, -2), g.flatten(1, -2)  # (n, T, d): ‖Σ_t g_t a_tᵀ‖² = Σ_ts (a_t·a_s)(g_t·g_s)
        out = torch.zeros(len(g), dtype=g.dtype, device=g.device)
        if weight:
            out += (torch.bmm(a, a.transpose(1, 2)) * torch.bmm(g, g.transpose(1, 2))).sum((1, 2))
        if bias:
            out += g.sum(1).square().sum(1)
        return out

    def _clipped_sums(self, layer: nn.Linear, a: torch.Tensor, g: torch.Tensor, factor: torch.Tensor) -> None:
        """Write Σ_i c_i g_i a_iᵀ and Σ_i c_i g_i into the layer's gradient views: one product each."""
        if g.dim() > 2:  # rows of T vectors: every vector of row i is scaled by c_i
            factor = factor.repeat_interleave(g[0].numel() // g.shape[-1])
            a, g = a.reshape(-1, a.shape[-1]), g.reshape(-1, g.shape[-1])
        g_t = g.t()
        if layer.weight.requires_grad:
            torch.mm(g_t * factor, a, out=self._grads[id(layer.weight)])
        if layer.bias is not None and layer.bias.requires_grad:
            torch.mv(g_t, factor, out=self._grads[id(layer.bias)])

    def private_grads(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Set every trainable parameter's `.grad` to its clipped, noised, scaled sum; return the summed loss."""
        flat = self._flat
        if len(x):
            logits, records = self._forward(x)
            loss = F.cross_entropy(logits, y, reduction="sum")
            outputs = torch.autograd.grad(loss, [out for _, _, out, _ in records])
            with torch.no_grad():
                factor = self._clip_factors(records, outputs)
                for (layer, a, _, _), g in zip(records, outputs, strict=True):
                    self._clipped_sums(layer, a, g, factor)
        else:
            flat.zero_()  # an empty Poisson batch: the step is noise only
            loss = torch.zeros((), device=flat.device)
        if self.noise_std > 0:
            noise = torch.normal(mean=0, std=self.noise_std, size=flat.shape, device=flat.device,
                                 generator=self.generator, dtype=flat.dtype)
            flat.add_(noise, alpha=1 / self.expected_batch_size)
        for p in self.params:
            p.grad = self._grads[id(p)]
        return loss.detach()


def poisson_batches(n: int, sample_rate: float, steps: int, generator: torch.Generator | None = None,
                    device: str | torch.device = "cpu") -> list[torch.Tensor]:
    """Return `steps` Poisson samples of n rows (each row in each sample independently with probability q).

    Laid end to end, the steps' Bernoulli(q) masks are one Bernoulli(q) sequence of steps·n trials,
    whose gaps between chosen positions are i.i.d. Geometric(q). Drawing those gaps gives the
    batches of a whole epoch with the distribution of Opacus' sampler (a mask rand(n) < q per
    step), at a cost proportional to the rows chosen rather than to steps·n.
    """
    if sample_rate >= 1:
        return [torch.arange(n, device=device) for _ in range(steps)]
    total = n * steps
    expected = total * sample_rate
    chunk = int(expected + 8 * math.sqrt(expected) + 16)
    parts, last = [], -1.0
    while last < total:  # almost always one round
        gaps = torch.empty(chunk, dtype=torch.float64, device=device).geometric_(sample_rate, generator=generator)
        parts.append(gaps.cumsum_(0).add_(last))
        last = float(parts[-1][-1])
    positions = torch.cat(parts)
    positions = positions[positions < total].long()
    ends = torch.searchsorted(positions, torch.arange(1, steps, device=device) * n)
    return list(torch.tensor_split(positions.remainder_(n), ends.cpu()))


#
# Training
#


class _Clock:
    """Epoch timings (wall and CPU), rate-limited cancel checks and progress reports of one training."""

    def __init__(self, progress: Progress | None, should_cancel: Callable[[], bool] | None, epochs: int,
                 total_steps: int):
        self.progress, self.should_cancel, self.epochs, self.total = progress, should_cancel, epochs, total_steps
        self.last_check = self.last_report = time.monotonic()
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.done = 0

    def start_epoch(self) -> None:
        self._started = (time.perf_counter(), time.process_time())

    def step(self) -> None:
        """Count one step; stop if asked (checked about once a second); report every 10 s."""
        self.done += 1
        now = time.monotonic()
        if self.should_cancel is not None and now - self.last_check >= CANCEL_CHECK_S:
            self.last_check = now
            if self.should_cancel():
                raise TrainingCancelled(f"cancelled in epoch {len(self.wall) + 1} of {self.epochs}")
        if self.progress is not None and now - self.last_report >= PROGRESS_EVERY_S:
            self.last_report = now
            self.progress(int(100 * self.done / self.total), f"epoch {len(self.wall) + 1}/{self.epochs}")

    def end_epoch(self) -> None:
        self.wall.append(time.perf_counter() - self._started[0])
        self.cpu.append(time.process_time() - self._started[1])
        epoch = len(self.wall)
        if self.should_cancel is not None and epoch < self.epochs and self.should_cancel():
            raise TrainingCancelled(f"cancelled after epoch {epoch} of {self.epochs}")
        if self.progress is not None:
            self.progress(int(100 * self.done / self.total),
                          f"epoch {epoch}/{self.epochs} done ({self.wall[-1]:.1f} s)")
        self.last_report = time.monotonic()


def _fix_module(module: nn.Module) -> tuple[nn.Module, list[str]]:
    """Return the module with ModuleValidator's fixes applied (BatchNorm → GroupNorm, …) and what they were."""
    from opacus.validators import ModuleValidator

    module.train()
    errors = ModuleValidator.validate(module, strict=False)
    if not errors:
        return module, []
    fixed = ModuleValidator.fix(module).train()
    remaining = ModuleValidator.validate(fixed, strict=False)
    if remaining:
        raise ValueError(f"Opacus cannot train this architecture: {'; '.join(map(str, remaining))}")
    return fixed, [str(e) for e in errors]


def _choose_mode(module: nn.Module, mode: str, probe: torch.Tensor) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode in ("auto", "book-keeping"):
        try:
            clipper = BookKeepingClipper(module, max_grad_norm=1.0, noise_multiplier=0.0, expected_batch_size=1)
            try:
                clipper.check(probe)
            finally:
                clipper.close()
            return "book-keeping"
        except ValueError:
            if mode == "book-keeping":
                raise
    if mode != "auto":
        return mode
    from opacus.grad_sample import GradSampleModuleFastGradientClipping as Ghost

    trainable = [m for m in module.modules() if any(p.requires_grad for p in m.parameters(recurse=False))]
    return "ghost" if all(type(m) in Ghost.NORM_SAMPLERS for m in trainable) else "hooks"


def train_dp(module: nn.Module, x: torch.Tensor, y: torch.Tensor, params: DPParams, *, device: str = "cpu",
             mode: str = "auto", progress: Progress | None = None,
             should_cancel: Callable[[], bool] | None = None) -> DPResult:
    """Return `module` trained with DP-SGD on (x, y) and the privacy it spent.

    `module` is trained in place from its current weights (give it a fresh initialisation: a
    model already trained on the same rows without DP would void the guarantee). `mode` "auto"
    takes book-keeping clipping when every trainable layer is Linear, else Opacus' ghost
    clipping where Opacus supports every layer, else Opacus' hooks. `progress(percent, stage)`
    is called after every epoch (and every 10 s); `should_cancel()` is asked about once a second
    and stops training with TrainingCancelled. The same inputs and seed give the same weights on
    the same device. Raises DPParamsError for invalid parameters.
    """
    n = len(x)
    params = validate_params(params, n)
    q, per_epoch, steps = schedule(n, params.batch_size, params.epochs)
    sigma = params.noise_multiplier
    if sigma is None:
        sigma = noise_multiplier_for(params.epsilon, params.delta, q, steps, params.accountant)
    module, fixes = _fix_module(module)
    module = module.to(device).train()
    x, y = x.to(device), y.to(device)
    devices = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(params.seed)
        mode = _choose_mode(module, mode, x[:2])
        clock = _Clock(progress, should_cancel, params.epochs, steps)
        if mode == "book-keeping":
            steps = _train_book_keeping(module, x, y, params, sigma, q, per_epoch, clock)
        else:
            steps = _train_opacus(module, x, y, params, sigma, mode, clock)
    return DPResult(
        module=module.cpu().eval(), epsilon=epsilon_spent(sigma, q, steps, params.delta, params.accountant),
        delta=params.delta, noise_multiplier=sigma, sample_rate=q, steps=steps, epochs=params.epochs,
        max_grad_norm=params.max_grad_norm, batch_size=params.batch_size, lr=params.lr, seed=params.seed,
        accountant=params.accountant, mode=mode, target_epsilon=params.epsilon, epoch_seconds=clock.wall,
        epoch_cpu_seconds=clock.cpu, fixes=fixes,
    )


def _train_book_keeping(module, x, y, params: DPParams, sigma: float, q: float, per_epoch: int,
                        clock: _Clock) -> int:
    generator = torch.Generator(device=x.device).manual_seed(params.seed)
    n = len(x)
    clipper = BookKeepingClipper(module, max_grad_norm=params.max_grad_norm, noise_multiplier=sigma,
                                 expected_batch_size=int(n * q), generator=generator)
    optimiser = torch.optim.Adam(clipper.params, lr=params.lr)
    try:
        for _ in range(params.epochs):
            clock.start_epoch()
            for rows in poisson_batches(n, q, per_epoch, generator, x.device):
                optimiser.zero_grad(set_to_none=True)
                clipper.private_grads(x[rows], y[rows])
                optimiser.step()
                clock.step()
            clock.end_epoch()
    finally:
        clipper.close()
    return clock.done


def _train_opacus(module, x, y, params: DPParams, sigma: float, mode: str, clock: _Clock) -> int:
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    with warnings.catch_warnings():  # the noise generator is seeded on purpose: runs are reproducible
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        engine = PrivacyEngine(accountant=params.accountant)
    loader = DataLoader(TensorDataset(x, y), batch_size=params.batch_size)  # Poisson-sampled by Opacus
    optimiser = torch.optim.Adam(module.parameters(), lr=params.lr)
    generator = torch.Generator(device=x.device).manual_seed(params.seed)
    private, optimiser, *rest = engine.make_private(
        module=module, optimizer=optimiser, data_loader=loader, criterion=nn.CrossEntropyLoss(),
        noise_multiplier=sigma, max_grad_norm=params.max_grad_norm, poisson_sampling=True,
        grad_sample_mode=mode, noise_generator=generator,
    )
    criterion, loader = rest if len(rest) == 2 else (nn.CrossEntropyLoss(), rest[0])  # ghost wraps the loss
    try:
        for _ in range(params.epochs):
            clock.start_epoch()
            for xb, yb in loader:
                optimiser.zero_grad(set_to_none=True)
                _quiet_backward(criterion(private(xb), yb))
                optimiser.step()
                clock.step()
            clock.end_epoch()
    finally:
        optimiser.zero_grad(set_to_none=True)
        private.to_standard_module()  # removes Opacus' hooks from `module`
    return sum(steps for _, _, steps in engine.accountant.history)  # Opacus' loader runs int(1/q) per epoch


def _quiet_backward(loss: torch.Tensor) -> None:
    # Opacus' hooks fire on module outputs when the inputs need no gradient, as they never do here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        loss.backward()


def accuracy(module: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_rows: int = 8192) -> float:
    """Return the share of rows whose arg-max logit is the label (0.0 for no rows)."""
    if len(x) == 0:
        return 0.0
    module.eval()
    device = next(module.parameters()).device
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_rows):
            logits = module(x[start:start + batch_rows].to(device))
            correct += int((logits.argmax(1).cpu() == y[start:start + batch_rows].cpu()).sum())
    return correct / len(x)
