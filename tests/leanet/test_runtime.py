"""The compiled runtime decides as the LEANet does, executes what is charged, and no more."""

from __future__ import annotations

import copy
import itertools
import json
import warnings

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import leanet
import leanet.levels
import leanet.model
import leanet.runtime
import leanet.tracing
from leanet.confidence import confidence
from leanet.costs import Work, count_work, measure_costs
from leanet.runtime import compile_full, compile_runtime, load_runtime
from leanet.timing import cpu_times
from tests.leanet.conftest import randomize_batchnorm, tiny_base

# BN folding changes float rounding only: logits agree to this (measured: relative < 2e-5).
LOGIT_ATOL, LOGIT_RTOL = 1e-4, 1e-4


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=LOGIT_RTOL, atol=LOGIT_ATOL)


def _randomize_heads(net: leanet.LEANet, seed: int = 0) -> leanet.LEANet:
    """Non-trivial head batch norms, so that folding them wrongly would show, and larger
    output weights, so that the confidences spread."""
    g = torch.Generator().manual_seed(seed)
    for head in net.heads:
        if not isinstance(head, leanet.model.Head):
            continue  # e.g. the hybrid's pretrained classifier
        bn = head.mlp[0]
        n = bn.num_features
        bn.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
        bn.running_var.copy_(torch.rand(n, generator=g) + 0.5)
        bn.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
        bn.bias.data.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
        head.mlp[-1].weight.data.mul_(3.0)
    return net


@pytest.fixture(scope="module")
def trained(small_train):
    """Tiny trained bases (1 epoch on 300 of the 8x8 digits: the runtime must decide as the
    network does, however well trained; trained weights spread the confidences)."""
    bases = {}
    for arch in ("convnet", "mobilenet"):
        base = tiny_base(arch)
        leanet.train_base(base, small_train, epochs=1, progress=False)
        bases[arch] = base
    return bases


@pytest.fixture(scope="module")
def fitted(trained, small_train):
    """LEANets on the trained bases, heads fitted (1 epoch), shared by the two modes."""
    cache = {}

    def get(arch: str, **kind):
        key = (arch, tuple(sorted(kind.items())))
        if key not in cache:
            net = leanet.build(trained[arch], **kind)
            leanet.fit_heads(net, small_train, epochs=1, progress=False)
            cache[key] = _randomize_heads(net)
        return cache[key]

    return get


def _threshold_vectors(conf: torch.Tensor, count: int, seed: int = 0) -> list[list[float]]:
    """Thresholds midway between two neighbouring confidences of each level (so that no
    confidence lies within rounding of a threshold): one vector per level that splits the
    inputs there, `count` at random ranks, plus the corners 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    L, n = conf.shape
    ranked = conf.double().sort(dim=1).values
    out = [[0.0] * (L - 1), [1.0] * (L - 1)]
    gaps = [(ranked[k, 1:] - ranked[k, :-1] > 1e-5).nonzero().flatten() for k in range(L - 1)]

    def between(k: int, i: int) -> float:
        return float(ranked[k, i] + ranked[k, i + 1]) / 2

    for k, gap in enumerate(gaps):  # level k+1 splits the inputs, the next takes the rest
        mid = between(k, int(gap[len(gap) // 2])) if len(gap) else 0.0
        out.append([1.0] * k + [mid] + [0.0] * (L - 2 - k))
    for _ in range(count):
        t = []
        for k, gap in enumerate(gaps):
            if len(gap) == 0:  # all confidences tie (a dead level): exit all or none
                t.append(float(torch.randint(0, 2, (1,), generator=g)))
                continue
            t.append(between(k, int(gap[torch.randint(0, len(gap), (1,), generator=g)])))
        out.append(t)
    return out


def _check_agrees(net, runtime, x, thresholds_list):
    ref = net.level_outputs(x)
    got = torch.stack(runtime.level_logits(x))
    assert _close(got, ref.logits)
    seen = set()
    for t in thresholds_list:
        a, b = net(x, t), runtime(x, t)
        # An input whose confidence lay within rounding of a threshold could flip; the
        # thresholds sit midway between confidences, far from any of them.
        assert torch.equal(a.exit_level, b.exit_level), t
        assert torch.equal(a.prediction, b.prediction), t
        seen.update(a.exit_level.tolist())
    return seen


@pytest.mark.parametrize("mode", ["eager", "trace"])
@pytest.mark.parametrize(
    "kind", [dict(), dict(scheme="slice"), dict(levels="depth", num_levels=3)], ids=str
)
@pytest.mark.parametrize("arch", ["convnet", "mobilenet"])
def test_runtime_decides_as_the_leanet_on_trained_nets(fitted, digits, arch, kind, mode):
    net = fitted(arch, **kind)
    x = digits.val.tensors()[0][:80]
    runtime = compile_runtime(net, mode=mode)
    conf = net.level_outputs(x).confidence
    # 6 random vectors besides one splitting each level: every level still answers some
    seen = _check_agrees(net, runtime, x, _threshold_vectors(conf, 6))
    assert len(seen) == net.num_levels  # every level answered some input somewhere
    # One input at a time (the device case takes a separate code path).
    for t in _threshold_vectors(conf, 3, seed=1):
        for i in range(3):
            a, b = net(x[i : i + 1], t), runtime(x[i : i + 1], t)
            assert torch.equal(a.exit_level, b.exit_level) and torch.equal(
                a.prediction, b.prediction
            )


def _hybrid_standin(base: nn.Module) -> leanet.LEANet:
    """The hybrid contract by hand: triangular levels 1..L-1 and ``levels.pretrained``
    (perturbed here, so that running the triangular top level instead would show)."""
    net = leanet.build(base, fractions=(0.5, 0.75, 1.0))
    net.levels.scheme = "hybrid"
    pretrained = copy.deepcopy(net.base.features)
    with torch.no_grad():
        for m in pretrained:
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(1.2)
    net.levels.pretrained = pretrained.eval()
    return _randomize_heads(net)


def _hybrid_reference(net, x):
    state, logits = net.levels.init_state(x), []
    for k in range(net.num_levels - 1):
        state = net.levels.advance(state)
        logits.append(net.heads[k](net.levels.feature_map(state)))
    logits.append(net.heads[-1](net.levels.pretrained(x)))
    return torch.stack(logits)


@pytest.mark.parametrize("mode", ["eager", "trace"])
@pytest.mark.parametrize("arch", ["convnet", "mobilenet"])
def test_hybrid_top_level_runs_the_pretrained_features_from_the_input(trained, digits, arch, mode):
    images = digits.val.tensors()[0][:60]
    net = _hybrid_standin(trained[arch])
    runtime = compile_runtime(net, mode=mode)
    with torch.no_grad():
        ref = _hybrid_reference(net, images)
    got = torch.stack(runtime.level_logits(images))
    assert _close(got, ref)
    conf = confidence(ref, net.confidence)
    for t in _threshold_vectors(conf, 10):
        decision = runtime(images, t)
        exits = torch.full((images.shape[0],), net.num_levels)
        for k in reversed(range(net.num_levels - 1)):
            exits[(conf[k] >= t[k]) & (t[k] < 1.0)] = k + 1
        assert torch.equal(decision.exit_level, exits)
        assert torch.equal(decision.prediction, ref[exits - 1, torch.arange(len(exits))].argmax(-1))


@pytest.mark.skipif(
    "hybrid" not in getattr(leanet.levels, "SCHEMES", ()), reason="hybrid scheme not built yet"
)
def test_runtime_matches_the_real_hybrid_scheme(trained, digits):
    images = digits.val.tensors()[0][:60]
    net = _randomize_heads(leanet.build(trained["convnet"], scheme="hybrid"))
    runtime = compile_runtime(net, mode="trace")
    conf = net.level_outputs(images).confidence
    _check_agrees(net, runtime, images, _threshold_vectors(conf, 10))


@pytest.mark.parametrize("mode", ["eager", "trace"])
def test_saved_runtime_decides_identically(trained, digits, tmp_path, mode):
    images = digits.val.tensors()[0][:60]
    net = _randomize_heads(leanet.build(trained["mobilenet"]))
    runtime = compile_runtime(net, mode=mode)
    runtime.save(tmp_path / "rt")
    loaded = load_runtime(tmp_path / "rt")
    assert loaded.num_levels == net.num_levels and loaded.confidence_kind == net.confidence
    for a, b in zip(runtime.level_logits(images), loaded.level_logits(images), strict=True):
        assert _close(a, b)
    conf = net.level_outputs(images).confidence
    for t in _threshold_vectors(conf, 10):
        a, b = runtime(images, t), loaded(images, t)
        assert torch.equal(a.exit_level, b.exit_level) and torch.equal(a.prediction, b.prediction)


def _folded_bias_words(net) -> list[int]:
    """Bias words a BN-folded band convolution reads that the charged one (no bias, BN
    uncounted) does not: the band width of every conv followed by a batch norm."""
    layers = net.levels.layers
    return [
        sum(
            layers[i].w_out[k] - layers[i].w_out[k - 1]
            for i in range(len(layers) - 1)
            if layers[i].kind in ("conv", "depthwise") and layers[i + 1].kind == "bn"
        )
        for k in range(1, net.num_levels + 1)
    ]


@pytest.mark.parametrize("arch", ["convnet", "mobilenet"])
def test_runtime_executes_exactly_the_work_measure_costs_charges(arch):
    """Every level up to k with its head (run_through, what exit_latency times), and under
    exit_thresholds(k), levels 1..k-1 off: read by the next band, so run without heads."""
    net = _randomize_heads(leanet.build(tiny_base(arch), scheme="triangular"))
    costs = measure_costs(net, latency=False)
    runtime = compile_runtime(net, mode="eager")
    x = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    charged, heads, extra = Work(), Work(), list(itertools.accumulate(_folded_bias_words(net)))
    for k in range(1, net.num_levels + 1):
        charged = charged + costs.level_work[k - 1]
        for run, skipped in ((runtime.run_through, Work()), (runtime, heads)):
            t = k if run == runtime.run_through else runtime.exit_thresholds(k)
            decision, work = count_work(run, x, t)
            assert int(decision.exit_level) == k
            assert work.macs == charged.macs - skipped.macs
            assert work.activation_words == charged.activation_words - skipped.activation_words
            assert work.weight_words == charged.weight_words - skipped.weight_words + extra[k - 1]
        heads = heads + costs.head_work[k - 1]


@pytest.mark.parametrize("scheme", ["hybrid", "slice"])
def test_skipped_levels_are_neither_run_nor_charged(scheme, digits):
    """Levels that cannot answer and that no later level reads are skipped by the runtime,
    and the evaluator's cost (exit_costs) is the work the runtime then executes."""
    from leanet.evaluator import exit_costs

    net = _randomize_heads(leanet.build(tiny_base("convnet"), scheme=scheme))
    costs = measure_costs(net, latency=False)
    runtime = compile_runtime(net, mode="eager")
    macs = torch.tensor(costs.exit_macs, dtype=torch.float64)
    heads = torch.tensor([w.macs for w in costs.head_work], dtype=torch.float64)
    x = digits.val[0][0].unsqueeze(0)
    conf = net.level_outputs(x).confidence.flatten()
    below = [max(float(c) - 1e-3, 0.0) for c in conf]  # a threshold this level passes
    L = net.num_levels
    vectors = [[1.0] * (L - 1), [below[0]] + [1.0] * (L - 2), [1.0, below[1]] + [1.0] * (L - 3)]
    vectors.append([1.0] * (L - 2) + [below[L - 2]])
    for t in vectors:
        decision, work = count_work(runtime, x, t)
        expected = exit_costs(torch.tensor([t]), macs, costs.standalone, heads)[0]
        assert work.macs == int(expected[int(decision.exit_level) - 1])
    decision, work = count_work(runtime, x, [1.0] * (L - 1))
    assert int(decision.exit_level) == L
    if scheme == "hybrid":  # the pretrained network alone, no more
        assert work.macs == costs.full_work.macs
    # run_through runs every level up to the one asked for, as exit_latency times it
    decision, work = count_work(runtime.run_through, x, L)
    assert int(decision.exit_level) == L
    assert work.macs == costs.exit_macs[-1]


@pytest.mark.parametrize("mode", ["eager", "trace"])
@pytest.mark.parametrize(
    "kind", [dict(), dict(scheme="hybrid"), dict(levels="depth", num_levels=3)], ids=str
)
@pytest.mark.parametrize("arch", ["convnet", "mobilenet"])
def test_off_levels_that_are_read_run_without_heads_as_charged(fitted, digits, arch, kind, mode):
    """A level that cannot answer (T = 1) that the next level reads runs its band or blocks,
    not its head: the runtime's MACs and activation words per input are what exit_costs
    charges with the heads split out, less than the old charge (heads included) by exactly
    those levels' heads; every decision stays the reference's (LEANet.forward)."""
    from leanet.evaluator import exit_costs

    net = fitted(arch, **kind)
    costs = measure_costs(net, latency=False)
    runtime = compile_runtime(net, mode=mode)
    images = digits.val.tensors()[0][:40]
    L = net.num_levels
    # Each combination of off levels over one of the base vectors in turn (LEANet.forward
    # takes ~0.1 s a call on MobileNet, so not every combination over every base vector).
    bases = _threshold_vectors(net.level_outputs(images).confidence, 2)[2:]
    offs = [off for off in itertools.product([False, True], repeat=L - 1) if any(off)]
    vectors = [
        [1.0 if o else v for o, v in zip(off, bases[c % len(bases)], strict=True)]
        for c, off in enumerate(offs)
    ]

    def per_level(field: str) -> tuple[torch.Tensor, torch.Tensor]:
        level = [getattr(w, field) for w in costs.level_work]
        head = [getattr(w, field) for w in costs.head_work]
        return torch.tensor(level).double().cumsum(0), torch.tensor(head).double()

    (macs, head_macs), (words, head_words) = per_level("macs"), per_level("activation_words")

    def split_off(t: list[float], e: int) -> tuple[int, int]:
        """Head MACs of the off levels below exit ``e`` read headless, and how many off levels
        are skipped: those above the last that may answer when ``e`` reads the input alone
        (the hybrid's top)."""
        on = [j for j in range(e) if t[j] < 1.0]
        upto = max(on, default=-1) if costs.standalone[e] else e
        headless = sum(int(head_macs[j]) for j in range(upto) if t[j] >= 1.0)
        return headless, sum(t[j] >= 1.0 for j in range(max(upto, 0), e))

    # Every vector's decisions are checked on the batch; counting work per input is slow
    # (~0.1 s), so it runs on one (vector, input) per kind of case: each exit level, with
    # and without levels read headless or skipped below it.
    cases = {}
    for t in vectors:
        a, b = net(images, t), runtime(images, t)
        assert torch.equal(a.exit_level, b.exit_level) and torch.equal(a.prediction, b.prediction)
        for i, level in enumerate(a.exit_level.tolist()):
            headless, skipped = split_off(t, level - 1)
            cases.setdefault((level, headless > 0, skipped > 0), (t, i, a))
    # the cases cannot thin out unseen: every level answers, some below it headless
    assert {level for level, _, _ in cases} == set(range(1, L + 1))
    assert any(h for _, h, _ in cases)
    if any(costs.standalone[1:]):
        assert any(s for _, _, s in cases)
    for t, i, a in cases.values():
        T = torch.tensor([t], dtype=torch.float64)
        decision, work = count_work(runtime, images[i : i + 1], t)
        assert torch.equal(decision.prediction, a.prediction[i : i + 1])
        assert torch.equal(decision.exit_level, a.exit_level[i : i + 1])
        e = int(decision.exit_level) - 1
        new = exit_costs(T, macs, costs.standalone, head_macs)[0, e]
        assert work.macs == int(new)
        if mode == "eager":  # a frozen trace's fused operators hide the words
            words_charged = exit_costs(T, words, costs.standalone, head_words)[0, e]
            assert work.activation_words == int(words_charged)
        # the levels read headless are charged their band without the head
        old = exit_costs(T, macs, costs.standalone)[0, e]
        assert work.macs == int(old) - split_off(t, e)[0]


def test_a_runtime_saved_before_bodies_loads_and_runs_heads_as_then(tiny_convnet, tmp_path):
    """A leanet-runtime/2 directory (steps traced without a body, no "bodies" in the
    manifest, as the old code wrote it) loads and decides as the network; its off levels
    that are read run with their heads, the work it was charged when saved."""
    net = _randomize_heads(leanet.build(tiny_convnet, scheme="triangular"))
    costs = measure_costs(net, latency=False)
    with pytest.MonkeyPatch.context() as patch:  # the old tracing: no step gets a body
        patch.setattr(leanet.runtime, "_read_by_next", lambda calls: [False] * len(calls))
        compile_runtime(net).save(tmp_path / "rt")
    manifest = tmp_path / "rt" / "runtime.json"
    old = json.loads(manifest.read_text())
    old["format"] = "leanet-runtime/2"
    del old["bodies"]
    manifest.write_text(json.dumps(old))
    loaded = load_runtime(tmp_path / "rt")
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    L = net.num_levels
    for t in ([1.0] * (L - 1), [1.0, 0.0] + [0.0] * (L - 3), [0.0] * (L - 1)):
        a, b = net(x, t), loaded(x, t)
        assert torch.equal(a.exit_level, b.exit_level) and torch.equal(a.prediction, b.prediction)
    _, work = count_work(loaded, x[:1], [1.0] * (L - 1))
    assert work.macs == costs.exit_macs[-1]  # every head ran
    new = compile_runtime(net)
    new.save(tmp_path / "new")
    assert (
        json.loads((tmp_path / "new" / "runtime.json").read_text())["format"] == "leanet-runtime/3"
    )
    _, work = count_work(load_runtime(tmp_path / "new"), x[:1], [1.0] * (L - 1))
    assert work.macs == costs.exit_macs[-1] - sum(w.macs for w in costs.head_work[:-1])


def test_a_runtime_saved_over_another_and_stopped_part_way_is_refused(tiny_convnet, tmp_path):
    """Saved over another network's runtime and killed after two steps, the folder loaded
    silently as a mix of both networks (levels 3-4 at chance accuracy; sweep A): the old
    manifest now goes first, and each step is checked against the manifest's digest."""
    import shutil

    first = _randomize_heads(leanet.build(tiny_convnet, scheme="triangular"), seed=0)
    second = _randomize_heads(leanet.build(tiny_convnet, scheme="triangular"), seed=1)
    compile_runtime(first).save(tmp_path / "rt")
    saved, real_save = [], torch.jit.save

    def killed_after_two(step, file):
        if len(saved) == 2:
            raise KeyboardInterrupt  # the process stops here
        saved.append(file)
        real_save(step, file)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.jit, "save", killed_after_two)
        with pytest.raises(KeyboardInterrupt):
            compile_runtime(second).save(tmp_path / "rt")
    with pytest.raises(ValueError, match=r"runtime.json: missing or unreadable.*save the"):
        load_runtime(tmp_path / "rt")
    # A step copied in from another runtime is named, not loaded.
    compile_runtime(first).save(tmp_path / "a")
    compile_runtime(second).save(tmp_path / "b")
    shutil.copy(tmp_path / "b" / "step2.pt", tmp_path / "a" / "step2.pt")
    with pytest.raises(ValueError, match=r"step2.pt: not the step its manifest saved"):
        load_runtime(tmp_path / "a")
    assert load_runtime(tmp_path / "b").num_levels == first.num_levels


class _OpRecorder(TorchDispatchMode):
    """Names of the operators called; an ``as_strided`` of a freshly zero-padded map (the
    batch-1 depthwise convolution's windows, ``leanet.folding._Conv``) is named "windows",
    apart from views of anything else (a band buffer)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []
        self.copied = 0
        self._padded: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name == "constant_pad_nd":
            self._padded.add(out.data_ptr())
        elif name == "as_strided" and args[0].data_ptr() in self._padded:
            name = "windows"
        self.ops.append(name)
        if name == "copy_":
            self.copied += args[0].numel()
        return out


@pytest.mark.parametrize("mode", ["eager", "trace"])
def test_advancing_concatenates_and_copies_no_cached_activation(tiny_any, mode):
    net = leanet.build(tiny_any)
    runtime = compile_runtime(net, mode=mode)
    x = torch.randn(1, 1, 8, 8)
    t = runtime.exit_thresholds(net.num_levels)
    with _OpRecorder() as old:
        net(x, t)
    assert "cat" in old.ops  # the levels API concatenates: the recorder sees it
    with _OpRecorder() as rec:
        runtime(x, t)
    assert "cat" not in rec.ops and "stack" not in rec.ops and "index" not in rec.ops
    # Copies: the resized input once (written to its buffer at level 1), the outputs.
    prefix = (
        sum(s[0] * s[1] * s[2] for s in runtime.shapes[:1])
        if net.levels.layers[0].kind != "conv"
        else 0
    )
    assert rec.copied <= prefix + 2


@pytest.mark.parametrize("scheme", ["triangular", "hybrid"])
@pytest.mark.parametrize("mode", ["eager", "trace"])
def test_band_steps_are_handed_their_views_and_slice_nothing(tiny_any, scheme, mode):
    net = leanet.build(tiny_any, scheme=scheme)
    runtime = compile_runtime(net, mode=mode)
    assert "band" in runtime.calls
    x = torch.randn(1, 1, 8, 8)
    runtime.run_through(x, net.num_levels)  # the first call makes the buffers and views
    with _OpRecorder() as rec:
        decision = runtime.run_through(x, net.num_levels)
    assert not {"slice", "narrow", "as_strided", "select"} & set(rec.ops), sorted(set(rec.ops))
    assert decision.exit_level.tolist() == [net.num_levels]


def test_a_runtime_saved_in_the_old_format_is_refused_by_name(tiny_convnet, tmp_path):
    runtime = compile_runtime(leanet.build(tiny_convnet), mode="eager")
    runtime.save(tmp_path / "rt")
    manifest = tmp_path / "rt" / "runtime.json"
    old = json.loads(manifest.read_text())
    old["format"] = "leanet-runtime/1"
    manifest.write_text(json.dumps(old))
    with pytest.raises(ValueError, match="leanet-runtime/1.*save it again"):
        load_runtime(tmp_path / "rt")


def test_runtime_rejects_bad_thresholds_and_modes(tiny_convnet, images):
    net = leanet.build(tiny_convnet)
    runtime = compile_runtime(net, mode="eager")
    for bad in ([0.5] * 3, [0.5] * 5, [0.5, 0.5, float("nan"), 0.5], [0.5, 1.5, 0.5, 0.5]):
        with pytest.raises(ValueError, match="thresholds must"):
            runtime(images, bad)
    with pytest.raises(ValueError):
        compile_runtime(net, mode="jit")
    assert runtime.exit_thresholds(2) == [1.0, 0.0, 0.0, 0.0]
    assert runtime.exit_thresholds(5) == [1.0, 1.0, 1.0, 1.0]
    for level in (0, 6):  # a level the network does not have
        with pytest.raises(ValueError, match="level must be in 1..5"):
            runtime.exit_thresholds(level)


@pytest.mark.parametrize("mode", ["eager", "trace"])
def test_runtime_builds_no_autograd_graph_even_for_an_input_that_requires_grad(
    tiny_convnet, images, mode
):
    """The decision loop runs without ``torch.no_grad`` for speed: the steps must hold no
    trainable weight, and an input that requires grad must not make the answer carry one."""
    net = leanet.build(tiny_convnet)
    runtime = compile_runtime(net, mode=mode)
    assert not any(p.requires_grad for p in runtime.parameters())
    t = [0.5, 0.5, 0.5, 0.5]
    expected = runtime(images, t)
    for x in (images.clone().requires_grad_(True), images[:1].clone().requires_grad_(True)):
        decision = runtime(x, t)
        assert decision.prediction.grad_fn is None
        assert torch.equal(decision.prediction, expected.prediction[: x.shape[0]])
        assert torch.equal(decision.exit_level, expected.exit_level[: x.shape[0]])
        logits = runtime.level_logits(x)
        assert all(z.grad_fn is None for z in logits)


def test_full_network_compiled_matches_the_base(tiny_any, images):
    for mode in ("eager", "trace"):
        assert torch.allclose(
            compile_full(tiny_any, mode=mode)(images), tiny_any(images), atol=1e-4
        )


def test_cpu_times_interleaves_and_reports_spread():
    """Every repeat runs each callable once, in an order that changes: with a fixed cyclic
    order one callable always ran right after the same other, which warmed its caches
    (a 5% bias, flipping sign with the order). The order is seeded: runs repeat it."""
    order: list[str] = []
    fns = {name: (lambda name=name: order.append(name)) for name in "abcd"}
    stats = cpu_times(fns, repeats=20, warmup=1, min_sample=0.0)
    assert set(stats) == set("abcd")
    assert all(s.q1 <= s.median <= s.q3 and s.repeats == 20 for s in stats.values())
    timed = order[8:]  # after warm-up (1 each) and calibration (1 each)
    rounds = [timed[i : i + 4] for i in range(0, len(timed), 4)]
    assert all(sorted(r) == list("abcd") for r in rounds) and len(rounds) == 20
    after = {name: {r[r.index(name) - 1] for r in rounds if r.index(name) > 0} for name in "abcd"}
    assert all(len(before) > 1 for before in after.values())  # no fixed predecessor
    again: list[str] = []
    cpu_times(
        {name: (lambda name=name: again.append(name)) for name in "abcd"},
        repeats=20, warmup=1, min_sample=0.0,
    )  # fmt: skip
    assert again == order


def test_cpu_times_reports_the_median_cost_of_one_call_over_repeats():
    """Each sample times enough calls to last ``min_sample`` (set from one calibrating call
    after the warm-up) and divides by them; the timing is the median and quartiles of the
    samples, kept in repeat order; torch runs on one thread meanwhile."""
    now = [0.0]
    per_call = iter([1e-3] * 4 + [3e-3] * 2 + [1e-3] * 2 + [0.1] * 2 + [2e-3] * 2 + [4e-3] * 2)
    threads = []

    def fn():
        threads.append(torch.get_num_threads())
        now[0] += next(per_call)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        t = cpu_times({"f": fn}, repeats=5, warmup=3, min_sample=2e-3, clock=lambda: now[0])["f"]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    # 3 warm-up calls, 1 calibrating call of 1 ms, then 5 samples of 2 calls each.
    assert len(threads) == 3 + 1 + 5 * 2 and set(threads) == {1}
    assert t.samples == pytest.approx((3e-3, 1e-3, 0.1, 2e-3, 4e-3))
    assert t.median == pytest.approx(3e-3) and t.repeats == 5
    assert (t.q1, t.q3) == pytest.approx((1.5e-3, 0.052))
    with pytest.raises(ValueError, match="one repeat"):
        cpu_times({"f": fn}, repeats=0)


def test_cpu_times_counts_cpu_time_not_the_time_a_call_waits():
    import time

    t = cpu_times({"wait": lambda: time.sleep(0.01)}, repeats=3, warmup=0, min_sample=0.0)["wait"]
    assert t.median < 0.005


def _depthwise_convs(module: nn.Module) -> list[str]:
    return [type(m).__name__ for m in module.modules() if getattr(m, "depthwise", False)]


@pytest.mark.parametrize("levels", ["width", "depth"])
def test_dense_depthwise_decides_as_the_convolutions_do(levels, tmp_path):
    """``depthwise="dense"`` changes how small-map depthwise convolutions run, not what the
    runtime computes: the same logits and decisions, in both modes, saved and loaded."""
    base = tiny_base("mobilenet", input_size=28)
    kw = dict(levels="depth", num_levels=3) if levels == "depth" else dict(levels="width")
    net = _randomize_heads(leanet.build(base, seed=0, **kw))
    x = torch.randn(7, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    conv = compile_runtime(net, mode="eager")
    eager = compile_runtime(net, mode="eager", depthwise="dense")
    # Maps of 32 x 32 and 16 x 16 keep their convolutions, 8 x 8 and smaller do not.
    kept = _depthwise_convs(eager.steps)
    assert kept and len(kept) < len(_depthwise_convs(conv.steps))
    assert any(type(m).__name__ == "_DenseDepthwise" for m in eager.steps.modules())
    traced = compile_runtime(net, mode="trace", depthwise="dense")
    traced.save(tmp_path / "rt")
    loaded = load_runtime(tmp_path / "rt")
    assert loaded.depthwise == "dense" and conv.depthwise == "conv"
    ref = conv.level_logits(x)
    for rt in (eager, traced, loaded):
        assert all(_close(a, b) for a, b in zip(ref, rt.level_logits(x), strict=True))
    conf = torch.stack([confidence(lg, net.confidence) for lg in ref])
    for t in _threshold_vectors(conf, 6):
        a, b = conv(x, t), loaded(x, t)
        assert torch.equal(a.exit_level, b.exit_level) and torch.equal(a.prediction, b.prediction)
    dense_full = compile_full(base, mode="trace", depthwise="dense")
    with torch.no_grad():
        assert _close(dense_full(x), compile_full(base, mode="eager")(x))


def test_dense_depthwise_costs_more_macs_than_charged():
    """The dense form multiplies every input position (zeros included): the runtime then
    executes more MACs than measure_costs charges, which is why it is not the default."""
    base = tiny_base("mobilenet", input_size=28)
    net = leanet.build(base, seed=0, scheme="triangular")
    costs = measure_costs(net, latency=False)
    x = torch.randn(1, 1, 28, 28)
    conv = compile_runtime(net, mode="eager")
    dense = compile_runtime(net, mode="eager", depthwise="dense")
    for k in (1, net.num_levels):
        _, charged = count_work(conv.run_through, x, k)
        _, executed = count_work(dense.run_through, x, k)
        assert charged.macs == costs.exit_macs[k - 1] < executed.macs
        # It reads the same maps and writes the same outputs; its matrices are more weights.
        assert executed.activation_words == charged.activation_words
        assert executed.weight_words > charged.weight_words
    # the ConvNet has no depthwise convolution: nothing changes
    convnet = leanet.build(tiny_base("convnet"), seed=0)
    a = count_work(compile_runtime(convnet, mode="eager").run_through, x[..., :8, :8], 1)[1]
    b = count_work(
        compile_runtime(convnet, mode="eager", depthwise="dense").run_through, x[..., :8, :8], 1
    )[1]
    assert a == b


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize(("channels", "size"), [(16, 8), (128, 2), (64, 16), (8, 32), (128, 16)])
def test_depthwise_at_batch_1_runs_as_columns_and_the_traced_step_keeps_every_branch(
    channels, size, stride
):
    from leanet.folding import (
        STRIDED_DEPTHWISE_CHANNELS,
        STRIDED_DEPTHWISE_OUTPUTS,
        UNFOLD_DEPTHWISE_OUTPUTS,
        _Conv,
    )

    like = nn.Conv2d(channels, channels, 3, stride, 1, groups=channels)
    conv = _Conv(like.weight, like.bias, like, channels, depthwise=True)
    traced = leanet.tracing.trace(
        nn.Sequential(conv, nn.ReLU()), (torch.randn(2, channels, size, size),)
    )
    out = (size - 1) // stride + 1
    outputs = channels * out * out
    if outputs <= UNFOLD_DEPTHWISE_OUTPUTS:
        batch_1 = {"im2col", "baddbmm"}
    elif channels <= STRIDED_DEPTHWISE_CHANNELS and outputs <= STRIDED_DEPTHWISE_OUTPUTS:
        batch_1 = {"constant_pad_nd", "clone", "baddbmm"}
    else:
        batch_1 = {"convolution"}
    for n, ops in ((1, batch_1), (3, {"convolution"})):
        x = torch.randn(n, channels, size, size)
        want = torch.relu(like(x)).detach()
        for module in (conv, traced):
            with _OpRecorder() as rec:
                got = module(x) if module is traced else torch.relu(module(x))
            assert _close(got, want), (n, module)
            assert ops <= set(rec.ops)
            assert ("baddbmm" in rec.ops) == (ops != {"convolution"})
    # Counted as the convolution it is (input map, weights, output map), as charged.
    x = torch.randn(1, channels, size, size)
    assert count_work(conv, x)[1] == count_work(like, x)[1]
    assert count_work(traced, x)[1] == count_work(nn.Sequential(like, nn.ReLU()), x)[1]


def test_tracing_runs_a_copy_in_eval_mode_and_leaves_the_callers_module_alone():
    from leanet.folding import _Conv

    like = nn.Conv2d(4, 4, 3, 1, 1, groups=4)
    conv = _Conv(like.weight, like.bias, like, 4, depthwise=True)
    step = randomize_batchnorm(nn.Sequential(conv, nn.BatchNorm2d(4), nn.ReLU())).train()
    x = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    traced = leanet.tracing.trace(step, (x,))
    assert step.training and all(m.training for m in step.modules())
    assert step[0] is conv  # not swapped for its TorchScript
    with torch.no_grad():
        assert torch.allclose(traced(x), step.eval()(x), atol=1e-6)  # running statistics


def test_runtime_options_are_checked():
    net = leanet.build(tiny_base("convnet"), seed=0)
    with pytest.raises(ValueError, match="depthwise must be one of"):
        compile_runtime(net, depthwise="sparse")
    with pytest.raises(ValueError, match="mode must be one of"):
        compile_full(net.base, mode="compiled")


def test_threads_sharing_a_runtime_decide_as_one_thread_does(fitted, digits):
    """A server may call one runtime from several threads: each thread gets its own band
    buffers, so concurrent calls (the convolutions release the GIL) decide as sequential
    ones; buffers of threads that ended are dropped."""
    from concurrent.futures import ThreadPoolExecutor

    net = fitted("convnet", scheme="hybrid")
    runtime = compile_runtime(net, mode="trace")
    x, _ = digits.test.tensors()
    T = [0.9] * (net.num_levels - 1)
    batches = [x[i : i + 1 + i % 5] for i in range(64)]  # batch sizes 1-5 interleaved
    expected = [runtime(b, T) for b in batches]

    def decide(i: int):
        return runtime(batches[i], T)

    for _ in range(3):
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(decide, range(len(batches))))
        for e, g in zip(expected, got, strict=True):
            assert torch.equal(e.prediction, g.prediction)
            assert torch.equal(e.exit_level, g.exit_level)

    def buffers():
        return runtime._start(x[:1])[0][0]

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(buffers), pool.submit(buffers)
        first, second = a.result(), b.result()
    mine = buffers()
    assert mine.data_ptr() not in {first.data_ptr(), second.data_ptr()}
    # the pool's threads have ended: at most this thread's set is kept, plus any made
    # by threads still alive
    import threading

    alive = {t.ident for t in threading.enumerate()}
    assert set(runtime._scratch) <= alive


@pytest.mark.parametrize("mode", ["eager", "trace"])
@pytest.mark.parametrize("kind", [{}, {"scheme": "triangular"}, {"levels": "depth"}])
def test_non_finite_images_are_named_not_answered(tiny_any, images, kind, mode):
    """A NaN or infinite image gets a NaN confidence at every level: it passes no threshold
    and would take the last level's arbitrary answer at the full cost. The runtime and the
    reference name its row instead, at batch 1 and in a batch, whatever the thresholds
    (every level answers, none may, or each decides)."""
    net = leanet.build(tiny_any, **kind).eval()
    runtime = compile_runtime(net, mode=mode)
    thresholds = [[0.0] * (net.num_levels - 1), [1.0] * (net.num_levels - 1)]
    # Each level's threshold halfway between its two middle confidences, not on one: the
    # runtime's kernels may differ from the reference's in the last bits (they did, on an
    # Intel Xeon), which decides an input whose confidence equals its threshold either way.
    middle = net.level_outputs(images).confidence[:-1].sort(dim=1).values[:, 2:4]
    thresholds.append(middle.mean(dim=1).tolist())
    for bad in (float("nan"), float("inf"), -float("inf")):
        batch = images.clone()
        batch[4, 0, 3, 5] = bad
        for t in thresholds:
            for decide in (runtime, net):
                with pytest.raises(ValueError, match=r"in 1 of 6 images \(rows 4\)"):
                    decide(batch, t)
                with pytest.raises(ValueError, match=r"in 1 of 1 images \(rows 0\)"):
                    decide(batch[4:5], t)
            assert torch.equal(runtime(images, t).exit_level, net(images, t).exit_level)


def test_a_network_that_gives_nan_on_finite_images_is_named(tiny_convnet, images):
    """Finite images and a NaN confidence: the error blames the network, not the images."""
    net = leanet.build(tiny_convnet).eval()
    net.heads[1].mlp[-1].weight.data[0, 0] = float("nan")  # level 2's logits turn NaN
    runtime = compile_runtime(net, mode="eager")
    for decide in (runtime, net):
        with pytest.raises(ValueError, match="level 2 gives a NaN confidence on finite images"):
            decide(images, [0.999, 0.5, 0.5, 0.5])
        assert decide(images, [0.0, 0.5, 0.5, 0.5]).exit_level.eq(1).all()  # no level 2


@pytest.mark.parametrize("levels", ["width", "depth"])
def test_an_entropy_runtime_traces_without_warning_and_decides_as_the_leanet(
    tiny_convnet, images, levels
):
    """Entropy divides by log C, read from the logits' shape: the trace keeps it as a
    constant, which is right, and says nothing to the user about it."""
    net = _randomize_heads(leanet.build(tiny_convnet, levels=levels, confidence="entropy").eval())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning of the trace fails the test
        runtime = compile_runtime(net, mode="trace")
    conf = net.level_outputs(images).confidence
    _check_agrees(net, runtime, images, _threshold_vectors(conf, 5))


def _users_own_base(padding_mode: str, activation: nn.Module) -> leanet.zoo.BaseNet:
    """A user's flat network with what the zoo's lack: convolutions padded by
    ``padding_mode``, other activations (a PReLU has weights: width levels refuse it; a
    SiLU they slice) and a batch norm after an activation (one no convolution folds)."""
    torch.manual_seed(0)
    pad = {"padding": 1, "padding_mode": padding_mode, "bias": False}
    features = nn.Sequential(
        nn.Conv2d(1, 8, 3, **pad), nn.BatchNorm2d(8), activation,
        nn.Conv2d(8, 8, 3, **pad), nn.SiLU(), nn.BatchNorm2d(8), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, **pad), nn.BatchNorm2d(16), nn.ReLU(),
    )  # fmt: skip
    config = {"arch": "mine", "num_classes": 10, "in_channels": 1, "input_size": 8}
    return randomize_batchnorm(leanet.zoo.BaseNet(features, nn.Linear(16, 10), config))


@pytest.mark.parametrize("padding_mode", ["reflect", "circular", "zeros"])
@pytest.mark.parametrize("kind", [{}, {"scheme": "slice"}, {"levels": "depth", "num_levels": 2}])
def test_a_users_own_layers_run_in_the_runtime_as_in_the_network(images, padding_mode, kind):
    """Levels and runtime padded every convolution with zeros (171 of 299 decisions of a
    reflect-padded hybrid differed from net(x, T)); a batch norm after the activation
    crashed compile_runtime and measure_costs; the runtime shared the PReLU with the net
    and turned its requires_grad off."""
    depth = kind.get("levels") == "depth"
    base = _users_own_base(padding_mode, nn.PReLU() if depth else nn.ReLU6())
    net = _randomize_heads(leanet.build(base, **kind)).eval()
    if kind.get("scheme") == "slice":  # its top level recomputes the whole network
        top = net.levels.run_level(images, net.num_levels)
        torch.testing.assert_close(top, net.base.features(images), rtol=0, atol=1e-6)
    prelu = net.base.features[2] if depth else nn.PReLU()  # (width: a stand-in)
    for mode, depthwise in (("eager", "conv"), ("trace", "conv"), ("eager", "dense")):
        runtime = compile_runtime(net, mode=mode, depthwise=depthwise)
        conf = confidence(net.level_outputs(images).logits)
        _check_agrees(net, runtime, images, _threshold_vectors(conf, 6))
        assert prelu.weight.requires_grad
    measure_costs(net)  # prices the full network compiled the same way
    assert prelu.weight.requires_grad
    full = compile_full(net.base, mode="eager")
    torch.testing.assert_close(full(images), net.base(images), rtol=1e-4, atol=1e-5)
    if depth:
        with torch.no_grad():
            prelu.weight.add_(1.0)  # a later change of the net is not the runtime's
        assert not torch.allclose(full(images), net.base(images), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("padding_mode", ["reflect", "circular"])
def test_an_average_pool_and_a_padded_depthwise_convolution_run_as_in_the_network(
    images, padding_mode
):
    """A step swaps ReLU then MaxPool2d (they commute); ReLU then AvgPool2d do not. A
    depthwise convolution padded other than by zeros must not take the batch-1 column path
    (F.unfold pads with zeros). Both computed as the network, at batch N and batch 1
    (mutation sweep mut4: swapping the average pool, or the column path for any padding,
    passed every other test: no network there had either)."""
    torch.manual_seed(0)
    dw = {"padding": 1, "groups": 8, "padding_mode": padding_mode}
    features = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(8, 8, 3, **dw), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16), nn.ReLU(),
    )  # fmt: skip
    config = {"arch": "mine", "num_classes": 10, "in_channels": 1, "input_size": 8}
    base = randomize_batchnorm(leanet.zoo.BaseNet(features, nn.Linear(16, 10), config))
    net = _randomize_heads(leanet.build(base)).eval()
    ref = net.level_outputs(images).logits
    for mode in ("eager", "trace"):
        runtime = compile_runtime(net, mode=mode)
        assert _close(torch.stack(runtime.level_logits(images)), ref)
        for i in range(images.shape[0]):
            one = torch.stack(runtime.level_logits(images[i : i + 1]))
            assert _close(one, ref[:, i : i + 1]), (mode, i)
    # as one matrix product per channel (small maps), the padding is in the matrix: once
    dense = compile_runtime(net, mode="eager", depthwise="dense")
    assert _close(torch.stack(dense.level_logits(images)), ref)


def test_a_threshold_of_one_never_exits_even_a_saturated_confidence(tiny_convnet, images):
    """T_k = 1.0 means level k never answers, also for a confidence of exactly 1.0, at
    batch 1 and batch N, as net(x, T) decides; comparing T_k > 1.0 let them exit.
    ``forward`` runs such a level's body only (it cannot exit there whatever the loop
    compares); ``run_through``, which times exits, runs every level whole, so its loop's
    T_k >= 1 check is what keeps level 1 from answering (mutation sweep mut4: dropped, the
    other assertions passed)."""
    net = leanet.build(tiny_convnet, scheme="triangular").eval()
    with torch.no_grad():
        net.heads[0].mlp[-1].weight.mul_(1e4)  # level 1's max softmax saturates at 1.0
    runtime = compile_runtime(net, mode="eager")
    saturated = confidence(runtime.level_logits(images)[0]) == 1.0
    assert bool(saturated.any())
    never = [1.0] * (net.num_levels - 1)
    assert torch.all(runtime(images, never).exit_level == net.num_levels)
    for i in saturated.nonzero().flatten().tolist():
        assert int(runtime(images[i : i + 1], never).exit_level) == net.num_levels
        assert int(runtime.run_through(images[i : i + 1], 2).exit_level) == 2
    assert torch.all(runtime.run_through(images, net.num_levels).exit_level == net.num_levels)


def test_a_threshold_at_a_confidence_decides_in_float32_at_every_batch_size(tiny_convnet, images):
    """conf >= T in float32, as net(x, T) and the evaluator compare: a threshold equal to
    an input's confidence, or a float64 just above it that rounds to it, lets it exit,
    at batch N and at batch 1 (whose comparisons are Python floats)."""
    net = _randomize_heads(leanet.build(tiny_convnet)).eval()
    runtime = compile_runtime(net, mode="eager")
    rest = [0.0] * (net.num_levels - 2)

    def level1(x):  # the runtime's own confidences (BN folding rounds differently)
        return confidence(runtime.level_logits(x)[0])

    def just_above(c):  # the next float64: rounds back to c in float32
        return float(torch.tensor(c, dtype=torch.float64).nextafter(torch.tensor(2.0)))

    c = float(level1(images).min())
    for t1 in (c, just_above(c)):
        assert torch.all(runtime(images, [t1, *rest]).exit_level == 1), t1
    for i in range(images.shape[0]):
        x = images[i : i + 1]
        c = float(level1(x)[0])
        for t1 in (c, just_above(c)):
            assert int(runtime(x, [t1, *rest]).exit_level) == 1, (i, t1)


def test_folded_batch_norms_of_a_dead_channel_and_of_a_biased_conv_compute_the_network(images):
    """Folding divides by sqrt(var + eps): a channel whose running variance is 0 (dead
    inputs) is finite, not inf/NaN; and a convolution's own bias is scaled by the batch
    norm after it (b * scale + shift), as the network computes."""
    torch.manual_seed(0)
    features = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
    )  # fmt: skip
    config = {"arch": "mine", "num_classes": 10, "in_channels": 1, "input_size": 8}
    base = randomize_batchnorm(leanet.zoo.BaseNet(features, nn.Linear(16, 10), config))
    features[5].running_var[3] = 0.0
    full = compile_full(base, mode="eager")
    torch.testing.assert_close(full(images), base(images), rtol=1e-4, atol=1e-5)
    net = _randomize_heads(leanet.build(base)).eval()
    runtime = compile_runtime(net, mode="eager")
    assert _close(torch.stack(runtime.level_logits(images)), net.level_outputs(images).logits)


def test_depth_heads_pool_the_map_of_their_own_level():
    """Each depth head is folded for its own level's map: on 32 x 32 inputs the last map
    is 4 x 4 (a head's pooled side) while level 1's is 16 x 16, which must still be pooled
    (folded for the last map's size, the runtime skipped that pooling)."""
    base = tiny_base("convnet", input_size=32)
    net = _randomize_heads(leanet.build(base, levels="depth", num_levels=3)).eval()
    x = torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    runtime = compile_runtime(net, mode="eager")
    assert _close(torch.stack(runtime.level_logits(x)), net.level_outputs(x).logits)


def test_a_manifest_that_is_json_but_no_object_is_named_as_damaged(tiny_convnet, tmp_path):
    """runtime.json read as valid JSON of another kind (a list, null: a file written over)
    is the damaged runtime it is (mutation sweep s74: only a missing or undecodable manifest
    was named; a list failed in m.get with a bare AttributeError)."""
    compile_runtime(leanet.build(tiny_convnet), mode="eager").save(tmp_path / "rt")
    for text in ("[]", "null", '"leanet-runtime/3"'):
        (tmp_path / "rt" / "runtime.json").write_text(text)
        with pytest.raises(ValueError, match=r"runtime.json: missing or unreadable.*save the"):
            load_runtime(tmp_path / "rt")
    # JSON objects of another kind: a manifest of another format, or none
    for manifest in ({"format": "leanet-runtime/9", "num_levels": 5}, {"num_levels": 5}):
        (tmp_path / "rt" / "runtime.json").write_text(json.dumps(manifest))
        with pytest.raises(ValueError, match="runtime.json: not a leanet runtime manifest"):
            load_runtime(tmp_path / "rt")


def test_a_grouped_convolution_and_a_batch_norm_of_its_own_eps_fold_as_the_network(images):
    """A convolution of 2 groups (not depthwise) keeps its groups when folded whole, and a
    batch norm's own eps (1e-3, as torchvision's EfficientNet and MobileNetV3 use) is the
    one folded, not torch's default 1e-5: a channel of small running variance shows it."""
    torch.manual_seed(0)
    features = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=2), nn.BatchNorm2d(8, eps=1e-3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
    )  # fmt: skip
    config = {"arch": "mine", "num_classes": 10, "in_channels": 1, "input_size": 8}
    base = randomize_batchnorm(leanet.zoo.BaseNet(features, nn.Linear(16, 10), config))
    features[4].running_var[2] = 1e-4
    full = compile_full(base, mode="eager")
    torch.testing.assert_close(full(images), base(images), rtol=1e-4, atol=1e-5)
    net = _randomize_heads(leanet.build(base, levels="depth", num_levels=3)).eval()
    runtime = compile_runtime(net, mode="eager")
    assert _close(torch.stack(runtime.level_logits(images)), net.level_outputs(images).logits)


@pytest.mark.parametrize("arch", ["convnet", "mobilenet"])
def test_each_step_does_only_its_levels_new_work(arch):
    # The 8 px MobileNet resizes its input to 32 px: done once, at level 1 (later levels
    # have no new channels there, so no segment); every later segment writes a new band.
    from leanet.steps import plan
    from tests.leanet.conftest import tiny_base

    net = leanet.build(
        tiny_base(arch, input_size=8), fractions=(0.25, 0.5, 1.0), scheme="triangular"
    )
    steps, _ = plan(net)
    assert len(steps) == 3
    for step in steps[1:]:
        assert all(seg.hi > seg.lo for seg in step.segments)
    runtime = compile_runtime(net, mode="eager")
    x = torch.randn(1, 1, 8, 8)
    runtime.run_through(x, net.num_levels)
    with _OpRecorder() as rec:
        runtime.run_through(x, net.num_levels)
    assert rec.ops.count("upsample_bilinear2d") == (arch == "mobilenet")


def test_a_hybrid_runtimes_buffers_are_as_wide_as_its_shared_levels():
    # its top level runs the pretrained network from the input: no band buffer holds it
    from leanet.steps import plan
    from tests.leanet.conftest import tiny_base

    net = leanet.build(tiny_base("convnet"), fractions=(0.25, 0.5, 1.0), scheme="hybrid")
    _, shapes = plan(net)
    convs = [layer for layer in net.levels.layers if layer.kind == "conv"]
    assert [s[0] for s in shapes] == [layer.w_out[2] for layer in convs]
    assert all(layer.w_out[2] < layer.w_out[3] for layer in convs)
