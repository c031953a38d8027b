"""DetectionTargetLayer and detection_targets_graph
(mrcnn/layers/detection_target.py) on crafted proposals whose assignment
is known by hand."""

import numpy as np
import pytest
import tensorflow as tf

from layer_cases import MINI, make_config, np_crop_and_resize
from mrcnn import utils
from mrcnn.layers import DetectionTargetLayer
from mrcnn.layers.detection_target import detection_targets_graph


FULL = 32           # full-size gt masks are FULL x FULL


def quadrant_mask(size):
    """Ones except the bottom-right quadrant."""
    m = np.ones((size, size), bool)
    m[size // 2:, size // 2:] = False
    return m


def box_mask(size, box, pattern=None):
    """A size x size image mask that is `pattern` (resized by nearest) on the
    pixels covered by normalised `box` [y1, x1, y2, x2], 0 elsewhere. Pixel
    rows from floor(y1 * (size - 1)) to ceil(y2 * (size - 1)) are covered."""
    m = np.zeros((size, size), bool)
    r1, c1 = int(np.floor(box[0] * (size - 1))), int(np.floor(box[1] * (size - 1)))
    r2, c2 = int(np.ceil(box[2] * (size - 1))) + 1, int(np.ceil(box[3] * (size - 1))) + 1
    if pattern is None:
        m[r1:r2, c1:c2] = True
    else:
        ry = (np.arange(r2 - r1) * pattern.shape[0] // (r2 - r1))
        rx = (np.arange(c2 - c1) * pattern.shape[1] // (c2 - c1))
        m[r1:r2, c1:c2] = pattern[ry][:, rx]
    return m


# Image 0: binary-exact coordinates.
GT0 = [  # class, box
    (2, [0.25, 0.25, 0.75, 0.75]),
    (3, [0.0, 0.5, 0.25, 1.0]),
    (-1, [0.75, 0.0, 1.0, 0.25]),         # crowd
    (1, [0.75, 0.25, 1.0, 0.5]),          # touches the crowd box along an edge only
]
POS0 = [  # proposal, index of the gt it must be assigned
    ([0.25, 0.25, 0.75, 0.75], 0),        # the gt box itself
    ([0.25, 0.25, 0.75, 0.5], 0),         # IoU exactly 0.5: positive
    ([0.0, 0.5625, 0.25, 1.0], 1),        # IoU 0.875
    ([0.75, 0.125, 1.0, 0.5], 3),         # IoU 2/3, also overlaps the crowd: still positive
]
NEG0 = [
    [0.25, 0.25, 0.75, 0.49],             # IoU 0.48 with gt 0
    [0.5, 0.0, 0.7, 0.2],                 # overlaps nothing
]
CROWD0 = [  # IoU < 0.5 with every gt, but touch the crowd box: neither
    [0.8, 0.05, 0.95, 0.2],
    [0.7, 0.0, 0.8, 0.3],
    [0.6, 0.1, 0.9, 0.2],
]

# Image 1: one gt, 7 positives and 8 negatives: both samples are capped.
GT1 = [(1, [0.25, 0.25, 0.75, 0.75])]
POS1 = [([0.25 + k / 64, 0.25, 0.75 + k / 64, 0.75], 0) for k in range(7)]
NEG1 = [[0.0, 0.0, 0.1 + k / 100, 0.2] for k in range(4)] + \
       [[0.8, 0.8, 0.9 + k / 100, 1.0] for k in range(4)]


def target_inputs(use_mini_mask, num_padding_proposals=3):
    rng = np.random.default_rng(21)
    max_gt = 5
    size = MINI if use_mini_mask else FULL
    proposals, class_ids, gt_boxes, masks = [], [], [], []
    patterns = {}
    for image, (gts, rois) in enumerate([(GT0, [p for p, _ in POS0] + NEG0 + CROWD0),
                                         (GT1, [p for p, _ in POS1] + NEG1)]):
        rois = np.array(rois, np.float32)[rng.permutation(len(rois))]
        rois = np.concatenate([rois, np.zeros((num_padding_proposals, 4), np.float32)])
        proposals.append(rois)
        ids = np.zeros(max_gt, np.int32)
        boxes = np.zeros((max_gt, 4), np.float32)
        m = np.zeros((size, size, max_gt), bool)
        for g, (cid, box) in enumerate(gts):
            ids[g] = cid
            boxes[g] = box
            if image == 0 and g == 0:
                pattern = np.ones((MINI, MINI), bool)               # all ones
            elif image == 1:
                pattern = quadrant_mask(MINI)
            else:
                pattern = rng.uniform(size=(MINI, MINI)) > 0.4
            patterns[image, g] = pattern
            m[..., g] = pattern if use_mini_mask else box_mask(FULL, box, pattern)
        class_ids.append(ids)
        gt_boxes.append(boxes)
        masks.append(m)
    n = max(len(p) for p in proposals)
    proposals = np.stack([np.pad(p, [(0, n - len(p)), (0, 0)]) for p in proposals])
    return proposals, np.stack(class_ids), np.stack(gt_boxes), np.stack(masks)


def np_mask_target(gt_mask, roi, gt_box, use_mini_mask, mask_shape):
    """Unrounded mask target: the gt mask sampled on the RoI."""
    if use_mini_mask:
        gh, gw = gt_box[2] - gt_box[0], gt_box[3] - gt_box[1]
        roi = [(roi[0] - gt_box[0]) / gh, (roi[1] - gt_box[1]) / gw,
               (roi[2] - gt_box[0]) / gh, (roi[3] - gt_box[1]) / gw]
    return np_crop_and_resize(gt_mask[..., None].astype(np.float64), roi, mask_shape)[..., 0]


def find_row(rows, box):
    d = np.abs(np.asarray(rows) - np.asarray(box)).max(axis=1)
    return int(np.argmin(d)) if d.min() < 1e-6 else None


@pytest.mark.parametrize("use_mini_mask", [True, False])
def test_detection_target_layer_crafted(use_mini_mask):
    tf.random.set_seed(1234)
    config = make_config(USE_MINI_MASK=use_mini_mask)
    proposals, gt_ids, gt_boxes, gt_masks = target_inputs(use_mini_mask)
    rois, class_ids, deltas, masks = [t.numpy() for t in DetectionTargetLayer(config)(
        [tf.constant(proposals), tf.constant(gt_ids), tf.constant(gt_boxes),
         tf.constant(gt_masks)])]
    T = config.TRAIN_ROIS_PER_IMAGE
    assert rois.shape == (2, T, 4) and class_ids.shape == (2, T)
    assert deltas.shape == (2, T, 4) and masks.shape == (2, T, 8, 8)
    assert class_ids.dtype == np.int32

    # positive_count = int(10 * 0.5) = 5; negatives = int(2 * P) - P.
    # Image 0: 4 positives, wants 4 negatives, only 2 eligible -> 6 RoIs.
    # Image 1: 7 positives capped to 5, 5 of 8 negatives -> 10 RoIs.
    expected = [(POS0, NEG0, GT0, 4, 2), (POS1, NEG1, GT1, 5, 5)]
    for b, (pos, neg, gts, n_pos, n_neg) in enumerate(expected):
        pos_boxes = [p for p, _ in pos]
        # Positives first, then negatives, then zero padding.
        assert np.all(class_ids[b, :n_pos] > 0)
        assert np.all(class_ids[b, n_pos:] == 0)
        assert np.all(rois[b, n_pos + n_neg:] == 0)
        assert np.all(np.abs(rois[b, :n_pos + n_neg]).sum(1) > 0)
        seen = set()
        for r in range(n_pos):
            k = find_row(pos_boxes, rois[b, r])
            assert k is not None and k not in seen, "row %d is not a fresh positive" % r
            seen.add(k)
            g = pos[k][1]
            gt_class, gt_box = gts[g]
            assert class_ids[b, r] == gt_class
            want = utils.box_refinement(rois[b, r][None], np.array([gt_box]))[0]
            np.testing.assert_allclose(deltas[b, r], want / config.BBOX_STD_DEV, atol=1e-5)
            # Mask target: the assigned gt mask sampled on the RoI, rounded.
            raw = np_mask_target(gt_masks[b, ..., g], rois[b, r], gt_box, use_mini_mask, (8, 8))
            sure = np.abs(raw - 0.5) > 1e-3
            np.testing.assert_array_equal(masks[b, r][sure], np.round(raw)[sure])
            assert set(np.unique(masks[b, r])) <= {0.0, 1.0}
        neg_seen = set()
        for r in range(n_pos, n_pos + n_neg):
            k = find_row(neg, rois[b, r])
            assert k is not None and k not in neg_seen, "row %d is not a fresh negative" % r
            neg_seen.add(k)
        if b == 0:
            assert len(seen) == 4 and neg_seen == {0, 1}    # every eligible one; no crowd RoI
        assert np.all(deltas[b, n_pos:] == 0) and np.all(masks[b, n_pos:] == 0)

    # Hand-cropped masks for RoIs equal to their gt box.
    r = find_row(rois[0, :4], GT0[0][1])
    np.testing.assert_array_equal(masks[0, r], np.ones((8, 8)))        # all-ones gt mask
    np.testing.assert_allclose(deltas[0, r], 0, atol=1e-6)
    r = find_row(rois[1, :5], GT1[0][1])
    if r is not None:                       # the unshifted RoI may have been sampled out
        want = np.ones((8, 8))
        want[4:, 4:] = 0                    # the quadrant pattern, sampled 8 x 8
        np.testing.assert_array_equal(masks[1, r], want)


def test_detection_target_layer_default_ratio_counts():
    # ROI_POSITIVE_RATIO 0.33: positive_count = int(12 * 0.33) = 3; with 2
    # positives, negatives = int(2 / 0.33) - 2 = 4.
    tf.random.set_seed(5)
    config = make_config(TRAIN_ROIS_PER_IMAGE=12, ROI_POSITIVE_RATIO=0.33)
    proposals = np.array([[[0.25, 0.25, 0.75, 0.75], [0.25, 0.25, 0.75, 0.7]]
                          + NEG1 + [[0, 0, 0, 0]]], np.float32)
    gt_ids = np.array([[2, 0]], np.int32)
    gt_boxes = np.array([[[0.25, 0.25, 0.75, 0.75], [0, 0, 0, 0]]], np.float32)
    gt_masks = np.ones((1, MINI, MINI, 2), bool)
    rois, ids, deltas, masks = [t.numpy() for t in DetectionTargetLayer(config)(
        [proposals, gt_ids, gt_boxes, gt_masks])]
    assert ids[0].tolist() == [2, 2] + [0] * 10
    assert np.all(np.abs(rois[0, :6]).sum(1) > 0) and np.all(rois[0, 6:] == 0)
    assert np.all(masks[0, :2] == 1) and np.all(masks[0, 2:] == 0)


def test_detection_targets_no_positive_gives_all_zeros():
    # No proposal reaches IoU 0.5, so no negative is sampled either (matterport).
    out = detection_targets_graph(
        tf.constant([[0.0, 0.0, 0.2, 0.2], [0.5, 0.5, 0.6, 0.6]]), tf.constant([1, 0]),
        tf.constant([[0.7, 0.7, 0.9, 0.9], [0, 0, 0, 0]]), tf.ones([MINI, MINI, 2], tf.bool),
        train_rois_per_image=6, roi_positive_ratio=0.33, bbox_std_dev=[0.1, 0.1, 0.2, 0.2],
        mask_shape=[8, 8], use_mini_mask=True)
    shapes = [(6, 4), (6,), (6, 4), (6, 8, 8)]
    for t, shape in zip(out, shapes):
        assert t.shape == shape and np.all(t.numpy() == 0)
    # No gt at all (only padding).
    out = detection_targets_graph(
        tf.constant([[0.0, 0.0, 0.2, 0.2]]), tf.constant([0]), tf.zeros([1, 4]),
        tf.zeros([MINI, MINI, 1], tf.bool), 6, 0.33, [0.1, 0.1, 0.2, 0.2], [8, 8], True)
    for t, shape in zip(out, shapes):
        assert t.shape == shape and np.all(t.numpy() == 0)


def test_detection_target_layer_graph_mode_and_config_round_trip():
    config = make_config(USE_MINI_MASK=True)
    proposals, gt_ids, gt_boxes, gt_masks = target_inputs(True)
    layer = DetectionTargetLayer.from_config(DetectionTargetLayer(config).get_config())
    spec = [tf.TensorSpec([None, None, 4]), tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None, None, 4]), tf.TensorSpec([None, MINI, MINI, None], tf.bool)]
    fn = tf.function(lambda *a: layer(list(a)), input_signature=spec)
    rois, ids, deltas, masks = [t.numpy() for t in fn(proposals, gt_ids, gt_boxes, gt_masks)]
    assert rois.shape == (2, 10, 4) and masks.shape == (2, 10, 8, 8)
    assert (ids[0] > 0).sum() == 4 and (ids[1] > 0).sum() == 5
    assert np.all(rois[0, 6:] == 0) and np.all(np.abs(rois[1]).sum(1) > 0)
