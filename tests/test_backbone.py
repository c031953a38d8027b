"""mrcnn/backbone.py: ResNet stages, the FPN and the BatchNorm layer.

Stage shapes and strides on a 128 x 128 input, matterport's layer names and
weight shapes (compared with the layout of matterport's weight files in
tests/data/), parameter counts against the published ResNet sizes, the FPN's
top-down wiring on hand-set weights, and frozen / synchronized BatchNorm.
"""

import json
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.backbone import (BASIC_RESNET_BLOCKS, RESNET_STAGE4_BLOCKS, BatchNorm,
                            batch_norm_options, fpn_graph, resnet_graph)

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

# Channels of C1..C5.
CHANNELS = {"resnet18": (64, 64, 128, 256, 512), "resnet34": (64, 64, 128, 256, 512),
            "resnet50": (64, 256, 512, 1024, 2048), "resnet101": (64, 256, 512, 1024, 2048)}

# Layers of matterport's weight files that belong to the backbone + FPN.
BACKBONE_LAYER = re.compile(r"^(conv1|bn_conv1|res\d|bn\d|fpn_)")


def backbone_model(architecture, size=(128, 128), stage5=True, train_bn=False):
    image = keras.Input(size + (3,))
    stages = resnet_graph(image, architecture, stage5=stage5, train_bn=train_bn)
    return keras.Model(image, [s for s in stages if s is not None]), stages


def weighted_layers(model):
    return {layer.name: [tuple(w.shape) for w in layer.weights]
            for layer in model.layers if layer.weights}


# ---------------------------------------------------------------------------
# ResNet stages
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("architecture", ["resnet18", "resnet34", "resnet50", "resnet101"])
def test_stage_shapes_and_strides(architecture):
    """C1 (after the max-pool) and C2 at 1/4 of the input, C3 1/8, C4 1/16,
    C5 1/32, with the architecture's channels; an eager call agrees with the
    static shapes."""
    model, stages = backbone_model(architecture)
    strides = (4, 4, 8, 16, 32)
    want = [(None, 128 // s, 128 // s, c) for s, c in zip(strides, CHANNELS[architecture])]
    assert [tuple(s.shape) for s in stages] == want
    outputs = model(np.zeros((1, 128, 128, 3), np.float32))
    assert [tuple(o.shape) for o in outputs] == [(1,) + w[1:] for w in want]
    # Non-square input: each axis has its own stride.
    model, stages = backbone_model(architecture, size=(64, 96))
    assert [tuple(s.shape)[1:3] for s in stages] == [(64 // s, 96 // s) for s in strides]


@pytest.mark.parametrize("architecture", ["resnet18", "resnet50"])
def test_stage5_false_gives_no_c5(architecture):
    image = keras.Input((64, 64, 3))
    stages = resnet_graph(image, architecture, stage5=False)
    assert len(stages) == 5 and stages[4] is None
    assert tuple(stages[3].shape) == (None, 4, 4, CHANNELS[architecture][3])
    model = keras.Model(image, stages[3])
    assert not [l.name for l in model.layers if l.name.startswith(("res5", "bn5"))]


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match=r"'resnet152'.*resnet50, resnet101, resnet18, resnet34"):
        resnet_graph(keras.Input((64, 64, 3)), "resnet152")


# Parameters of torchvision's resnet18/34/50/101 (11689512, 21797672,
# 25557032, 44549160) less the 1000-class fc layer (512 * 1000 + 1000 and
# 2048 * 1000 + 1000): conv kernels plus BN gamma and beta. Those convs
# have no bias; matterport's (and ours) do, and Keras counts BN's moving
# statistics too, so those are left out of the sum.
PUBLISHED_PARAMS = {"resnet18": 11176512, "resnet34": 21284672,
                    "resnet50": 23508032, "resnet101": 42500160}


@pytest.mark.parametrize("architecture", ["resnet18", "resnet34", "resnet50", "resnet101"])
def test_parameter_count_matches_published_resnet(architecture):
    model, _ = backbone_model(architecture, size=(64, 64))
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            total += int(np.prod(layer.kernel.shape))
            assert layer.use_bias
        elif isinstance(layer, BatchNorm):
            total += int(np.prod(layer.gamma.shape)) + int(np.prod(layer.beta.shape))
    assert total == PUBLISHED_PARAMS[architecture]


def reference_backbone_layers(architecture):
    with open(os.path.join(DATA, "matterport_h5_layout_{}.json".format(architecture))) as f:
        layout = json.load(f)
    return {l["layer_name"]: [tuple(s) for s in l["shapes"]] for l in layout["layers"]
            if l["weight_names"] and BACKBONE_LAYER.match(l["layer_name"])}


@pytest.mark.parametrize("architecture", ["resnet50", "resnet101"])
def test_layer_names_and_shapes_match_matterport_files(architecture):
    """Backbone + FPN alone have exactly the weighted layers (names and weight
    shapes) of matterport's weight files whose names are backbone names."""
    image = keras.Input((128, 128, 3))
    _, C2, C3, C4, C5 = resnet_graph(image, architecture, stage5=True, train_bn=False)
    model = keras.Model(image, fpn_graph(C2, C3, C4, C5, 256))
    ours = weighted_layers(model)
    ref = reference_backbone_layers(architecture)
    assert sorted(set(ref) - set(ours)) == []
    assert sorted(set(ours) - set(ref)) == []
    assert {n: s for n, s in ours.items() if s != ref[n]} == {}
    # Spot checks by hand (matterport's naming).
    assert ours["conv1"] == [(7, 7, 3, 64), (64,)]
    assert ours["bn_conv1"] == [(64,)] * 4
    assert ours["res2a_branch2a"] == [(1, 1, 64, 64), (64,)]
    assert ours["res2a_branch1"] == [(1, 1, 64, 256), (256,)]
    assert ours["bn5c_branch2c"] == [(2048,)] * 4
    assert ours["fpn_c5p5"] == [(1, 1, 2048, 256), (256,)]
    assert ours["fpn_p2"] == [(3, 3, 256, 256), (256,)]
    # Stage 4: blocks a..f for ResNet-50, a..w for ResNet-101.
    last = chr(ord("a") + RESNET_STAGE4_BLOCKS[architecture])
    assert last == {"resnet50": "f", "resnet101": "w"}[architecture]
    assert "res4{}_branch2c".format(last) in ours
    assert "res4{}_branch2c".format(chr(ord(last) + 1)) not in ours
    assert ("res4v_branch2c" in ours) == (architecture == "resnet101")
    # Only the first block of a stage has a shortcut conv.
    assert sorted(n for n in ours if n.endswith("_branch1")) == [
        "bn2a_branch1", "bn3a_branch1", "bn4a_branch1", "bn5a_branch1",
        "res2a_branch1", "res3a_branch1", "res4a_branch1", "res5a_branch1"]


def test_basic_resnet_layer_names():
    """ResNet-18: blocks a, b per stage, matterport-style names, a shortcut
    conv only where the shape changes (not in stage 2: 64 -> 64, stride 1)."""
    model, _ = backbone_model("resnet18", size=(64, 64))
    names = set(weighted_layers(model))
    blocks = ["res{}{}_branch2{}".format(stage, block, conv)
              for stage in range(2, 6) for block in "ab" for conv in "ab"]
    assert set(blocks) <= names
    assert not any(n.startswith("res2c") or n.startswith("res5c") for n in names)
    assert sorted(n for n in names if n.endswith("_branch1")) == [
        "bn3a_branch1", "bn4a_branch1", "bn5a_branch1",
        "res3a_branch1", "res4a_branch1", "res5a_branch1"]
    assert sum(BASIC_RESNET_BLOCKS["resnet18"]) == 8
    # 34: stage 4 has 6 blocks (a..f).
    model, _ = backbone_model("resnet34", size=(64, 64))
    names = set(weighted_layers(model))
    assert "res4f_branch2b" in names and "res4g_branch2b" not in names


# ---------------------------------------------------------------------------
# FPN
# ---------------------------------------------------------------------------

def fpn_model(sizes, channels, pyramid_size):
    inputs = [keras.Input((s, s, c)) for s, c in zip(sizes, channels)]
    return keras.Model(inputs, fpn_graph(*inputs, pyramid_size=pyramid_size)), inputs


def test_fpn_shapes_and_channels_on_resnet_stages():
    image = keras.Input((128, 128, 3))
    _, C2, C3, C4, C5 = resnet_graph(image, "resnet18", stage5=True)
    P = fpn_graph(C2, C3, C4, C5, pyramid_size=32)
    assert [tuple(p.shape) for p in P] == [(None, 32, 32, 32), (None, 16, 16, 32),
                                           (None, 8, 8, 32), (None, 4, 4, 32),
                                           (None, 2, 2, 32)]
    assert [tuple(p.shape)[-1] for p in fpn_graph(C2, C3, C4, C5)] == [256] * 5


@pytest.mark.parametrize("p5_size", [4, 5])
def test_fpn_p6_is_a_stride_2_subsample_of_p5(p5_size):
    rng = np.random.default_rng(p5_size)
    sizes = [p5_size * 8, p5_size * 4, p5_size * 2, p5_size]
    model, _ = fpn_model(sizes, (3, 5, 6, 7), pyramid_size=4)
    feats = [rng.normal(size=(2, s, s, c)).astype(np.float32) for s, c in zip(sizes, (3, 5, 6, 7))]
    P2, P3, P4, P5, P6 = [p.numpy() for p in model(feats)]
    assert [p.shape[1] for p in (P2, P3, P4, P5)] == sizes
    assert P6.shape == (2, (p5_size + 1) // 2, (p5_size + 1) // 2, 4)
    np.testing.assert_array_equal(P6, P5[:, ::2, ::2])


def test_fpn_top_down_sums_by_hand():
    """One channel everywhere, lateral 1x1 convs set to w_k (bias 0) and the
    3x3 output convs to identity: P5 = w5 C5, P4 = up(P5) + w4 C4, ...
    (nearest-neighbour 2x upsampling)."""
    model, _ = fpn_model((8, 4, 2, 1), (1, 1, 1, 1), pyramid_size=1)
    scale = {"fpn_c5p5": 1.0, "fpn_c4p4": 10.0, "fpn_c3p3": 100.0, "fpn_c2p2": 1000.0}
    for name, w in scale.items():
        model.get_layer(name).set_weights([np.full((1, 1, 1, 1), w, np.float32),
                                           np.zeros(1, np.float32)])
    identity = np.zeros((3, 3, 1, 1), np.float32)
    identity[1, 1] = 1.0
    for name in ("fpn_p2", "fpn_p3", "fpn_p4", "fpn_p5"):
        model.get_layer(name).set_weights([identity, np.zeros(1, np.float32)])
    C5 = np.array([[[[2.0]]]], np.float32)                      # 1 x 1
    C4 = np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1)     # 2 x 2
    C3 = np.ones((1, 4, 4, 1), np.float32)
    C2 = np.zeros((1, 8, 8, 1), np.float32)
    C2[0, 7, 7, 0] = 1.0
    P2, P3, P4, P5, P6 = [p.numpy()[0, ..., 0] for p in model([C2, C3, C4, C5])]
    np.testing.assert_allclose(P5, [[2.0]])
    np.testing.assert_allclose(P4, [[2.0, 12.0], [22.0, 32.0]])
    want3 = np.kron(P4, np.ones((2, 2))) + 100.0
    np.testing.assert_allclose(P3, want3)
    assert P3[0, 0] == 102.0 and P3[3, 3] == 132.0
    want2 = np.kron(want3, np.ones((2, 2)))
    want2[7, 7] += 1000.0
    np.testing.assert_allclose(P2, want2)
    assert P2[7, 7] == 1132.0
    np.testing.assert_allclose(P6, [[2.0]])


# ---------------------------------------------------------------------------
# BatchNorm
# ---------------------------------------------------------------------------

def set_bn(layer, channels, rng):
    gamma = rng.uniform(0.5, 2.0, channels).astype(np.float32)
    beta = rng.normal(size=channels).astype(np.float32)
    mean = rng.normal(size=channels).astype(np.float32)
    var = rng.uniform(0.5, 3.0, channels).astype(np.float32)
    layer.set_weights([gamma, beta, mean, var])
    return gamma, beta, mean, var


@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (7, 6)])   # fused 4-D path and Keras' own
def test_frozen_batch_norm_ignores_training_flag(shape):
    """train_bn=False: a training=True call uses the moving statistics (the
    inference formula, by hand) and leaves them where they were."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=shape) * 3 + 5).astype(np.float32)
    bn = BatchNorm(train_bn=False)
    bn.build(shape)
    gamma, beta, mean, var = set_bn(bn, shape[-1], rng)
    want = gamma * (x - mean) / np.sqrt(var + bn.epsilon) + beta
    for training in (True, False, None):
        np.testing.assert_allclose(bn(x, training=training).numpy(), want,
                                   rtol=1e-5, atol=1e-5)
    # Inside a model called in training mode, too.
    inp = keras.Input(shape[1:])
    model = keras.Model(inp, bn(inp))
    np.testing.assert_allclose(model(x, training=True).numpy(), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)
    np.testing.assert_array_equal(bn.moving_variance.numpy(), var)


def test_trainable_batch_norm_uses_batch_statistics_and_updates_them():
    """train_bn=None follows the flag: training=True normalises with the
    batch's statistics and moves the moving ones with momentum 0.9;
    train_bn=True uses batch statistics even when training=False."""
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(4, 3, 3, 2)) * 2 + 7).astype(np.float32)
    batch_mean = x.mean(axis=(0, 1, 2))
    batch_var = x.var(axis=(0, 1, 2))
    for train_bn, training in ((None, True), (True, False)):
        bn = BatchNorm(train_bn=train_bn)
        bn.build(x.shape)
        gamma, beta, mean, var = set_bn(bn, 2, rng)
        got = bn(x, training=training).numpy()
        want = gamma * (x - batch_mean) / np.sqrt(batch_var + bn.epsilon) + beta
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(bn.moving_mean.numpy(), 0.9 * mean + 0.1 * batch_mean,
                                   rtol=1e-5)
        assert not np.allclose(bn.moving_variance.numpy(), var)
    # train_bn=None at inference: the moving statistics, unchanged.
    bn = BatchNorm(train_bn=None)
    bn.build(x.shape)
    gamma, beta, mean, var = set_bn(bn, 2, rng)
    np.testing.assert_allclose(bn(x, training=False).numpy(),
                               gamma * (x - mean) / np.sqrt(var + bn.epsilon) + beta,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)


def test_frozen_backbone_training_call_equals_inference():
    """A whole ResNet-18 built with train_bn=False gives the same C2..C5 for
    training=True and inference, and no moving statistic moves."""
    model, _ = backbone_model("resnet18", size=(64, 64), train_bn=False)
    rng = np.random.default_rng(2)
    bns = [l for l in model.layers if isinstance(l, BatchNorm)]
    assert len(bns) == 1 + 2 * 8 + 3            # bn_conv1, 2 per block, 3 shortcuts
    for bn in bns:
        set_bn(bn, bn.gamma.shape[0], rng)
    before = [(bn.moving_mean.numpy(), bn.moving_variance.numpy()) for bn in bns]
    x = rng.normal(size=(2, 64, 64, 3)).astype(np.float32)
    infer = model(x, training=False)
    train = model(x, training=True)
    for a, b in zip(infer, train):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-5)
    for bn, (mean, var) in zip(bns, before):
        np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)
        np.testing.assert_array_equal(bn.moving_variance.numpy(), var)


def test_batch_norm_config_round_trip():
    bn = BatchNorm(train_bn=False, name="bn_x")
    config = bn.get_config()
    assert config["train_bn"] is False and config["momentum"] == 0.9
    clone = BatchNorm.from_config(config)
    assert clone.train_bn is False and clone.name == "bn_x"
    assert keras.saving.get_registered_object("mrcnn>BatchNorm") is BatchNorm


def test_batch_norm_options_synchronized():
    """Inside batch_norm_options(synchronized=True) trainable BatchNorms are
    synchronized (frozen ones are not: they compute no statistics); the
    previous setting comes back on exit, also after an exception."""
    assert BatchNorm(train_bn=None).synchronized is False
    with batch_norm_options(synchronized=True):
        assert BatchNorm(train_bn=None).synchronized is True
        assert BatchNorm(train_bn=True).synchronized is True
        assert BatchNorm(train_bn=False).synchronized is False
        assert BatchNorm(train_bn=None, synchronized=False).synchronized is False
        with batch_norm_options(synchronized=False):
            assert BatchNorm(train_bn=None).synchronized is False
        assert BatchNorm(train_bn=None).synchronized is True
    assert BatchNorm(train_bn=None).synchronized is False
    with pytest.raises(RuntimeError, match="boom"):
        with batch_norm_options(synchronized=True):
            raise RuntimeError("boom")
    assert BatchNorm(train_bn=None).synchronized is False


def test_synchronized_batch_norm_on_one_device_equals_plain():
    """A synchronized BatchNorm outside any strategy computes the same as the
    plain one (the whole batch is one replica)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    with batch_norm_options(synchronized=True):
        sync = BatchNorm(train_bn=None)
    plain = BatchNorm(train_bn=None)
    for bn in (sync, plain):
        bn.build(x.shape)
    assert sync.synchronized and not plain.synchronized
    np.testing.assert_allclose(sync(x, training=True).numpy(), plain(x, training=True).numpy(),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sync.moving_mean.numpy(), plain.moving_mean.numpy(), rtol=1e-6)
    assert tf.reduce_any(tf.not_equal(sync.moving_mean, 0.0))
