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
