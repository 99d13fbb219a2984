"""privacy.dp without Django: δ default, validation, book-keeping clipping against Opacus, accounting."""

import copy
from decimal import Decimal

import pytest
import torch
from opacus import GradSampleModule
from opacus.accountants import create_accountant
from opacus.accountants.utils import get_noise_multiplier
from opacus.optimizers import DPOptimizer
from opacus.optimizers import optimizer as opacus_optimizer
from torch import nn

from audit.modelio.zoo import CNN, MLP
from privacy import dp

pytestmark = [pytest.mark.filterwarnings("ignore:Optimal order is the"),
              pytest.mark.filterwarnings("ignore:Full backward hook is firing")]


def _data(n=300, p=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p, generator=g) * 3
    y = (x[:, 0] + torch.randn(n, generator=g) > 0).long()
    return x, y


class _SequenceNet(nn.Module):
    """A linear layer applied to each of T vectors per row (input (n, T, 4)), then pooled."""

    def __init__(self):
        super().__init__()
        self.token = nn.Linear(4, 6)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        return self.head(torch.relu(self.token(x)).mean(1))


def _mlp(p=12, seed=0, hidden=(16, 8), dtype=torch.float32):
    torch.manual_seed(seed)
    return MLP(p, 2, hidden=hidden).to(dtype).train()


class TestDefaultDelta:
    @pytest.mark.parametrize(("n", "delta"), [(30162, 1e-5), (1000, 1e-4), (999, 1e-3), (100000, 1e-6), (1, 0.1),
                                              (45222, 1e-5)])
    def test_it_is_the_largest_power_of_ten_strictly_below_one_over_n(self, n, delta):
        assert dp.default_delta(n) == delta
        exact = Decimal(repr(delta))
        assert exact < Decimal(1) / n <= 10 * exact

    def test_validation_fills_it_in(self):
        assert dp.validate_params(dp.DPParams(epsilon=1.0), 30162).delta == 1e-5


class TestValidation:
    @pytest.mark.parametrize(("changes", "field"), [
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"epsilon": float("nan")}, "epsilon"),
        ({"epsilon": None, "noise_multiplier": 0.0}, "noise_multiplier"),
        ({"epsilon": None, "noise_multiplier": 0.05}, "noise_multiplier"),  # spends ε in the hundreds
        ({"epsilon": None, "noise_multiplier": 1e300}, "noise_multiplier"),
        ({"epsilon": 25.0}, "epsilon"),
        ({"noise_multiplier": 1.0}, "epsilon"),  # both given
        ({"epsilon": None}, "epsilon"),  # neither given
        ({"delta": 1 / 1000}, "delta"),  # δ = 1/n
        ({"delta": 0.5}, "delta"),
        ({"delta": 0.0}, "delta"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"batch_size": -1}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"seed": -1}, "seed"),
        ({"accountant": "gdp"}, "accountant"),
    ])
    def test_it_names_the_invalid_parameter(self, changes, field):
        params = dp.DPParams(**{"epsilon": 1.0, **changes})
        with pytest.raises(dp.DPParamsError) as info:
            dp.validate_params(params, 1000)
        assert field in info.value.fields

    def test_it_reports_every_invalid_parameter_at_once(self):
        with pytest.raises(dp.DPParamsError) as info:
            dp.validate_params(dp.DPParams(epsilon=-1, epochs=0, batch_size=0), 1000)
        assert set(info.value.fields) == {"epsilon", "epochs", "batch_size"}

    def test_a_batch_larger_than_the_data_means_every_row_every_step(self):
        params = dp.validate_params(dp.DPParams(epsilon=1.0, batch_size=500), 100)
        assert dp.schedule(100, params.batch_size, 3) == (1.0, 1, 3)


class TestBookKeepingClipping:
    """Same clipped, noised gradients as Opacus' GradSampleModule + DPOptimizer for the same noise draw."""

    CLIP = 1.4

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    @pytest.mark.parametrize("sigma", [0.0, 1.3])
    def test_it_matches_opacus_to_1e_6(self, monkeypatch, dtype, sigma):
        x, y = _data(n=64)
        x = x.to(dtype)
        ours = _mlp(dtype=dtype)
        norms = self._per_sample_norms(copy.deepcopy(ours), x, y)
        assert (norms > self.CLIP).sum() > 10 and (norms < self.CLIP).sum() > 10  # some rows are clipped, some not
        self._assert_same_as_opacus(monkeypatch, ours, x, y, sigma)

    @pytest.mark.parametrize("shape", ["no bias", "frozen first layer", "sequence input"])
    def test_it_matches_opacus_beyond_the_plain_mlp(self, monkeypatch, shape):
        x, y = _data(n=48)
        torch.manual_seed(0)
        if shape == "no bias":
            module = nn.Sequential(nn.Linear(12, 8, bias=False), nn.ReLU(), nn.Linear(8, 2))
        elif shape == "frozen first layer":
            module = _mlp()
            module.body[0].requires_grad_(False)
        else:
            module, x = _SequenceNet(), x.view(48, 3, 4)
        self._assert_same_as_opacus(monkeypatch, module.train(), x, y, sigma=0.9)

    def _assert_same_as_opacus(self, monkeypatch, ours, x, y, sigma):
        theirs = copy.deepcopy(ours)
        trainable = [p for p in theirs.parameters() if p.requires_grad]
        # the same noise draw: one N(0, (σC)²) vector over the trainable parameters, handed to Opacus piece by piece
        total = sum(p.numel() for p in trainable)
        draw = torch.normal(0, sigma * self.CLIP, size=(total,), generator=torch.Generator().manual_seed(7),
                            dtype=x.dtype) if sigma else torch.zeros(total, dtype=x.dtype)
        pieces = iter(draw.split([p.numel() for p in trainable]))
        monkeypatch.setattr(opacus_optimizer, "_generate_noise",
                            lambda std, reference, **kwargs: next(pieces).view_as(reference))
        gsm = GradSampleModule(theirs)
        opt = DPOptimizer(torch.optim.SGD(trainable, lr=0.1), noise_multiplier=sigma, max_grad_norm=self.CLIP,
                          expected_batch_size=50)
        opt.zero_grad()
        nn.functional.cross_entropy(gsm(x), y).backward()
        opt.pre_step()
        clipper = dp.BookKeepingClipper(ours, max_grad_norm=self.CLIP, noise_multiplier=sigma, expected_batch_size=50,
                                        generator=torch.Generator().manual_seed(7))
        clipper.private_grads(x, y)

        for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
            if not b.requires_grad:
                assert a.grad is None
                continue
            assert a.grad.dtype == x.dtype
            torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=0)

    @staticmethod
    def _per_sample_norms(module, x, y):
        grads = []
        for i in range(len(x)):
            module.zero_grad()
            nn.functional.cross_entropy(module(x[i:i + 1]), y[i:i + 1], reduction="sum").backward()
            grads.append(torch.cat([p.grad.flatten() for p in module.parameters()]).norm())
        return torch.stack(grads)

    def test_an_empty_batch_gets_noise_only(self):
        module = _mlp()
        clipper = dp.BookKeepingClipper(module, max_grad_norm=1.0, noise_multiplier=2.0, expected_batch_size=10,
                                        generator=torch.Generator().manual_seed(0))
        clipper.private_grads(torch.zeros(0, 12), torch.zeros(0, dtype=torch.long))
        total = sum(p.numel() for p in module.parameters())
        expected = torch.normal(0, 2.0, size=(total,), generator=torch.Generator().manual_seed(0)) / 10
        torch.testing.assert_close(torch.cat([p.grad.flatten() for p in module.parameters()]), expected)

    def test_it_refuses_a_module_with_other_trainable_layers(self):
        with pytest.raises(ValueError, match="nn.Linear"):
            dp.BookKeepingClipper(CNN(1, 8, 8), max_grad_norm=1.0, noise_multiplier=1.0, expected_batch_size=1)


class TestPoissonBatches:
    """Geometric gaps give the batches of Opacus' sampler: every row of every step independently with probability q."""

    def test_each_row_is_in_each_batch_with_probability_q(self):
        n, q, steps, draws = 40, 0.1, 5, 400
        generator = torch.Generator().manual_seed(0)
        counts = torch.zeros(steps, n)
        sizes = []
        for _ in range(draws):
            batches = dp.poisson_batches(n, q, steps, generator)
            assert len(batches) == steps
            for t, rows in enumerate(batches):
                assert rows.dtype == torch.long and rows.unique().numel() == rows.numel()
                assert rows.min() >= 0 and rows.max() < n if len(rows) else True
                counts[t, rows] += 1
                sizes.append(len(rows))
        frequency = counts / draws  # binomial(400, 0.1): sd 0.015 per cell
        assert (frequency - q).abs().max() < 0.07 and abs(frequency.mean() - q) < 0.005
        sizes = torch.tensor(sizes, dtype=torch.float64)
        assert sizes.mean() == pytest.approx(n * q, abs=0.1) and sizes.var() == pytest.approx(n * q * (1 - q), rel=0.1)

    def test_sample_rate_one_takes_every_row(self):
        assert all(torch.equal(b, torch.arange(7)) for b in dp.poisson_batches(7, 1.0, 3))

    def test_the_same_generator_seed_gives_the_same_batches(self):
        a, b = (dp.poisson_batches(1000, 0.05, 4, torch.Generator().manual_seed(3)) for _ in range(2))
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


class TestTraining:
    @pytest.mark.parametrize("accountant", ["prv", "rdp"])
    def test_the_epsilon_is_opacus_accountants_for_the_recorded_parameters_and_within_target(self, accountant):
        x, y = _data()
        result = dp.train_dp(_mlp(), x, y, dp.DPParams(epsilon=2.0, epochs=2, batch_size=32, accountant=accountant))
        record = result.record()

        fresh = create_accountant(accountant)
        fresh.history = [(record["noise_multiplier"], record["sample_rate"], record["steps"])]
        assert record["epsilon"] == pytest.approx(fresh.get_epsilon(delta=record["delta"]), rel=1e-12)
        assert record["epsilon"] <= 2.0
        assert record["steps"] == 2 * 10 and record["sample_rate"] == pytest.approx(0.1)
        assert record["delta"] == 1e-3 and record["accountant"] == accountant
        assert record["noise_multiplier"] == get_noise_multiplier(target_epsilon=2.0, target_delta=1e-3,
                                                                  sample_rate=0.1, steps=20, accountant=accountant)
        assert record["grad_sample_mode"] == "book-keeping"

    def test_a_given_noise_multiplier_is_kept_and_its_epsilon_reported(self):
        x, y = _data()
        result = dp.train_dp(_mlp(), x, y, dp.DPParams(noise_multiplier=1.5, epochs=1, batch_size=50))
        assert result.noise_multiplier == 1.5 and result.target_epsilon is None
        assert result.epsilon == dp.epsilon_spent(1.5, 1 / 6, 6, 1e-3, "prv")

    def test_the_same_seed_gives_the_same_weights(self):
        x, y = _data()
        params = dp.DPParams(epsilon=1.0, epochs=2, batch_size=32, seed=3, accountant="rdp")
        a, b = (dp.train_dp(_mlp(), x, y, params).module for _ in range(2))
        for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
            assert torch.equal(pa, pb)

    def test_it_learns_at_a_generous_budget(self):
        x, y = _data(n=2000)
        result = dp.train_dp(_mlp(), x, y, dp.DPParams(epsilon=8.0, epochs=3, batch_size=100, lr=1e-2, accountant="rdp"))
        assert dp.accuracy(result.module, x, y) > 0.75

    def test_opacus_trains_architectures_book_keeping_does_not_cover(self):
        g = torch.Generator().manual_seed(0)
        x = torch.rand(120, 1, 8, 8, generator=g)
        y = (x.mean((1, 2, 3)) > 0.5).long()
        torch.manual_seed(0)
        result = dp.train_dp(CNN(1, 8, 8), x, y, dp.DPParams(epsilon=3.0, epochs=1, batch_size=40, accountant="rdp"))
        assert result.mode == "hooks" and result.epsilon <= 3.0
        assert not any(hasattr(p, "grad_sample") and p.grad_sample is not None for p in result.module.parameters())

    @pytest.mark.parametrize("mode", ["ghost", "hooks"])
    def test_opacus_modes_report_the_same_accounting(self, mode):
        x, y = _data()
        params = dp.DPParams(epsilon=2.0, epochs=1, batch_size=30, accountant="rdp")
        ours = dp.train_dp(_mlp(), x, y, params)
        theirs = dp.train_dp(_mlp(), x, y, params, mode=mode)
        assert theirs.mode == mode
        assert (theirs.noise_multiplier, theirs.sample_rate, theirs.steps) == (ours.noise_multiplier, ours.sample_rate,
                                                                              ours.steps)
        assert theirs.epsilon == pytest.approx(ours.epsilon)

    def test_module_validator_fixes_are_applied_and_recorded(self):
        x, y = _data(n=64)
        torch.manual_seed(0)
        module = nn.Sequential(nn.Linear(12, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
        result = dp.train_dp(module, x, y, dp.DPParams(noise_multiplier=1.0, epochs=1, batch_size=16))
        assert result.fixes and "BatchNorm" in result.fixes[0]
        assert not any(isinstance(m, nn.BatchNorm1d) for m in result.module.modules())

    def test_it_stops_when_asked_and_reports_progress(self):
        x, y = _data()
        seen = []
        with pytest.raises(dp.TrainingCancelled):
            dp.train_dp(_mlp(), x, y, dp.DPParams(noise_multiplier=1.0, epochs=3, batch_size=30),
                        progress=lambda percent, stage: seen.append((percent, stage)),
                        should_cancel=lambda: len(seen) >= 1)
        assert seen == [(33, seen[0][1])] and seen[0][1].startswith("epoch 1/3 done")
