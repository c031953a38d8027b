"""Post-processing that ONNX and TFLite take: the network's detections ->
boxes in original pixels, classes, scores and box-relative masks, in float32
(mrcnn.molding.unmold_detections_graph rounds in float64, which TFLite lacks).

The same steps as unmold_detections_graph: boxes from the molded image's
normalised coordinates to the window, to original pixels, rounded half to
even; detections whose box has no area dropped; the kept rows moved first
(in score order) and the rest zeroed; each detection's mask of its own class.
Without float64 the product box * (side - 1) is rounded to float32 before
rounding to a pixel, so a coordinate whose exact value lies within a
float32 ulp of a half pixel can land 1 px off (tests/test_deploy.py counts
them). Gathers with batch_dims and argsort are replaced by one-hot products
(exact: sums of one value and zeros), which both converters map to builtins.
"""

import tensorflow as tf

from mrcnn.molding.meta import meta_image_shape, meta_original_shape, meta_window


def _boxes_and_rows(detections, metas):
    """Boxes in original pixels [B, N, 4] (rounded in float32), the kept
    rows (class > 0, area > 0) bool [B, N], their count int32 [B] and the
    compaction matrix float32 [B, N(to), N(from)] that moves kept row j to
    row cumsum(keep)[j] - 1 (the others to nowhere)."""
    n = detections.shape[1]
    class_ids = tf.cast(detections[..., 4], tf.int32)
    original = meta_original_shape(metas)[:, :2]
    molded = meta_image_shape(metas)[:, :2]
    window = meta_window(metas)
    mh, mw = molded[:, 0:1], molded[:, 1:2]
    norm_window = (window - tf.constant([0., 0., 1., 1.])) / tf.concat(
        [mh - 1, mw - 1, mh - 1, mw - 1], 1)
    wy1, wx1, wy2, wx2 = tf.unstack(norm_window[:, None, :], axis=-1)
    shift = tf.stack([wy1, wx1, wy1, wx1], axis=-1)
    wscale = tf.stack([wy2 - wy1, wx2 - wx1, wy2 - wy1, wx2 - wx1], axis=-1)
    boxes = (detections[..., :4] - shift) / wscale
    oh, ow = original[:, 0:1], original[:, 1:2]
    pixel_scale = tf.concat([oh - 1, ow - 1, oh - 1, ow - 1], 1)[:, None, :]
    boxes = tf.round(boxes * pixel_scale + tf.constant([0., 0., 1., 1.]))
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    keep = tf.logical_and(class_ids > 0, area > 0)
    keep_i = tf.cast(keep, tf.int32)
    num = tf.reduce_sum(keep_i, axis=1)
    # Compaction: row j (kept) goes to row cumsum(keep)[j] - 1.
    target = tf.cumsum(keep_i, axis=1) - 1
    move = tf.logical_and(keep[:, None, :],
                          tf.equal(target[:, None, :], tf.range(n)[None, :, None]))
    return boxes, keep, num, tf.cast(move, tf.float32)


def compact_rows(move, values):
    """values [B, N, ...] float32 -> the kept rows first, zeros after (an
    exact product with the 0/1 compaction matrix of _boxes_and_rows)."""
    shape = tf.shape(values)
    flat = tf.reshape(values, tf.stack([shape[0], shape[1], -1]))
    return tf.reshape(tf.matmul(move, flat), shape)


def unmold_detections_portable(detections, mrcnn_mask, metas):
    """detections [B, N, (y1, x1, y2, x2, class_id, score)] normalised,
    mrcnn_mask [B, N, mh, mw, num_classes], metas [B, META] ->
    dict of num_detections int32 [B], detection_boxes float32 [B, N, 4]
    (pixels of the original image, y2/x2 exclusive), detection_classes int32
    [B, N], detection_scores float32 [B, N], detection_masks float32
    [B, N, mh, mw]; rows past num_detections are 0."""
    num_classes = mrcnn_mask.shape[-1]
    class_ids = tf.cast(detections[..., 4], tf.int32)
    scores = detections[..., 5]
    boxes, _, num, move = _boxes_and_rows(detections, metas)
    own = tf.one_hot(tf.maximum(class_ids, 0), num_classes, dtype=tf.float32)
    masks = tf.reduce_sum(mrcnn_mask * own[:, :, None, None, :], axis=-1)  # [B, N, mh, mw]
    classes = tf.cast(tf.round(compact_rows(move, tf.cast(class_ids, tf.float32))), tf.int32)
    return {"num_detections": num, "detection_boxes": compact_rows(move, boxes),
            "detection_classes": classes, "detection_scores": compact_rows(move, scores),
            "detection_masks": compact_rows(move, masks)}


def unmold_keypoints_portable(detections, keypoints, metas):
    """The keypoint head's ``detection_keypoints`` (mrcnn.heads.keypoint.
    unmold_keypoints_graph) in float32: keypoints [B, N, K, (x, y, score)]
    in pixels of the molded images -> float32 [B, N, K, 3] in original
    pixels, in the rows of unmold_detections_portable (zeros after).

    The same arithmetic as unmold_keypoints_graph (float32 there too); the
    rows kept are those of the detections above, whose boxes are rounded
    in float32 instead of float64 (see the module docstring)."""
    from mrcnn.heads.keypoint import keypoints_to_original_graph

    _, _, _, move = _boxes_and_rows(detections, metas)
    return compact_rows(move, keypoints_to_original_graph(keypoints, metas))
