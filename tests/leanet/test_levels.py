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
