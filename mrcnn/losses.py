"""The five losses of Mask R-CNN, as plain functions of batched tensors.

Each returns a float32 scalar; a loss with nothing to average (no positive
anchor or RoI in the batch) is 0.
"""

import tensorflow as tf

from mrcnn.ops import smooth_l1


def _mean_or_zero(x):
    return tf.cond(tf.size(x) > 0, lambda: tf.reduce_mean(x), lambda: tf.constant(0.0))


def rpn_class_loss_graph(rpn_match, rpn_class_logits):
    """Objectness cross-entropy over the anchors sampled for training.

    rpn_match: [batch, anchors, 1] int: 1 positive, -1 negative, 0 ignored.
    rpn_class_logits: [batch, anchors, 2] (bg, fg) logits.
    """
    rpn_match = tf.squeeze(tf.cast(rpn_match, tf.int32), -1)
    indices = tf.where(tf.not_equal(rpn_match, 0))
    logits = tf.gather_nd(rpn_class_logits, indices)
    labels = tf.cast(tf.equal(tf.gather_nd(rpn_match, indices), 1), tf.int32)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return _mean_or_zero(loss)


def rpn_bbox_loss_graph(config, target_bbox, rpn_match, rpn_bbox):
    """Smooth-L1 of the positive anchors' deltas.

    config: unused (kept for matterport's signature).
    target_bbox: [batch, RPN_TRAIN_ANCHORS_PER_IMAGE, 4]; row i of an image
        is the target of its i-th positive anchor (in anchor order).
    rpn_match: [batch, anchors, 1]; rpn_bbox: [batch, anchors, 4].
    """
    rpn_match = tf.squeeze(tf.cast(rpn_match, tf.int32), -1)
    positive = tf.equal(rpn_match, 1)
    indices = tf.where(positive)                                   # [P, (b, anchor)]
    pred = tf.gather_nd(rpn_bbox, indices)
    # Rank of each positive anchor among its image's positives.
    rank = tf.cumsum(tf.cast(positive, tf.int64), axis=1) - 1
    target_ix = tf.stack([indices[:, 0], tf.gather_nd(rank, indices)], axis=1)
    target = tf.gather_nd(tf.cast(target_bbox, tf.float32), target_ix)
    return _mean_or_zero(smooth_l1(target, pred))


def mrcnn_class_loss_graph(target_class_ids, pred_class_logits, active_class_ids):
    """Classifier cross-entropy over the sampled RoIs (padding included, as
    class 0), ignoring RoIs predicted as a class absent from the image's
    source dataset.

    target_class_ids: [batch, rois] int; pred_class_logits: [batch, rois,
    classes]; active_class_ids: [batch, classes], 1 for classes of the
    image's dataset.
    """
    target_class_ids = tf.cast(target_class_ids, tf.int64)
    pred_class_ids = tf.argmax(pred_class_logits, axis=2)
    pred_active = tf.gather(tf.cast(active_class_ids, tf.float32), pred_class_ids, batch_dims=1)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=target_class_ids, logits=pred_class_logits)
    return tf.reduce_sum(loss * pred_active) / tf.maximum(tf.reduce_sum(pred_active), 1.0)


def mrcnn_bbox_loss_graph(target_bbox, target_class_ids, pred_bbox):
    """Smooth-L1 of the positive RoIs' deltas for their ground-truth class.

    target_bbox: [batch, rois, 4]; target_class_ids: [batch, rois];
    pred_bbox: [batch, rois, classes, 4].
    """
    target_class_ids = tf.cast(target_class_ids, tf.int32)
    positive = tf.where(target_class_ids > 0)                      # [P, (b, roi)]
    class_ix = tf.cast(tf.gather_nd(target_class_ids, positive), tf.int64)
    pred = tf.gather_nd(pred_bbox, tf.concat([positive, class_ix[:, None]], axis=1))
    target = tf.gather_nd(target_bbox, positive)
    return _mean_or_zero(smooth_l1(target, pred))


def mrcnn_mask_loss_graph(target_masks, target_class_ids, pred_masks):
    """Binary cross-entropy of the positive RoIs' masks, on the mask of their
    ground-truth class only (per-pixel sigmoid, no competition between
    classes).

    target_masks: [batch, rois, h, w] 0/1; target_class_ids: [batch, rois];
    pred_masks: [batch, rois, h, w, classes] probabilities.
    """
    target_class_ids = tf.cast(target_class_ids, tf.int32)
    positive = tf.where(target_class_ids > 0)
    class_ix = tf.gather_nd(target_class_ids, positive)
    y_true = tf.gather_nd(target_masks, positive)                  # [P, h, w]
    y_pred = tf.gather_nd(tf.transpose(pred_masks, [0, 1, 4, 2, 3]),
                          tf.concat([positive, tf.cast(class_ix, tf.int64)[:, None]], axis=1))
    eps = 1e-7
    y_pred = tf.clip_by_value(y_pred, eps, 1 - eps)
    bce = -(y_true * tf.math.log(y_pred) + (1 - y_true) * tf.math.log(1 - y_pred))
    return _mean_or_zero(bce)


# Losses by the name of their output in the training graph (the graph's loss
# layers look them up here, so a saved model names its losses). A new head
# registers its own with `register_loss`.
LOSSES = {
    "rpn_class_loss": rpn_class_loss_graph,
    "rpn_bbox_loss": lambda target_bbox, rpn_match, rpn_bbox: rpn_bbox_loss_graph(
        None, target_bbox, rpn_match, rpn_bbox),
    "mrcnn_class_loss": mrcnn_class_loss_graph,
    "mrcnn_bbox_loss": mrcnn_bbox_loss_graph,
    "mrcnn_mask_loss": mrcnn_mask_loss_graph,
}


BUILTIN_LOSSES = tuple(LOSSES)


def register_loss(name, fn):
    """Make `fn(*inputs) -> scalar` the loss called `name` (see LOSSES)."""
    # Registering a name again replaces the loss (a notebook cell run
    # twice), except for the five built-in ones.
    if name in BUILTIN_LOSSES and LOSSES[name] is not fn:
        raise ValueError("{!r} is a built-in loss; register yours under another "
                         "name".format(name))
    LOSSES[name] = fn
    return fn
