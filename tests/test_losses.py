"""The five Mask R-CNN losses against hand-computed values."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn import losses


def np_ce(logits, label):
    """Softmax cross-entropy of one logit vector."""
    logits = np.asarray(logits, np.float64)
    m = logits.max()
    return -(logits[label] - m - np.log(np.exp(logits - m).sum()))


def np_smooth_l1(diff):
    diff = np.abs(np.asarray(diff, np.float64))
    return np.where(diff < 1, 0.5 * diff ** 2, diff - 0.5)


def scalar(x):
    x = x.numpy() if hasattr(x, "numpy") else np.asarray(x)
    assert x.shape == () and np.isfinite(x)
    return float(x)


# ---------------------------------------------------------------------------
# RPN class loss
# ---------------------------------------------------------------------------

def test_rpn_class_loss_two_labelled_anchors():
    # Anchor 0 positive, anchor 2 negative, the others ignored.
    rpn_match = np.array([[[1], [0], [-1], [0]]], np.int32)
    logits = np.array([[[0.5, 2.0], [9., -9.], [1.0, -1.0], [-5., 5.]]], np.float32)
    want = (np_ce([0.5, 2.0], 1) + np_ce([1.0, -1.0], 0)) / 2
    got = scalar(losses.rpn_class_loss_graph(tf.constant(rpn_match), tf.constant(logits)))
    assert got == pytest.approx(want, rel=1e-5)


def test_rpn_class_loss_batch_mean_over_all_labelled_anchors():
    rng = np.random.default_rng(0)
    rpn_match = rng.choice([-1, 0, 1], size=(2, 10, 1)).astype(np.int32)
    logits = rng.normal(size=(2, 10, 2)).astype(np.float32)
    terms = [np_ce(logits[b, a], int(rpn_match[b, a, 0] == 1))
             for b in range(2) for a in range(10) if rpn_match[b, a, 0] != 0]
    got = scalar(losses.rpn_class_loss_graph(tf.constant(rpn_match), tf.constant(logits)))
    assert got == pytest.approx(np.mean(terms), rel=1e-5)


def test_rpn_class_loss_nothing_labelled_is_zero():
    rpn_match = tf.zeros([2, 5, 1], tf.int32)
    logits = tf.Variable(tf.random.stateless_normal([2, 5, 2], seed=(1, 2)))
    with tf.GradientTape() as tape:
        loss = losses.rpn_class_loss_graph(rpn_match, logits)
    assert scalar(loss) == 0.0
    grad = tape.gradient(loss, logits)
    assert grad is None or np.all(np.asarray(tf.convert_to_tensor(grad)) == 0)


# ---------------------------------------------------------------------------
# RPN bbox loss
# ---------------------------------------------------------------------------

def test_rpn_bbox_loss_pairs_ith_positive_with_row_i():
    # Image 0: positives at anchors 1 and 3; image 1: one positive, at anchor 2.
    rpn_match = np.array([[[0], [1], [-1], [1], [0]],
                          [[-1], [0], [1], [0], [0]]], np.int32)
    rpn_bbox = np.zeros((2, 5, 4), np.float32)
    rpn_bbox[0, 1] = [0.1, 0.2, 0.3, 0.4]
    rpn_bbox[0, 3] = [1.0, -1.0, 0.0, 2.0]
    rpn_bbox[1, 2] = [0.5, 0.5, 0.5, 0.5]
    # Non-positive anchors carry junk that must not count.
    rpn_bbox[0, 0] = rpn_bbox[0, 2] = rpn_bbox[1, 0] = 100.
    target = np.full((2, 3, 4), 77., np.float32)          # padding rows: junk
    target[0, 0] = [0.0, 0.0, 0.0, 0.0]    # for anchor 1
    target[0, 1] = [0.5, -1.0, 0.5, 0.0]   # for anchor 3
    target[1, 0] = [0.5, 0.0, 1.0, 2.0]    # for anchor 2 of image 1
    diffs = np.concatenate([rpn_bbox[0, 1] - target[0, 0], rpn_bbox[0, 3] - target[0, 1],
                            rpn_bbox[1, 2] - target[1, 0]])
    want = np_smooth_l1(diffs).mean()          # mean over the 3 x 4 elements
    # By hand: [.005 .02 .045 .08] + [.125 0 .125 1.5] + [0 .125 .125 1.0]
    assert want == pytest.approx((0.15 + 1.75 + 1.25) / 12)
    got = scalar(losses.rpn_bbox_loss_graph(None, tf.constant(target), tf.constant(rpn_match),
                                            tf.constant(rpn_bbox)))
    assert got == pytest.approx(want, rel=1e-5)


def test_rpn_bbox_loss_no_positive_is_zero():
    rpn_match = tf.constant([[[0], [-1]], [[-1], [0]]], tf.int32)
    rpn_bbox = tf.Variable(tf.ones([2, 2, 4]))
    with tf.GradientTape() as tape:
        loss = losses.rpn_bbox_loss_graph(None, tf.ones([2, 3, 4]), rpn_match, rpn_bbox)
    assert scalar(loss) == 0.0
    grad = tape.gradient(loss, rpn_bbox)
    assert grad is None or np.all(np.asarray(tf.convert_to_tensor(grad)) == 0)


# ---------------------------------------------------------------------------
# MRCNN class loss
# ---------------------------------------------------------------------------

def test_mrcnn_class_loss_all_active_is_mean_ce():
    target = np.array([[1, 0, 2]], np.int32)
    logits = np.array([[[0.1, 2.0, -1.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.2]]], np.float32)
    active = np.ones((1, 3), np.float32)
    want = np.mean([np_ce(logits[0, 0], 1), np_ce(logits[0, 1], 0), np_ce(logits[0, 2], 2)])
    got = scalar(losses.mrcnn_class_loss_graph(tf.constant(target), tf.constant(logits),
                                               tf.constant(active)))
    assert got == pytest.approx(want, rel=1e-5)


def test_mrcnn_class_loss_ignores_rois_predicted_as_inactive_class():
    # 4 classes; image 0's dataset has classes {0, 1, 2}, image 1's {0, 3}.
    active = np.array([[1, 1, 1, 0], [1, 0, 0, 1]], np.int32)
    target = np.array([[1, 3, 0], [3, 0, 2]], np.int32)
    logits = np.array([
        [[0., 3., 0., 0.],      # predicts 1 (active) -> counts, target 1
         [0., 0., 0., 4.],      # predicts 3 (inactive in image 0) -> ignored
         [2., 0., 1., 0.]],     # predicts 0 -> counts, target 0
        [[0., 0., 0., 1.],      # predicts 3 (active in image 1) -> counts, target 3
         [0., 5., 0., 0.],      # predicts 1 (inactive in image 1) -> ignored
         [0., 0., 2., 0.]],     # predicts 2 (inactive in image 1) -> ignored
    ], np.float32)
    counted = [np_ce(logits[0, 0], 1), np_ce(logits[0, 2], 0), np_ce(logits[1, 0], 3)]
    want = np.mean(counted)
    got = scalar(losses.mrcnn_class_loss_graph(tf.constant(target), tf.constant(logits),
                                               tf.constant(active)))
    assert got == pytest.approx(want, rel=1e-5)


def test_mrcnn_class_loss_padding_rois_count_as_background():
    # Zero-padded RoIs have target 0 and are part of the average (as in matterport).
    target = np.array([[2, 0, 0]], np.int32)
    logits = np.array([[[0., 0., 1.], [0., 0., 0.], [0., 0., 0.]]], np.float32)
    want = np.mean([np_ce(logits[0, 0], 2), np.log(3.0), np.log(3.0)])
    got = scalar(losses.mrcnn_class_loss_graph(tf.constant(target), tf.constant(logits),
                                               tf.ones([1, 3])))
    assert got == pytest.approx(want, rel=1e-5)


def test_mrcnn_class_loss_nothing_active_is_finite_zero():
    logits = tf.constant([[[0., 3.], [0., 1.]]])
    got = scalar(losses.mrcnn_class_loss_graph(tf.constant([[1, 0]]), logits,
                                               tf.constant([[1., 0.]])))
    assert got == 0.0


# ---------------------------------------------------------------------------
# MRCNN bbox loss
# ---------------------------------------------------------------------------

def test_mrcnn_bbox_loss_uses_gt_class_of_positive_rois():
    num_classes = 3
    target_ids = np.array([[2, 0, 1], [0, 1, 0]], np.int32)
    target_bbox = np.zeros((2, 3, 4), np.float32)
    target_bbox[0, 0] = [0.5, 0.0, 0.0, 0.0]
    target_bbox[0, 2] = [0.0, 0.0, 0.0, 0.0]
    target_bbox[1, 1] = [1.0, 1.0, 1.0, 1.0]
    pred = np.full((2, 3, num_classes, 4), 50., np.float32)    # junk everywhere else
    pred[0, 0, 2] = [0.0, 0.0, 2.0, 0.0]       # diffs .5, 0, 2, 0
    pred[0, 2, 1] = [0.1, 0.0, 0.0, 0.0]       # diffs .1
    pred[1, 1, 1] = [1.0, 1.0, 1.0, 3.0]       # diffs 0 0 0 2
    # smooth-L1: [.125, 0, 1.5, 0] + [.005, 0, 0, 0] + [0, 0, 0, 1.5]; mean over 12
    want = (0.125 + 1.5 + 0.005 + 1.5) / 12
    got = scalar(losses.mrcnn_bbox_loss_graph(tf.constant(target_bbox), tf.constant(target_ids),
                                              tf.constant(pred)))
    assert got == pytest.approx(want, rel=1e-5)


def test_mrcnn_bbox_loss_no_positive_is_zero():
    pred = tf.Variable(tf.ones([2, 3, 4, 4]))
    with tf.GradientTape() as tape:
        loss = losses.mrcnn_bbox_loss_graph(tf.ones([2, 3, 4]), tf.zeros([2, 3], tf.int32), pred)
    assert scalar(loss) == 0.0
    grad = tape.gradient(loss, pred)
    assert grad is None or np.all(np.asarray(tf.convert_to_tensor(grad)) == 0)


# ---------------------------------------------------------------------------
# MRCNN mask loss
# ---------------------------------------------------------------------------

def test_mrcnn_mask_loss_uses_gt_class_channel_of_positive_rois():
    num_classes = 3
    h = w = 2
    target_ids = np.array([[1, 0], [0, 2]], np.int32)
    target_masks = np.zeros((2, 2, h, w), np.float32)
    target_masks[0, 0] = [[1, 0], [1, 1]]
    target_masks[1, 1] = [[0, 0], [1, 0]]
    target_masks[0, 1] = 1        # negative RoI: ignored whatever it holds
    pred = np.full((2, 2, h, w, num_classes), 0.999, np.float32)  # junk elsewhere
    pred[0, 0, :, :, 1] = [[0.8, 0.3], [0.6, 0.5]]
    pred[1, 1, :, :, 2] = [[0.1, 0.2], [0.9, 0.4]]
    bce = [-np.log(0.8), -np.log(0.7), -np.log(0.6), -np.log(0.5),
           -np.log(0.9), -np.log(0.8), -np.log(0.9), -np.log(0.6)]
    want = np.mean(bce)
    got = scalar(losses.mrcnn_mask_loss_graph(tf.constant(target_masks), tf.constant(target_ids),
                                              tf.constant(pred)))
    assert got == pytest.approx(want, rel=1e-5)


def test_mrcnn_mask_loss_clips_saturated_predictions():
    # A confident wrong prediction gives a large but finite loss.
    target = tf.constant([[[[1.0]]]])
    pred = tf.constant([[[[[0.0, 0.0]]]]])
    got = scalar(losses.mrcnn_mask_loss_graph(target, tf.constant([[1]]), pred))
    assert 10 < got < 20


def test_mrcnn_mask_loss_no_positive_is_zero():
    pred = tf.Variable(tf.fill([1, 2, 3, 3, 2], 0.5))
    with tf.GradientTape() as tape:
        loss = losses.mrcnn_mask_loss_graph(tf.ones([1, 2, 3, 3]), tf.zeros([1, 2], tf.int32), pred)
    assert scalar(loss) == 0.0
    grad = tape.gradient(loss, pred)
    assert grad is None or np.all(np.asarray(tf.convert_to_tensor(grad)) == 0)


# ---------------------------------------------------------------------------
# Graph mode, unknown shapes
# ---------------------------------------------------------------------------

def test_losses_trace_with_unknown_shapes():
    f = tf.function(lambda m, l: losses.rpn_class_loss_graph(m, l), input_signature=[
        tf.TensorSpec([None, None, 1], tf.int32), tf.TensorSpec([None, None, 2], tf.float32)])
    assert scalar(f(tf.constant([[[1], [-1]]]), tf.constant([[[0., 0.], [0., 0.]]]))) == \
        pytest.approx(np.log(2.0), rel=1e-6)
    assert scalar(f(tf.zeros([1, 2, 1], tf.int32), tf.zeros([1, 2, 2]))) == 0.0

    g = tf.function(losses.mrcnn_mask_loss_graph, input_signature=[
        tf.TensorSpec([None, None, None, None], tf.float32),
        tf.TensorSpec([None, None], tf.int32),
        tf.TensorSpec([None, None, None, None, None], tf.float32)])
    assert scalar(g(tf.ones([1, 1, 2, 2]), tf.constant([[1]]), tf.fill([1, 1, 2, 2, 2], 0.5))) \
        == pytest.approx(np.log(2.0), rel=1e-5)
    assert scalar(g(tf.ones([1, 1, 2, 2]), tf.constant([[0]]), tf.fill([1, 1, 2, 2, 2], 0.5))) \
        == 0.0
