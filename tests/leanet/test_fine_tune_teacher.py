"""fine_tune's distillation teacher: the same network for every epoch of a run, resumed or
not, and never changed by the run."""

from __future__ import annotations

import copy

import pytest
import torch

from leanet.checkpoints import atomic_save
from leanet.model import build
from leanet.train import fine_tune, fit_heads
from leanet.train_loop import TrainState
from tests.leanet.conftest import same_weights, tiny_base


def test_depth_levels_resumed_distil_from_the_network_the_run_started_from(small_train, tmp_path):
    # Fine-tuning trains the backbone the depth levels' default teacher is copied from: a
    # copy taken at the resume was the half fine-tuned network.
    net = build(tiny_base("convnet"), levels="depth", num_levels=3)
    fit_heads(net, small_train, epochs=1, progress=False)
    options = {"epochs": 3, "distill": 1.0, "lr": 2e-3, "patience": None, "progress": False}
    whole, resumed = copy.deepcopy(net), copy.deepcopy(net)
    fine_tune(whole, small_train, **options)
    state = fine_tune(resumed, small_train, until=1, **options).state
    assert same_weights(state_teacher_net(net, state), net.base)  # the pretrained network
    atomic_save(state.to_dict(), tmp_path / "state.pt")  # as the design cache keeps states
    state = TrainState.from_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    fine_tune(resumed, small_train, resume=state, **options)
    assert same_weights(whole, resumed)
    # A state without its teacher (an older file) cannot continue the distillation.
    older = copy.deepcopy(net)
    state = fine_tune(older, small_train, until=1, **options).state
    state.teacher = None
    with pytest.raises(ValueError, match="carries no teacher.*teacher="):
        fine_tune(older, small_train, resume=state, **options)


def state_teacher_net(net, state):
    """``net.base`` with the weights of the teacher ``state`` carries."""
    teacher = copy.deepcopy(net.base)
    teacher.load_state_dict(state.teacher)
    return teacher


def test_a_teacher_in_training_mode_teaches_as_in_eval_mode_and_is_left_as_it_was(small_train):
    base = tiny_base("convnet")
    net = build(base, scheme="hybrid")
    fit_heads(net, small_train, epochs=1, progress=False)
    options = {"epochs": 1, "distill": 1.0, "lr": 2e-3, "patience": None, "progress": False}
    in_eval, in_training = copy.deepcopy(net), copy.deepcopy(net)
    fine_tune(in_eval, small_train, teacher=copy.deepcopy(base).eval(), **options)
    teacher = copy.deepcopy(base).train()
    before = copy.deepcopy(teacher.state_dict())
    fine_tune(in_training, small_train, teacher=teacher, **options)
    assert same_weights(in_training, in_eval)
    assert teacher.training and all(m.training for m in teacher.modules())
    assert all(torch.equal(v, before[k]) for k, v in teacher.state_dict().items())
