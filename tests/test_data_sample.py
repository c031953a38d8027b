"""mrcnn.data.sample: an image's ground truth (load_image_gt), its RPN
targets (build_rpn_targets) and the training sample they make."""
import numpy as np
import pytest

from mrcnn import utils
from mrcnn.data.sample import (build_rpn_targets, build_training_sample, load_image_gt,
                               sample_specs, training_anchors, training_sample)
from test_pipeline import BoxDataset, PipeConfig


def test_load_image_gt_resizes_image_masks_and_boxes():
    config = PipeConfig()
    d = BoxDataset([{"boxes": [(10, 20, 30, 60)], "class_ids": [2]}])
    image, meta, class_ids, boxes, masks = load_image_gt(d, config, 0, use_mini_mask=False)
    # 50x100 -> scale 1.28 -> 64x128, padded to 128x128 with 32 rows on top.
    assert image.shape == (128, 128, 3)
    np.testing.assert_array_equal(class_ids, [2])
    np.testing.assert_array_equal(boxes, [[32 + 13, 26, 32 + 38, 77]])
    np.testing.assert_array_equal(utils.extract_bboxes(masks), boxes)
    assert meta.shape == (config.IMAGE_META_SIZE,)
    np.testing.assert_array_equal(meta[1:4], [50, 100, 3])
    np.testing.assert_array_equal(meta[7:11], [32, 0, 96, 128])
    _, _, _, _, mini = load_image_gt(d, config, 0, use_mini_mask=True)
    assert mini.shape == (28, 28, 1) and mini.all()


def test_load_image_gt_names_the_image_on_bad_masks():
    config = PipeConfig()
    d = BoxDataset([{"boxes": [(1, 1, 5, 5)], "class_ids": [1, 2]},
                    {"boxes": [(1, 1, 5, 5)], "mask_shape": (40, 100)}])
    with pytest.raises(ValueError, match="image 0.*1 masks but 2 class ids"):
        load_image_gt(d, config, 0)
    with pytest.raises(ValueError, match="image 1.*40x100 but the image is 50x100"):
        load_image_gt(d, config, 1)


def test_build_rpn_targets_hand_made_case():
    config = PipeConfig()
    anchors = np.array([[0, 0, 10, 10], [0, 0, 9, 10], [20, 20, 30, 30], [50, 50, 60, 60],
                        [0, 0, 20, 20]], np.float64)
    gt_boxes = np.array([[0, 0, 10, 10]])
    rpn_match, rpn_bbox = build_rpn_targets((64, 64, 3), anchors, np.array([1]), gt_boxes, config)
    # IoU 1 and 0.9 -> positive; 0, 0 -> negative; 0.25 -> negative.
    np.testing.assert_array_equal(rpn_match, [1, 1, -1, -1, -1])
    expected = utils.box_refinement(anchors[:2], gt_boxes[[0, 0]]) / config.RPN_BBOX_STD_DEV
    np.testing.assert_allclose(rpn_bbox[:2], expected, rtol=1e-6)
    assert not rpn_bbox[2:].any()
    # A crowd box stops anchors from being negatives but never makes positives.
    rpn_match, _ = build_rpn_targets((64, 64, 3), anchors, np.array([1, -1]),
                                     np.array([[0, 0, 10, 10], [48, 48, 62, 62]]), config)
    np.testing.assert_array_equal(rpn_match, [1, 1, -1, 0, -1])


class FullMaskConfig(PipeConfig):
    USE_MINI_MASK = False


@pytest.mark.parametrize("config_class", [PipeConfig, FullMaskConfig])
def test_sample_specs_describe_the_built_sample(config_class):
    """make_tf_dataset declares a sample's shapes and dtypes with
    sample_specs: they must be those build_training_sample makes."""
    config = config_class()
    anchors = training_anchors(config)
    d = BoxDataset([{"boxes": [(10, 20, 30, 60), (0, 0, 8, 8)], "class_ids": [2, 1]}])
    sample = build_training_sample(d, config, 0, anchors)
    specs = sample_specs(config, anchors.shape[0])
    assert len(sample) == len(specs) == 7
    for array, (shape, dtype) in zip(sample, specs):
        assert array.shape == shape and array.dtype == dtype
    assert specs[-1][0][:2] == ((28, 28) if config.USE_MINI_MASK else (128, 128))


def test_training_sample_extras_see_the_ground_truth_before_the_cap():
    """`extras` gets every instance (MAX_GT_INSTANCES = 3 caps them only
    afterwards), its inputs are appended and its outputs returned; without
    instances there is no sample and no call."""
    config = PipeConfig()
    anchors = training_anchors(config)
    boxes = [(0, 0, 8, 8), (10, 10, 20, 20), (22, 22, 30, 40), (30, 50, 45, 90)]
    d = BoxDataset([{"boxes": boxes}, {"boxes": []}])
    calls = []

    def extras(image_shape, gt_class_ids, gt_boxes, gt_masks):
        calls.append((image_shape, gt_class_ids.copy(), gt_boxes.copy(), gt_masks.shape))
        return [np.arange(3)], [gt_boxes * 2]

    np.random.seed(0)
    inputs, outputs = training_sample(d, config, 0, anchors, extras=extras)
    (image_shape, class_ids, gt_boxes, mask_shape), = calls
    assert image_shape == (128, 128, 3) and len(class_ids) == 4 and mask_shape == (28, 28, 4)
    assert len(inputs) == 8 and list(inputs[7]) == [0, 1, 2]
    assert (inputs[4] > 0).sum() == 3  # the sample itself is capped
    np.testing.assert_array_equal(outputs[0], gt_boxes * 2)
    np.random.seed(0)
    plain = build_training_sample(d, config, 0, anchors)
    for a, b in zip(plain, inputs[:7]):
        np.testing.assert_array_equal(a, b)
    assert training_sample(d, config, 1, anchors, extras=extras) is None and len(calls) == 1

