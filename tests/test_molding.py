"""Image meta, molding and unmold_detections (importable from mrcnn.model)."""
import numpy as np
import pytest

from mrcnn import utils
from mrcnn.config import Config
from mrcnn.model import (compose_image_meta, compute_backbone_shapes, mold_image,
                         parse_image_meta, unmold_detections, unmold_image)


class TinyConfig(Config):
    NAME = "tiny"
    NUM_CLASSES = 3
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 128


def test_image_meta_round_trip():
    meta = compose_image_meta(7, (64, 100, 3), (128, 128, 3), (32, 0, 96, 128), 1.28, [1, 0, 1])
    assert meta.shape == (TinyConfig().IMAGE_META_SIZE,)
    parsed = parse_image_meta(np.stack([meta, meta]))
    assert parsed["image_id"].dtype == np.int32 and list(parsed["image_id"]) == [7, 7]
    np.testing.assert_array_equal(parsed["original_image_shape"][0], [64, 100, 3])
    np.testing.assert_array_equal(parsed["image_shape"][1], [128, 128, 3])
    np.testing.assert_array_equal(parsed["window"][0], [32, 0, 96, 128])
    assert parsed["scale"].dtype == np.float32 and parsed["scale"][0] == pytest.approx(1.28)
    np.testing.assert_array_equal(parsed["active_class_ids"][0], [1, 0, 1])


def test_mold_unmold_image():
    config = TinyConfig()
    image = np.array([[[124, 117, 104], [0, 255, 10]]], np.uint8)
    molded = mold_image(image, config)
    # float32 minus the float64 MEAN_PIXEL: float64, as in matterport.
    assert molded.dtype == np.float64
    np.testing.assert_allclose(molded[0, 0], [0.3, 0.2, 0.1], atol=1e-4)
    np.testing.assert_array_equal(unmold_image(molded, config), image)


def test_compute_backbone_shapes_rounds_up():
    np.testing.assert_array_equal(compute_backbone_shapes(TinyConfig(), (100, 130)),
                                  [[25, 33], [13, 17], [7, 9], [4, 5], [2, 3]])


def test_unmold_detections_maps_back_to_original_image():
    original_shape = (64, 128, 3)
    molded, window, scale, _, _ = utils.resize_image(np.zeros(original_shape, np.uint8),
                                                     min_dim=64, max_dim=128)
    assert window == (32, 0, 96, 128) and scale == 1
    image_shape = molded.shape
    boxes_px = np.array([[42, 10, 62, 50],    # -> original (10, 10, 30, 50)
                         [40, 40, 40, 60]])   # zero height: dropped
    detections = np.zeros((5, 6), np.float32)
    detections[:2, :4] = utils.norm_boxes(boxes_px, image_shape[:2])
    detections[:2, 4] = [2, 1]
    detections[:2, 5] = [0.95, 0.8]
    mrcnn_mask = np.zeros((5, 28, 28, 3), np.float32)
    mrcnn_mask[0, :, :, 2] = 0.9      # the predicted class's mask is used
    mrcnn_mask[0, :, :, 1] = 0.0
    boxes, class_ids, scores, masks = unmold_detections(
        detections, mrcnn_mask, original_shape, image_shape, window)
    np.testing.assert_array_equal(boxes, [[10, 10, 30, 50]])
    assert boxes.dtype == np.int32 and class_ids.dtype == np.int32
    np.testing.assert_array_equal(class_ids, [2])
    np.testing.assert_allclose(scores, [0.95])
    assert masks.shape == (64, 128, 1) and masks.dtype == bool
    assert masks[10:30, 10:50, 0].all() and masks.sum() == 20 * 40


def test_unmold_detections_with_no_detections():
    boxes, class_ids, scores, masks = unmold_detections(
        np.zeros((4, 6)), np.zeros((4, 28, 28, 3)), (30, 40, 3), (64, 64, 3), (12, 0, 52, 64))
    assert boxes.shape == (0, 4) and class_ids.shape == (0,) and masks.shape == (30, 40, 0)


# --------------------------------------------------------------------------
# The NumPy / TensorFlow twins of mrcnn.molding: same inputs, same numbers
# --------------------------------------------------------------------------

import tensorflow as tf  # noqa: E402

from mrcnn import molding  # noqa: E402


class TwinConfig(Config):
    NAME = "twin"
    NUM_CLASSES = 1 + 2
    BACKBONE = "resnet18"
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)


def make_test_image(kind, shape, seed=1):
    """Noise, smooth gradients or flat regions: rounding differences show up
    on the latter two, not on noise."""
    rng = np.random.default_rng(seed)
    h, w, c = shape
    if kind == "noise":
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        image[0, 0] = 255  # scikit-image clips to the image's range: make it matter
        return image
    yy, xx = np.mgrid[0:h, 0:w]
    if kind == "gradient":
        planes = [yy * 255 // max(h, 1), xx * 255 // max(w, 1), (yy + xx) % 256]
    else:  # flat: a few constant regions
        planes = [(yy // 7 * 50) % 256, (xx // 5 * 80) % 256, ((yy // 3 + xx // 4) * 30) % 256]
    return np.dstack(planes[:c]).astype(np.uint8)


def test_divisor_helpers():
    assert molding.BACKBONE_DIVISOR == 64
    assert [molding.padding_to_divisor(s) for s in (1, 63, 64, 65, 128)] == [63, 1, 0, 63, 0]
    np.testing.assert_array_equal(
        molding.padding_to_divisor(tf.constant([50, 64, 130], tf.int64)).numpy(), [14, 0, 62])
    molding.check_divisible((128, 192), "IMAGE_SHAPE")
    with pytest.raises(ValueError, match=r"IMAGE_SHAPE \[128, 100\] must be divisible by 64.*"
                                         r"; use pad64"):
        molding.check_divisible((128, 100), "IMAGE_SHAPE", hint="use pad64")


def test_meta_accessors_read_arrays_and_tensors_alike():
    meta = compose_image_meta(7, (64, 100, 3), (128, 128, 3), (32, 0, 96, 128), 1.28, [1, 0, 1])
    batch = np.stack([meta, meta * 0 + meta])
    expected = {"image_id": 7, "original_shape": [64, 100, 3], "image_shape": [128, 128, 3],
                "window": [32, 0, 96, 128], "scale": 1.28, "active_class_ids": [1, 0, 1]}
    for name, value in expected.items():
        accessor = getattr(molding, "meta_" + name)
        np.testing.assert_allclose(accessor(meta), value)        # one meta
        np.testing.assert_allclose(accessor(batch)[1], value)    # a batch
        tensor = accessor(tf.constant(batch, tf.float32))
        np.testing.assert_array_equal(tensor.numpy(), accessor(batch.astype(np.float32)))
    assert molding.image_meta_size(3) == meta.shape[0] == TinyConfig().IMAGE_META_SIZE
    graph = molding.parse_image_meta_graph(tf.constant(batch, tf.float32))
    for key, value in parse_image_meta(batch).items():
        np.testing.assert_array_equal(graph[key].numpy().astype(value.dtype), value)


def test_compose_image_meta_graph_matches_numpy():
    scale = 128 / 200  # not exact in float32: both round the float64 the same way
    expected = compose_image_meta(0, (160, 200, 3), (128, 128, 3), (13, 0, 115, 128), scale,
                                  np.zeros(3, np.int32)).astype(np.float32)
    got = molding.compose_image_meta_graph(
        tf.constant([160, 200, 3], tf.int64), tf.constant([128, 128, 3], tf.int64),
        tf.constant([13, 0, 115, 128], tf.int64), tf.constant(scale, tf.float64), 3)
    assert got.dtype == tf.float32
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("kind", ["noise", "gradient", "flat"])
@pytest.mark.parametrize("shape,out", [((7, 5, 3), (16, 11)), ((30, 40, 1), (13, 17)),
                                       ((100, 150, 3), (171, 256)), ((9, 9, 2), (9, 30)),
                                       ((400, 600, 3), (683, 1024)), ((2, 700, 3), (1, 128)),
                                       ((90, 200, 3), (58, 128))])
def test_resize_images_graph_matches_scikit_image(kind, shape, out):
    image = make_test_image(kind, shape)
    expected = utils.resize(image, out, preserve_range=True).astype(np.uint8)
    got = molding.resize_images_graph(tf.constant(image[None]), out[0], out[1]).numpy()[0]
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    # Also as a graph, optimised by grappler as a SavedModel is (it would
    # re-associate plain float64 Mul/Add chains and change the rounding).
    graph = tf.function(molding.resize_images_graph, input_signature=[
        tf.TensorSpec([None, None, None, shape[2]], tf.uint8),
        tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.int64)])
    got = graph(tf.constant(image[None]), tf.constant(out[0], tf.int64),
                tf.constant(out[1], tf.int64)).numpy()[0]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("kind", ["noise", "gradient", "flat"])
@pytest.mark.parametrize("mode,min_dim,max_dim,min_scale,shape", [
    ("square", 64, 128, 0, (50, 80)), ("square", 64, 128, 0, (200, 150)),
    ("square", 800, 1024, 0, (400, 600)), ("square", 64, 128, 2, (30, 20)),
    ("square", 64, 128, 0, (2, 700)), ("square", 128, 128, 0, (160, 200)),
    ("pad64", 64, 128, 0, (50, 80)), ("pad64", 128, 256, 0, (300, 170)),
    ("none", 64, 128, 0, (64, 128))])
def test_preprocess_graph_matches_mold_inputs(mode, min_dim, max_dim, min_scale, shape, kind):
    class C(TwinConfig):
        IMAGE_RESIZE_MODE = mode
        IMAGE_MIN_DIM = min_dim
        IMAGE_MAX_DIM = max_dim
        IMAGE_MIN_SCALE = min_scale
    config = C()
    image = make_test_image(kind, shape + (3,), seed=2)
    molded, metas, windows = molding.mold_inputs([image], config)
    resized_np, window, scale, _, _ = molding.resize_image(
        image, min_dim=min_dim, max_dim=max_dim, min_scale=min_scale, mode=mode)
    assert tuple(windows[0]) == window
    graph = tf.function(lambda x: molding.preprocess_graph(x, config),
                        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    resized, graph_metas = graph(tf.constant(np.stack([image, image])))
    np.testing.assert_array_equal(resized.numpy()[1], resized_np)
    # detect() feeds the float64 metas and molded images as float32.
    np.testing.assert_array_equal(graph_metas.numpy()[1], metas[0].astype(np.float32))
    np.testing.assert_array_equal(molding.mold_graph(resized, config).numpy()[0],
                                  molded[0].astype(np.float32))
    assert molding.meta_scale(graph_metas.numpy()[0]) == np.float32(scale)


def test_utils_resize_image_is_the_molding_one():
    image = make_test_image("gradient", (50, 80, 3))
    a = utils.resize_image(image, min_dim=64, max_dim=128, mode="pad64")
    b = molding.resize_image(image, min_dim=64, max_dim=128, mode="pad64")
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1:] == b[1:] and a[0].shape == (64, 128, 3)


def test_pyramid_anchors_hand_computed():
    class C(TwinConfig):
        RPN_ANCHOR_RATIOS = [0.5, 1]
    config = C()
    anchors = molding.pyramid_anchors(config, (64, 128, 3))
    # Feature maps 16x32, 8x16, 4x8, 2x4, 1x2; 2 ratios per cell.
    assert anchors.shape == (2 * (16 * 32 + 8 * 16 + 4 * 8 + 2 * 4 + 1 * 2), 4)
    r = np.sqrt(2.0)
    np.testing.assert_allclose(anchors[0], [-4 * r, -2 * r, 4 * r, 2 * r])   # ratio 0.5
    np.testing.assert_allclose(anchors[1], [-4, -4, 4, 4])
    np.testing.assert_allclose(anchors[3], [-4, 0, 4, 8])                   # next cell: x + 4
    np.testing.assert_allclose(anchors[-1], [-64, 0, 64, 128])              # level 6, cell (0, 1)
    norm = molding.normalized_anchors(config, (64, 128, 3))
    assert norm.dtype == np.float32
    np.testing.assert_allclose(norm[1], [-4 / 63, -4 / 127, 3 / 63, 3 / 127], rtol=1e-6)


def test_training_and_detect_anchors_use_the_one_recipe():
    from mrcnn.data.pipeline import training_anchors
    config = TwinConfig()
    np.testing.assert_array_equal(training_anchors(config),
                                  molding.pyramid_anchors(config, config.IMAGE_SHAPE))


@pytest.mark.parametrize("shape,anchor_stride", [((64, 64), 1), ((128, 192), 1),
                                                 ((320, 256), 2), ((100, 70), 1),
                                                 ((128, 128), 1), ((192, 256), 1)])
def test_anchors_graph_matches_numpy(shape, anchor_stride):
    config = TwinConfig()
    config.RPN_ANCHOR_STRIDE = anchor_stride
    expected = molding.normalized_anchors(config, shape)
    got = molding.anchors_graph(config, tf.constant(shape[0]), tf.constant(shape[1])).numpy()
    assert got.shape == expected.shape and got.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    graph = tf.function(lambda h, w: molding.anchors_graph(config, h, w),
                        input_signature=[tf.TensorSpec([], tf.int32)] * 2)
    np.testing.assert_array_equal(graph(tf.constant(shape[0]), tf.constant(shape[1])).numpy(),
                                  expected)


def test_unmold_detections_graph_matches_numpy():
    config = TwinConfig()
    rng = np.random.default_rng(4)
    # Two images of one molded shape (as in a batch), different windows.
    images = [np.zeros((100, 60, 3), np.uint8), np.zeros((70, 128, 3), np.uint8)]
    _, metas, windows = molding.mold_inputs(images, config)
    n, classes = 6, config.NUM_CLASSES
    detections = np.zeros((2, n, 6), np.float32)
    for b in range(2):
        # Inside the window, as DetectionLayer clips them.
        wy1, wx1, wy2, wx2 = utils.norm_boxes(windows[b], (128, 128))
        y1x1 = rng.uniform(0, 0.5, (4, 2)) * [wy2 - wy1, wx2 - wx1] + [wy1, wx1]
        y2x2 = np.minimum(y1x1 + rng.uniform(0.05, 0.5, (4, 2)), [wy2, wx2])
        detections[b, :4, :4] = np.concatenate([y1x1, y2x2], axis=1)
        detections[b, :4, 4] = rng.integers(1, classes, 4)
        detections[b, :4, 5] = np.sort(rng.uniform(0.5, 1, 4))[::-1]
    detections[0, 1, 2] = detections[0, 1, 0] - 0.02   # no height in pixels: dropped
    mrcnn_mask = rng.uniform(0, 1, (2, n, 28, 28, classes)).astype(np.float32)
    graph = molding.unmold_detections_graph(tf.constant(detections), tf.constant(mrcnn_mask),
                                            tf.constant(metas, tf.float32))
    for b, image in enumerate(images):
        rois, class_ids, scores, masks = unmold_detections(
            detections[b], mrcnn_mask[b], image.shape, (128, 128, 3), windows[b])
        k = int(graph["num_detections"][b])
        assert k == len(class_ids) == (3 if b == 0 else 4)
        np.testing.assert_array_equal(graph["detection_boxes"][b, :k].numpy(), rois)
        np.testing.assert_array_equal(graph["detection_classes"][b, :k].numpy(), class_ids)
        np.testing.assert_array_equal(graph["detection_scores"][b, :k].numpy(), scores)
        assert not graph["detection_boxes"][b, k:].numpy().any()
        box_masks = graph["detection_masks"][b].numpy()
        np.testing.assert_array_equal(
            molding.paste_masks(graph["detection_boxes"][b], box_masks, image.shape, k), masks)
        pasted = molding.paste_masks_graph(graph["detection_boxes"][b, :k],
                                           graph["detection_masks"][b, :k], *image.shape[:2])
        np.testing.assert_array_equal(np.transpose(pasted.numpy(), (1, 2, 0)) > 0, masks)


def test_paste_masks_graph_matches_unmold_mask():
    rng = np.random.default_rng(3)
    masks = rng.uniform(0, 1, (4, 28, 28)).astype(np.float32)
    boxes = np.array([[0, 0, 40, 30], [5, 7, 6, 9], [10, 20, 59, 80], [30, 1, 60, 45]])
    got = molding.paste_masks_graph(tf.constant(boxes, tf.float32), tf.constant(masks),
                                    60, 80).numpy()
    for i in range(4):
        np.testing.assert_array_equal(got[i].astype(bool),
                                      utils.unmold_mask(masks[i], boxes[i], (60, 80)))
    np.testing.assert_array_equal(molding.paste_masks(boxes, masks, (60, 80)),
                                  np.transpose(got, (1, 2, 0)).astype(bool))


def test_config_imports_without_tensorflow():
    import subprocess
    import sys
    code = ("import sys, mrcnn.config as c; c.Config(); "
            "assert 'tensorflow' not in sys.modules, 'config imported TensorFlow'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_detect_names_the_image_whose_sides_are_not_divisible(tmp_path):
    from mrcnn.model import MaskRCNN

    class NoResize(TwinConfig):
        IMAGE_RESIZE_MODE = "none"
        TOP_DOWN_PYRAMID_SIZE = 16
        FPN_CLASSIF_FC_LAYERS_SIZE = 16
    model = MaskRCNN("inference", NoResize(), str(tmp_path))
    images = [np.zeros((64, 128, 3), np.uint8), np.zeros((50, 128, 3), np.uint8)]
    with pytest.raises(ValueError, match=r"image 1 of shape \(50, 128, 3\) becomes .* 'none': "
                                         r"its sides \[50, 128\] must be divisible by 64 .*"
                                         r"use 'square' or 'pad64'"):
        model.detect(images)
    assert len(model.detect(images[:1])) == 1
