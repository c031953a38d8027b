"""Graph (TensorFlow) box operations shared by the layers and losses.

Boxes are ``[..., (y1, x1, y2, x2)]``. These are the tensor twins of the NumPy
helpers in `mrcnn.utils` and follow the same formulas, so that the numbers
agree to float32 precision.
"""

import numpy as np
import tensorflow as tf


# Largest log-scale change applied to a box (a factor of 1000/16, as in
# Detectron): keeps an untrained network's huge deltas from overflowing exp()
# into inf/NaN boxes. Trained networks stay far below it.
MAX_LOG_SCALE = float(np.log(1000.0 / 16))


def apply_box_deltas_graph(boxes, deltas):
    """Apply deltas [..., (dy, dx, log(dh), log(dw))] to boxes [..., 4].
    log(dh), log(dw) are capped at MAX_LOG_SCALE.

    The same float32 values eagerly and in any graph: each center is one
    AddN, (0.5 * h + dy * h) + y1. Written as two chained adds,
    (y1 + 0.5 * h) + dy * h, grappler's AddOpsRewrite collapses them into
    that AddN only where the shapes are fully known, so a graph traced for
    concrete shapes (detect()) and one with a dynamic batch or size (the
    SavedModel, a retraced detect()) rounded the proposals differently.
    """
    height = boxes[..., 2] - boxes[..., 0]
    width = boxes[..., 3] - boxes[..., 1]
    center_y = tf.math.add_n([0.5 * height, deltas[..., 0] * height, boxes[..., 0]])
    center_x = tf.math.add_n([0.5 * width, deltas[..., 1] * width, boxes[..., 1]])
    height = height * tf.exp(tf.minimum(deltas[..., 2], MAX_LOG_SCALE))
    width = width * tf.exp(tf.minimum(deltas[..., 3], MAX_LOG_SCALE))
    y1 = center_y - 0.5 * height
    x1 = center_x - 0.5 * width
    return tf.stack([y1, x1, y1 + height, x1 + width], axis=-1)


def clip_boxes_graph(boxes, window):
    """Clip boxes [..., 4] to window [..., (y1, x1, y2, x2)] (broadcast)."""
    window = tf.cast(window, boxes.dtype)
    wy1, wx1, wy2, wx2 = [window[..., i:i + 1] for i in range(4)]
    y1 = tf.maximum(tf.minimum(boxes[..., 0:1], wy2), wy1)
    x1 = tf.maximum(tf.minimum(boxes[..., 1:2], wx2), wx1)
    y2 = tf.maximum(tf.minimum(boxes[..., 2:3], wy2), wy1)
    x2 = tf.maximum(tf.minimum(boxes[..., 3:4], wx2), wx1)
    return tf.concat([y1, x1, y2, x2], axis=-1)


def box_refinement_graph(box, gt_box):
    """Deltas [..., (dy, dx, log(dh), log(dw))] that turn `box` into `gt_box`."""
    box = tf.cast(box, tf.float32)
    gt_box = tf.cast(gt_box, tf.float32)
    height = box[..., 2] - box[..., 0]
    width = box[..., 3] - box[..., 1]
    center_y = box[..., 0] + 0.5 * height
    center_x = box[..., 1] + 0.5 * width
    gt_height = gt_box[..., 2] - gt_box[..., 0]
    gt_width = gt_box[..., 3] - gt_box[..., 1]
    gt_center_y = gt_box[..., 0] + 0.5 * gt_height
    gt_center_x = gt_box[..., 1] + 0.5 * gt_width
    dy = (gt_center_y - center_y) / height
    dx = (gt_center_x - center_x) / width
    dh = tf.math.log(gt_height / height)
    dw = tf.math.log(gt_width / width)
    return tf.stack([dy, dx, dh, dw], axis=-1)


def overlaps_graph(boxes1, boxes2):
    """IoU matrix [..., N1, N2] of boxes1 [..., N1, 4] and boxes2 [..., N2, 4]."""
    b1 = boxes1[..., :, None, :]
    b2 = boxes2[..., None, :, :]
    y1 = tf.maximum(b1[..., 0], b2[..., 0])
    x1 = tf.maximum(b1[..., 1], b2[..., 1])
    y2 = tf.minimum(b1[..., 2], b2[..., 2])
    x2 = tf.minimum(b1[..., 3], b2[..., 3])
    intersection = tf.maximum(x2 - x1, 0) * tf.maximum(y2 - y1, 0)
    b1_area = (b1[..., 2] - b1[..., 0]) * (b1[..., 3] - b1[..., 1])
    b2_area = (b2[..., 2] - b2[..., 0]) * (b2[..., 3] - b2[..., 1])
    union = b1_area + b2_area - intersection
    return intersection / union


def norm_boxes_graph(boxes, shape):
    """Pixel boxes [..., 4] -> normalised, for an image of shape (h, w)."""
    shape = tf.cast(shape, tf.float32)
    h, w = shape[..., 0:1], shape[..., 1:2]
    scale = tf.concat([h, w, h, w], axis=-1) - 1.0
    shift = tf.constant([0., 0., 1., 1.])
    return (tf.cast(boxes, tf.float32) - shift) / scale


def denorm_boxes_graph(boxes, shape):
    """Normalised boxes [..., 4] -> int32 pixel boxes for an image (h, w)."""
    shape = tf.cast(shape, tf.float32)
    h, w = shape[..., 0:1], shape[..., 1:2]
    scale = tf.concat([h, w, h, w], axis=-1) - 1.0
    shift = tf.constant([0., 0., 1., 1.])
    return tf.cast(tf.round(boxes * scale + shift), tf.int32)


def trim_zeros_graph(boxes, name="trim_zeros"):
    """Drop all-zero rows of boxes [N, 4]. Returns (boxes, non_zero_mask)."""
    non_zeros = tf.cast(tf.reduce_sum(tf.abs(boxes), axis=1), tf.bool)
    return tf.boolean_mask(boxes, non_zeros, name=name), non_zeros


def smooth_l1(y_true, y_pred):
    """Elementwise smooth-L1 (Huber with delta 1)."""
    diff = tf.abs(y_true - y_pred)
    less_than_one = tf.cast(diff < 1.0, tf.float32)
    return less_than_one * 0.5 * diff ** 2 + (1 - less_than_one) * (diff - 0.5)
