"""The Ax side of a mobo problem: an Ax ``Client`` that describes it, and trials from points.

Shared by :mod:`mobo.algorithms.ax` (which proposes with Ax) and :mod:`mobo.ax_bridge`
(which moves whole studies between mobo and Ax). Kept apart from both so the imports run
one way: ``study -> algorithms -> ax_client`` and ``ax_bridge -> study, ax_client``.
"""

from __future__ import annotations

import keyword
import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from mobo.problem import DTYPE, Problem

if TYPE_CHECKING:
    from ax.api.client import Client


def parameter_names(problem: Problem) -> list[str]:
    """The Ax parameter name of each input: ``x0 .. x{d-1}``."""
    return [f"x{i}" for i in range(problem.dim)]


def metric_names(problem: Problem) -> list[str]:
    """The Ax metric name of each outcome, objectives then constraints: its name made an
    identifier, made unique.

    Ax parses objectives and thresholds from strings, so ``"energy ratio"`` becomes
    ``"energy_ratio"``; one it cannot take becomes ``f{j}_{name}``, with a count added if
    that is taken too (``["f1_lambda", "lambda"]`` gave ``f1_lambda`` twice).
    """
    names: list[str] = []
    taken = _parser_names()
    for j, name in enumerate([*problem.objective_names, *problem.constraint_names]):
        name = re.sub(r"\W+", "_", name).strip("_")
        if not name or name[0].isdigit() or name in names or name in taken:
            base = name = f"f{j}_{name}".rstrip("_")
            count = 1
            while name in names or name in taken:
                name, count = f"{base}_{count}", count + 1
        names.append(name)
    return names


#: The narrowest input range Ax accepts (``ax.core.parameter``: 100 x its EPS, 1.5e-7).
AX_MIN_RANGE = 1.5e-5


def check_ranges(problem: Problem, d: int | None = None) -> None:
    """Refuse inputs (of the first ``d``) too narrow for Ax, before anything is evaluated:
    Ax refused them only at the first model ask. mobo's other algorithms search the unit
    cube and take any range."""
    widths = (problem.bounds[1] - problem.bounds[0])[:d]
    narrow = [f"x{i}: {w:.3g}" for i, w in enumerate(widths.tolist()) if w < AX_MIN_RANGE]
    if narrow:
        raise ValueError(
            f"Ax refuses input ranges narrower than {AX_MIN_RANGE:g} ({', '.join(narrow)}): "
            "rescale those inputs, or choose another algorithm"
        )


def _parser_names() -> set[str]:
    """Names Ax's expression parser (sympy) refuses as metrics: Python keywords and
    sympy's own (an objective named ``E``, ``gamma`` or ``lambda`` failed at the first
    model ask, after the initial design was paid for)."""
    try:
        import sympy
    except ImportError:  # no Ax either
        return set(keyword.kwlist)
    return set(keyword.kwlist) | (set(dir(sympy)) - {"oo"})


def require_ax(what: str) -> None:
    """Fail with what to install when ax-platform is missing: ``what`` (``"the 'ax'
    algorithm"``) needs it. Every lazy import of ax goes through here; a bare import gave
    ``No module named 'ax'`` without naming the extra."""
    try:
        import ax  # noqa: F401
    except ImportError as err:
        raise ImportError(f"{what} needs ax-platform: pip install 'leanet-mobo[ax]'") from err


def new_client(
    problem: Problem, *, seed: int | None = None, num_inputs: int | None = None
) -> Client:
    """An Ax ``Client`` whose experiment is ``problem``: parameters, objectives, thresholds.

    The objectives' reference point becomes their objective thresholds (with two or more
    objectives; a single objective has none in Ax), and a black-box
    constraint ``c(x) <= 0`` a metric with the outcome constraint ``c <= 0``. A fidelity
    input is an ordered choice of its levels (over the range from the first to the target
    level if continuous), so Ax proposes no fidelity the problem lacks; Ax's ``Client``
    has no notion of a target fidelity, so it counts cheap results as any others.

    Args:
        problem: The problem.
        seed: Ax's ``random_seed`` (its candidate generation), or None.
        num_inputs: Make parameters of the first this many inputs only (default all), e.g.
            without a fidelity input that the ``ax`` algorithm keeps at the target.
    """
    require_ax("an Ax client (mobo.ax_bridge.new_client, to_ax)")
    from ax.api.client import Client
    from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig

    d = problem.dim if num_inputs is None else num_inputs
    check_ranges(problem, d)
    client = Client(random_seed=seed)
    lower, upper = problem.bounds[:, :d].tolist()
    parameters: list = [
        RangeParameterConfig(name=name, parameter_type="float", bounds=(lo, hi))
        for name, lo, hi in zip(parameter_names(problem)[:d], lower, upper, strict=True)
    ]
    if problem.fidelity_levels is not None and d == problem.dim:
        name, levels = parameter_names(problem)[-1], problem.fidelity_levels.tolist()
        parameters[-1] = (
            RangeParameterConfig(name=name, parameter_type="float", bounds=(levels[0], levels[-1]))
            if problem.fidelity_continuous
            else ChoiceParameterConfig(
                name=name, values=levels, parameter_type="float", is_ordered=True
            )
        )
    with quiet_ax():
        client.configure_experiment(
            parameters=parameters,
            name=re.sub(r"\W+", "_", problem.name),
            description=f"mobo problem {problem.name!r}",
        )
        objectives, thresholds = [], []
        reference = problem.natural(problem.ref_point).tolist()
        names = metric_names(problem)
        m = problem.num_objectives
        for name, sense, ref in zip(names[:m], problem.senses, reference, strict=True):
            objectives.append(name if sense == "max" else f"-{name}")
            thresholds.append(f"{name} {'>=' if sense == 'max' else '<='} {ref!r}")
        if m == 1:
            # Ax has objective thresholds only for several objectives; on a single one it
            # reads them as an outcome constraint on the objective and refuses it.
            thresholds = []
        thresholds += [f"{name} <= 0.0" for name in names[m:]]
        client.configure_optimization(
            objective=", ".join(objectives), outcome_constraints=thresholds
        )
    return client


def parameters_of(problem: Problem, x: Tensor | Sequence[float]) -> dict[str, float]:
    """The Ax parameterization of a point (clipped into the bounds, a fidelity put on its
    nearest level or range, as :func:`new_client` declares it): of all ``d`` inputs, or
    of the first ``len(x)`` for a client made with ``num_inputs``."""
    x = torch.as_tensor(x, dtype=DTYPE)
    d = x.shape[-1]
    x = x.clamp(problem.bounds[0, :d], problem.bounds[1, :d])
    if problem.fidelity_levels is not None and d == problem.dim:
        levels = problem.fidelity_levels.to(DTYPE)
        x = x.clone()
        x[-1] = (
            x[-1].clamp(levels[0], levels[-1])
            if problem.fidelity_continuous
            else levels[problem.fidelity_index(x.unsqueeze(0))[0]]
        )
    return dict(zip(parameter_names(problem)[:d], x.tolist(), strict=True))


def attach_evaluation(
    client: Client,
    problem: Problem,
    x: Tensor | Sequence[float],
    y: Tensor | Sequence[float] | None,
    *,
    error: str | None = None,
) -> int:
    """Attach one evaluation as a trial and return its index.

    Args:
        client: A client made by :func:`new_client` for ``problem``.
        problem: The problem whose point and outcomes these are (names, senses, scales).
        x: A point: its ``d`` inputs, or the client's first ``num_inputs``.
        y: Its ``m`` objective values (maximized, mobo's convention) then its ``k``
            constraint values, or None for a failed evaluation (marked FAILED with
            ``error``).
        error: Why a failed evaluation failed (``"failed"`` when None).
    """
    with quiet_ax():
        index = client.attach_trial(parameters=parameters_of(problem, x))
        if y is None:
            client.mark_trial_failed(index, failed_reason=error or "failed")
        else:
            natural = natural_outcomes(problem, torch.as_tensor(y, dtype=DTYPE)).tolist()
            client.complete_trial(
                index, raw_data=dict(zip(metric_names(problem), natural, strict=True))
            )
    return index


def natural_outcomes(problem: Problem, Y: Tensor) -> Tensor:
    """Outcomes (``... x (m + k)``) with the objectives in their natural sign (Ax's values);
    its own inverse. Constraint values keep theirs."""
    objectives, constraints = problem.split_outcomes(Y)
    return torch.cat([problem.natural(objectives), constraints], dim=-1)


@contextmanager
def quiet_ax(level: int = logging.WARNING) -> Iterator[None]:
    """Silence Ax's INFO logging (one line per trial) and the deprecation warnings Ax's own
    code raises (Ax 1.3 against pandas 3) inside the block, then restore both."""
    loggers = [
        logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and (name == "ax" or name.startswith("ax."))
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(level, logger.level))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ax\.")
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"ax\.")
            yield
    finally:
        for logger, previous in zip(loggers, levels, strict=True):
            logger.setLevel(previous)
