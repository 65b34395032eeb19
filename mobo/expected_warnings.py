"""Library warnings that normal runs raise, caught where they arise and counted.

GPyTorch's linear_operator adds jitter to a nearly singular covariance ("A not p.d., added
jitter"), and BoTorch retries an acquisition optimization from new starting points
("Optimization failed ... Trying again"; "... on the second try": it keeps the best point of
the retry), reports an abnormal L-BFGS-B line search, or starts from random points where the
acquisition is zero on every raw sample ("Unable to find non-zero acquisition function
values": early, when no sample improves on the front), or samples qLogNEHVI's posterior
without its cached Cholesky factor when updating it fails ("Low-rank cholesky updates failed
due NaNs ...": on a nearly singular covariance, notebook 02's 30-evaluation run). Each
is expected and handled by the library itself; printed on most iterations they bury what a
user must act on. So they are counted (a study keeps the counts in its journal and result)
and logged at debug level; every other warning passes through unchanged. mobo's own
algorithms run BoTorch's optimizer without retries (:meth:`BayesianAlgorithm.maximize
<mobo.algorithms.bayesian.BayesianAlgorithm.maximize>`), so the two retry kinds come from
Ax, which retries.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType

logger = logging.getLogger("mobo")

#: Name of each expected warning and a pattern of its message.
EXPECTED = {
    "jitter": re.compile(r"not p\.d\., added jitter"),
    "optimization_retry": re.compile(r"Optimization failed.*Trying again", re.S),
    "optimizer_abnormal": re.compile(r"Optimization failed within `scipy\.optimize\.minimize`"),
    "optimization_retry_failed": re.compile(r"Optimization failed on the second try"),
    "flat_acquisition": re.compile(r"Unable to find non-zero acquisition function values"),
    "cholesky_fallback": re.compile(r"Low-rank cholesky updates failed"),
}


def kind_of(message: str) -> str | None:
    """The name of the expected warning ``message`` is, or None."""
    for kind, pattern in EXPECTED.items():
        if pattern.search(message):
            return kind
    return None


@contextmanager
def counting_expected_warnings() -> Iterator[Counter]:
    """Inside the block, count (and log at debug) the expected warnings; re-raise the rest
    as they were raised."""
    counts: Counter = Counter()
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield counts
    finally:
        for w in caught:
            kind = kind_of(str(w.message))
            if kind is None:
                warn_again([w])
            else:
                counts[kind] += 1
                logger.debug("handled %s warning: %s", kind, str(w.message).splitlines()[0])


def warn_again(caught: Iterable[warnings.WarningMessage]) -> None:
    """Warn each of ``caught`` (recorded by ``catch_warnings(record=True)``) again, as it
    was raised, to the filters in force now: the caller's, as if it had never been caught.

    With the module that raised it: filters match a module by name (``filterwarnings(...,
    module=...)``, ``-W``, pytest's ``filterwarnings``), and without one ``warn_explicit``
    matches the file's path instead, so an ignored warning was printed on every ask. One
    that the filters show once ("default", "module", "once") is passed on once per process."""
    for w in caught:
        module = _module_of(w.filename)
        name = w.filename.removesuffix(".py") if module is None else module.__name__
        if _passed_on_already(w, name):
            continue
        warnings.warn_explicit(
            w.message,
            w.category,
            w.filename,
            w.lineno,
            module=name,
            module_globals=None if module is None else vars(module),
            source=w.source,
        )


#: What :func:`warn_again` passed on that the caller's filters show once (per code line,
#: module or process). Python's registries cannot hold it: each ``catch_warnings`` exit, one
#: per ask at least, empties them, and a "default" filter printed a warning on each of 8 asks.
_PASSED: set[tuple] = set()


def _passed_on_already(w: warnings.WarningMessage, module: str) -> bool:
    """Whether ``w`` (raised in ``module``) was passed on before and the first filter that
    matches it now ("default", "module", "once") shows it once; notes it as passed on."""
    text = str(w.message)
    action = warnings.defaultaction
    for action_, message, category, module_, lineno in warnings.filters:  # as Python matches
        if (
            (message is None or message.match(text))
            and issubclass(w.category, category)
            and (module_ is None or module_.match(module))
            and lineno in (0, w.lineno)
        ):
            action = action_
            break
    where = {"default": (w.filename, w.lineno), "module": (w.filename,), "once": ()}.get(action)
    if where is None:
        return False
    key = (text, w.category, *where)
    if key in _PASSED:
        return True
    _PASSED.add(key)
    return False


_MODULES: dict[str, ModuleType] = {}  # imported modules by source file


def _module_of(filename: str) -> ModuleType | None:
    """The imported module whose source file is ``filename``, or None (a script, a string)."""
    if filename not in _MODULES:
        for module in list(sys.modules.values()):
            if isinstance(path := getattr(module, "__file__", None), str):
                _MODULES.setdefault(path, module)
    return _MODULES.get(filename)


@contextmanager
def quiet_torch_extension_log() -> Iterator[None]:
    """BoTorch's qLogNEHVI tries once per process to build a fused C++ kernel through
    ``torch.utils.cpp_extension``, whose import logs "No CUDA runtime is found" on a CPU-only
    machine with a CUDA build of torch: noise to a user (the kernel is optional, and BoTorch
    warns itself if it falls back). That one logger is raised to ERROR meanwhile."""
    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)
