"""Box helpers of mrcnn.utils against hand-computed values and properties."""
import numpy as np
import pytest

from mrcnn import utils


def test_extract_bboxes_hand_computed():
    mask = np.zeros((10, 12, 3), dtype=bool)
    mask[2:5, 3:7, 0] = True          # box (2, 3, 5, 7)
    mask[9, 11, 1] = True             # single corner pixel
    boxes = utils.extract_bboxes(mask)  # instance 2 is empty
    assert boxes.dtype == np.int32
    np.testing.assert_array_equal(boxes, [[2, 3, 5, 7], [9, 11, 10, 12], [0, 0, 0, 0]])


def test_extract_bboxes_non_contiguous_mask_and_uint8():
    mask = np.zeros((8, 8, 1), dtype=np.uint8)
    mask[1, 1, 0] = 1
    mask[6, 4, 0] = 1
    np.testing.assert_array_equal(utils.extract_bboxes(mask), [[1, 1, 7, 5]])


def test_extract_bboxes_rejects_2d():
    with pytest.raises(ValueError, match="instances"):
        utils.extract_bboxes(np.zeros((4, 4)))


def test_compute_iou_hand_computed():
    box = np.array([0, 0, 10, 10])
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 30, 30], [0, 0, 5, 10]])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    iou = utils.compute_iou(box, boxes, 100, areas)
    np.testing.assert_allclose(iou, [1.0, 25 / 175, 0.0, 0.5])


def test_compute_overlaps_matches_pairwise_compute_iou():
    rng = np.random.RandomState(0)
    b1 = np.sort(rng.randint(0, 50, (7, 2, 2)), axis=1).transpose(0, 2, 1).reshape(7, 4)
    b1 = b1[:, [0, 1, 2, 3]]
    y1, y2 = np.minimum(b1[:, 0], b1[:, 2]), np.maximum(b1[:, 0], b1[:, 2]) + 1
    x1, x2 = np.minimum(b1[:, 1], b1[:, 3]), np.maximum(b1[:, 1], b1[:, 3]) + 1
    b1 = np.stack([y1, x1, y2, x2], 1)
    b2 = b1[::-1][:4] + 3
    ov = utils.compute_overlaps(b1, b2)
    assert ov.shape == (7, 4) and ov.dtype == np.float64
    a1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    for j in range(4):
        a2 = (b2[j, 2] - b2[j, 0]) * (b2[j, 3] - b2[j, 1])
        np.testing.assert_allclose(ov[:, j], utils.compute_iou(b2[j], b1, a2, a1))
    assert utils.compute_overlaps(b1, np.zeros((0, 4))).shape == (7, 0)


def test_compute_overlaps_masks():
    m1 = np.zeros((4, 4, 2), bool)
    m1[:2, :, 0] = True      # 8 px
    m1[:, :, 1] = True       # 16 px
    m2 = np.zeros((4, 4, 1), bool)
    m2[:, :2, 0] = True      # 8 px, 4 shared with m1[...,0]
    ov = utils.compute_overlaps_masks(m1, m2)
    np.testing.assert_allclose(ov, [[4 / 12], [8 / 16]])
    assert utils.compute_overlaps_masks(m1, np.zeros((4, 4, 0))).shape == (2, 0)
    with pytest.raises(ValueError, match="sizes differ"):
        utils.compute_overlaps_masks(m1, np.zeros((5, 4, 1)))


def test_non_max_suppression_hand_computed():
    boxes = np.array([[0, 0, 10, 10],     # score .9 kept
                      [1, 1, 11, 11],     # IoU 81/119=.68 with box 0 -> dropped at .5
                      [20, 20, 30, 30],   # kept
                      [0, 0, 10, 5]])     # IoU .5 with box 0: not above .5 -> kept
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    keep = utils.non_max_suppression(boxes, scores, 0.5)
    assert keep.dtype == np.int32
    np.testing.assert_array_equal(keep, [3, 0, 2])
    # At 0.4 box 3 removes box 0 (IoU .5); box 1 only overlaps box 3 by 36/114.
    np.testing.assert_array_equal(utils.non_max_suppression(boxes, scores, 0.4), [3, 1, 2])


def test_non_max_suppression_empty_and_bad_shapes():
    assert utils.non_max_suppression(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)
    with pytest.raises(ValueError, match="scores"):
        utils.non_max_suppression(np.zeros((3, 4)), np.zeros(2), 0.5)


def test_box_refinement_hand_computed():
    box = np.array([[0, 0, 10, 20]])
    gt = np.array([[5, 0, 25, 20]])  # center moves 10 (1 height), height x2
    d = utils.box_refinement(box, gt)
    assert d.dtype == np.float32
    np.testing.assert_allclose(d, [[1.0, 0.0, np.log(2), 0.0]], rtol=1e-6)


def test_apply_box_deltas_inverts_box_refinement():
    rng = np.random.RandomState(1)
    y1x1 = rng.uniform(0, 100, (50, 2))
    boxes = np.concatenate([y1x1, y1x1 + rng.uniform(1, 60, (50, 2))], 1)
    y1x1 = rng.uniform(0, 100, (50, 2))
    gt = np.concatenate([y1x1, y1x1 + rng.uniform(1, 60, (50, 2))], 1)
    deltas = utils.box_refinement(boxes, gt)
    out = utils.apply_box_deltas(boxes, deltas)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, gt, rtol=1e-4, atol=1e-3)


def test_apply_box_deltas_keeps_float32_with_float64_deltas():
    out = utils.apply_box_deltas(np.array([[0, 0, 10, 10]]), np.array([[0.1, 0.0, 0.0, np.log(2)]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[1, -5, 11, 15]], atol=1e-5)


def test_norm_denorm_boxes():
    shape = (101, 201)
    boxes = np.array([[0, 0, 101, 201], [10, 20, 50, 60]])
    n = utils.norm_boxes(boxes, shape)
    assert n.dtype == np.float32
    np.testing.assert_allclose(n[0], [0, 0, 1, 1])
    np.testing.assert_allclose(n[1], [0.1, 0.1, 49 / 100, 59 / 200], rtol=1e-6)
    back = utils.denorm_boxes(n, shape)
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, boxes)


def test_trim_zeros():
    x = np.array([[0, 0], [1, 0], [0, 0], [2, 3]])
    np.testing.assert_array_equal(utils.trim_zeros(x), [[1, 0], [2, 3]])
    with pytest.raises(ValueError):
        utils.trim_zeros(np.zeros(3))
