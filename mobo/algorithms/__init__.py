"""Optimization algorithms, one per module, each registered under its name.

Use :func:`make_algorithm` or pass the name to :class:`mobo.Study` / :func:`mobo.optimize`;
:func:`available_algorithms` lists the names.
"""

from mobo.algorithms.base import (
    Algorithm,
    available_algorithms,
    make_algorithm,
    register,
    sobol_points,
)
from mobo.algorithms.bayesian import BayesianAlgorithm
from mobo.algorithms.nsga2 import NSGA2
from mobo.algorithms.qlognehvi import QLogNEHVI
from mobo.algorithms.qparego import QParEGO
from mobo.algorithms.sobol import RandomSearch, Sobol

__all__ = [
    "NSGA2",
    "Algorithm",
    "BayesianAlgorithm",
    "QLogNEHVI",
    "QParEGO",
    "RandomSearch",
    "Sobol",
    "available_algorithms",
    "make_algorithm",
    "register",
    "sobol_points",
]
