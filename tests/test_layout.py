"""The architecture a newcomer should see: arrows run one way (benchmarks -> leanet ->
mobo), no package imports itself in a circle at import time, no module grows much past
500 lines (the project's style, README "Layout"), and no member stays that nothing reads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mobo", "leanet")
#: What each package may import from this project (benchmarks import both; nothing imports them).
ALLOWED = {"mobo": {"mobo"}, "leanet": {"leanet", "mobo"}}
MAX_LINES = 550


def modules(package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``package``."""
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(path: Path, name: str, *, top_level_only: bool) -> set[str]:
    """The project modules ``path`` (module ``name``) imports; with ``top_level_only``,
    only those imported when the module itself is imported (not inside functions, nor under
    ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
    return {m for m in found if m.split(".")[0] in (*PACKAGES, "benchmarks")}


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_run_one_way(package):
    wrong = {
        f"{name} imports {target}"
        for name, path in modules(package).items()
        for target in imports(path, name, top_level_only=False)
        if target.split(".")[0] not in ALLOWED[package]
    }
    assert not wrong, sorted(wrong)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(package):
    known = modules(package)
    graph = {
        name: {t for t in imports(path, name, top_level_only=True) if t in known and t != name}
        for name, path in known.items()
    }
    # A package's __init__ re-exports its modules: an edge into a package from its own
    # submodules is the usual "import the package first" and not a design cycle.
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            pytest.fail("import cycle: " + " -> ".join(cycle))


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_stay_small(package):
    long = {
        f"{path.relative_to(ROOT)}: {n} lines"
        for path in modules(package).values()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, sorted(long)


def _attributes_read() -> set[str]:
    """Every ``x.name`` written in the code and tests, plus every ``.name`` in README and
    the notebooks (where users read members)."""
    names = set()
    for folder in (*PACKAGES, "benchmarks", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    docs = [ROOT / "README.md", *sorted((ROOT / "notebooks").glob("*.ipynb"))]
    text = "".join(path.read_text() for path in docs)
    return names | set(re.findall(r"\.(\w+)", text))


@pytest.mark.parametrize("package", PACKAGES)
def test_every_property_is_read(package):
    # By name only, so a property is "read" when any object's member of that name is:
    # this misses some dead ones but never flags a live one.
    read = _attributes_read()
    unread = {
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
        for path in modules(package).values()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(d).endswith("property") for d in node.decorator_list)
        and node.name not in read
    }
    assert not unread, f"properties nothing reads (delete them or use them): {sorted(unread)}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_logger_logs(package):
    idle = set()
    for path in modules(package).values():
        tree = ast.parse(path.read_text(), filename=str(path))
        read = {
            n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
        idle |= {
            f"{path.relative_to(ROOT)}:{node.lineno} {target.id}"
            for node in tree.body
            if isinstance(node, ast.Assign)
            and ast.unparse(node.value).startswith("logging.getLogger(")
            for target in node.targets
            if isinstance(target, ast.Name) and target.id not in read
        }
    assert not idle, f"module loggers that log nothing (delete them): {sorted(idle)}"


def test_only_the_study_and_its_ledger_touch_its_private_state():
    """The bookkeeping of asked and told points has one owner, :class:`mobo.ledger.StudyLedger`,
    with a public interface: the loops of mobo/evaluate.py, executor.py and loop.py reached
    into Study's private state 21 times (``study._asked``, ``study._record``, ...), so an
    invariant of the study was restated in four files."""
    owners = {ROOT / "mobo" / "study.py", ROOT / "mobo" / "ledger.py"}
    reaches = {
        f"{path.relative_to(ROOT)}:{node.lineno}: study.{node.attr}"
        for package in PACKAGES
        for path in modules(package).values()
        if path not in owners
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and "study" in {getattr(node.value, "id", None), getattr(node.value, "attr", None)}
    }
    assert not reaches, sorted(reaches)
