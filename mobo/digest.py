"""Digests of a user's callables that are the same in every process, so a journal or a
cache can tell whether it was made by the same code and values (:class:`mobo.FunctionProblem`'s
fingerprint; LEANet's design constraints and meters).

What a callable computes is read from its bytecode and constants, never its source: a
lambda, a notebook cell or code built with ``exec`` has a source that is unreadable or shared
(two lambdas on one line), and bytecode ignores comments and formatting, which change no
result. The price: Python's bytecode changes between minor versions (3.11, 3.12), so a
digest made under one is not that of another.
"""

from __future__ import annotations

import dis
import functools
import hashlib
import sys
import warnings
from types import CodeType
from typing import Any

import numpy as np
from torch import Tensor, nn


def callable_digest(function: Any) -> str:
    """What a user's callable (e.g. a constraint) computes, the same in every process: its
    code (bytecode and constants, nested functions too), its default arguments, and the
    values it closes over or reads as globals, e.g. ``floor`` in ``lambda d, m: floor -
    m.accuracy``: numbers, strings, arrays and tensors by value, containers by their
    contents, a callable object by its attributes, any other object (a bound method's too)
    by its type, since its repr may hold an address and its attributes a network or
    timings. The bytecode is Python's, so another Python version gives another digest."""
    digest = hashlib.blake2b(digest_size=16)
    # The values seen so far, kept alive by id: a set of ids let a temporary (the tuple of a
    # function's defaults) be freed and its id reused by the next (a partial's arguments, a
    # called function's defaults), which then counted as seen and was left out.
    _digest_value(function, digest, {})
    return digest.hexdigest()


def _digest_callable(function: Any, digest, seen: dict[int, Any]) -> None:
    if isinstance(function, functools.partial):
        _digest_value(function.func, digest, seen)
        _digest_value((function.args, function.keywords), digest, seen)
        return
    if hasattr(function, "__func__") and hasattr(function, "__self__"):  # a bound method
        _digest_value(function.__func__, digest, seen)
        digest.update(type(function.__self__).__qualname__.encode())
        return
    code = getattr(function, "__code__", None)
    if code is None:  # a callable object: its class's __call__ and its own attributes
        _digest_value(vars(type(function)).get("__call__"), digest, seen)
        _digest_value(getattr(function, "__dict__", {}), digest, seen)
        return
    _digest_code(code, digest, seen)
    _digest_value((function.__defaults__, function.__kwdefaults__), digest, seen)
    for cell in function.__closure__ or ():
        try:
            _digest_value(cell.cell_contents, digest, seen)
        except ValueError:  # an empty cell (a name not bound yet)
            digest.update(b"<empty>")
    scope = getattr(function, "__globals__", {})
    for name in _global_names(code):
        if name in scope:
            digest.update(name.encode())
            _digest_value(scope[name], digest, seen)


def _digest_code(code: CodeType, digest, seen: dict[int, Any]) -> None:
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, CodeType):
            _digest_code(const, digest, seen)
        else:  # through _digest_value: a set literal's repr follows the hash seed
            _digest_value(const, digest, seen)


def _global_names(code: CodeType) -> list[str]:
    """The global names ``code`` (and the functions nested in it) loads; attribute names
    (``m.accuracy``) are not, so a notebook variable of that name does not count."""
    names = [
        i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")
    ]
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names += _global_names(const)
    return list(dict.fromkeys(names))


def _digest_value(value: Any, digest, seen: dict[int, Any]) -> None:
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        digest.update(f"{type(value).__name__}:{value!r}".encode())
        return
    if id(value) in seen:  # a value that holds itself
        digest.update(b"<seen>")
        return
    seen[id(value)] = value
    digest.update(type(value).__qualname__.encode())
    if isinstance(value, (Tensor, np.ndarray, np.generic)):
        array = value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    elif isinstance(value, (set, frozenset)):
        for item in sorted(value, key=repr):
            _digest_value(item, digest, seen)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _digest_value(item, digest, seen)
    elif isinstance(value, dict):
        for key, item in sorted(value.items(), key=lambda kv: repr(kv[0])):
            _digest_value(key, digest, seen)
            _digest_value(item, digest, seen)
    elif callable(value) and not isinstance(value, (type, nn.Module)):
        _digest_callable(value, digest, seen)
    # Any other object counts by its type: its attributes may hold a network, data or
    # timings (a bound method's problem), which would make the digest slow or unstable.


def function_fingerprint(function: Any) -> str:
    """:class:`mobo.FunctionProblem`'s fingerprint of ``function``: its name, the Python
    version whose bytecode is read, and :func:`callable_digest`, e.g. ``'f python3.11
    3a9c...'``. The same function gives the same fingerprint in a new process, from a script,
    a module or a notebook cell; another one (the same name and signature, other code or
    other values it reads) another. A function whose values cannot be digested (an exotic
    object that fails to convert) counts by its name only, with a warning."""
    name = _name(function)
    try:
        digest = callable_digest(function)
    except Exception as err:  # noqa: BLE001 - any failure to read a user's value
        warnings.warn(
            f"FunctionProblem cannot digest function {name!r} ({type(err).__name__}: {err}), so "
            "its journal is checked by the function's name only; pass fingerprint='...' to name "
            "what it computes",
            stacklevel=3,
        )
        return f"{name} (name only)"
    return f"{name} python{sys.version_info.major}.{sys.version_info.minor} {digest}"


def _name(function: Any) -> str:
    """``function``'s qualified name (a partial's function's, a callable object's class's)."""
    if isinstance(function, functools.partial):
        return f"partial({_name(function.func)})"
    return getattr(function, "__qualname__", None) or type(function).__qualname__
