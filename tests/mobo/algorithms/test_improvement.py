"""The probability that an observation adds hypervolume (``ImprovementRegion``)."""

import math

import pytest
import torch

from mobo.algorithms._improvement import ImprovementRegion, log_interval_probability
from mobo.algorithms.usemo import improves_front

D = torch.float64


@pytest.mark.parametrize("m", [2, 3])
def test_matches_monte_carlo(m):
    generator = torch.Generator().manual_seed(m)
    Y = torch.randn(9, m, dtype=D, generator=generator)
    ref = torch.full((m,), -1.5, dtype=D)
    mean = torch.randn(6, m, dtype=D, generator=generator)
    sigma = torch.rand(6, m, dtype=D, generator=generator) + 0.2
    exact = ImprovementRegion(Y, ref).log_probability(mean, sigma).exp()
    draws = mean + sigma * torch.randn(100_000, 6, m, dtype=D, generator=generator)
    estimate = improves_front(draws.reshape(-1, m), Y, ref).reshape(100_000, 6).to(D).mean(0)
    # Monte Carlo standard error is at most 0.5 / sqrt(1e5) = 0.0016.
    assert torch.allclose(exact, estimate, atol=0.006)


def test_without_observations_it_is_the_reference_box():
    ref = torch.tensor([0.0, 1.0], dtype=D)
    region = ImprovementRegion(torch.zeros(0, 2, dtype=D), ref)
    mean = torch.tensor([[0.5, 0.0]], dtype=D)
    sigma = torch.tensor([[1.0, 2.0]], dtype=D)
    normal = torch.distributions.Normal(0.0, 1.0)
    expected = (1 - normal.cdf(torch.tensor(-0.5))) * (1 - normal.cdf(torch.tensor(0.5)))
    assert region.log_probability(mean, sigma).exp().item() == pytest.approx(expected.item())


def test_interval_probability_keeps_both_tails():
    lower = torch.tensor([8.0, -40.0, -1.0, 38.0], dtype=D)
    upper = torch.tensor([math.inf, -39.0, 1.0, math.inf], dtype=D)
    log_p = log_interval_probability(lower, upper)
    expected = [
        torch.special.log_ndtr(torch.tensor(-8.0, dtype=D)),  # 1 - Phi(8), no cancellation
        torch.special.log_ndtr(torch.tensor(-39.0, dtype=D)),  # Phi(-39) >> Phi(-40)
        torch.log(torch.special.ndtr(torch.tensor(1.0, dtype=D)) * 2 - 1),
        torch.special.log_ndtr(torch.tensor(-38.0, dtype=D)),
    ]
    assert torch.allclose(log_p, torch.stack(expected), rtol=1e-6)
    assert torch.isfinite(log_p).all()


def test_gradients_stay_finite_far_outside_and_inside_the_region():
    Y = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=D)
    region = ImprovementRegion(Y, torch.tensor([-1.0, -1.0], dtype=D))
    mean = torch.tensor([[-500.0, -500.0], [500.0, 500.0], [0.5, 0.5]], dtype=D)
    mean.requires_grad_(True)
    sigma = torch.tensor([[1e-9, 1e-9], [1e-3, 1e-3], [1.0, 1.0]], dtype=D).requires_grad_(True)
    log_p = region.log_probability(mean, sigma)
    log_p.sum().backward()
    assert torch.isfinite(log_p).all()
    assert log_p[1].item() == pytest.approx(0.0, abs=1e-12)  # surely improves
    assert torch.isfinite(mean.grad).all() and torch.isfinite(sigma.grad).all()
    assert (mean.grad[2] > 0).all()  # a better mean is likelier to improve


def test_probability_feasible_is_the_product_of_each_constraint_s_p_c_below_0():
    # c <= 0 is feasible: a constraint predicted at -1 (sigma 1) holds with Phi(1), one at
    # +1 (sigma 2) with Phi(-0.5); flipping the sign passed every test (mutation sweep s76).
    from mobo.algorithms._improvement import log_probability_feasible

    mean = torch.tensor([[-1.0, 1.0]], dtype=D)
    sigma = torch.tensor([[1.0, 2.0]], dtype=D)
    expected = torch.special.ndtr(torch.tensor(1.0, dtype=D)) * torch.special.ndtr(
        torch.tensor(-0.5, dtype=D)
    )
    assert log_probability_feasible(mean, sigma).exp().item() == pytest.approx(expected.item())
