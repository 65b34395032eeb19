"""A FunctionProblem's journal is checked against its function (sweep I F2): a journal of
FunctionProblem(f1) resumed with FunctionProblem(f2) on the same bounds, silently, and one
study held 5 evaluations of f1 and 3 of f2. The same function must still resume in a new
process, the main use of a journal (a crash)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import mobo

ROOT = str(Path(__file__).resolve().parents[2])  # this checkout, not an installed one
BOUNDS, REF = [[0.0, 0.0], [1.0, 1.0]], [-3.0, -3.0]


def _defined(body: str):
    """A function ``f(X)`` returning ``body``, defined from a string as a notebook cell is:
    two of them have the same name and signature, and no source file."""
    namespace = {"torch": torch}
    exec(f"def f(X):\n    return {body}\n", namespace)  # noqa: S102 - the test's own code
    return namespace["f"]


F1 = "torch.stack([-(X ** 2).sum(-1), -((X - 1) ** 2).sum(-1)], dim=-1)"
F2 = "torch.stack([X.sum(-1), -X.prod(-1)], dim=-1)"


def _run(problem, path, n_evals):
    return mobo.optimize(problem, "sobol", n_evals=n_evals, seed=0, journal=path)


def test_a_journal_of_another_function_of_the_same_name_is_refused_saying_what_to_do(tmp_path):
    path = tmp_path / "f.jsonl"
    _run(mobo.FunctionProblem(_defined(F1), BOUNDS, 2, REF), path, 5)
    journaled = json.loads(path.read_text().splitlines()[0])["problem"]
    assert journaled["fingerprint"].startswith(f"f python{sys.version_info[0]}")
    assert journaled["fingerprint_version"] == mobo.FunctionProblem.fingerprint_version
    size = path.stat().st_size
    other = mobo.FunctionProblem(_defined(F2), BOUNDS, 2, REF)
    refused = [
        lambda: mobo.check_resumable(path, other, "sobol", 0),
        lambda: _run(other, path, 8),
        lambda: mobo.Study.load(path, other),
    ]
    for attempt in refused:
        with pytest.raises(mobo.JournalMismatchError, match="fingerprint") as err:
            attempt()
        assert "start a new journal" in str(err.value)
        assert f"fingerprint={journaled['fingerprint']!r}" in str(err.value)
    assert path.stat().st_size == size  # nothing written
    # The way forward the refusal names: the journaled fingerprint, given explicitly.
    forced = mobo.FunctionProblem(
        _defined(F2), BOUNDS, 2, REF, fingerprint=journaled["fingerprint"]
    )
    assert _run(forced, path, 6).n_evaluations == 6


def test_the_same_function_built_again_resumes_and_its_values_count(tmp_path):
    path = tmp_path / "f.jsonl"
    _run(mobo.FunctionProblem(_defined(F1), BOUNDS, 2, REF), path, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no unchecked-journal warning either
        assert _run(mobo.FunctionProblem(_defined(F1), BOUNDS, 2, REF), path, 5).n_evaluations == 5

    def scaled(scale):
        return lambda X: scale * X

    half = mobo.FunctionProblem(scaled(0.5), BOUNDS, 2, REF)
    assert half.fingerprint() == mobo.FunctionProblem(scaled(0.5), BOUNDS, 2, REF).fingerprint()
    assert half.fingerprint() != mobo.FunctionProblem(scaled(0.6), BOUNDS, 2, REF).fingerprint()


def test_a_journal_from_before_fingerprints_resumes_with_a_warning(tmp_path):
    path = tmp_path / "f.jsonl"
    _run(mobo.FunctionProblem(_defined(F1), BOUNDS, 2, REF), path, 3)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    del header["problem"]["fingerprint"], header["problem"]["fingerprint_version"]
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    with pytest.warns(mobo.JournalUncheckedWarning, match="no fingerprint"):
        result = _run(mobo.FunctionProblem(_defined(F2), BOUNDS, 2, REF), path, 4)
    assert result.n_evaluations == 4


def test_an_explicit_fingerprint_must_be_a_string_and_an_undigestable_function_warns():
    with pytest.raises(TypeError, match="fingerprint must be a non-empty string"):
        mobo.FunctionProblem(_defined(F1), BOUNDS, 2, REF, fingerprint="")
    named = mobo.FunctionProblem(_defined(F1), BOUNDS, 2, REF, fingerprint="simulator v3")
    assert named.spec()["fingerprint"] == "simulator v3"
    meta = torch.empty(2, device="meta")  # holds no values to digest
    with pytest.warns(UserWarning, match=r"cannot digest function '.*<lambda>'.*name only"):
        problem = mobo.FunctionProblem(lambda X: X * meta.numel(), BOUNDS, 2, REF)
    assert problem.fingerprint().endswith(".<lambda> (name only)")


_SCRIPT = """
import functools, json, sys
import torch
import mobo

SCALE = torch.tensor([1.0, 2.0])


def f(X, shift=0.0):
    return torch.stack([-(X**2).sum(-1) * SCALE[0], -((X - 1) ** 2).sum(-1) + shift], dim=-1)


def closure(shift):
    return lambda X: f(X, shift)


class Simulator:
    def __init__(self, shift):
        self.shift = shift

    def __call__(self, X):
        return f(X, self.shift)


cell = {"f": f}
exec("def g(X):\\n    return f(X, 0.25)\\n", cell)  # a notebook cell's function
functions = {
    "def": f,
    "lambda": lambda X: f(X, 0.5),
    "closure": closure(0.5),
    "partial": functools.partial(f, shift=0.5),
    "object": Simulator(0.5),
    "cell": cell["g"],
}
bounds, ref = [[0.0, 0.0], [1.0, 1.0]], [-3.0, -3.0]
problems = {k: mobo.FunctionProblem(v, bounds, 2, ref) for k, v in functions.items()}
print(json.dumps({k: p.fingerprint() for k, p in problems.items()}))
path, n_evals, shift = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
problem = mobo.FunctionProblem(closure(shift), bounds, 2, ref)
mobo.optimize(problem, "sobol", n_evals=n_evals, seed=0, journal=path, show_progress=False)
"""


def test_the_same_functions_resume_in_a_new_process_and_another_value_is_refused(tmp_path):
    """A def, lambda, closure, partial, callable object and notebook-cell function digest
    the same in a new process (another hash seed), each differently; a journal of one
    resumes there, and the closure over another value is refused."""
    script, path = tmp_path / "study.py", tmp_path / "study.jsonl"
    script.write_text(_SCRIPT)

    def run(n_evals, shift, seed):
        env = {**os.environ, "PYTHONHASHSEED": seed, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
        args = [sys.executable, str(script), str(path), str(n_evals), str(shift)]
        return subprocess.run(args, capture_output=True, text=True, env=env)

    first, resumed = run(3, 0.5, "1"), run(5, 0.5, "2")
    assert first.returncode == resumed.returncode == 0, first.stderr + resumed.stderr
    fingerprints = json.loads(first.stdout)
    assert json.loads(resumed.stdout) == fingerprints
    assert "Warning" not in first.stderr + resumed.stderr  # checked, and digested
    assert len(set(fingerprints.values())) == len(fingerprints), fingerprints
    header = json.loads(path.read_text().splitlines()[0])
    reader = mobo.FunctionProblem(
        lambda X: X, BOUNDS, 2, REF, fingerprint=header["problem"]["fingerprint"]
    )
    assert mobo.Study.load(path, reader, read_only=True).n_evaluated == 5
    other = run(6, 0.6, "1")
    assert other.returncode != 0 and "JournalMismatchError" in other.stderr, other.stderr
    assert "fingerprint" in other.stderr


class _Model:
    def __init__(self, scale):
        self.scale = scale

    def evaluate(self, X):
        return X * self.scale


class _OtherModel(_Model):
    pass


def _scaled(X, scale=1.0):
    return X * scale


_SHIFT = {"a": 1.0}


def test_partials_of_other_arguments_are_other_functions():
    # A temporary's id, reused by the next, counted as seen: every partial of one function
    # had one fingerprint, so a journal of scale=2 resumed a study of scale=3.
    fingerprints = {
        mobo.FunctionProblem(function, BOUNDS, 2, REF).fingerprint()
        for function in (
            functools.partial(_scaled, scale=2.0),
            functools.partial(_scaled, scale=3.0),
            functools.partial(_scaled, 2.0),
            _scaled,
        )
    }
    assert len(fingerprints) == 4


def test_a_helper_s_default_is_part_of_the_function_that_calls_it():
    # The caller's defaults tuple was freed and the helper's reused its id, so the helper's
    # defaults counted as seen: a changed default resumed the old journal.
    def made(default: int):
        scope = {}
        exec(
            f"def g(x, s={default}):\n    return x * s\ndef f(x, t=3):\n    return g(x) + t\n",
            scope,
        )
        return mobo.FunctionProblem(scope["f"], BOUNDS, 2, REF).fingerprint()

    assert made(1) != made(2)
    assert made(1) == made(1)


def test_digests_tell_apart_what_changes_a_result_and_nothing_else():
    from mobo.digest import callable_digest, function_fingerprint

    def differ(one, other):
        return callable_digest(one) != callable_digest(other)

    # a keyword-only default, a bound method's class
    assert differ(_defined_kwdefault(2.0), _defined_kwdefault(3.0))
    assert differ(_Model(2.0).evaluate, _OtherModel(2.0).evaluate)
    # values by type and by value: 1, 1.0 and True; an array's dtype and shape; dict keys
    assert differ(_reads(1), _reads(1.0)) and differ(_reads(1), _reads(True))
    assert differ(_reads(np.zeros(4, np.float32)), _reads(np.zeros(2, np.float64)))
    assert differ(_reads(np.zeros((2, 2))), _reads(np.zeros(4)))
    assert differ(_reads({"a": 1.0}), _reads({"b": 1.0}))
    # the names code reads, the code and the globals of a function nested in it
    assert differ(lambda X: X.real, lambda X: X.imag)
    assert differ(_nested("X + 1"), _nested("X - 1"))
    global _SHIFT
    before = callable_digest(_nested("X + _SHIFT['a']"))
    _SHIFT = {"a": 2.0}
    assert callable_digest(_nested("X + _SHIFT['a']")) != before
    # a network counts by its type, not by its weights, which training changes
    net = torch.nn.Linear(2, 1)
    before = callable_digest(_reads(net))
    with torch.no_grad():
        net.weight.add_(1.0)
    assert callable_digest(_reads(net)) == before
    assert function_fingerprint(functools.partial(_scaled, scale=2.0)).startswith(
        "partial(_scaled) python"
    )


def _defined_kwdefault(scale):
    def f(X, *, scale=scale):
        return X * scale

    return f


def _reads(value):
    return lambda X: (X, value)


def _nested(expression: str):
    namespace = {}
    exec(
        f"def f(X):\n    def inner(X):\n        return {expression}\n    return inner(X)\n",
        globals(),
        namespace,
    )
    return namespace["f"]
