import numpy as np
import pytest
import torch

from audit.metrics import robustness as rob


def _reference_fgsm(module, x, y, *, eps, scale, lo, hi):
    """Plain FGSM over all rows at once: the textbook loop body."""
    x = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(module(x), y).backward()
    return torch.clamp(x + eps * scale * x.grad.sign(), lo, hi).detach()


def _reference_pgd(module, x, y, *, eps, steps, scale, lo, hi, start):
    adv = torch.clamp(x + eps * scale * start, lo, hi)
    for _ in range(steps):
        adv = adv.clone().requires_grad_(True)
        torch.nn.functional.cross_entropy(module(adv), y).backward()
        adv = adv.detach() + 2.5 * eps / steps * scale * adv.grad.sign()
        adv = torch.clamp(torch.min(torch.max(adv, x - eps * scale), x + eps * scale), lo, hi)
    return adv


def _accuracy(module, x, y):
    with torch.no_grad():
        return (module(x).argmax(1) == y).double().mean().item()


@pytest.fixture(scope="module")
def tensors(adult, adult_state):
    _, data, module = adult
    space = adult_state.space
    x = adult_state.to_tensor(data.x_eval)
    y = torch.as_tensor(data.y_eval)
    return module, x, y, space.scale * space.mask, space.low, space.high


class TestAgainstPlainReference:
    def test_fgsm(self, tensors, adult_result):
        module, x, y, scale, lo, hi = tensors
        adv = _reference_fgsm(module, x, y, eps=0.1, scale=scale, lo=lo, hi=hi)
        expected = _accuracy(module, adv, y) / _accuracy(module, x, y)
        assert adult_result["metrics"]["ROB-01"]["value"] == pytest.approx(expected, abs=1e-12)

    def test_pgd(self, tensors, adult_state, adult_result):
        module, x, y, scale, lo, hi = tensors
        gen = adult_state.generator(4)  # the engine's seed for the PGD random start
        start = torch.rand(x.shape, generator=gen, dtype=torch.float64).float() * 2 - 1
        adv = _reference_pgd(module, x, y, eps=0.1, steps=20, scale=scale, lo=lo, hi=hi, start=start)
        expected = _accuracy(module, adv, y) / _accuracy(module, x, y)
        assert adult_result["metrics"]["ROB-02"]["value"] == pytest.approx(expected, abs=1e-12)

    def test_batching_does_not_change_examples(self, tensors, adult_state):
        module, x, y, *_ = tensors
        x, y = x[:3000], y[:3000]
        kwargs = {"epsilon": 0.1, "steps": 5, "space": adult_state.space}
        a = rob.pgd(module, x, y, generator=torch.Generator().manual_seed(1), batch_size=3000, **kwargs)
        b = rob.pgd(module, x, y, generator=torch.Generator().manual_seed(1), batch_size=700, **kwargs)
        torch.testing.assert_close(a, b)


class TestPerturbationRules:
    def test_categorical_columns_never_move_and_range_holds(self, tensors, adult, adult_state):
        module, x, y, *_ = tensors
        _, data, _ = adult
        adv = rob.fgsm(module, x, y, epsilon=0.5, space=adult_state.space)
        cat = torch.as_tensor(data.categorical)
        assert torch.equal(adv[:, cat], x[:, cat])
        assert bool((adv >= adult_state.space.low).all() and (adv <= adult_state.space.high).all())
        moved = (adv - x)[:, ~cat].abs() / adult_state.space.scale[~cat]
        assert float(moved.max()) <= 0.5 + 1e-5

    def test_noise_accuracy_hand_checked(self):
        space = rob.PerturbationSpace(*(torch.tensor([v]) for v in (1.0, 1.0, -10.0, 10.0)))
        x, y = torch.tensor([[1.0], [-1.0]]), torch.tensor([1, 0])
        acc = rob.noise_accuracy(lambda z: (z[:, 0] > 0).long(), x, y, sigma=1e-6, draws=3, space=space,
                                 generator=torch.Generator().manual_seed(0))
        assert acc == 1.0


class TestTransferAndBlackBox:
    def test_transfer_rate_details(self, adult_result):
        entry = adult_result["metrics"]["ROB-03"]
        assert 0 <= entry["value"] <= 1 and entry["details"]["eligible_rows"] > 0

    def test_black_box_attacks_are_transferred(self, black_box_result):
        for metric_id in ("ROB-01", "ROB-02"):
            entry = black_box_result["metrics"][metric_id]
            assert "surrogate" in entry["details"]["gradients"]
            assert np.isfinite(entry["value"])
