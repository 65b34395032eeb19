"""The modules of mobo import each other one way: no import (top-level or deferred inside a
function) leads from what ``mobo.study`` imports back to ``mobo.study``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """mobo modules imported anywhere in ``path``, except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    skip = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name.split(".")[0] == "mobo"}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in (ROOT / "mobo").rglob("*.py")}
    return {name: _imports(path) & set(modules) for name, path in modules.items()}


def test_nothing_that_mobo_study_imports_imports_it_back():
    graph = _graph()
    assert "mobo.ax_bridge" in graph and "mobo.study" in graph["mobo.ax_bridge"]
    seen, todo = set(), [m for m in graph["mobo.study"] if m != "mobo"]
    while todo:
        module = todo.pop()
        if module in seen or module == "mobo":  # the package's __init__ re-exports all
            continue
        seen.add(module)
        todo.extend(graph[module])
    assert "mobo.study" not in seen, sorted(seen)


def test_moved_names_keep_their_old_import_paths():
    """A user's algorithm module written against ``mobo.algorithms.base`` (its registry, before
    it moved to ``mobo.algorithms.registry``), ``leanet.train.recalibrate_batch_norm``
    (before ``leanet.batch_norm``) and ``mobo.evaluate``'s executor loop (before
    ``mobo.executor``) still import the same objects."""
    import leanet.batch_norm
    import leanet.train
    import mobo
    import mobo.evaluate
    import mobo.executor
    from mobo.algorithms import base, registry

    for name in (
        "register",
        "make_algorithm",
        "available_algorithms",
        "constrained_algorithms",
        "single_objective_algorithms",
    ):
        assert getattr(base, name) is getattr(registry, name) is getattr(mobo.algorithms, name)
    assert leanet.train.recalibrate_batch_norm is leanet.batch_norm.recalibrate_batch_norm
    assert mobo.register is registry.register
    from mobo.evaluate import ExecutorStalledError  # ImportError after e03c073

    assert ExecutorStalledError is mobo.ExecutorStalledError is mobo.executor.ExecutorStalledError
    for name in ("START_POLL_SECONDS", "run_on_executor", "DaskStarts", "check_picklable"):
        assert getattr(mobo.evaluate, name) is getattr(mobo.executor, name)
    with pytest.raises(AttributeError, match="module 'mobo.evaluate' has no attribute 'nope'"):
        mobo.evaluate.nope  # noqa: B018
