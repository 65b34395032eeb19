"""Levels: validation, exact reuse, weight slicing and MACs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from leanet.levels import (
    DEFAULT_FRACTIONS,
    DepthLevels,
    WidthLevels,
    check_fractions,
    slice_width,
)
from leanet.model import build, count_macs

LEVEL_KINDS = [
    dict(levels="width", scheme="triangular"),
    dict(levels="width", scheme="slice"),
    dict(levels="depth"),
]


@pytest.mark.parametrize(
    "fractions, problem",
    [
        ([], "empty"),
        ([0.5, 0.5, 1.0], "increasing"),
        ([0.75, 0.5, 1.0], "increasing"),
        ([0.5, 0.9], "last fraction"),
        ([0.0, 1.0], r"\(0, 1\]"),
        ([0.5, 1.2], r"\(0, 1\]"),
    ],
)
def test_fractions_validated(fractions, problem):
    with pytest.raises(ValueError, match=problem):
        check_fractions(fractions)


def test_default_fractions_and_widths(tiny_convnet):
    lv = WidthLevels(tiny_convnet.features, in_channels=1)
    assert lv.fractions == DEFAULT_FRACTIONS == (0.5, 0.625, 0.75, 0.875, 1.0)
    assert lv.out_channels == [16, 20, 24, 28, 32]
    assert WidthLevels(tiny_convnet.features, in_channels=1, fractions=[0.25, 1.0]).num_levels == 2


def test_fractions_that_round_to_the_same_width_rejected(tiny_convnet):
    with pytest.raises(ValueError, match="same width"):
        WidthLevels(tiny_convnet.features, in_channels=1, fractions=[0.5, 0.51, 1.0])


def test_bad_scheme_and_level(tiny_convnet, images):
    with pytest.raises(ValueError, match="scheme"):
        WidthLevels(tiny_convnet.features, in_channels=1, scheme="magic")
    lv = WidthLevels(tiny_convnet.features, in_channels=1)
    with pytest.raises(ValueError, match="1-based"):
        lv.run_level(images, 0)


@pytest.mark.parametrize("kind", LEVEL_KINDS, ids=lambda k: "-".join(k.values()))
def test_reuse_is_exact(tiny_any, images, kind):
    """Level i's features computed incrementally equal level i computed alone."""
    net = build(tiny_any, **kind).eval()
    with torch.no_grad():
        for level, incremental in enumerate(net.level_features(images), start=1):
            alone = net.levels.run_level(images, level)
            torch.testing.assert_close(incremental, alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", LEVEL_KINDS, ids=lambda k: "-".join(k.values()))
def test_reuse_after_dropping_inputs(tiny_any, images, kind):
    """Continuing on a subset of the batch gives the subset's own features."""
    lv = build(tiny_any, **kind).eval().levels
    keep = torch.tensor([True, False, True, True, False, False])
    with torch.no_grad():
        state = lv.select(lv.advance(lv.init_state(images)), keep)
        state = lv.advance(state)
        torch.testing.assert_close(
            lv.feature_map(state), lv.run_level(images[keep], 2), rtol=1e-5, atol=1e-5
        )


def test_triangular_old_channels_never_change(tiny_convnet, images):
    lv = build(tiny_convnet, scheme="triangular").eval().levels
    with torch.no_grad():
        maps = [lv.run_level(images, k) for k in range(1, lv.num_levels + 1)]
    for narrow, wide in zip(maps, maps[1:], strict=False):
        torch.testing.assert_close(wide[:, : narrow.shape[1]], narrow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scheme", ["triangular", "slice", "hybrid"])
def test_width_slicing_keeps_pretrained_weights(tiny_any, scheme):
    net = build(tiny_any, scheme=scheme)
    base = dict(tiny_any.named_parameters())
    for name, p in net.base.named_parameters():  # values copied unchanged
        assert torch.equal(p, base[name])


def _masked_dense_level(lv: WidthLevels, x: torch.Tensor, level: int) -> torch.Tensor:
    """An independent reference for a triangular level: every conv run densely on the
    `[:w_out, :w_in]` slice with the weights from newer input bands to older outputs zeroed."""
    for layer in lv.layers:
        hi = layer.w_out[level]
        if layer.kind != "conv":
            x = lv._band(layer, x, 0, hi, layer.w_in[level])
            continue
        m = layer.module
        w = m.weight[:hi, : layer.w_in[level]]
        mask = torch.zeros_like(w[:, :, :1, :1])
        for k in range(1, level + 1):
            mask[layer.w_out[k - 1] : layer.w_out[k], : layer.w_in[k]] = 1
        b = None if m.bias is None else m.bias[:hi]
        x = torch.nn.functional.conv2d(x, w * mask, b, m.stride, m.padding, m.dilation)
    return x


def test_triangular_levels_equal_the_masked_dense_network(tiny_any, images):
    lv = build(tiny_any, scheme="triangular").eval().levels
    with torch.no_grad():
        for k in range(1, lv.num_levels + 1):
            torch.testing.assert_close(
                lv.run_level(images, k), _masked_dense_level(lv, images, k), rtol=1e-5, atol=1e-5
            )


def test_slice_last_level_is_the_pretrained_network(tiny_any, images):
    net = build(tiny_any, scheme="slice").eval()
    with torch.no_grad():
        torch.testing.assert_close(
            net.levels.run_level(images, net.num_levels), tiny_any.features(images), rtol=0, atol=0
        )


def test_depthwise_conv_sliced_with_groups(tiny_mobilenet, images):
    lv = WidthLevels(tiny_mobilenet.features, in_channels=1)
    depthwise = [layer for layer in lv.layers if layer.kind == "depthwise"]
    assert depthwise and all(layer.w_in == layer.w_out for layer in depthwise)
    # one depthwise layer at level 1 equals the full depthwise conv's first channels
    layer = depthwise[0]
    c = layer.module.in_channels
    x = torch.randn(2, c, 6, 6)
    k1 = layer.w_out[1]
    with torch.no_grad():
        part = lv._band(layer, x[:, :k1], 0, k1, k1)
        torch.testing.assert_close(part, layer.module(x)[:, :k1])


@pytest.mark.parametrize("scheme", ["triangular", "slice"])
def test_level1_macs_between_f_squared_and_f(tiny_any, scheme):
    """Level 1's backbone MACs lie in [F_1^2, F_1] x the full network's (FlopCounterMode)."""
    net = build(tiny_any, scheme=scheme).eval()
    x = torch.zeros(1, 1, 8, 8)
    with torch.no_grad():
        _, full = count_macs(tiny_any.features, x)
        level1 = net.level_macs(heads=False)[0]
    f1 = DEFAULT_FRACTIONS[0]
    assert f1**2 * full <= level1 <= f1 * full


def test_incremental_macs_triangular_vs_slice(tiny_convnet):
    tri = build(tiny_convnet, scheme="triangular").level_macs(heads=False)
    sli = build(tiny_convnet, scheme="slice").level_macs(heads=False)
    with torch.no_grad():
        _, full = count_macs(tiny_convnet.features, torch.zeros(1, 1, 8, 8))
    assert tri[0] == sli[0]
    assert sli[-1] == full  # slice recomputes: the last step is the whole network
    assert sum(tri) < full  # triangular: all levels together cost less than the full net
    assert all(t < s for t, s in zip(tri[1:], sli[1:], strict=True))


def test_depth_levels_exits(tiny_convnet, images):
    lv = DepthLevels(tiny_convnet.features, exits=[2, 4, 6])
    assert lv.out_channels == [8, 16, 32]
    with torch.no_grad():
        torch.testing.assert_close(lv.run_level(images, 3), tiny_convnet.features(images))
    with pytest.raises(ValueError, match="increasing"):
        DepthLevels(tiny_convnet.features, exits=[4, 2, 6])
    with pytest.raises(ValueError, match="end at 6"):
        DepthLevels(tiny_convnet.features, exits=[2, 4])


def test_too_few_exits_says_only_top_level_convolutions_count():
    """A ResNet's children as features gave "num_levels must be in 1..1, got 4", naming
    neither the rule (exits follow top-level Conv2d only) nor the nested blocks (sweepM F6)."""
    block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 1))
    features = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), block, block)
    words = r"1 top-level Conv2d \(exits come only after those\); the nested blocks at positions"
    with pytest.raises(
        ValueError, match=rf"num_levels must be in 1..1, got 4: features has {words} \[2, 3\]"
    ):
        DepthLevels(features, num_levels=4)
    with pytest.raises(ValueError, match=rf"exits must lie in 1..1.*{words}"):
        DepthLevels(features, exits=[1, 2])


def test_unsupported_layer_rejected():
    features = nn.Sequential(nn.Conv2d(1, 8, 3), nn.LayerNorm([8, 6, 6]))
    with pytest.raises(TypeError, match="LayerNorm"):
        WidthLevels(features, in_channels=1)


def test_a_width_fraction_keeps_the_nearest_whole_channel_count():
    """F * C is rounded, not truncated: 0.3 of 16 channels is 5 (truncation kept 4, a
    narrower, cheaper level 1 than the one the paper's fraction names)."""
    features = nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Conv2d(16, 10, 3))
    lv = WidthLevels(features, in_channels=1, fractions=(0.3, 1.0))
    assert lv.layers[0].w_out == [0, 5, 16]
    assert lv.out_channels == [3, 10]  # 0.3 * 10 = 3.0
    assert slice_width(0.25, 10) == 2 and slice_width(0.35, 10) == 4  # halves to even


def test_default_depth_exits_are_the_rounded_even_spread(tiny_convnet):
    """4 levels over 6 convolutions end after convs round(1.5, 3, 4.5, 6) = 2, 3, 4, 6:
    the rounded spread, not the truncated one (1, 3, 4, 6), which moved the first exit."""
    lv = DepthLevels(tiny_convnet.features)
    assert lv.exits == [2, 3, 4, 6]
    assert DepthLevels(tiny_convnet.features, num_levels=3).exits == [2, 4, 6]


def test_batch_norm_updates_move_the_running_statistics_by_the_given_momentum():
    """Recalibration sets ``bn_momentum`` to 1 / (b + 1) so that the running statistics
    become the exact mean over batches; at momentum 1 they are one batch's statistics."""
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(1, 8, 3, bias=False), nn.BatchNorm2d(8)
    lv = WidthLevels(nn.Sequential(conv, bn, nn.ReLU()), in_channels=1, fractions=(0.5, 1.0))
    x = torch.randn(16, 1, 6, 6)
    old = bn.running_mean.clone()
    with torch.no_grad(), lv.batch_norm_updates(1.0):
        lv.run_level(x, 1)
    batch_mean = conv(x)[:, :4].mean(dim=(0, 2, 3)).detach()
    torch.testing.assert_close(bn.running_mean[:4], batch_mean)
    assert torch.equal(bn.running_mean[4:], old[4:])  # level 1 touches only its band


def test_a_depthwise_band_adds_its_own_bias_entries():
    """A depthwise conv with a bias (the zoo's have none, a user's base may): channel band
    ``[lo, hi)`` adds ``bias[lo:hi]`` (mutation sweep s76: ``bias[: hi - lo]`` passed every
    test). A 1-channel image and a diagonal conv leave nothing to mask, so the top
    triangular level is the dense network exactly."""
    torch.manual_seed(0)
    features = nn.Sequential(
        nn.Conv2d(1, 8, 1, bias=False), nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=True)
    )
    with torch.no_grad():
        features[1].bias.copy_(torch.arange(8.0))
    lv = WidthLevels(features, in_channels=1, fractions=(0.5, 1.0))
    x = torch.randn(2, 1, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(lv.run_level(x, 2), features(x))


def test_a_layer_that_does_not_widen_at_a_level_keeps_its_channels():
    """A narrow conv whose width rounds to the same count at two levels (2 channels: 1, 2,
    2) adds no band at level 3; its channels are reused, not recomputed from the input
    channels that grew (mutation sweep s76: recomputing them changed level 3's old
    channels and charged the conv again)."""
    torch.manual_seed(0)
    features = nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 2, 1), nn.ReLU(), nn.Conv2d(2, 8, 1)
    )
    lv = WidthLevels(features, in_channels=1, fractions=(0.5, 0.75, 1.0))
    assert lv.layers[2].w_out == [0, 1, 2, 2]
    x = torch.randn(2, 1, 6, 6)
    with torch.no_grad():
        two = lv.advance(lv.advance(lv.init_state(x)))
        three = lv.advance(two)
    assert torch.equal(three.acts[2], two.acts[2])
    wide, narrow = lv.feature_map(three), lv.feature_map(two)
    torch.testing.assert_close(wide[:, : narrow.shape[1]], narrow, rtol=0, atol=0)


def test_which_levels_read_the_input_alone_per_scheme(tiny_convnet):
    """``standalone`` tells the cost model which levels may be skipped: every slice level,
    the hybrid's pretrained top, no triangular level (mutation sweep s76: a triangular top
    claimed standalone let the evaluator skip the levels it reads, undercharging it)."""
    lv = {s: build(tiny_convnet, scheme=s).levels for s in ("triangular", "slice", "hybrid")}
    L = lv["slice"].num_levels
    assert lv["triangular"].standalone == (False,) * L
    assert lv["slice"].standalone == (True,) * L
    assert lv["hybrid"].standalone == (False,) * (L - 1) + (True,)
    assert DepthLevels(tiny_convnet.features).standalone == (False,) * 4


def test_hybrid_levels_are_the_triangular_ones_below_the_pretrained_top(tiny_any, images):
    """Hybrid levels 1..L-1 are the triangular levels, alone or incremental, and level L is
    the pretrained extractor (mutation sweep s76: ``run_level`` at L-1 ran the pretrained
    network and no test compared the hybrid's levels)."""
    hybrid = build(tiny_any, scheme="hybrid").eval()
    tri = build(tiny_any, scheme="triangular").eval().levels
    L = hybrid.num_levels
    with torch.no_grad():
        incremental = hybrid.level_features(images)
        for k in range(1, L):
            alone = hybrid.levels.run_level(images, k)
            torch.testing.assert_close(alone, tri.run_level(images, k), rtol=0, atol=0)
            torch.testing.assert_close(incremental[k - 1], alone, rtol=1e-5, atol=1e-5)
        top = tiny_any.features(images)
        torch.testing.assert_close(hybrid.levels.run_level(images, L), top, rtol=0, atol=0)
        torch.testing.assert_close(incremental[-1], top, rtol=0, atol=0)


def test_a_depth_level_ends_with_its_block_where_the_next_conv_starts(tiny_convnet, images):
    """Exit 2 ends after conv 2's whole block (its batch norm, activation and pooling), not
    right after the conv (mutation sweep s76: cutting after the conv passed, as only the
    last level, which runs to the end, was compared)."""
    features = tiny_convnet.features
    conv_pos = [i for i, m in enumerate(features) if isinstance(m, nn.Conv2d)]
    assert conv_pos[2] - conv_pos[1] > 1  # the block holds more than its conv
    lv = DepthLevels(features, exits=[2, 4, 6])
    with torch.no_grad():
        torch.testing.assert_close(lv.run_level(images, 1), features[: conv_pos[2]](images))
        state = lv.advance(lv.advance(lv.init_state(images)))
        torch.testing.assert_close(lv.feature_map(state), features[: conv_pos[4]](images))


def test_the_hybrid_pretrained_top_stays_at_inference_in_training_mode(tiny_convnet, images):
    """``net.train()`` (fine-tuning) leaves the hybrid's frozen top level in eval mode: in
    training mode its batch norms would normalize with batch statistics and overwrite its
    running ones (mutation sweep s76: dropping the ``eval()`` passed every test)."""
    net = build(tiny_convnet, scheme="hybrid").train()
    top = net.levels.pretrained
    assert not any(m.training for m in top.modules())
    before = {k: v.clone() for k, v in top.state_dict().items()}
    with torch.no_grad():
        torch.testing.assert_close(net.level_features(images)[-1], tiny_convnet.features(images))
    assert all(torch.equal(v, before[k]) for k, v in top.state_dict().items())


@pytest.mark.parametrize("padding_mode", ["reflect", "circular", "replicate"])
def test_a_sliced_conv_pads_as_its_layer_does(padding_mode):
    """``F.conv2d`` pads with zeros whatever the layer's ``padding_mode``: the slice
    scheme's last level is the network itself only if sliced convs pad as the layer does
    (mutation sweep s76: ignoring the mode passed every levels test)."""
    torch.manual_seed(0)
    pad = dict(padding=1, padding_mode=padding_mode)
    features = nn.Sequential(nn.Conv2d(1, 8, 3, **pad), nn.ReLU(), nn.Conv2d(8, 8, 3, **pad))
    lv = WidthLevels(features, in_channels=1, fractions=(0.5, 1.0), scheme="slice")
    x = torch.randn(2, 1, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(lv.run_level(x, 2), features(x))


def test_a_depthwise_conv_with_a_channel_multiplier_is_refused():
    """groups == in_channels but twice the outputs: output c reads input c // 2, which a
    depthwise band (output c reads input c) would silently get wrong (mutation sweep s76:
    accepting it passed every test)."""
    features = nn.Sequential(nn.Conv2d(1, 4, 1), nn.Conv2d(4, 8, 3, groups=4))
    with pytest.raises(NotImplementedError, match="grouped conv"):
        WidthLevels(features, in_channels=1)
