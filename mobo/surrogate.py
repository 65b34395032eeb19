"""Gaussian-process surrogate: one ``SingleTaskGP`` per objective in a ``ModelListGP``.

Inputs arrive in the unit cube (algorithms work there), so they are already normalized;
outputs are standardized per objective. Each fit starts from the priors' defaults and
runs to convergence, as BoTorch's ``fit_gpytorch_mll`` does, and falls back instead of
failing. Starting from the previous fit's hyperparameters for at most 60 iterations
(``warm_start=True, max_iter=60, max_attempts=2``, the default until 2026-12-04) is faster
per fit but lets one fit's optimum hold the next ones. Measured
(``benchmarks/results/surrogate_warm_start.md``): the cold fit is better at the median for
qLogNEHVI on three of the four synthetic problems and on constrained C2DTLZ2 and ends
most DTLZ2 stalls; on the threshold problems it is level (12 LEANets x 5 seeds: median
0.992 against 0.990), at up to 9% more CPU time per iteration. It is worse for USeMO on
BraninCurrin and on the threshold problems, and for MESMO on three of four problems, so
USeMO, MESMO and the algorithms built on MESMO keep the warm fit (their
``surrogate_defaults``).

Robustness, in order:
1. Constant outputs: nothing to learn; the GP keeps its prior hyperparameters.
2. A fit that raises (e.g. a Cholesky failure on near-duplicate points) or warns is retried
   from hyperparameters sampled from the priors, up to ``max_attempts`` times in total.
3. If every attempt fails, the last good hyperparameters for that objective (or the
   priors' defaults) are used and a :class:`SurrogateFitWarning` says so.
Duplicate inputs need nothing special: the likelihood's noise is bounded below.
"""

from __future__ import annotations

import warnings
from types import MappingProxyType
from typing import Any

import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.exceptions.warnings import InputDataWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.transforms.input import Warp
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import (
    get_gaussian_likelihood_with_gamma_prior,
    get_matern_kernel_with_gamma_prior,
)
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor

from mobo.problem import DTYPE

#: How the GP's constant mean is set (see :class:`Surrogate`).
PRIOR_MEANS = ("fitted", "worst")
#: The GP's kernel and hyperparameter priors (see :class:`Surrogate`).
KERNELS = ("dim-scaled", "gamma")
#: The fit that was the default until 2026-12-04 (see the module docstring), as
#: :class:`Surrogate` options: USeMO's and MESMO's still (their ``surrogate_defaults``).
WARM_FIT = MappingProxyType({"warm_start": True, "max_iter": 60, "max_attempts": 2})


class SurrogateFitWarning(RuntimeWarning):
    """A GP fit failed and the surrogate fell back to earlier or default hyperparameters."""


class Surrogate:
    """Fits the per-objective GP model list, remembering the last good hyperparameters.

    Args:
        max_iter: Cap on L-BFGS-B iterations per fit attempt.
        max_attempts: Fit attempts per objective before falling back (the first starts
            from the priors' defaults, or the warm start's, later ones from prior samples).
        warm_start: Start each fit from the previous fit's hyperparameters (default False:
            each fit starts afresh, so it does not depend on the fits before it).
        input_warping: Learn a Kumaraswamy input warping per dimension (BoTorch ``Warp``),
            which helps on objectives whose variation concentrates near a bound.
        prior_mean: ``"fitted"`` (default: the constant mean is a hyperparameter, fitted
            like the others) or ``"worst"``: fixed at the worst observation of the
            objective (of a constraint: its largest value), so far from the data the GP
            predicts no better than the worst seen [DeAth2020]_. With a fitted mean,
            unexplored faces of the cube revert to the average observation with a large
            variance and look promising to every acquisition (measured on DTLZ2:
            ``benchmarks/results/prior_mean.md``).
        kernel: ``"dim-scaled"`` (default: BoTorch's ``SingleTaskGP`` default, an RBF kernel
            whose log-normal lengthscale prior grows with the input dimension
            [Hvarfner2024]_) or ``"gamma"``: Matern-5/2 with a Gamma(3, 6) lengthscale
            prior, an output scale and a Gamma noise prior, BoTorch's default before 0.12.
            The dimension-scaled prior favours lengthscales of several unit cubes, so an
            input whose effect is symmetric (DTLZ2's distance terms, sampled on both faces)
            is fitted as irrelevant and the acquisition keeps proposing faces; the Gamma
            prior ends that on DTLZ2 and helps on BraninCurrin but loses on ZDT1 and
            VehicleSafety (``benchmarks/results/gp_kernel.md``), so it is an option.

    .. [DeAth2020] G. De Ath, J. E. Fieldsend, R. M. Everson. What do you mean? The role of
       the mean function in Bayesian optimisation. GECCO 2020 (companion).
    .. [Hvarfner2024] C. Hvarfner, E. O. Hellsten, L. Nardi. Vanilla Bayesian Optimization
       Performs Great in High Dimensions. ICML 2024.
    """

    def __init__(
        self,
        *,
        max_iter: int = 1000,
        max_attempts: int = 5,
        warm_start: bool = False,
        input_warping: bool = False,
        prior_mean: str = "fitted",
        kernel: str = "dim-scaled",
    ) -> None:
        if prior_mean not in PRIOR_MEANS:
            raise ValueError(f"prior_mean must be one of {PRIOR_MEANS}, got {prior_mean!r}")
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        if max_iter < 1 or max_attempts < 1:
            raise ValueError(
                f"max_iter and max_attempts must be >= 1, got {max_iter}, {max_attempts}"
            )
        self.max_iter = max_iter
        self.max_attempts = max_attempts
        self.warm_start = warm_start
        self.input_warping = input_warping
        self.prior_mean = prior_mean
        self.kernel = kernel
        self._last_good: dict[int, dict[str, Tensor]] = {}

    def state_dict(self) -> dict[str, Any]:
        """The last good hyperparameters of each objective (a failed fit's fallback, and the
        next fit's start with ``warm_start``), as JSON-serializable nested lists:
        ``{"hyperparameters": {"0": {name: values}}}``.
        Floats survive JSON exactly, so a restored surrogate fits exactly as this one would.
        Empty before the first fit."""
        if not self._last_good:
            return {}
        return {
            "hyperparameters": {
                str(j): {name: value.tolist() for name, value in values.items()}
                for j, values in sorted(self._last_good.items())
            }
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self._last_good = {
            int(j): {name: torch.tensor(value, dtype=DTYPE) for name, value in values.items()}
            for j, values in state.get("hyperparameters", {}).items()
        }

    def fit(self, U: Tensor, Y: Tensor, num_objectives: int | None = None) -> ModelListGP:
        """Fit a GP per objective.

        Args:
            U: An ``n x d`` tensor of inputs in the unit cube.
            Y: An ``n x m`` tensor of objective values (no NaN).
            num_objectives: With constraints: the first ``num_objectives`` columns are
                objectives (maximized), the rest constraint values (``<= 0`` feasible), whose
                worst observation, for ``prior_mean="worst"``, is the largest. ``None``: all
                columns are objectives.

        Returns:
            A ``ModelListGP`` in eval mode with ``m`` outputs.
        """
        U = U.to(DTYPE)
        Y = Y.to(DTYPE)
        if U.dim() != 2 or Y.dim() != 2 or U.shape[0] != Y.shape[0]:
            raise ValueError(
                f"U (n x d) and Y (n x m) must match, got {tuple(U.shape)}, {tuple(Y.shape)}"
            )
        if U.shape[0] < 1:
            raise ValueError("cannot fit a surrogate on zero observations")
        if not torch.isfinite(Y).all():
            raise ValueError("Y must be finite; drop failed evaluations before fitting")
        m = Y.shape[1] if num_objectives is None else num_objectives
        models = [self._fit_one(j, U, Y[:, j : j + 1], j >= m) for j in range(Y.shape[1])]
        model = ModelListGP(*models)
        model.eval()
        return model

    def _build(self, U: Tensor, y: Tensor) -> SingleTaskGP:
        input_transform = None
        if self.input_warping:
            input_transform = Warp(d=U.shape[1], indices=list(range(U.shape[1])))
        modules = {}
        if self.kernel == "gamma":
            modules = {
                "covar_module": get_matern_kernel_with_gamma_prior(U.shape[1]),
                "likelihood": get_gaussian_likelihood_with_gamma_prior(),
            }
        with warnings.catch_warnings():
            # BoTorch warns that a constant objective standardizes to std 0; that is handled.
            warnings.simplefilter("ignore", InputDataWarning)
            return SingleTaskGP(
                U,
                y,
                outcome_transform=Standardize(m=1),
                input_transform=input_transform,
                **modules,
            ).to(DTYPE)

    def _fit_one(self, j: int, U: Tensor, y: Tensor, constraint: bool) -> SingleTaskGP:
        model = self._build(U, y)
        if float(y.max() - y.min()) <= 1e-12 * max(1.0, float(y.abs().max())):
            model.eval()
            return model
        previous = self._last_good.get(j)
        if self.warm_start and previous is not None:
            _load_hyperparameters(model, previous)
        self._set_prior_mean(model, constraint)
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # fit retries on warnings itself
                fit_gpytorch_mll(
                    mll,
                    optimizer_kwargs={"options": {"maxiter": self.max_iter}},
                    max_attempts=self.max_attempts,
                )
        except (ModelFittingError, RuntimeError, ValueError) as err:
            fallback = "the last good hyperparameters" if previous is not None else "prior defaults"
            warnings.warn(
                f"GP fit for objective {j} failed after {self.max_attempts} attempts "
                f"({type(err).__name__}: {err}); using {fallback}",
                SurrogateFitWarning,
                stacklevel=3,
            )
            model = self._build(U, y)
            if previous is not None:
                _load_hyperparameters(model, previous)
            self._set_prior_mean(model, constraint)
        else:
            self._last_good[j] = _hyperparameters(model)
        model.eval()
        return model

    def _set_prior_mean(self, model: SingleTaskGP, constraint: bool) -> None:
        """With ``prior_mean="worst"``: fix the constant mean at the worst (standardized)
        training target, the lowest objective or the largest constraint value, and leave it
        out of the fit."""
        if self.prior_mean == "worst":
            targets = model.train_targets
            with torch.no_grad():
                model.mean_module.constant = targets.max() if constraint else targets.min()
            model.mean_module.raw_constant.requires_grad_(False)


def _hyperparameters(model: SingleTaskGP) -> dict[str, Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _load_hyperparameters(model: SingleTaskGP, values: dict[str, Any]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in values.items():
            if name in params and params[name].shape == value.shape:
                params[name].copy_(value)
