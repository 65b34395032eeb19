from __future__ import annotations

import warnings

import pytest
import torch

import mobo
from mobo.surrogate import Surrogate, SurrogateFitWarning


def _data(n=20, d=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    U = torch.rand(n, d, generator=generator, dtype=torch.float64)
    Y = torch.stack([U.sum(-1), (U > 0.5).double().sum(-1)], dim=-1)  # smooth and step
    return U, Y


def test_fit_returns_one_gp_per_objective_that_interpolates_smooth_data():
    U, Y = _data()
    model = Surrogate().fit(U, Y)
    assert len(model.models) == 2
    with torch.no_grad():
        mean = model.posterior(U).mean
    assert mean.shape == (20, 2)
    assert torch.allclose(mean[:, 0], Y[:, 0], atol=0.05)


def test_duplicates_and_constant_outputs_fit_without_error():
    U, Y = _data()
    U = torch.cat([U, U[:5]])  # exact duplicates with different values
    Y = torch.cat([Y, Y[:5] + 0.3])
    Y[:, 1] = 2.0  # a constant objective
    with warnings.catch_warnings():
        warnings.simplefilter("error", SurrogateFitWarning)
        model = Surrogate().fit(U, Y)
    with torch.no_grad():
        posterior = model.posterior(torch.rand(4, 3, dtype=torch.float64))
    assert torch.isfinite(posterior.mean).all() and torch.isfinite(posterior.variance).all()
    torch.testing.assert_close(posterior.mean[:, 1], torch.full((4,), 2.0, dtype=torch.float64))


def test_a_failing_fit_falls_back_to_the_last_good_hyperparameters(monkeypatch):
    U, Y = _data()
    surrogate = Surrogate()
    good = surrogate.fit(U, Y)
    good_lengthscale = good.models[0].covar_module.lengthscale.detach().clone()

    def broken_fit(*args, **kwargs):
        raise RuntimeError("cholesky_cpu: U(3,3) is zero, singular U.")

    monkeypatch.setattr(mobo.surrogate, "fit_gpytorch_mll", broken_fit)
    with pytest.warns(SurrogateFitWarning, match="using the last good hyperparameters"):
        fallback = surrogate.fit(U, Y)
    torch.testing.assert_close(fallback.models[0].covar_module.lengthscale, good_lengthscale)
    with pytest.warns(SurrogateFitWarning, match="using prior defaults"):
        Surrogate().fit(U, Y)


def test_by_default_a_fit_does_not_depend_on_the_fits_before_it():
    U, Y = _data()
    other_U, other_Y = _data(n=12, seed=1)
    surrogate = Surrogate()
    surrogate.fit(other_U, 3.0 * other_Y.flip(-1))  # a different optimum to start from
    after = surrogate.fit(U, Y)
    fresh = Surrogate().fit(U, Y)
    for a, b in zip(after.models, fresh.models, strict=True):
        torch.testing.assert_close(a.covar_module.lengthscale, b.covar_module.lengthscale)
        torch.testing.assert_close(a.likelihood.noise, b.likelihood.noise)


def test_warm_start_reuses_the_previous_hyperparameters(monkeypatch):
    U, Y = _data()
    surrogate = Surrogate(warm_start=True)
    first = surrogate.fit(U, Y)
    seen = {}

    def record_start(mll, **kwargs):
        seen["lengthscale"] = mll.model.covar_module.lengthscale.detach().clone()
        return mll

    monkeypatch.setattr(mobo.surrogate, "fit_gpytorch_mll", record_start)
    surrogate.fit(U, Y)
    torch.testing.assert_close(seen["lengthscale"], first.models[1].covar_module.lengthscale)


def test_bad_input_is_rejected():
    U, Y = _data()
    with pytest.raises(ValueError, match="must match"):
        Surrogate().fit(U, Y[:3])
    Y[0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        Surrogate().fit(U, Y)


def test_worst_prior_mean_predicts_the_worst_observation_far_from_the_data():
    generator = torch.Generator().manual_seed(0)
    U = torch.rand(12, 3, dtype=torch.float64, generator=generator)
    Y = torch.stack([U.sum(-1), -U[:, 0]], -1)
    far = torch.full((1, 3), 5.0, dtype=torch.float64)
    fitted = Surrogate().fit(U, Y)
    worst = Surrogate(prior_mean="worst").fit(U, Y)
    with torch.no_grad():
        torch.testing.assert_close(worst.posterior(far).mean[0], Y.min(dim=0).values)
        assert (fitted.posterior(far).mean[0] > Y.min(dim=0).values + 0.1).all()
    for sub in worst.models:  # fixed, not fitted
        assert not sub.mean_module.raw_constant.requires_grad
    with pytest.raises(ValueError, match="prior_mean"):
        Surrogate(prior_mean="optimistic")


def test_worst_prior_mean_of_a_constraint_is_its_largest_value():
    # c <= 0 is feasible, so the worst a constraint's GP may predict far from the data is
    # the largest value seen: its smallest would make unexplored regions look feasible.
    generator = torch.Generator().manual_seed(0)
    U = torch.rand(12, 3, dtype=torch.float64, generator=generator)
    Y = torch.stack([U.sum(-1), U[:, 0] - 0.5], -1)
    far = torch.full((1, 3), 5.0, dtype=torch.float64)
    model = Surrogate(prior_mean="worst").fit(U, Y, num_objectives=1)
    with torch.no_grad():
        mean = model.posterior(far).mean[0]
    torch.testing.assert_close(mean, torch.stack([Y[:, 0].min(), Y[:, 1].max()]))
    # A constrained problem's algorithm tells the surrogate which columns are constraints.
    problem = mobo.problems.make("ConstrainedBraninCurrin")
    algorithm = mobo.make_algorithm("qlognehvi", problem, surrogate={"prior_mean": "worst"})
    outcomes = torch.cat([Y[:, :1], -U[:, 1:2], Y[:, 1:]], dim=-1)  # 2 objectives, then c
    model = algorithm.fit_model(U[:, :2], outcomes)
    with torch.no_grad():
        mean = model.posterior(far[:, :2]).mean[0]
    torch.testing.assert_close(
        mean, torch.cat([outcomes[:, :2].min(0).values, Y[:, 1].max()[None]])
    )


def test_a_problem_s_surrogate_options_are_defaults_a_user_overrides():
    problem = mobo.problems.make("BraninCurrin")
    problem.surrogate_options = {"prior_mean": "worst"}  # as ThresholdProblem asks
    assert mobo.make_algorithm("usemo", problem).surrogate.prior_mean == "worst"
    mine = mobo.make_algorithm("qlognehvi", problem, surrogate={"prior_mean": "fitted"})
    assert mine.surrogate.prior_mean == "fitted"
    plain = mobo.problems.make("BraninCurrin")
    assert mobo.make_algorithm("usemo", plain).surrogate.prior_mean == "fitted"


def test_mesmo_and_usemo_keep_the_warm_fit_they_were_measured_with():
    # surrogate_warm_start.md: the cold default set MESMO and USeMO back; MESMOC measured
    # higher cold
    problem = mobo.problems.make("BraninCurrin")
    warm = {"mesmo", "usemo"}
    for name in ["mesmo", "mesmoc", "qlognehvi", "usemo", "pesmo"]:
        surrogate = mobo.make_algorithm(name, problem).surrogate
        assert surrogate.warm_start == (name in warm), name
        assert surrogate.max_iter == (60 if name in warm else 1000), name
    from mobo.algorithms.imoca import IMOCA
    from mobo.algorithms.mfosemo import MFOSEMO

    for algorithm in (MFOSEMO, IMOCA):  # they need a problem with fidelities
        assert algorithm.surrogate_defaults["warm_start"], algorithm.name
    mine = mobo.make_algorithm("mesmo", problem, surrogate={"warm_start": False})
    assert not mine.surrogate.warm_start and mine.surrogate.max_iter == 60


@pytest.mark.parametrize("kernel", ["dim-scaled", "gamma"])
def test_either_kernel_fits_and_interpolates_smooth_data(kernel):
    from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel
    from gpytorch.priors import GammaPrior, LogNormalPrior

    U, Y = _data()
    model = Surrogate(kernel=kernel).fit(U, Y)
    covar = model.models[0].covar_module
    if kernel == "gamma":  # BoTorch's default before 0.12
        assert isinstance(covar, ScaleKernel) and isinstance(covar.base_kernel, MaternKernel)
        assert covar.base_kernel.nu == 2.5
        assert isinstance(covar.base_kernel.lengthscale_prior, GammaPrior)
    else:  # BoTorch's SingleTaskGP default
        assert isinstance(covar, RBFKernel)
        assert isinstance(covar.lengthscale_prior, LogNormalPrior)
    with torch.no_grad():
        mean = model.posterior(U).mean
    assert torch.allclose(mean[:, 0], Y[:, 0], atol=0.05)
    with pytest.raises(ValueError, match="kernel"):
        Surrogate(kernel="rbf")


def test_the_kernel_is_an_algorithm_option():
    problem = mobo.problems.make("BraninCurrin")
    assert mobo.make_algorithm("mesmo", problem).surrogate.kernel == "dim-scaled"
    mine = mobo.make_algorithm("mesmo", problem, surrogate={"kernel": "gamma"})
    assert mine.surrogate.kernel == "gamma"


def test_input_warping_warps_every_input():
    # Mutation sweep s76: leaving the last input out of the warp passed every test.
    U, Y = _data(d=3)
    model = Surrogate(input_warping=True, max_iter=5, max_attempts=1).fit(U, Y)
    for sub in model.models:
        assert sorted(sub.input_transform.indices.tolist()) == [0, 1, 2]


def test_a_restored_state_is_the_saved_one_exactly():
    # The journal restores it after a resume: in float32 (mutation sweep s76) a resumed
    # warm-started fit started elsewhere than the uninterrupted one, and no surrogate test saw.
    import json

    U, Y = _data()
    surrogate = Surrogate(warm_start=True)
    surrogate.fit(U, Y)
    state = json.loads(json.dumps(surrogate.state_dict()))
    restored = Surrogate(warm_start=True)
    restored.load_state_dict(state)
    assert restored.state_dict() == state
    for values in restored._last_good.values():
        assert all(value.dtype == torch.float64 for value in values.values())
