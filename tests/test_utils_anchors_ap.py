"""Anchors and AP of mrcnn.utils against hand-computed values."""
import numpy as np
import pytest

from mrcnn import utils
from mrcnn.config import Config
from mrcnn.model import compute_backbone_shapes


def test_generate_anchors_order_and_values():
    a = utils.generate_anchors(32, [0.5, 1, 2], [2, 3], 16, 1)
    assert a.shape == (2 * 3 * 3, 4) and a.dtype == np.float64
    r = np.sqrt(2.0)
    # Cell (0, 0), ratios 0.5, 1, 2 (width / height).
    np.testing.assert_allclose(a[0], [-16 * r, -8 * r, 16 * r, 8 * r])
    np.testing.assert_allclose(a[1], [-16, -16, 16, 16])
    np.testing.assert_allclose(a[2], [-8 * r, -16 * r, 8 * r, 16 * r])
    # Cells are row-major: the next cell is x + 16, then the second row.
    np.testing.assert_allclose(a[4], [-16, 0, 16, 32])
    np.testing.assert_allclose(a[3 * 3 + 1], [0, -16, 32, 16])


def test_generate_anchors_anchor_stride_and_several_scales():
    a = utils.generate_anchors([8, 16], [1, 2], [4, 4], 4, 2)
    # Cells at 0 and 8 px in each direction; ratio-major, then scale.
    assert a.shape == (2 * 2 * 4, 4)
    sizes = np.stack([a[:4, 2] - a[:4, 0], a[:4, 3] - a[:4, 1]], 1)
    r = np.sqrt(2.0)
    np.testing.assert_allclose(sizes, [[8, 8], [16, 16], [8 / r, 8 * r], [16 / r, 16 * r]])
    np.testing.assert_allclose((a[4:8, 1] + a[4:8, 3]) / 2, 8)


def test_pyramid_anchor_count_and_level_order():
    config = Config()
    shapes = compute_backbone_shapes(config, (256, 320))
    np.testing.assert_array_equal(shapes, [[64, 80], [32, 40], [16, 20], [8, 10], [4, 5]])
    anchors = utils.generate_pyramid_anchors(config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS,
                                             shapes, config.BACKBONE_STRIDES, 1)
    counts = [h * w * 3 for h, w in shapes]
    assert anchors.shape == (sum(counts), 4)
    # All anchors of level 0 (scale 32) first, then scale 64, ...
    start = 0
    for scale, count in zip(config.RPN_ANCHOR_SCALES, counts):
        level = anchors[start:start + count]
        area = (level[:, 2] - level[:, 0]) * (level[:, 3] - level[:, 1])
        np.testing.assert_allclose(area, scale * scale)
        start += count
    with pytest.raises(ValueError, match="per level"):
        utils.generate_pyramid_anchors((32, 64), [1], shapes, [4, 8], 1)


def _masks_from_boxes(boxes, shape=(40, 40)):
    m = np.zeros(shape + (len(boxes),), bool)
    for i, (y1, x1, y2, x2) in enumerate(boxes):
        m[y1:y2, x1:x2, i] = True
    return m


def test_compute_ap_hand_computed():
    gt_boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    gt_ids = np.array([1, 1])
    pred_boxes = np.array([[0, 0, 10, 10], [5, 25, 15, 35], [20, 20, 30, 30]])
    pred_ids = np.array([1, 1, 1])
    scores = np.array([0.9, 0.8, 0.7])
    ap, precisions, recalls, overlaps = utils.compute_ap(
        gt_boxes, gt_ids, _masks_from_boxes(gt_boxes),
        pred_boxes, pred_ids, scores, _masks_from_boxes(pred_boxes))
    # Matches: pred 0 -> gt 0, pred 1 none, pred 2 -> gt 1.
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> AP = .5 * 1 + .5 * 2/3.
    assert ap == pytest.approx(0.5 + 0.5 * 2 / 3)
    np.testing.assert_allclose(precisions, [1, 1, 2 / 3, 2 / 3, 0])
    np.testing.assert_allclose(recalls, [0, 0.5, 0.5, 1, 1])
    assert overlaps.shape == (3, 2)


def test_compute_ap_sorts_by_score_and_respects_class():
    gt_boxes = np.array([[0, 0, 10, 10]])
    masks = _masks_from_boxes(gt_boxes)
    # Wrong class with the higher score comes first: precision 0 then 1/2.
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10]])
    ap, *_ = utils.compute_ap(gt_boxes, np.array([1]), masks, pred, np.array([1, 2]),
                              np.array([0.6, 0.9]), _masks_from_boxes(pred))
    assert ap == pytest.approx(0.5)
    # A perfect prediction gives 1, a duplicate of it does not lower AP.
    ap, *_ = utils.compute_ap(gt_boxes, np.array([1]), masks, pred, np.array([1, 1]),
                              np.array([0.9, 0.6]), _masks_from_boxes(pred))
    assert ap == pytest.approx(1.0)


def test_compute_ap_no_predictions_and_iou_threshold():
    gt_boxes = np.array([[0, 0, 10, 10]])
    masks = _masks_from_boxes(gt_boxes)
    ap, *_ = utils.compute_ap(gt_boxes, np.array([1]), masks, np.zeros((0, 4)),
                              np.zeros(0, int), np.zeros(0), np.zeros((40, 40, 0)))
    assert ap == 0
    pred = np.array([[0, 0, 10, 6]])  # IoU 0.6
    args = (gt_boxes, np.array([1]), masks, pred, np.array([1]), np.array([0.9]),
            _masks_from_boxes(pred))
    assert utils.compute_ap(*args, iou_threshold=0.5)[0] == pytest.approx(1.0)
    assert utils.compute_ap(*args, iou_threshold=0.7)[0] == 0
    # 0.5, 0.55, 0.6 match (IoU 0.6 >= 0.6 up to rounding), 0.65..0.95 do not.
    ap_range = utils.compute_ap_range(*args, verbose=0)
    assert ap_range == pytest.approx(np.mean([
        utils.compute_ap(*args, iou_threshold=t)[0] for t in np.arange(0.5, 1.0, 0.05)]))
    assert 0.2 <= ap_range <= 0.3


def test_compute_recall():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    pred = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]])
    recall, positive_ids = utils.compute_recall(pred, gt, 0.5)
    assert recall == 0.5
    np.testing.assert_array_equal(positive_ids, [0, 1])
