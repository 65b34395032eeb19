"""device="auto": an accelerator when present, the CPU otherwise, the model brought back."""

from __future__ import annotations

import pytest
import torch

from leanet.device import (
    BatchMemoryError,
    batch_memory_hint,
    evaluating,
    module_device,
    on_device,
    resolve_device,
)


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


def test_a_device_of_the_wrong_type_is_named():
    with pytest.raises(ValueError, match="device must be 'auto'.*got None"):
        resolve_device(None)


def test_on_device_brings_the_module_back_after_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    module = _RecordsMoves()
    with pytest.raises(ZeroDivisionError), on_device(module, "cuda"):
        raise ZeroDivisionError
    assert module.moves == [torch.device("cuda"), torch.device("cpu")]


def test_module_device_reads_the_buffers_of_a_module_without_parameters():
    module = torch.nn.BatchNorm2d(2, affine=False).to("meta")
    assert module_device(module) == torch.device("meta")
    assert module_device(torch.nn.ReLU()) == torch.device("cpu")


def _modes(module: torch.nn.Module) -> list[bool]:
    return [m.training for m in module.modules()]


def test_evaluating_gives_every_submodule_its_own_mode_back_even_after_an_error():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2), torch.nn.Dropout())
    net[1].eval()  # a caller's frozen batch norm inside a training network
    before = _modes(net)
    with evaluating(net):
        assert not any(_modes(net))
    assert _modes(net) == before == [True, True, False, True]
    with pytest.raises(ZeroDivisionError), evaluating(net):
        raise ZeroDivisionError
    assert _modes(net) == before
    with evaluating(abs):  # a plain callable has no modes
        assert abs(-1) == 1


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory"),
        RuntimeError("can't allocate memory: you tried to allocate 123 bytes"),
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    ],
)
def test_running_out_of_memory_names_the_step_the_images_and_a_smaller_batch(error):
    images = torch.utils.data.TensorDataset(torch.zeros(4, 3, 32, 32), torch.zeros(4))
    with pytest.raises(BatchMemoryError) as info, batch_memory_hint("level pass", 4, "bs", images):
        raise error
    assert str(info.value) == (
        "level pass at bs=4 ran out of memory (images 3 x 32 x 32): pass a smaller bs, e.g. bs=1"
    )
    assert info.value.__cause__ is error


def test_nested_memory_hints_name_the_outermost_argument():
    inner_error = RuntimeError("DefaultCPUAllocator: can't allocate memory")
    with pytest.raises(BatchMemoryError, match="fit at feature_batch_size=64 ") as info:
        with batch_memory_hint("fit", 64, "feature_batch_size"):
            with batch_memory_hint("evaluate", 512, "batch_size"):
                raise inner_error
    assert info.value.__cause__ is inner_error
