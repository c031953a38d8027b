"""mrcnn.ops (graph box ops) against the NumPy helpers of mrcnn.utils and
hand-computed values."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn import ops, utils


def random_boxes(rng, n, low=0.0, high=1.0, min_size=0.02):
    """[n, 4] float32 boxes (y1, x1, y2, x2) with y2 > y1, x2 > x1."""
    y1 = rng.uniform(low, high, n)
    x1 = rng.uniform(low, high, n)
    h = rng.uniform(min_size, (high - low) / 2, n)
    w = rng.uniform(min_size, (high - low) / 2, n)
    return np.stack([y1, x1, y1 + h, x1 + w], axis=1).astype(np.float32)


# ---------------------------------------------------------------------------
# apply_box_deltas_graph / box_refinement_graph
# ---------------------------------------------------------------------------

def test_apply_box_deltas_graph_matches_numpy():
    rng = np.random.default_rng(0)
    boxes = random_boxes(rng, 64, 0, 100, min_size=1)
    deltas = rng.normal(0, 0.5, (64, 4)).astype(np.float32)
    got = ops.apply_box_deltas_graph(tf.constant(boxes), tf.constant(deltas)).numpy()
    want = utils.apply_box_deltas(boxes, deltas)
    assert got.shape == (64, 4) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_apply_box_deltas_graph_hand_values():
    boxes = tf.constant([[10., 20., 30., 60.]])         # h 20, w 40, centre (20, 40)
    deltas = tf.constant([[0.5, -0.25, np.log(2.0), 0.]], tf.float32)
    # centre -> (20 + 10, 40 - 10), h -> 40, w -> 40
    np.testing.assert_allclose(ops.apply_box_deltas_graph(boxes, deltas).numpy(),
                               [[10., 10., 50., 50.]], atol=1e-5)
    # Zero deltas are the identity.
    np.testing.assert_allclose(ops.apply_box_deltas_graph(boxes, tf.zeros([1, 4])).numpy(),
                               boxes.numpy(), atol=1e-6)


def test_apply_box_deltas_graph_batched():
    rng = np.random.default_rng(1)
    boxes = random_boxes(rng, 2 * 7).reshape(2, 7, 4)
    deltas = rng.normal(0, 0.3, (2, 7, 4)).astype(np.float32)
    got = ops.apply_box_deltas_graph(tf.constant(boxes), tf.constant(deltas)).numpy()
    want = utils.apply_box_deltas(boxes.reshape(-1, 4), deltas.reshape(-1, 4)).reshape(2, 7, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 2000, 4), (2, 777, 4)])
def test_apply_box_deltas_graph_same_bits_eagerly_and_in_any_graph(shape):
    """Grappler may not re-associate the center's sums: a graph traced for
    fixed shapes (detect()) and one with dynamic shapes (the SavedModel) must
    give the proposals detect() gets, to the last bit (issue #15 item 15)."""
    rng = np.random.default_rng(1)
    boxes = tf.constant(rng.uniform(0, 1, shape).astype(np.float32))
    deltas = tf.constant(rng.normal(0, 0.1, shape).astype(np.float32))
    eager = ops.apply_box_deltas_graph(boxes, deltas).numpy()
    static = tf.function(ops.apply_box_deltas_graph)(boxes, deltas).numpy()
    for spec in ([None, None, 4], [None, shape[1], 4]):
        dynamic = tf.function(ops.apply_box_deltas_graph,
                              input_signature=[tf.TensorSpec(spec)] * 2)(boxes, deltas).numpy()
        np.testing.assert_array_equal(dynamic, static)
    np.testing.assert_array_equal(eager, static)


def test_box_refinement_graph_matches_numpy_and_inverts_apply():
    rng = np.random.default_rng(2)
    boxes = random_boxes(rng, 50)
    gt = random_boxes(rng, 50)
    got = ops.box_refinement_graph(tf.constant(boxes), tf.constant(gt)).numpy()
    want = utils.box_refinement(boxes, gt)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # apply(box, refine(box, gt)) == gt
    back = ops.apply_box_deltas_graph(tf.constant(boxes), tf.constant(got)).numpy()
    np.testing.assert_allclose(back, gt, atol=1e-5)


def test_box_refinement_graph_hand_values_and_int_inputs():
    box = tf.constant([[0, 0, 10, 20]], tf.int32)
    gt = tf.constant([[5, 0, 25, 20]], tf.int32)        # centre y 5 -> 15, h 10 -> 20
    got = ops.box_refinement_graph(box, gt).numpy()
    np.testing.assert_allclose(got, [[1.0, 0.0, np.log(2.0), 0.0]], atol=1e-6)
    assert got.dtype == np.float32


# ---------------------------------------------------------------------------
# overlaps_graph
# ---------------------------------------------------------------------------

def test_overlaps_graph_matches_compute_overlaps():
    rng = np.random.default_rng(3)
    b1 = random_boxes(rng, 30)
    b2 = np.concatenate([random_boxes(rng, 20), b1[:3]])  # some identical pairs
    got = ops.overlaps_graph(tf.constant(b1), tf.constant(b2)).numpy()
    want = utils.compute_overlaps(b1, b2)
    assert got.shape == (30, 23)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(got[np.arange(3), 20 + np.arange(3)], 1.0, atol=1e-6)
    assert (got >= 0).all() and (got <= 1 + 1e-6).all()


def test_overlaps_graph_hand_values():
    b1 = tf.constant([[0., 0., 2., 2.]])
    b2 = tf.constant([[1., 1., 3., 3.],     # inter 1, union 7
                      [0., 0., 2., 1.],     # contained: 2 / 4
                      [2., 2., 4., 4.],     # touching corner: 0
                      [5., 5., 6., 6.]])    # disjoint: 0
    np.testing.assert_allclose(ops.overlaps_graph(b1, b2).numpy(),
                               [[1 / 7, 0.5, 0.0, 0.0]], atol=1e-6)


def test_overlaps_graph_batched_and_empty():
    rng = np.random.default_rng(4)
    b1 = random_boxes(rng, 2 * 5).reshape(2, 5, 4)
    b2 = random_boxes(rng, 2 * 6).reshape(2, 6, 4)
    got = ops.overlaps_graph(tf.constant(b1), tf.constant(b2)).numpy()
    assert got.shape == (2, 5, 6)
    for i in range(2):
        np.testing.assert_allclose(got[i], utils.compute_overlaps(b1[i], b2[i]), atol=1e-6)
    empty = ops.overlaps_graph(tf.constant(b1[0]), tf.zeros([0, 4])).numpy()
    assert empty.shape == (5, 0)


# ---------------------------------------------------------------------------
# clip_boxes_graph
# ---------------------------------------------------------------------------

def test_clip_boxes_graph_hand_values():
    boxes = tf.constant([[-0.2, 0.1, 0.5, 1.3],
                         [0.2, -0.5, 1.5, 0.4],
                         [1.2, 1.1, 1.5, 1.4],      # fully outside -> degenerate at corner
                         [0.3, 0.3, 0.6, 0.6]])     # inside: unchanged
    got = ops.clip_boxes_graph(boxes, tf.constant([0., 0., 1., 1.])).numpy()
    np.testing.assert_allclose(got, [[0., 0.1, 0.5, 1.],
                                     [0.2, 0., 1., 0.4],
                                     [1., 1., 1., 1.],
                                     [0.3, 0.3, 0.6, 0.6]], atol=1e-7)


def test_clip_boxes_graph_per_image_window():
    boxes = tf.constant([[[0., 0., 1., 1.]], [[0., 0., 1., 1.]]])      # [2, 1, 4]
    windows = tf.constant([[0.1, 0.2, 0.9, 0.8], [0., 0.25, 1., 0.75]])  # [2, 4]
    got = ops.clip_boxes_graph(boxes, windows[:, None, :]).numpy()
    np.testing.assert_allclose(got, [[[0.1, 0.2, 0.9, 0.8]], [[0., 0.25, 1., 0.75]]])
    # Numpy reference for random boxes.
    rng = np.random.default_rng(5)
    b = rng.uniform(-0.5, 1.5, (40, 4)).astype(np.float32)
    w = np.array([0.1, 0.05, 0.8, 0.9], np.float32)
    want = np.stack([np.clip(b[:, 0], w[0], w[2]), np.clip(b[:, 1], w[1], w[3]),
                     np.clip(b[:, 2], w[0], w[2]), np.clip(b[:, 3], w[1], w[3])], 1)
    np.testing.assert_allclose(ops.clip_boxes_graph(tf.constant(b), tf.constant(w)).numpy(), want)


# ---------------------------------------------------------------------------
# norm_boxes_graph / denorm_boxes_graph
# ---------------------------------------------------------------------------

def test_norm_boxes_graph_matches_numpy_and_hand_values():
    shape = (128, 256)
    boxes = np.array([[0, 0, 128, 256], [10, 20, 50, 100], [127, 255, 128, 256]], np.int32)
    got = ops.norm_boxes_graph(tf.constant(boxes), tf.constant(shape)).numpy()
    np.testing.assert_allclose(got, utils.norm_boxes(boxes, shape), atol=1e-7)
    # (y2, x2) are exclusive: the full image is [0, 0, 1, 1].
    np.testing.assert_allclose(got[0], [0, 0, 1, 1], atol=1e-7)
    np.testing.assert_allclose(got[1], [10 / 127, 20 / 255, 49 / 127, 99 / 255], atol=1e-7)


def test_norm_denorm_round_trip():
    rng = np.random.default_rng(6)
    shape = np.array([96., 160.], np.float32)
    y1 = rng.integers(0, 90, 50)
    x1 = rng.integers(0, 150, 50)
    boxes = np.stack([y1, x1, y1 + rng.integers(1, 7, 50), x1 + rng.integers(1, 11, 50)], 1)
    norm = ops.norm_boxes_graph(tf.constant(boxes), tf.constant(shape))
    back = ops.denorm_boxes_graph(norm, tf.constant(shape)).numpy()
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, boxes)
    np.testing.assert_array_equal(back, utils.denorm_boxes(norm.numpy(), shape))


# ---------------------------------------------------------------------------
# trim_zeros_graph / smooth_l1
# ---------------------------------------------------------------------------

def test_trim_zeros_graph():
    boxes = tf.constant([[0., 0., 0., 0.], [0.1, 0.2, 0.3, 0.4], [0., 0., 0., 0.],
                         [0., 0., 0., 0.5]])
    trimmed, mask = ops.trim_zeros_graph(boxes)
    np.testing.assert_array_equal(mask.numpy(), [False, True, False, True])
    np.testing.assert_allclose(trimmed.numpy(), [[0.1, 0.2, 0.3, 0.4], [0., 0., 0., 0.5]])


@pytest.mark.parametrize("diff, want", [(0.0, 0.0), (0.5, 0.125), (-0.5, 0.125),
                                        (0.999, 0.5 * 0.999 ** 2), (1.0, 0.5),
                                        (2.0, 1.5), (-3.0, 2.5)])
def test_smooth_l1_hand_values(diff, want):
    got = ops.smooth_l1(tf.constant([diff]), tf.constant([0.0])).numpy()
    np.testing.assert_allclose(got, [want], rtol=1e-6)


def test_apply_box_deltas_graph_caps_log_scale():
    # Huge log-scale deltas (untrained heads) are capped at MAX_LOG_SCALE
    # (log(1000 / 16), as in Detectron) instead of overflowing to inf.
    boxes = tf.constant([[0.4, 0.4, 0.6, 0.6]])
    deltas = tf.constant([[0.0, 0.0, 100.0, ops.MAX_LOG_SCALE]])
    got = ops.apply_box_deltas_graph(boxes, deltas).numpy()
    assert np.isfinite(got).all()
    side = 0.2 * np.exp(ops.MAX_LOG_SCALE)
    np.testing.assert_allclose(got, [[0.5 - side / 2, 0.5 - side / 2,
                                      0.5 + side / 2, 0.5 + side / 2]], rtol=1e-5)
