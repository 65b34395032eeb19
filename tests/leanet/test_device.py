"""device="auto": an accelerator when present, the CPU otherwise, the model brought back."""

from __future__ import annotations

import pytest
import torch

from leanet.device import module_device, on_device, resolve_device


def test_auto_is_the_cpu_without_an_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")


def test_explicit_devices_are_checked(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be 'auto'"):
        resolve_device("gpu please")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


class _RecordsMoves(torch.nn.Linear):
    """Records where it is asked to go, without moving (this machine has no GPU)."""

    def __init__(self) -> None:
        super().__init__(2, 2)
        self.moves: list[torch.device] = []

    def to(self, device):  # noqa: D102
        self.moves.append(torch.device(device))
        return self


def test_on_device_moves_the_module_and_brings_it_back(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    module = _RecordsMoves()
    with on_device(module, "cuda") as device:
        assert device == torch.device("cuda")
        assert module.moves == [torch.device("cuda")]
    assert module.moves == [torch.device("cuda"), torch.device("cpu")]
    with on_device(module, "cpu") as device:  # already there: no move at all
        assert device == torch.device("cpu")
    assert len(module.moves) == 2 and module_device(module) == torch.device("cpu")
