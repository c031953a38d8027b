"""mrcnn.data.generator: matterport's data_generator options random_rois and
detection_targets: generate_random_rois, build_detection_targets and the 9
inputs / 3 outputs batches inspect_data.ipynb reads. Expected values are
worked out by hand in the comments."""
import numpy as np
import pytest

from mrcnn import utils
from mrcnn.config import Config
from mrcnn.data.generator import (_distinct_pairs, build_detection_targets, data_generator,
                                  generate_random_rois)
from mrcnn.data.shapes import ShapesDataset


class TargetConfig(Config):
    NAME = "targets"
    NUM_CLASSES = 3
    BACKBONE = "resnet18"
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 64
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TRAIN_ROIS_PER_IMAGE = 6
    ROI_POSITIVE_RATIO = 0.5
    USE_MINI_MASK = False


def one_instance():
    """A 28x28 box at (10, 10) (MASK_SHAPE: resizing its crop changes
    nothing) with an L-shaped mask, class 2; a crowd box and padding."""
    mask = np.zeros((64, 64, 3), bool)
    mask[10:38, 10:20, 0] = True
    mask[30:38, 10:38, 0] = True
    mask[40:60, 40:60, 1] = True
    class_ids = np.array([2, -1, 0], np.int32)
    boxes = np.array([[10, 10, 38, 38], [40, 40, 60, 60], [0, 0, 0, 0]], np.int32)
    return class_ids, boxes, mask


def test_roi_equal_to_a_box_gets_its_class_zero_deltas_and_its_mask():
    config = TargetConfig()
    class_ids, boxes, masks = one_instance()
    rois = np.array([[10, 10, 38, 38]], np.int32)
    out_rois, out_ids, deltas, targets = build_detection_targets(rois, class_ids, boxes, masks,
                                                                 config)
    # 6 RoIs: the only RoI is positive; with no negative to repeat, it is
    # repeated itself.
    assert out_rois.shape == (6, 4) and out_rois.dtype == np.int32
    np.testing.assert_array_equal(out_rois, np.repeat(rois, 6, axis=0))
    np.testing.assert_array_equal(out_ids, [2] * 6)
    assert out_ids.dtype == np.int32
    assert deltas.shape == (6, 3, 4) and deltas.dtype == np.float32
    np.testing.assert_array_equal(deltas, 0)
    assert targets.shape == (6, 28, 28, 3) and targets.dtype == np.float32
    np.testing.assert_array_equal(targets[0, :, :, 2], masks[10:38, 10:38, 0])
    np.testing.assert_array_equal(targets[..., :2], 0)


def test_shifted_roi_deltas_and_negatives_by_hand():
    config = TargetConfig()
    class_ids, boxes, masks = one_instance()
    rois = np.array([
        [12, 10, 40, 38],   # IoU 26*28 / (30*28) = 0.867: positive
        [10, 10, 38, 24],   # IoU 14/28 = 0.5 exactly: neither positive nor negative
        [40, 0, 60, 8],     # far away (IoU 0; the crowd box is ignored): negative
    ], np.int32)
    np.random.seed(0)
    out_rois, out_ids, deltas, targets = build_detection_targets(rois, class_ids, boxes, masks,
                                                                 config)
    # 1 positive, 1 negative, then 4 repeats of the negative.
    np.testing.assert_array_equal(out_rois, rois[[0, 2, 2, 2, 2, 2]])
    np.testing.assert_array_equal(out_ids, [2, 0, 0, 0, 0, 0])
    # RoI centre y 26, box centre y 24: dy = -2 / 28, over BBOX_STD_DEV 0.1;
    # same width and x, heights 28 and 28: the rest is 0.
    np.testing.assert_allclose(deltas[0, 2], [-2 / 28 / 0.1, 0, 0, 0], atol=1e-6)
    assert not deltas[0, :2].any() and not deltas[1:].any()
    refined = utils.apply_box_deltas(out_rois[:1], deltas[:1, 2] * config.BBOX_STD_DEV)
    np.testing.assert_allclose(refined, boxes[:1], atol=1e-4)
    # The mask target is the box's mask seen through the RoI (2 rows lower).
    np.testing.assert_array_equal(targets[0, :26, :, 2], masks[12:38, 10:38, 0])
    np.testing.assert_array_equal(targets[0, 26:, :, 2], 0)
    assert not targets[1:].any()


def test_positive_ratio_and_subsampling():
    config = TargetConfig()
    class_ids, boxes, masks = one_instance()
    positives = np.array([[10, 10, 38, 38], [11, 10, 38, 38], [10, 11, 38, 38],
                          [10, 10, 37, 38], [10, 10, 38, 37]], np.int32)
    negatives = np.array([[0, 40, 8, 48 + k] for k in range(5)], np.int32)
    np.random.seed(1)
    out_rois, out_ids, _, _ = build_detection_targets(np.concatenate([positives, negatives]),
                                                      class_ids, boxes, masks, config)
    # int(6 * 0.5) = 3 distinct positives first, then 3 distinct negatives.
    np.testing.assert_array_equal(out_ids, [2, 2, 2, 0, 0, 0])
    assert len({tuple(r) for r in out_rois[:3]}) == 3
    assert all(tuple(r) in {tuple(p) for p in positives} for r in out_rois[:3])
    assert len({tuple(r) for r in out_rois[3:]}) == 3
    assert all(tuple(r) in {tuple(n) for n in negatives} for r in out_rois[3:])


def test_mini_masks_are_expanded_into_their_box():
    class MiniConfig(TargetConfig):
        USE_MINI_MASK = True
        MINI_MASK_SHAPE = (56, 56)
    config = MiniConfig()
    class_ids, boxes, masks = one_instance()
    mini = utils.minimize_mask(boxes[:1], masks[:, :, :1], config.MINI_MASK_SHAPE)
    rois = np.array([[10, 10, 38, 38]], np.int32)
    _, _, _, targets = build_detection_targets(rois, class_ids[:1], boxes[:1], mini, config)
    # 28x28 -> 56x56 -> 28x28 and rounding gives the L shape back.
    np.testing.assert_array_equal(targets[0, :, :, 2], masks[10:38, 10:38, 0])


def test_bad_targets_inputs_are_named():
    config = TargetConfig()
    class_ids, boxes, masks = one_instance()
    with pytest.raises(ValueError, match="no instance"):
        build_detection_targets(np.array([[0, 0, 5, 5]]), class_ids[1:], boxes[1:],
                                masks[:, :, 1:], config)
    with pytest.raises(ValueError, match=r"rpn_rois has shape \(0, 4\)"):
        build_detection_targets(np.zeros((0, 4)), class_ids, boxes, masks, config)


def test_random_rois_cover_the_boxes_and_the_image():
    boxes = np.array([[20, 30, 40, 50], [100, 100, 120, 128]], np.int32)
    np.random.seed(3)
    rois = generate_random_rois((128, 128, 3), 1000, np.array([1, 2]), boxes)
    assert rois.shape == (1000, 4) and rois.dtype == np.int32
    assert (rois[:, 2] > rois[:, 0]).all() and (rois[:, 3] > rois[:, 1]).all()
    assert rois.min() >= 0 and rois[:, 2].max() <= 127 and rois[:, 3].max() <= 127
    # int(0.9 * 1000 / 2) = 450 per box, inside the box grown by its size on
    # each side: rows [0, 60) and columns [10, 70) for the first box.
    first, second, rest = rois[:450], rois[450:900], rois[900:]
    assert first[:, [0, 2]].min() >= 0 and first[:, [0, 2]].max() <= 59
    assert first[:, [1, 3]].min() >= 10 and first[:, [1, 3]].max() <= 69
    # the second box: rows [80, 128) and columns [72, 128)
    assert second[:, [0, 2]].min() >= 80 and second[:, [1, 3]].min() >= 72
    assert first[:, 0].min() == 0 and first[:, 2].max() == 59   # the whole range is used
    assert rest[:, [0, 1]].min() < 20 and rest[:, [2, 3]].max() > 100
    # Without boxes every RoI is anywhere; an image too small for RoIs fails.
    assert generate_random_rois((64, 64), 7, np.zeros([0]), np.zeros((0, 4))).shape == (7, 4)
    with pytest.raises(ValueError, match="at least 2x2"):
        generate_random_rois((1, 64), 5, np.array([1]), np.array([[0, 0, 1, 5]]))


def test_distinct_pairs_are_uniform_like_rejection_sampling():
    # Drawing two of {0, 1, 2} until they differ, sorted: (0, 1), (0, 2) and
    # (1, 2) each with probability 1/3.
    np.random.seed(4)
    a, b = _distinct_pairs(0, 3, (30000,))
    assert (a < b).all()
    counts = np.bincount(a * 3 + b, minlength=9)[[1, 2, 5]] / 30000.0
    np.testing.assert_allclose(counts, [1 / 3] * 3, atol=0.015)


class ShapesTargetConfig(Config):
    NAME = "shapes_targets"
    NUM_CLASSES = 4
    BACKBONE = "resnet18"
    IMAGES_PER_GPU = 2
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TRAIN_ROIS_PER_IMAGE = 32


@pytest.fixture(scope="module")
def shapes():
    dataset = ShapesDataset()
    dataset.load_shapes(4, 128, 128, seed=5)
    dataset.prepare()
    return dataset


def test_generator_yields_nine_inputs_and_three_outputs(shapes):
    config = ShapesTargetConfig()
    np.random.seed(6)
    g = data_generator(shapes, config, shuffle=True, random_rois=2000, batch_size=2,
                       detection_targets=True)
    inputs, outputs = next(g)
    assert len(inputs) == 9 and len(outputs) == 3
    (images, meta, rpn_match, rpn_bbox, gt_class_ids, gt_boxes, gt_masks, rpn_rois,
     rois) = inputs
    mrcnn_class_ids, mrcnn_bbox, mrcnn_mask = outputs
    assert images.shape == (2, 128, 128, 3) and gt_masks.shape == (2, 56, 56, 100)
    assert rpn_rois.shape == (2, 2000, 4) and rpn_rois.dtype == np.int32
    assert rois.shape == (2, 32, 4) and rois.dtype == np.int32
    assert mrcnn_class_ids.shape == (2, 32, 1) and mrcnn_class_ids.dtype == np.int32
    assert mrcnn_bbox.shape == (2, 32, 4, 4) and mrcnn_bbox.dtype == np.float32
    assert mrcnn_mask.shape == (2, 32, 28, 28, 4) and mrcnn_mask.dtype == np.float32
    for b in range(2):
        ids = mrcnn_class_ids[b, :, 0]
        positive = np.where(ids > 0)[0]
        # 2000 RoIs around 1-3 shapes: the positives reach int(32 * 0.33) = 10.
        assert len(positive) == 10 and (ids[10:] == 0).all()
        # Each positive RoI refined by its deltas is a ground-truth box of
        # its class, which overlaps it by more than 0.5.
        n = int((gt_class_ids[b] > 0).sum())
        deltas = mrcnn_bbox[b, positive, ids[positive]] * config.BBOX_STD_DEV
        refined = utils.apply_box_deltas(rois[b, positive], deltas)
        for roi, box, class_id in zip(rois[b, positive], refined, ids[positive]):
            match = np.abs(gt_boxes[b, :n] - box).max(axis=1) < 1e-3
            assert match.any()
            k = np.argmax(match)
            assert gt_class_ids[b, k] == class_id
            assert utils.compute_overlaps(roi[None], gt_boxes[b, k][None])[0, 0] > 0.5
        # Mask targets only at the RoI's class, where the shape is.
        assert (mrcnn_mask[b, positive, :, :, ids[positive]].max(axis=(1, 2)) > 0.5).all()
        others = np.ones(mrcnn_mask.shape[1:], bool)
        others[positive, :, :, ids[positive]] = False
        assert not mrcnn_mask[b][others].any() and not mrcnn_bbox[b, ids == 0].any()
        # The kept RoIs are among the random ones.
        assert {tuple(r) for r in rois[b]} <= {tuple(r) for r in rpn_rois[b]}


def test_generator_random_rois_alone_and_bad_options(shapes):
    config = ShapesTargetConfig()
    inputs, outputs = next(data_generator(shapes, config, random_rois=50, batch_size=1))
    assert len(inputs) == 8 and outputs == [] and inputs[7].shape == (1, 50, 4)
    inputs, outputs = next(data_generator(shapes, config, batch_size=1))
    assert len(inputs) == 7 and outputs == []
    with pytest.raises(ValueError, match="detection_targets=True needs random_rois > 0"):
        next(data_generator(shapes, config, detection_targets=True))
    with pytest.raises(ValueError, match="random_rois must be a number of RoIs >= 0"):
        next(data_generator(shapes, config, random_rois=-5))


def test_matterport_import_paths_name_the_same_functions():
    """The generator moved out of mrcnn.data.pipeline; its old homes
    (mrcnn.data.pipeline, matterport's mrcnn.model) still give it, and the
    ground-truth functions of mrcnn.data.sample, as the same objects."""
    from mrcnn import model
    from mrcnn.data import generator, pipeline, sample
    for name in ("data_generator", "generate_random_rois", "build_detection_targets"):
        assert getattr(pipeline, name) is getattr(generator, name)
        assert getattr(model, name) is getattr(generator, name)
    for name in ("load_image_gt", "build_rpn_targets", "build_training_sample",
                 "training_anchors", "load_keypoints", "check_mask", "check_classes",
                 "has_keypoints", "check_keypoint_augmentation"):
        assert getattr(pipeline, name) is getattr(sample, name), name
    for name in ("load_image_gt", "build_rpn_targets"):
        assert getattr(model, name) is getattr(sample, name)
