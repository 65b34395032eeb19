"""mobo: multi-objective Bayesian optimization on BoTorch.

>>> import mobo
>>> result = mobo.optimize(mobo.problems.make("BraninCurrin"), "qlognehvi", n_evals=30, seed=0)
>>> result.pareto_Y, result.hypervolume[-1]

Objectives are maximized (BoTorch's convention); a problem exposes ``-cost`` for a cost.
"""

import warnings

with warnings.catch_warnings():
    # linear_operator (under GPyTorch, under BoTorch) calls the deprecated torch.jit.script
    # when it is imported; the warning is theirs, not the user's to act on.
    warnings.filterwarnings(
        "ignore", message=r"`torch.jit.script` is deprecated", category=FutureWarning
    )
    import botorch  # noqa: F401

from mobo import plotting, problems  # noqa: E402
from mobo.algorithms import (
    Algorithm,
    available_algorithms,
    constrained_algorithms,
    make_algorithm,
    register,
    single_objective_algorithms,
)
from mobo.evaluate import ReferencePointWarning
from mobo.executor import ExecutorStalledError
from mobo.journal import (
    JournalError,
    JournalLockedError,
    JournalMismatchError,
    JournalRecoveryWarning,
    JournalUncheckedWarning,
)
from mobo.metrics import (
    feasible_mask,
    hypervolume,
    hypervolume_difference,
    hypervolume_trace,
    igd,
    log_hypervolume_difference,
    pareto_mask,
)
from mobo.one_call import check_resumable, optimize
from mobo.problem import EvaluationShapeError, FunctionProblem, Problem
from mobo.result import Evaluation, Result
from mobo.study import Study, StudyFailedError
from mobo.surrogate import Surrogate, SurrogateFitWarning

__all__ = [
    "Algorithm",
    "Evaluation",
    "EvaluationShapeError",
    "ExecutorStalledError",
    "FunctionProblem",
    "JournalError",
    "JournalLockedError",
    "JournalMismatchError",
    "JournalRecoveryWarning",
    "JournalUncheckedWarning",
    "Problem",
    "ReferencePointWarning",
    "Result",
    "Study",
    "StudyFailedError",
    "Surrogate",
    "SurrogateFitWarning",
    "available_algorithms",
    "check_resumable",
    "constrained_algorithms",
    "feasible_mask",
    "hypervolume",
    "hypervolume_difference",
    "hypervolume_trace",
    "igd",
    "log_hypervolume_difference",
    "make_algorithm",
    "optimize",
    "pareto_mask",
    "plotting",
    "problems",
    "register",
    "single_objective_algorithms",
]


def __getattr__(name: str):
    # mobo.ax_bridge after a plain `import mobo`, as the README writes it (its Ax part
    # needs the ax extra only when called)
    if name == "ax_bridge":
        import importlib

        return importlib.import_module("mobo.ax_bridge")
    raise AttributeError(f"module 'mobo' has no attribute {name!r}")
