"""Base networks: shapes, sizes, MACs, argument checks."""

from __future__ import annotations

import pytest
import torch

from leanet.model import count_macs
from leanet.zoo import ARCHITECTURES, build_base, from_torchvision, image_shape


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("channels, size", [(1, 8), (1, 28), (3, 32)])
def test_shapes(arch, channels, size):
    net = build_base(
        arch, num_classes=7, in_channels=channels, input_size=size, width_multiplier=0.25
    ).eval()
    with torch.no_grad():
        assert net(torch.zeros(2, channels, size, size)).shape == (2, 7)
    assert net.config["arch"] == arch
    assert image_shape(net.config) == (channels, size, size)  # what levels and costs probe


def test_layer_counts_and_paper_macs():
    convs = {
        a: sum(isinstance(m, torch.nn.Conv2d) for m in build_base(a).features)
        for a in ARCHITECTURES
    }
    assert convs["convnet"] == 6 and convs["vgg16"] == 13 and convs["mobilenet"] == 27
    mobile = build_base("mobilenet")
    assert any(m.groups > 1 for m in mobile.features if isinstance(m, torch.nn.Conv2d))
    with torch.no_grad():
        _, macs = count_macs(build_base("convnet").eval(), torch.zeros(1, 1, 28, 28))
    assert macs == pytest.approx(29.1e6, rel=0.01)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_base("resnet")
    with pytest.raises(ValueError, match="input_size"):
        build_base("vgg16", input_size=64)
    with pytest.raises(ValueError, match="in_channels"):
        build_base("convnet", in_channels=2)
    with pytest.raises(ValueError, match="input_size must be in"):
        build_base("convnet", input_size=7)
    with pytest.raises(ValueError, match="num_classes must be >= 2, got 1"):
        build_base("convnet", num_classes=1)
    for width in (0, -0.5):
        with pytest.raises(ValueError, match="width_multiplier must be > 0"):
            build_base("convnet", width_multiplier=width)


def test_torchvision_weights_never_download(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not cached"):
        from_torchvision("vgg11_bn", weights="VGG11_BN_Weights.IMAGENET1K_V1")
    with pytest.raises(ValueError, match="unsupported"):
        from_torchvision("resnet18")


def test_a_seed_builds_the_same_weights_and_leaves_the_global_generator_alone():
    torch.manual_seed(7)
    expected_next = torch.rand(3)
    torch.manual_seed(7)
    a = build_base("convnet", width_multiplier=0.25, seed=1)
    assert torch.equal(torch.rand(3), expected_next)  # the caller's stream is untouched
    torch.manual_seed(1)  # the seed's draws are those of torch.manual_seed(seed)
    b = build_base("convnet", width_multiplier=0.25)
    for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.slow  # 133M parameters at 224 px; the 64 px test below checks the same at 10 classes
def test_a_torchvision_vgg_hybrid_keeps_its_top_level_and_round_trips(tmp_path):
    """torchvision's VGG pools to 7 x 7 before its classifier: the hybrid's top level must
    pool as the network does (it pooled to 1 x 1 and crashed), and a saved LEANet of it
    must load (its config names a torchvision architecture)."""
    from leanet.checkpoints import load_leanet, save_leanet
    from leanet.model import build

    torch.manual_seed(0)
    base = from_torchvision("vgg11_bn")
    net = build(base, fractions=[0.5, 1.0])
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = base(x).argmax(-1)
        assert torch.equal(net(x, [1.0]).prediction, expected)  # the pretrained network
        save_leanet(tmp_path / "vgg.pt", net)
        loaded, _ = load_leanet(tmp_path / "vgg.pt")
        assert torch.equal(loaded(x, [1.0]).prediction, expected)


def test_a_torchvision_network_of_its_own_classes_and_size_round_trips(tmp_path):
    # from_torchvision hard-coded 1000 classes and 224 px, and a saved network reloaded at
    # 224 px (3x the MACs, and the user's 64 px images refused).
    from leanet.checkpoints import load_leanet, save_leanet
    from leanet.model import build

    torch.manual_seed(0)
    base = from_torchvision("vgg11_bn", num_classes=10, input_size=64)
    net = build(base, fractions=[0.5, 1.0])
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():  # the hybrid's top level pools to 7 x 7 as the network does
        assert torch.equal(net(x, [1.0]).prediction, base(x).argmax(-1))
    save_leanet(tmp_path / "vgg.pt", net)
    loaded, _ = load_leanet(tmp_path / "vgg.pt")
    assert loaded.base.config["input_size"] == 64 and loaded.num_classes == 10
    assert loaded.level_macs() == net.level_macs()
    with torch.no_grad():
        torch.testing.assert_close(loaded.level_outputs(x).logits, net.level_outputs(x).logits)
    with pytest.raises(ValueError, match="1000 classes, not 10"):
        from_torchvision("vgg11_bn", weights="VGG11_BN_Weights.IMAGENET1K_V1", num_classes=10)


def test_a_classifier_of_another_class_count_than_the_config_is_refused():
    # A replaced last layer with the config left at 10 classes: heads of 10 classes under a
    # top level of 4, which predicted classes that do not exist.
    from leanet.model import build

    base = build_base("convnet", width_multiplier=0.25)
    last = base.classifier[-1]
    base.classifier[-1] = torch.nn.Linear(last.in_features, 4)
    with pytest.raises(ValueError, match=r"logits of shape \(4,\).*num_classes=10"):
        build(base)


def test_a_one_class_network_is_refused():
    # A one-logit network: every confidence of one class is 1.0, so max_softmax exits every
    # image at level 1, margin has no second class and entropy divided by log(1) = 0.
    from leanet.model import build

    base = build_base("convnet", width_multiplier=0.25)
    last = base.classifier[-1]
    base.classifier[-1] = torch.nn.Linear(last.in_features, 1)
    base.config["num_classes"] = 1
    with pytest.raises(ValueError, match="num_classes must be >= 2, got 1: a binary"):
        build(base)


def test_feature_channels_still_answers_for_one_release_with_a_deprecation_warning():
    # leanet.BaseNet.feature_channels was deleted without a warning (7112adc): users' code
    # that read it failed with AttributeError.
    import leanet

    net = build_base("convnet", width_multiplier=0.25)
    last_conv = [m for m in net.features if isinstance(m, torch.nn.Conv2d)][-1]
    assert isinstance(net, leanet.BaseNet)
    with pytest.warns(DeprecationWarning, match=r"feature_channels is deprecated.*out_channels"):
        assert net.feature_channels == last_conv.out_channels


def test_widths_round_to_multiples_of_8_and_the_config_is_the_one_asked_for():
    # 0.7 x (32, 64, 128) = 22.4, 44.8, 89.6 -> 24, 48, 88 (nearest multiple of 8, not the
    # one below); 0.1 x 32 = 3.2 -> 8 (never fewer); the hidden layer scales as the convs do.
    def widths(net):
        return [m.out_channels for m in net.features if isinstance(m, torch.nn.Conv2d)]

    wide = build_base("convnet", num_classes=7, width_multiplier=0.7)
    assert widths(wide) == [24, 24, 48, 48, 88, 88]
    assert [m.out_features for m in wide.classifier if isinstance(m, torch.nn.Linear)] == [88, 7]
    assert widths(build_base("convnet", width_multiplier=0.1)) == [8, 8, 8, 8, 16, 16]
    assert wide.config == dict(
        arch="convnet", num_classes=7, in_channels=1, input_size=28, width_multiplier=0.7
    )
    for arch in ("vgg16", "mobilenet"):
        config = build_base(arch, num_classes=5, in_channels=3, input_size=16).config
        assert (config["num_classes"], config["in_channels"], config["input_size"]) == (5, 3, 16)


def test_every_convolution_is_followed_by_its_batch_norm_and_relu():
    for arch in ARCHITECTURES:
        layers = list(build_base(arch, width_multiplier=0.25).features)
        for i, m in enumerate(layers):
            if isinstance(m, torch.nn.Conv2d):
                assert isinstance(layers[i + 1], torch.nn.BatchNorm2d), (arch, i)
                assert isinstance(layers[i + 2], torch.nn.ReLU), (arch, i)


def test_only_smaller_inputs_are_resized_to_32_px():
    def resizes(net):
        return sum(isinstance(m, torch.nn.Upsample) for m in net.features)

    for arch in ("vgg16", "mobilenet"):
        assert resizes(build_base(arch, input_size=32, width_multiplier=0.25)) == 0
        assert resizes(build_base(arch, input_size=28, width_multiplier=0.25)) == 1
    assert resizes(build_base("convnet", input_size=28, width_multiplier=0.25)) == 0


def test_vgg16_and_mobilenet_cost_the_papers_macs():
    # MobileNet's four stride-2 depthwise blocks: without them it ran every block at 32 px.
    for arch, expected in (("vgg16", 313e6), ("mobilenet", 47e6)):
        net = build_base(arch, in_channels=3, input_size=32).eval()
        with torch.no_grad():
            _, macs = count_macs(net, torch.zeros(1, 3, 32, 32))
        assert macs == pytest.approx(expected, rel=0.02), arch


def test_unseeded_builds_draw_from_the_global_generator():
    torch.manual_seed(3)
    a = build_base("convnet", width_multiplier=0.25)
    b = build_base("convnet", width_multiplier=0.25)  # the generator has moved on
    assert not torch.equal(a.features[0].weight, b.features[0].weight)
    torch.manual_seed(3)
    again = build_base("convnet", width_multiplier=0.25)
    assert torch.equal(a.features[0].weight, again.features[0].weight)


def test_batch_norm_statistics_of_another_dtype_are_refused_as_weights_are():
    # float32 parameters over float64 running statistics: batch norm fails in torch's words
    from leanet.zoo import check_float32

    net = build_base("convnet", width_multiplier=0.25)
    check_float32(net, "the base network", "base")  # as built: float32 throughout
    net.features[1].running_var = net.features[1].running_var.double()
    with pytest.raises(ValueError, match=r"holds \['torch.float64'\] weights.*base.float\(\)"):
        check_float32(net, "the base network", "base")
