"""The semantic head (Panoptic FPN's branch): its loss against NumPy, its
layers per level and in the training presets, the config switch, the
unmolding of its map (NumPy and graph twins), detect()'s "semantic",
"panoptic" and "segments", and that the branch leaves the detections of the
other heads bit for bit as they were."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import panoptic
from mrcnn.config import Config
from mrcnn.data.panoptic import load_panoptic_shapes
from mrcnn.data.pipeline import make_tf_dataset
from mrcnn.heads.semantic import (SemanticClasses, semantic_loss_graph, source_rows,
                                  unmold_semantic, unmold_semantic_graph)
from mrcnn.layers.norm import GroupNorm
from mrcnn.model import MaskRCNN
from mrcnn.modeling import contracts
from mrcnn.training import LAYER_REGEX, loss_names, set_trainable


class TinyPanopticConfig(Config):
    """Panoptic shapes (3 things, 3 stuff classes) at 128 px, ResNet-18."""
    NAME = "tiny_panoptic"
    NUM_CLASSES = 1 + 3 + 3
    NUM_STUFF_CLASSES = 3
    BACKBONE = "resnet18"
    IMAGES_PER_GPU = 2
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TOP_DOWN_PYRAMID_SIZE = 32
    FPN_CLASSIF_FC_LAYERS_SIZE = 64
    TRAIN_BN = None
    PRE_NMS_LIMIT = 500
    POST_NMS_ROIS_TRAINING = 64
    POST_NMS_ROIS_INFERENCE = 32
    TRAIN_ROIS_PER_IMAGE = 16
    RPN_TRAIN_ANCHORS_PER_IMAGE = 32
    MAX_GT_INSTANCES = 4
    DETECTION_MAX_INSTANCES = 8
    DETECTION_MIN_CONFIDENCE = 0.0
    SEMANTIC_CONV_CHANNELS = 16
    SEMANTIC_GROUPS = 4
    PANOPTIC_SCORE_THRESHOLD = 0.0
    PANOPTIC_STUFF_AREA_LIMIT = 16
    OPTIMIZER = "Adam"


class TinyNoBranchConfig(TinyPanopticConfig):
    NAME = "tiny_no_branch"
    NUM_STUFF_CLASSES = 0


def semantic_loss_reference(labels, logits):
    """Softmax cross-entropy averaged over the labels >= 0, in float64."""
    logits = np.asarray(logits, np.float64)
    valid = labels >= 0
    if not valid.any():
        return 0.0
    z = logits - logits.max(axis=-1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probs, np.maximum(labels, 0)[..., None], axis=-1)[..., 0]
    return float(-picked[valid].mean())


# ----------------------------------------------------------------------
# Loss, layers and config without a model
# ----------------------------------------------------------------------

def test_semantic_loss_matches_numpy_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (2, 6, 5, 4)).astype(np.float32)
    labels = rng.integers(-1, 4, (2, 6, 5)).astype(np.int32)
    np.testing.assert_allclose(semantic_loss_graph(labels, logits).numpy(),
                               semantic_loss_reference(labels, logits), rtol=1e-5)
    # One pixel labelled: its own cross-entropy, worked out by hand.
    one = np.full_like(labels, -1)
    one[1, 2, 3] = 2
    x = logits[1, 2, 3].astype(np.float64)
    expected = np.log(np.exp(x).sum()) - x[2]
    np.testing.assert_allclose(semantic_loss_graph(one, logits).numpy(), expected, rtol=1e-5)
    # Void everywhere: 0.
    assert semantic_loss_graph(np.full_like(labels, -1), logits).numpy() == 0.0


def test_semantic_classes_maps_argmax_to_internal_ids():
    logits = np.zeros((1, 2, 3, 4), np.float32)
    logits[0, 0, 0, 0] = 1    # thing/other -> 0
    logits[0, 0, 1, 1] = 1    # first stuff class -> 5
    logits[0, 0, 2, 3] = 1    # third -> 2
    logits[0, 1, 0, 2] = 1    # second -> 9
    # Row 1, columns 1-2: all equal, the first (class 0) wins.
    out = SemanticClasses([5, 9, 2])(tf.constant(logits)).numpy()
    np.testing.assert_array_equal(out, [[[0, 5, 2], [9, 0, 0]]])
    assert out.dtype == np.int32
    assert SemanticClasses.from_config(SemanticClasses([5, 9, 2]).get_config()).stuff_class_ids \
        == [5, 9, 2]


def test_bilinear_upsample_is_upsampling2d_bilinear_with_dynamic_shapes():
    from mrcnn.heads.semantic import BilinearUpsample
    x = np.random.default_rng(3).normal(size=(2, 5, 7, 3)).astype(np.float32)
    want = keras.layers.UpSampling2D(size=4, interpolation="bilinear")(x).numpy()
    np.testing.assert_allclose(BilinearUpsample(4)(x).numpy(), want, rtol=1e-6, atol=1e-6)
    fn = tf.function(BilinearUpsample(2), input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.float32)])
    assert fn(x).shape == (2, 10, 14, 3)
    # Linear: the branch sums P3..P5 before their shared last upsampling.
    y = np.random.default_rng(4).normal(size=x.shape).astype(np.float32)
    np.testing.assert_allclose(BilinearUpsample(2)(x + y).numpy(),
                               (BilinearUpsample(2)(x) + BilinearUpsample(2)(y)).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_source_rows_samples_the_centres_of_the_window():
    # 3 original rows over molded rows [2, 8): centres at 1, 3, 5 of 6 -> 2+1, 2+3, 2+5.
    np.testing.assert_array_equal(source_rows(3, 2, 8), [3, 5, 7])
    # Upscaling: 4 rows from 2 molded rows [0, 2): 0, 0, 1, 1.
    np.testing.assert_array_equal(source_rows(4, 0, 2), [0, 0, 1, 1])


def test_unmold_semantic_numpy_and_graph_agree():
    rng = np.random.default_rng(2)
    molded = rng.integers(0, 7, (64, 64)).astype(np.int32)
    for window, shape in [((8, 0, 56, 64), (30, 40)), ((0, 4, 64, 60), (200, 175)),
                          ((0, 0, 64, 64), (64, 64)), ((8, 4, 40, 60), (32, 56))]:
        got = unmold_semantic(molded, shape + (3,), window)
        assert got.shape == shape and got.dtype == np.int32
        graph = unmold_semantic_graph(tf.constant(molded), tf.constant(window),
                                      tf.constant(shape[0]), tf.constant(shape[1])).numpy()
        np.testing.assert_array_equal(got, graph)
    # The identity window of the same size is the identity.
    np.testing.assert_array_equal(unmold_semantic(molded, (64, 64, 3), (0, 0, 64, 64)), molded)
    # A window of the original's size (scale 1) is a crop.
    np.testing.assert_array_equal(unmold_semantic(molded, (32, 56, 3), (8, 4, 40, 60)),
                                  molded[8:40, 4:60])


def test_config_adds_the_semantic_head_and_checks_its_attributes():
    config = TinyPanopticConfig()
    assert config.ROI_HEADS == ("box", "mask", "semantic")
    assert config.stuff_class_ids() == [4, 5, 6]
    assert TinyNoBranchConfig().ROI_HEADS == ("box", "mask")
    assert "semantic_loss" in loss_names(config)
    assert "semantic_loss" not in loss_names(TinyNoBranchConfig())

    class Explicit(TinyPanopticConfig):
        STUFF_CLASS_IDS = (6, 1, 3)
    assert Explicit().stuff_class_ids() == [6, 1, 3]
    bad = [({"STUFF_CLASS_IDS": (4, 5)}, "STUFF_CLASS_IDS"),
           ({"STUFF_CLASS_IDS": (4, 4, 5)}, "STUFF_CLASS_IDS"),
           ({"STUFF_CLASS_IDS": (0, 4, 5)}, "STUFF_CLASS_IDS"),
           ({"NUM_STUFF_CLASSES": 7}, "NUM_STUFF_CLASSES"),
           ({"NUM_STUFF_CLASSES": -1}, "NUM_STUFF_CLASSES"),
           ({"SEMANTIC_GROUPS": 5}, "SEMANTIC_GROUPS"),
           ({"PANOPTIC_OVERLAP_THRESHOLD": 1.5}, "PANOPTIC_OVERLAP_THRESHOLD"),
           ({"PANOPTIC_STUFF_AREA_LIMIT": -1}, "PANOPTIC_STUFF_AREA_LIMIT"),
           ({"NUM_STUFF_CLASSES": 0, "ROI_HEADS": ("box", "mask", "semantic")}, "ROI_HEADS")]
    for attrs, name in bad:
        with pytest.raises(ValueError, match=name):
            type("Bad", (TinyPanopticConfig,), attrs)()
    # Set on an instance, the head must be named too.
    config = TinyNoBranchConfig()
    config.NUM_STUFF_CLASSES = 3
    with pytest.raises(ValueError, match="ROI_HEADS.*semantic"):
        config.validate()
    # The config round-trips through JSON without a second "semantic".
    again = TinyPanopticConfig.from_dict(TinyPanopticConfig().to_dict())
    assert again.ROI_HEADS == ("box", "mask", "semantic")


# ----------------------------------------------------------------------
# The training graph
# ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def dataset():
    return load_panoptic_shapes(6, 128, 128, seed=3)


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    keras.utils.set_random_seed(1)
    return MaskRCNN("training", TinyPanopticConfig(), str(tmp_path_factory.mktemp("logs")))


def test_branch_has_panoptic_fpn_stages_and_trains_with_the_presets(training):
    net = training.keras_model
    names = {layer.name: layer for layer in net.layers}
    # P2: one conv; P3: one conv + 2x; P4: two; P5: three (down to 1/4).
    for level, stages in ((2, 1), (3, 1), (4, 2), (5, 3)):
        for k in range(1, stages + 1):
            conv = names["mrcnn_semantic_p{}_conv{}".format(level, k)]
            assert conv.filters == 16 and conv.kernel_size == (3, 3)
            assert names["mrcnn_semantic_p{}_gn{}".format(level, k)].groups == 4
            assert isinstance(names["mrcnn_semantic_p{}_gn{}".format(level, k)], GroupNorm)
            # 2x after each conv but the last (P3..P5's last 2x is shared
            # after their sum).
            assert ("mrcnn_semantic_p{}_up{}".format(level, k) in names) == (k < stages)
        assert "mrcnn_semantic_p{}_conv{}".format(level, stages + 1) not in names
    assert names["mrcnn_semantic_classifier"].filters == 3 + 1
    assert names["mrcnn_semantic_logits"].factor == 4
    assert names["mrcnn_semantic_p5_up2"].factor == names["mrcnn_semantic_up"].factor == 2
    assert [i.name for i in net.inputs][-1] == "input_gt_semantic"
    assert contracts.output_names(net)[-2:] == ["mrcnn_semantic_logits", "semantic_loss"]
    semantic = [layer for layer in net.layers
                if layer.name.startswith("mrcnn_semantic") and layer.weights]
    assert len(semantic) == 2 * 7 + 1
    for preset in ("heads", "3+", "all"):
        set_trainable(net, LAYER_REGEX[preset], verbose=0)
        assert all(layer.trainable for layer in semantic), preset
    set_trainable(net, r"res5.*", verbose=0)
    assert not any(layer.trainable for layer in semantic)
    set_trainable(net, LAYER_REGEX["all"], verbose=0)


def test_graph_semantic_loss_equals_numpy_on_its_logits(training, dataset):
    batch = next(iter(make_tf_dataset(dataset, training.config, shuffle=False)))
    outputs = contracts.by_name(training.keras_model,
                                training.keras_model([tf.constant(x) for x in batch]))
    logits = outputs["mrcnn_semantic_logits"].numpy()
    labels = batch[-1].numpy()
    assert logits.shape == (2, 128, 128, 4) and labels.shape == (2, 128, 128)
    want = semantic_loss_reference(labels, logits)
    np.testing.assert_allclose(outputs["semantic_loss"].numpy(), want, rtol=1e-5)
    # Untrained: about log(4) per pixel.
    assert 0.5 < want < 5


# ----------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """An inference model without the branch and one with it, sharing all
    the other weights."""
    logs = str(tmp_path_factory.mktemp("logs"))
    keras.utils.set_random_seed(5)
    plain = MaskRCNN("inference", TinyNoBranchConfig(), logs)
    keras.utils.set_random_seed(6)
    with_branch = MaskRCNN("inference", TinyPanopticConfig(), logs)
    own = {layer.name: layer for layer in plain.keras_model.layers}
    copied = 0
    for layer in with_branch.keras_model.layers:
        if layer.name in own and layer.weights:
            layer.set_weights(own[layer.name].get_weights())
            copied += 1
        else:
            assert not layer.weights or layer.name.startswith("mrcnn_semantic"), layer.name
    assert copied > 20
    return plain, with_branch


def test_branch_leaves_the_detections_bit_identical(models, dataset):
    plain, with_branch = models
    images = [dataset.load_image(i) for i in range(2)] + [dataset.load_image(2)[:100, :90]]
    a = plain.detect(images)
    b = with_branch.detect(images)
    for ra, rb in zip(a, b):
        assert set(ra) == {"rois", "class_ids", "scores", "masks"}
        assert set(rb) == set(ra) | {"semantic", "panoptic", "segments"}
        assert len(ra["class_ids"]) > 0
        for key in ra:
            np.testing.assert_array_equal(ra[key], rb[key])


def test_detect_unmolds_the_map_and_fuses_it(models, dataset):
    _, model = models
    image = dataset.load_image(1)[:100, :90]      # a window inside the padding
    r = model.detect([image])[0]
    assert r["semantic"].shape == (100, 90) and r["semantic"].dtype == np.int32
    assert set(np.unique(r["semantic"])) <= {0, 4, 5, 6}
    molded, metas, windows = model.mold_inputs([image])
    outputs = contracts.by_name(model.keras_model, model.keras_model.predict(
        [molded, metas, np.broadcast_to(model.get_anchors(molded[0].shape),
                                        (1,) + model.get_anchors(molded[0].shape).shape)],
        verbose=0))
    raw = outputs["mrcnn_semantic"][0]
    assert raw.shape == (128, 128)
    np.testing.assert_array_equal(r["semantic"], unmold_semantic(raw, image.shape, windows[0]))
    pan, segments = panoptic.fuse(r["masks"], r["class_ids"], r["scores"], r["semantic"],
                                  [4, 5, 6], score_threshold=0.0, overlap_threshold=0.5,
                                  stuff_area_limit=16)
    np.testing.assert_array_equal(r["panoptic"], pan)
    assert r["segments"] == segments
    assert any(s["isthing"] == 0 for s in segments)
