"""Where a network was trained, as checkpoints and artifacts record it (leanet.machine)."""

from __future__ import annotations

import platform

import pytest
import torch

import leanet.machine
from leanet.machine import describe, machine, trained_with

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9R14

processor\t: 1
cpu family\t: 6
model\t\t: 85
model name\t: another CPU
"""


class _FakePath:
    """Stands for ``pathlib.Path`` inside leanet.machine: /proc/cpuinfo reads ``text``."""

    text: str | None = CPUINFO

    def __init__(self, path: str) -> None:
        assert path == "/proc/cpuinfo"

    def read_text(self) -> str:
        if self.text is None:
            raise FileNotFoundError("/proc/cpuinfo")  # macOS, Windows
        return self.text


def test_machine_names_the_first_cpus_model_family_kernels_and_torch(monkeypatch):
    monkeypatch.setattr(leanet.machine, "Path", _FakePath)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert machine() == (
        f"AMD EPYC 9R14 ({platform.machine()}, family 25 model 17, AVX512 kernels), "
        f"torch {torch.__version__}"
    )


def test_machine_without_proc_cpuinfo_names_the_platform(monkeypatch):
    monkeypatch.setattr(leanet.machine, "Path", type("NoInfo", (_FakePath,), {"text": None}))
    monkeypatch.setattr(platform, "processor", lambda: "arm")
    described = machine()
    assert described.startswith(f"arm ({platform.machine()}")
    assert "family" not in described and described.endswith(f"torch {torch.__version__}")


def test_trained_with_records_the_torch_thread_count():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        assert trained_with() == {"machine": machine(), "torch_threads": 3}
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize(
    ("record", "says"),
    [
        ({"machine": "cpu X", "torch_threads": 1}, "trained on: cpu X, 1 torch thread (a rerun"),
        ({"machine": "cpu X", "torch_threads": 4}, "trained on: cpu X, 4 torch threads (a rerun"),
        ({"torch_threads": 2}, "trained on: unknown machine, 2 torch threads"),
        ({"machine": "cpu X"}, "trained on: cpu X (a rerun"),
        (None, "trained on: not recorded"),
        ({}, "trained on: not recorded"),  # an empty record from an older checkpoint
    ],
)
def test_describe_prints_what_was_recorded(record, says):
    assert describe(record).startswith(says)
