"""LEANet runtime: thresholds, early exit, per-level outputs, honest MACs, confidence."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from leanet.confidence import confidence, entropy, margin, max_softmax
from leanet.model import Head, LEANet, PretrainedHead, build, count_macs
from leanet.zoo import BaseNet
from tests.leanet.conftest import same_weights


@pytest.fixture(params=["triangular", "slice", "depth"])
def net(request, tiny_any):
    kind = dict(levels="depth") if request.param == "depth" else dict(scheme=request.param)
    return build(tiny_any, **kind).eval()


def _random_heads(net, seed=0):
    """Untrained heads give near-uniform softmax; scale them so confidences spread out."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.heads.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.8)
    return net


def test_thresholds_one_never_exit_early(net, images):
    out = net(images, [1.0] * (net.num_levels - 1))
    assert torch.all(out.exit_level == net.num_levels)
    last = net.level_outputs(images).logits[-1].argmax(dim=-1)
    assert torch.equal(out.prediction, last)


def test_adaptive_inference_refuses_training_mode(net, images):
    """In training mode the heads' batch norm used each level's undecided inputs and
    updated its running statistics: exits unlike the evaluator's, and a changed model."""
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    with pytest.raises(RuntimeError, match=r"call net.eval\(\) first"):
        net(images, [0.5] * (net.num_levels - 1))
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())


def test_level_outputs_are_inference_in_any_mode(net, images):
    """In training mode the heads' batch norm used the batch's statistics and updated its
    running ones: other logits, and a changed model. Each module's mode is kept."""
    _random_heads(net)
    expected = net.level_outputs(images)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    net.heads[0].eval()  # training code may train some heads and not others
    modes = [m.training for m in net.modules()]
    got = net.level_outputs(images)
    torch.testing.assert_close(got.logits, expected.logits, rtol=0, atol=0)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert [m.training for m in net.modules()] == modes


def test_thresholds_zero_exit_at_level_one(net, images):
    out = net(images, [0.0] * (net.num_levels - 1))
    assert torch.all(out.exit_level == 1)
    first = net.level_outputs(images).logits[0].argmax(dim=-1)
    assert torch.equal(out.prediction, first)


@pytest.mark.parametrize("kind", ["max_softmax", "margin", "entropy"])
def test_forward_matches_rule_on_cached_outputs(tiny_convnet, kind):
    """The live runtime equals the exit rule applied to level_outputs (what an evaluator
    caches): exit at the first level i < L with conf_i >= T_i, else L."""
    net = _random_heads(build(tiny_convnet, confidence=kind).eval())
    x = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    cached = net.level_outputs(x)
    assert cached.logits.shape == (net.num_levels, 64, 10)
    assert cached.confidence.shape == (net.num_levels, 64)
    levels = torch.arange(net.num_levels - 1)
    for q in ([0.5, 0.5, 0.5, 0.5], [0.9, 0.2, 0.95, 0.5], [0.99, 0.8, 0.7, 0.3]):
        # thresholds at quantiles of each level's confidence, so some inputs exit early
        t = cached.confidence[levels].quantile(torch.tensor(q), dim=1)[levels, levels].tolist()
        out = net(x, t)
        passed = cached.confidence[:-1] >= torch.tensor(t).unsqueeze(1)
        passed = torch.cat([passed, torch.ones(1, 64, dtype=torch.bool)])
        exit_idx = passed.float().argmax(dim=0)  # first level that passes
        assert torch.equal(out.exit_level, exit_idx + 1)
        expected = cached.logits[exit_idx, torch.arange(64)].argmax(dim=-1)
        assert torch.equal(out.prediction, expected)
        assert len(set(out.exit_level.tolist())) > 1  # the test exercises early exits


def test_runtime_macs_are_what_the_levels_charge(tiny_convnet):
    """FlopCounterMode on the live adaptive runtime counts exactly, per input, the
    cumulative MACs of its exit level: each level runs only on undecided inputs."""
    for scheme in ("triangular", "slice"):
        net = _random_heads(build(tiny_convnet, scheme=scheme).eval())
        x = torch.randn(32, 1, 8, 8, generator=torch.Generator().manual_seed(3))
        t = net.level_outputs(x).confidence[:-1].median(dim=1).values
        out, counted = count_macs(net, x, t)
        assert len(set(out.exit_level.tolist())) > 1
        cumulative = torch.tensor(net.cumulative_macs())
        assert counted == int(cumulative[out.exit_level - 1].sum())


@pytest.mark.parametrize(
    "thresholds, problem",
    [
        ([0.5, 0.5, 0.5], "length L-1 = 4"),
        ([0.5] * 5, "length L-1 = 4"),
        ([0.5, float("nan"), 0.5, 0.5], "NaN at positions \\[1\\]"),
        ([0.5, 0.5, 1.5, 0.5], r"\[0, 1\].*positions \[2\]"),
        ([-0.1, 0.5, 0.5, 0.5], r"\[0, 1\]"),
        ([[0.5, 0.5, 0.5, 0.5]], "1-D"),
    ],
)
def test_bad_thresholds(tiny_convnet, images, thresholds, problem):
    net = build(tiny_convnet).eval()
    with pytest.raises(ValueError, match=problem):
        net(images, thresholds)


def test_level_macs_includes_heads(tiny_convnet):
    net = build(tiny_convnet)
    with_heads = net.level_macs()
    without = net.level_macs(heads=False)
    assert all(a > b for a, b in zip(with_heads, without, strict=True))
    assert net.cumulative_macs()[-1] == sum(with_heads)


def test_build_rejects_unknowns(tiny_convnet):
    with pytest.raises(ValueError, match="levels"):
        build(tiny_convnet, levels="diagonal")
    with pytest.raises(ValueError, match="confidence"):
        build(tiny_convnet, confidence="vibes")
    for hidden in (-1, 1.5, True):  # -1 built linear heads
        with pytest.raises(ValueError, match=r"head_hidden must be an int >= 0"):
            build(tiny_convnet, head_hidden=hidden)


@pytest.mark.parametrize("copy", [True, False])
def test_build_leaves_a_training_mode_base_as_it_was(tiny_convnet, copy):
    """build's probe of map sizes ran a training-mode base on zeros: its batch norms'
    running means moved by up to 0.057 (the caller's own too with copy=False) and the top
    depth level no longer matched the pretrained features (sweepM F4)."""
    stats = {k: v.clone() for k, v in tiny_convnet.state_dict().items()}
    tiny_convnet.train()
    net = build(tiny_convnet, levels="depth", copy=copy)
    for state in (tiny_convnet.state_dict(), net.base.state_dict()):
        assert all(torch.equal(state[k], v) for k, v in stats.items())


def _own(features=None, **config) -> BaseNet:
    """A user's own flat network (the README's 'Your own network')."""
    features = features or nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.GELU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.SiLU(),
    )  # fmt: skip
    config = {"arch": "mine", "num_classes": 10, "in_channels": 1, "input_size": 8, **config}
    return BaseNet(features, nn.Linear(16, 10), config)


class _WithSkip(BaseNet):
    def forward(self, x):
        return super().forward(x) + x.flatten(1)[:, :10]


class _Logged(BaseNet):
    def forward(self, x):  # the same network: accepted
        return super().forward(x)


def test_build_refuses_by_name_a_network_it_would_break_on_or_misread():
    """Each failed later inside torch (a plain module: AttributeError; nested blocks:
    'num_levels must be in 1..0'), or built a LEANet of another network (a forward of its
    own: the 'pretrained' top level disagreed on 70 of 299 images)."""
    nested = nn.Sequential(nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU()))
    no_stats = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8, track_running_stats=False))
    cases = [
        (nn.Sequential(nn.Conv2d(1, 8, 3)), TypeError, "takes a leanet.zoo.BaseNet, got Seq"),
        (_own(input_size=(8, 12)), ValueError, r"input_size must be one int \(square"),
        (BaseNet(_own().features, nn.Linear(16, 10), {"arch": "x"}), ValueError, "config lacks"),
        (_own(nested), ValueError, "features holds no Conv2d at its top level"),
        (_own(no_stats), ValueError, r"features\[1\] .* keeps no running statistics"),
        (_own().double(), ValueError, r"holds \['torch.float64'\] weights.*base.float\(\)"),
        (_WithSkip(_own().features, nn.Linear(16, 10), _own().config), ValueError,
         "_WithSkip.forward is not classifier"),
    ]  # fmt: skip
    for base, error, message in cases:
        with pytest.raises(error, match=message):
            build(base)
    for kind in ({}, {"levels": "depth", "num_levels": 2}):  # GELU, SiLU: sliced as ReLU is
        net = build(_Logged(_own().features, nn.Linear(16, 10), _own().config), **kind).eval()
        x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        logits = net.level_outputs(x).logits
        assert logits.shape == (net.num_levels, 3, 10)
        if not kind:  # the hybrid's top level is the user's network
            torch.testing.assert_close(logits[-1], net.base(x))


def test_confidences_in_unit_interval():
    logits = torch.randn(200, 10, generator=torch.Generator().manual_seed(0)) * 5
    for fn in (max_softmax, margin, entropy):
        c = fn(logits)
        assert c.shape == (200,) and float(c.min()) >= 0 and float(c.max()) <= 1
    uniform = torch.zeros(1, 4)
    assert float(max_softmax(uniform)) == pytest.approx(0.25)
    assert float(margin(uniform)) == pytest.approx(0.0)
    assert float(entropy(uniform)) == pytest.approx(0.0, abs=1e-6)
    sharp = torch.tensor([[50.0, 0.0, 0.0, 0.0]])
    assert float(entropy(sharp)) == pytest.approx(1.0, abs=1e-6)
    two = torch.tensor([[math.log(3.0), 0.0]])  # p = (0.75, 0.25)
    assert float(margin(two)) == pytest.approx(0.5)
    assert torch.equal(confidence(logits), max_softmax(logits))
    # by name, each measure is its own (mutation sweep s76: margin and entropy swapped in
    # the registry passed): p = (0.5, 0.25, 0.25) has margin 0.25, entropy 1 - 1.5 log 2 / log 3
    third = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    assert float(confidence(third, "max_softmax")) == pytest.approx(0.5)
    assert float(confidence(third, "margin")) == pytest.approx(0.25)
    expected = 1 - 1.5 * math.log(2) / math.log(3)
    assert float(confidence(third, "entropy")) == pytest.approx(expected)
    with pytest.raises(ValueError, match="unknown confidence"):
        confidence(logits, "nope")


def _readme_own_network_block() -> str:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("### Your own network", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readmes_own_network_is_the_same_network_on_every_run():
    # Unseeded, its layers drew their weights from torch's global generator, which torch
    # 2.14 seeds differently in every process: another base and another front each run.
    code = _readme_own_network_block()
    built = code[: code.index("\n", code.index("base = BaseNet("))]
    weights = []
    for seed in (1, 2):  # the generator as two processes might leave it
        torch.manual_seed(seed)
        scope: dict = {}
        exec(compile(built, "README.md", "exec"), scope)  # noqa: S102
        weights.append(scope["base"])
    assert same_weights(*weights)


def test_the_readmes_own_network_example_runs_and_its_runtime_decides_as_the_net(
    tmp_path, monkeypatch
):
    """The README's 'Your own network' code block, as a user pastes it."""
    code = _readme_own_network_block()
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102
    net, front = scope["net"], scope["front"]
    images = scope["data"].test.tensors()[0]
    expected = net(images, front.thresholds[0])
    assert torch.equal(scope["prediction"], expected.prediction)
    assert torch.equal(scope["exit_level"], expected.exit_level)
    assert (tmp_path / "mynet.runtime").is_dir() and len(front) >= 1
    with pytest.raises(ValueError, match="unknown architecture 'mynet'"):
        from leanet.checkpoints import save_leanet

        save_leanet(tmp_path / "mynet.pt", net)


def test_heads_are_linear_by_default(tiny_convnet):
    # An MLP head is read for every input: with 128 hidden units a ConvNet's upper exits
    # cost as much as the full network or more, and the README's example saved 61% where
    # the study (linear heads) saves 68-75%.
    from leanet.cli import build_parser

    net = build(tiny_convnet)
    assert net.head_hidden == 0
    assert all(
        [type(m) for m in head.mlp] == [nn.BatchNorm1d, nn.Linear] for head in net.heads[:-1]
    )
    args = build_parser().parse_args(["fit-heads", "--checkpoint", "base.pt"])
    assert args.head_hidden == 0


@pytest.mark.parametrize("cast", ["half", "double", "bfloat16", "meta"])
def test_a_network_cast_after_build_is_refused_by_name_where_leanet_computes(
    tiny_convnet, images, cast
):
    """net.half() after build still ran net(x, T), then evaluate_levels, level records,
    measure_costs and compile_runtime failed deep in torch ("Input type
    (torch.FloatTensor) and weight type (torch.HalfTensor) should be the same")."""
    import leanet
    from leanet.costs import measure_costs
    from leanet.records import level_records
    from leanet.runtime import compile_runtime
    from leanet.train import evaluate_levels, fit_heads

    net = build(tiny_convnet, fractions=(0.5, 1.0)).eval()
    if cast == "meta":
        net.to("meta")
        message = "the network is on the meta device: load its weights first"
    else:
        net.to(getattr(torch, cast))
        held = str(getattr(torch, cast))
        message = rf"the network holds \['{held}'\] weights.*call net.float\(\)"
    data = leanet.ImageTensorDataset(
        images,
        torch.arange(len(images)),
        mean=torch.zeros(1),
        std=torch.ones(1),
        classes=[str(i) for i in range(10)],
    )
    calls = {
        "level_outputs": lambda: net.level_outputs(images),
        "evaluate_levels": lambda: evaluate_levels(net, data),
        "level_records": lambda: level_records(net, data, progress=False),
        "fit_heads": lambda: fit_heads(net, data, epochs=1, progress=False),
        "measure_costs": lambda: measure_costs(net, latency=False),
        "compile_runtime": lambda: compile_runtime(net),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=f"{name}: {message}"):
            call()
    if cast != "meta":  # the fix the message names
        net.float()
        assert net.level_outputs(images).logits.dtype == torch.float32


def test_entropy_confidence_divides_by_the_log_of_the_class_count():
    """Two of four classes at 1/2 each: H = log 2, so 1 - log 2 / log 4 = 1/2 (dividing
    by log 3 gave 0.37: other confidences, other exits, for every entropy design)."""
    half = torch.tensor([[0.0, 0.0, -200.0, -200.0]])
    assert float(entropy(half)) == pytest.approx(0.5, abs=1e-6)


def test_a_threshold_of_one_never_exits_even_a_saturated_confidence(tiny_convnet, images):
    """T_k = 1.0 means level k never answers, even for a confidence of exactly 1.0 (as in
    the evaluator); comparing conf >= 1.0 there let those inputs exit at level 1."""
    net = build(tiny_convnet).eval()
    with torch.no_grad():
        net.heads[0].mlp[-1].weight.mul_(1e4)  # level 1's max softmax saturates at 1.0
    assert bool((net.level_outputs(images).confidence[0] == 1.0).any())
    out = net(images, [1.0] * (net.num_levels - 1))
    assert torch.all(out.exit_level == net.num_levels)


def test_an_input_whose_confidence_equals_its_threshold_exits(tiny_convnet, images):
    """The rule is conf >= T: a threshold set to an observed confidence (as a user reading
    level_outputs does) lets that input exit; conf > T kept it going."""
    net = _random_heads(build(tiny_convnet).eval())
    conf = net.level_outputs(images).confidence[0]
    i = int(conf.argmin())
    out = net(images, [float(conf[i])] + [0.0] * (net.num_levels - 2))
    assert torch.all(out.exit_level == 1)


def test_the_heads_are_drawn_from_builds_seed_not_the_global_generator(tiny_convnet):
    """build(seed=...) decides the heads' initial weights: the same seed gives the same
    heads whatever the caller drew before, another seed other heads."""
    torch.manual_seed(5)
    first = build(tiny_convnet, seed=0)
    torch.manual_seed(6)
    again = build(tiny_convnet, seed=0)
    other = build(tiny_convnet, seed=1)
    assert same_weights(first.heads, again.heads)
    assert not torch.equal(first.heads[0].mlp[-1].weight, other.heads[0].mlp[-1].weight)


def test_a_head_keeps_a_map_smaller_than_its_pooled_grid_as_it_is():
    # A 2 x 2 map is not average-pooled up to 4 x 4 (16 copies of 4 values: 4x the weights).
    head = Head(8, 2, 10, pool=4)
    f = torch.randn(3, 8, 2, 2)
    assert torch.equal(head.pooled(f), f.flatten(1))
    assert head.mlp[0].num_features == 8 * 2 * 2
    assert Head(8, 6, 10, pool=4).pooled(torch.randn(3, 8, 6, 6)).shape == (3, 8 * 4 * 4)


def test_a_leanet_needs_one_head_per_level(tiny_convnet):
    net = build(tiny_convnet, fractions=(0.5, 1.0))
    for heads in (list(net.heads[:1]), [*net.heads, net.heads[0]]):
        with pytest.raises(ValueError, match=rf"{len(heads)} heads for 2 levels"):
            LEANet(net.base, net.levels, heads)


def test_build_in_place_leaves_the_callers_classifier_trainable(tiny_convnet):
    """The hybrid's top head is a frozen copy of the base's classifier: with copy=False
    the caller's own classifier still trains (it was the one frozen, had it been shared)."""
    net = build(tiny_convnet, copy=False)
    assert net.heads[-1].classifier is not tiny_convnet.classifier
    assert all(p.requires_grad for p in tiny_convnet.classifier.parameters())
    assert not any(p.requires_grad for p in net.heads[-1].parameters())


def test_a_hybrid_holds_its_classifier_once_and_loads_files_that_held_it_twice(
    tiny_convnet, tmp_path
):
    """The top head's layers hold the base's classifier tensors: a second copy doubled a
    torchvision VGG-16's checkpoint (its classifier is 89% of its weights). A file saved with
    two equal copies, as before, loads into one and decides as saved."""
    from leanet.checkpoints import load_leanet, save_leanet

    def held_once(net):
        top = net.heads[-1].classifier.parameters()
        return all(a is b for a, b in zip(net.base.classifier.parameters(), top, strict=True))

    net = build(tiny_convnet)
    assert held_once(net) and not net.heads[-1].classifier.training
    save_leanet(tmp_path / "once.pt", net)
    twice = build(tiny_convnet)
    twice.heads[-1].classifier = copy.deepcopy(twice.heads[-1].classifier)  # the old layout
    assert not held_once(twice)
    save_leanet(tmp_path / "twice.pt", twice)
    classifier_bytes = sum(p.numel() * p.element_size() for p in net.base.classifier.parameters())
    grown = (tmp_path / "twice.pt").stat().st_size - (tmp_path / "once.pt").stat().st_size
    assert grown >= classifier_bytes
    x = torch.randn(8, 1, 8, 8)
    for name, saved in (("once.pt", net), ("twice.pt", twice)):
        loaded, _ = load_leanet(tmp_path / name)
        assert held_once(loaded)
        torch.testing.assert_close(
            loaded.level_outputs(x).logits, saved.level_outputs(x).logits, rtol=0, atol=0
        )


def test_the_pretrained_head_stays_in_eval_mode_when_the_net_trains(tiny_convnet):
    # Its classifier's dropout and batch norm act as they did when it was trained.
    net = build(tiny_convnet)  # hybrid: the top head is a PretrainedHead
    head = net.heads[-1] = PretrainedHead(nn.Sequential(nn.Dropout(0.5), nn.Linear(16, 10)))
    net.train()
    assert all(h.training for h in net.heads[:-1])
    assert not head.training and not head.classifier[0].training
    f = torch.randn(4, 16, 1, 1)
    assert torch.equal(head(f), head(f))  # no dropout draws
