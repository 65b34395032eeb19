"""Without an optional extra, what needs it says which extra to install (runs without it)."""

from __future__ import annotations

import sys

import pytest

import mobo
from mobo.ax_bridge import new_client, to_ax


@pytest.fixture
def without_ax(monkeypatch):
    """Imports of ax fail as they do when the ``ax`` extra is not installed."""
    for name in [n for n in sys.modules if n == "ax" or n.startswith("ax.")] + ["ax"]:
        monkeypatch.setitem(sys.modules, name, None)


def test_every_use_of_ax_names_the_extra_to_install(toy_problem, without_ax):
    # to_ax and new_client gave a bare "No module named 'ax'", naming no extra.
    result = mobo.optimize(toy_problem, "sobol", n_evals=3, seed=0, show_progress=False)
    for call in (lambda: to_ax(result), lambda: new_client(toy_problem)):
        with pytest.raises(ImportError, match=r"pip install 'leanet-mobo\[ax\]'"):
            call()
    with pytest.raises(ImportError, match=r"the 'ax' algorithm .*leanet-mobo\[ax\]"):
        mobo.optimize(toy_problem, "ax", n_evals=3, seed=0, show_progress=False)
