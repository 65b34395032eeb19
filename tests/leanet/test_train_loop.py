"""The shared training loop: a stopped run's state is a record that resumes any number of
copies of a network alike, and every batch size trains."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils.data import TensorDataset

from leanet.design_cache import DesignBuilder
from leanet.design_recipe import Design
from leanet.model import build
from leanet.train import fine_tune, fit_heads, recalibrate_batch_norm
from leanet.train_loop import epochs_loop
from tests.leanet.conftest import same_weights, tiny_base


def test_resuming_never_changes_the_state_so_every_copy_resumes_alike(small_train):
    net = build(tiny_base("convnet"), scheme="hybrid")
    recalibrate_batch_norm(net, small_train)
    fit_heads(net, small_train, epochs=1, progress=False)
    options = {"epochs": 3, "lr": 2e-3, "patience": None, "progress": False}
    whole = copy.deepcopy(net)
    fine_tune(whole, small_train, **options)
    state = fine_tune(net, small_train, until=1, **options).state
    recorded = copy.deepcopy(state)
    first, second = copy.deepcopy(net), copy.deepcopy(net)
    fine_tune(first, small_train, resume=state, **options)
    # AdamW's step count and moments were updated inside the state: the second resume
    # started where the first ended (every one of its tensors differed).
    for k, v in recorded.optimizer["state"].items():
        for name, tensor in v.items():
            assert torch.equal(state.optimizer["state"][k][name], tensor), (k, name)
    fine_tune(second, small_train, resume=state, **options)
    assert same_weights(first, whole) and same_weights(second, whole)


def test_a_prefix_continued_to_two_fidelities_gives_each_its_from_scratch_network(digits):
    # The design search's order 1 -> 4 -> 2 epochs: both 4 and 2 continue epoch 1's state.
    base = tiny_base("convnet")
    train = digits.train.subset(torch.arange(300))
    options = {"head_epochs": 1, "seed": 0, "fine_tune_options": {"lr": 2e-3}}

    def design(epochs: int) -> Design:
        return Design(3, 0.5, fine_tune_epochs=epochs, schedule_epochs=4 if epochs < 4 else 0)

    builder = DesignBuilder(
        base,
        train,
        store=None,
        prefixes=lambda d: [design(1)] if d.fine_tune_epochs > 1 else [],
        **options,
    )
    for epochs in (1, 4):
        builder.network(design(epochs))
    continued = builder.network(design(2))
    assert builder.built == [design(e).key for e in (1, 4, 2)]
    assert same_weights(continued, design(2).build(base, train, **options))


def test_a_last_batch_of_one_image_joins_the_one_before(digits):
    # 1025 = 8 x 128 + 1 = 16 x 64 + 1: the heads' BatchNorm1d refused a batch of one.
    train = digits.train.subset(torch.arange(1025))
    net = build(tiny_base("convnet"), scheme="hybrid")
    seen = []
    net.heads[0].register_forward_hook(lambda _m, inputs, _out: seen.append(len(inputs[0])))
    fit_heads(net, train, epochs=1, progress=False)  # heads run on cached features
    fine_tune(net, train, epochs=1, patience=None, progress=False)
    assert seen[-16:] == [64] * 15 + [65]  # fine-tuning's batches, every image once
    # The cosine schedule counts the batches that run: it ends at 0 on the last step.
    optimizers = []
    hook = register_optimizer_step_post_hook(lambda opt, _args, _kwargs: optimizers.append(opt))
    try:
        fine_tune(net, train, epochs=2, lr=1e-3, patience=None, progress=False)
    finally:
        hook.remove()
    assert len(optimizers) == 2 * 16
    assert optimizers[-1].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_the_training_bar_counts_the_steps_that_run_and_is_off_when_asked(small_train, monkeypatch):
    # 300 images in batches of 64: 5 steps an epoch (the last batch of 44 is its own).
    import leanet.train_loop

    bars = []

    class Spy(leanet.train_loop.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.asked, self.steps, self.closed = kwargs, 0, False
            bars.append(self)

        def update(self, n=1):
            self.steps += n
            return super().update(n)

        def close(self):
            self.closed = True
            return super().close()

    monkeypatch.setattr(leanet.train_loop, "tqdm", Spy)
    net = build(tiny_base("convnet"), fractions=(0.5, 1.0), scheme="hybrid")
    options = {"epochs": 3, "patience": None, "batch_size": 64}
    state = fine_tune(net, small_train, until=2, progress=True, **options).state
    fine_tune(net, small_train, resume=state, progress=False, **options)
    # None: shown on a terminal only, so a log file gets no bar lines
    assert [(bar.asked["disable"], bar.asked["total"]) for bar in bars] == [(None, 10), (True, 5)]
    assert [bar.steps for bar in bars] == [10, 5] and all(bar.closed for bar in bars)


def _loop(data, **options):
    """epochs_loop on one weight; every batch's labels (here: item indices) recorded."""
    weight = torch.zeros(1, requires_grad=True)
    seen: list[list[int]] = []

    def step_loss(x, y):
        seen.append(y.tolist())
        return weight.sum() * 0 + float(len(y))  # a batch's loss: its size

    settings = {"epochs": 3, "lr": 1e-3, "weight_decay": 0.0, "batch_size": 64, "seed": 0}
    settings.update(options)
    result = epochs_loop([weight], step_loss, data, progress=False, desc="test", **settings)
    return result, seen


def test_the_loop_shuffles_each_epoch_anew_and_averages_the_loss_over_items():
    data = TensorDataset(torch.zeros(300, 1), torch.arange(300))
    result, seen = _loop(data)
    epochs = [sum(seen[i : i + 5], []) for i in range(0, 15, 5)]  # 5 batches an epoch
    assert all(sorted(order) == list(range(300)) for order in epochs)
    assert epochs[0] != list(range(300)) and len({tuple(order) for order in epochs}) == 3
    # batches of 64, 64, 64, 64 and 44 items: the mean of the items' losses
    mean = (4 * 64 * 64 + 44 * 44) / 300
    assert [row["loss"] for row in result.history] == pytest.approx([mean] * 3)


def test_early_stopping_ends_the_run_and_leaves_no_flag_in_the_history():
    data = TensorDataset(torch.zeros(300, 1), torch.arange(300))
    result, _ = _loop(data, on_epoch_end=lambda epoch: {"stop": 1.0} if epoch == 1 else {})
    assert [sorted(row) for row in result.history] == [["epoch", "loss"]] * 2
    assert result.state is None


@pytest.mark.parametrize(
    "changed", [{"seed": 1}, {"batch_size": 32}, {"weight_decay": 1e-2}, {"epochs": 4}]
)
def test_a_stopped_loop_resumes_only_with_its_own_settings(changed):
    data = TensorDataset(torch.zeros(300, 1), torch.arange(300))
    state = _loop(data, until=1)[0].state
    (name,) = changed
    with pytest.raises(ValueError, match=rf"another run \(its {name} differ"):
        _loop(data, resume=state, **changed)
    assert [row["epoch"] for row in _loop(data, resume=state)[0].history] == [2, 3]


def test_the_loops_own_random_draws_follow_its_seed_not_the_callers_generator():
    # Dropout draws from torch's global generator: seeded by the run, so the caller's
    # earlier draws change nothing, and the caller's stream comes back as it was.
    data = TensorDataset(torch.zeros(100, 1), torch.arange(100))

    def draws(seed: int, caller: int) -> torch.Tensor:
        weight = torch.zeros(1, requires_grad=True)
        drawn = []

        def step_loss(x, y):
            drawn.append(torch.rand(1))
            return weight.sum()

        torch.manual_seed(caller)
        expected = torch.get_rng_state()
        epochs_loop(
            [weight], step_loss, data, epochs=2, lr=1e-3, weight_decay=0.0, batch_size=32,
            seed=seed, progress=False, desc="test",
        )  # fmt: skip
        assert torch.equal(torch.get_rng_state(), expected)
        return torch.cat(drawn)

    assert torch.equal(draws(0, caller=1), draws(0, caller=2))
    assert not torch.equal(draws(0, caller=1), draws(1, caller=1))
