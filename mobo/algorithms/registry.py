"""The registry that names the optimization algorithms: each built-in module registers its
class with :func:`register`, and :func:`make_algorithm` builds one by name for
:class:`mobo.Study` and :func:`mobo.optimize`. A user's own
:class:`~mobo.algorithms.base.Algorithm` subclass registered the same way is chosen by name
like a built-in one.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mobo.algorithms.base import Algorithm
    from mobo.problem import Problem

_REGISTRY: dict[str, type[Algorithm]] = {}


def register(cls: type[Algorithm]) -> type[Algorithm]:
    """Class decorator: make ``cls`` available by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def available_algorithms(*, fidelities: bool = True) -> list[str]:
    """Names accepted by :func:`make_algorithm`, :class:`mobo.Study` and :func:`mobo.optimize`;
    with ``fidelities=False``, only those that work on a problem without fidelities (e.g. a
    command line's choices for such problems)."""
    _import_builtin_algorithms()
    return sorted(name for name, cls in _REGISTRY.items() if fidelities or not cls.needs_fidelities)


def make_algorithm(name: str, problem: Problem, **options: Any) -> Algorithm:
    """Build the algorithm registered as ``name`` for ``problem``.

    Raises:
        ValueError: If ``name`` is unknown (the message lists the known names) or an
            option is not one the algorithm takes.
    """
    _import_builtin_algorithms()
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {sorted(_REGISTRY)}")
    cls = _REGISTRY[name.lower()]
    try:
        return cls(problem, **options)
    except TypeError as err:
        hint = _surrogate_hint(cls, options)
        raise ValueError(f"algorithm {name!r}: bad options {options}: {err}{hint}") from err


def _surrogate_hint(cls: type[Algorithm], options: dict[str, Any]) -> str:
    """Where the options of a GP algorithm's surrogate go, when some were passed as the
    algorithm's: ``warm_start=True``, as the README once wrote it, was refused with only
    "unexpected keyword argument 'warm_start'"."""
    from mobo.algorithms.bayesian import BayesianAlgorithm
    from mobo.surrogate import Surrogate

    ours = inspect.signature(Surrogate).parameters
    moved = {key: value for key, value in options.items() if key in ours}
    if not moved or not issubclass(cls, BayesianAlgorithm):
        return ""
    which = "an option" if len(moved) == 1 else "options"
    return f"; {', '.join(moved)}: {which} of the GP surrogate, pass it as surrogate={moved!r}"


def constrained_algorithms(problem: Problem | None = None) -> list[str]:
    """Names of the algorithms that handle a problem's black-box constraints; given a
    ``problem`` without fidelities, without those that need fidelities."""
    _import_builtin_algorithms()
    usable = problem is None or problem.has_fidelities
    return sorted(
        name
        for name, cls in _REGISTRY.items()
        if cls.supports_constraints and (usable or not cls.needs_fidelities)
    )


def single_objective_algorithms() -> list[str]:
    """Names of the algorithms that also optimize a single objective."""
    _import_builtin_algorithms()
    return sorted(name for name, cls in _REGISTRY.items() if cls.min_objectives <= 1)


def _import_builtin_algorithms() -> None:
    # Importing the package registers every built-in algorithm exactly once.
    import mobo.algorithms  # noqa: F401
