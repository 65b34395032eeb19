"""Optimization algorithms, one per module, each registered under its name.

Use :func:`make_algorithm` or pass the name to :class:`mobo.Study` / :func:`mobo.optimize`;
:func:`available_algorithms` lists the names.
"""

from mobo.algorithms.ax import AxAlgorithm
from mobo.algorithms.base import Algorithm, sobol_points
from mobo.algorithms.bayesian import BayesianAlgorithm
from mobo.algorithms.imoca import IMOCA
from mobo.algorithms.mesmo import MESMO
from mobo.algorithms.mesmoc import MESMOC
from mobo.algorithms.mfosemo import MFOSEMO
from mobo.algorithms.momf import MOMF
from mobo.algorithms.nsga2 import NSGA2
from mobo.algorithms.pesmo import JES, PESMO
from mobo.algorithms.qlognehvi import QLogNEHVI
from mobo.algorithms.qparego import QParEGO
from mobo.algorithms.registry import (
    available_algorithms,
    constrained_algorithms,
    make_algorithm,
    register,
    single_objective_algorithms,
)
from mobo.algorithms.sobol import RandomSearch, Sobol
from mobo.algorithms.usemo import USeMO

__all__ = [
    "IMOCA",
    "JES",
    "MESMO",
    "MESMOC",
    "MFOSEMO",
    "MOMF",
    "NSGA2",
    "PESMO",
    "Algorithm",
    "AxAlgorithm",
    "BayesianAlgorithm",
    "QLogNEHVI",
    "QParEGO",
    "RandomSearch",
    "Sobol",
    "USeMO",
    "available_algorithms",
    "constrained_algorithms",
    "make_algorithm",
    "register",
    "single_objective_algorithms",
    "sobol_points",
]
