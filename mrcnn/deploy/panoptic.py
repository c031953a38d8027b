"""The semantic head's outputs in the ONNX / TFLite graph: the SavedModel's
``semantic_classes``, ``panoptic_segment_ids``, ``segment_category_ids``,
``segment_isthing``, ``segment_scores`` and ``num_segments``
(mrcnn.heads.semantic_serving), with ops both converters take.

The SavedModel version runs one image at a time (tf.map_fn: TensorList ops,
which TFLite's builtins lack), in float64 and int64 (TFLite has neither)
with tensor_scatter_nd_update and boolean_mask. Here:

- the batch is one tensor (a deploy batch has one image size, so one
  window and one original size): no per-image loop;
- the detections are put in fusion order (descending score, equal scores in
  their order: the stable sort of fuse) by a rank computed from pairwise
  comparisons and a 0/1 permutation product, instead of argsort;
- the instances are fused in one tf.while_loop over the rank (ONNX Loop,
  TFLite WHILE), each step pasting the rank's mask of every image
  (`paste_masks_portable`, float32) and writing segment rows with selects;
- the stuff classes are a short unrolled loop over config.stuff_class_ids().

Differences from the SavedModel, all in float round-off: the masks are
pasted in float32 (a pixel whose bilinear value lies within float32
round-off of 0.5 may flip), the overlap test compares a float32 ratio with
the threshold (equal for binary fractions such as the default 0.5), and
the score threshold is the smallest float32 not below it (equal).
"""

import numpy as np
import tensorflow as tf

from mrcnn.heads.semantic_serving import OUTPUTS, is_thing_graph, max_segments
from mrcnn.molding.meta import meta_window


def _last(x, n=1):
    """x with n axes of size 1 appended (ExpandDims: TFLite's StridedSlice
    inside a WHILE body takes no new axes)."""
    for _ in range(n):
        x = tf.expand_dims(x, -1)
    return x


def paste_masks_portable(boxes, masks, height, width, threshold=0.5):
    """mrcnn.molding.paste_masks_graph for one mask per image, in float32.

    boxes: float32 [B, (y1, x1, y2, x2)] original pixels (whole numbers);
    masks: float32 [B, mh, mw] probabilities; height, width: int32 scalars.
    Returns bool [B, height, width]: inside the box and the bilinear value
    (scikit-image's sampling, clipped to the mask's range) >= threshold.
    """
    mh, mw = int(masks.shape[1]), int(masks.shape[2])

    def axis_weights(start, stop, size, n_out):
        p = tf.expand_dims(tf.cast(tf.range(n_out), tf.float32), 0)
        start, stop = _last(start), _last(stop)
        coord = (p - start + 0.5) * float(size) / tf.maximum(stop - start, 1.) - 0.5
        lower = tf.floor(coord)
        frac = coord - lower
        inside = tf.logical_and(p >= start, p < stop)                   # [B, n_out]
        idx = tf.cast(lower, tf.int32) + 1
        cols = size + 2
        mat = (tf.one_hot(tf.clip_by_value(idx, 0, cols - 1), cols) * _last(1. - frac) +
               tf.one_hot(tf.clip_by_value(idx + 1, 0, cols - 1), cols) * _last(frac))
        return mat * _last(tf.cast(inside, tf.float32)), inside      # [B, n_out, cols]

    ry, in_y = axis_weights(boxes[:, 0], boxes[:, 2], mh, height)
    rx, in_x = axis_weights(boxes[:, 1], boxes[:, 3], mw, width)
    padded = tf.pad(masks, [[0, 0], [1, 1], [1, 1]])
    full = tf.matmul(tf.matmul(ry, padded), rx, transpose_b=True)       # [B, H, W]
    full = tf.clip_by_value(full, _last(tf.reduce_min(masks, axis=[1, 2]), 2),
                            _last(tf.reduce_max(masks, axis=[1, 2]), 2))
    inside = tf.logical_and(_last(in_y), tf.expand_dims(in_x, 1))
    return tf.logical_and(inside, full >= threshold)


def unmold_semantic_portable(semantic, metas, height, width):
    """mrcnn.heads.semantic.unmold_semantic_graph for a batch of one image
    size: semantic int32 [B, Hm, Wm] molded -> int32 [B, height, width]
    (nearest neighbour of the window, in int32)."""
    window = tf.cast(tf.round(meta_window(metas)[0]), tf.int32)

    def rows(size, start, stop):
        r = tf.range(size)
        return start + ((2 * r + 1) * (stop - start)) // (2 * size)

    ys = rows(height, window[0], window[2])
    xs = rows(width, window[1], window[3])
    return tf.gather(tf.gather(tf.cast(semantic, tf.int32), ys, axis=1), xs, axis=2)


def _float32_at_least(value):
    """The smallest float32 >= value: x >= it in float32 iff
    float64(x) >= value."""
    f = np.float32(value)
    if float(f) < value:
        f = np.nextafter(f, np.float32(np.inf))
    return float(f)


def fusion_order(scores, keep):
    """The fusion's order: kept rows by descending score, equal scores in
    row order (a stable sort), as a permutation matrix float32 [B, N(rank),
    N(row)] (rows not kept map nowhere) and the count int32 [B]."""
    n = scores.shape[1]
    s_j, s_k = scores[:, :, None], scores[:, None, :]                  # [B, j, k]
    keep_k = keep[:, None, :]
    before = tf.logical_or(s_k > s_j, tf.logical_and(
        tf.equal(s_k, s_j), tf.range(n)[None, None, :] < tf.range(n)[None, :, None]))
    rank = tf.reduce_sum(tf.cast(tf.logical_and(before, keep_k), tf.int32), axis=2)  # [B, N]
    perm = tf.logical_and(tf.equal(rank[:, None, :], tf.range(n)[None, :, None]),
                          keep[:, None, :])
    return tf.cast(perm, tf.float32), tf.reduce_sum(tf.cast(keep, tf.int32), axis=1)


def fuse_portable(result, semantic, stuff_class_ids, score_threshold, overlap_threshold,
                  stuff_area_limit, size, height, width):
    """mrcnn.panoptic.fuse of a batch: result holds the deploy graph's
    num_detections, detection_boxes, detection_classes, detection_scores,
    detection_masks (box-relative); semantic int32 [B, height, width] of the
    original images. Returns panoptic int32 [B, H, W], category ids,
    isthing (int32 [B, size]), scores (float32 [B, size]), num_segments
    int32 [B]."""
    boxes = result["detection_boxes"]
    masks = result["detection_masks"]
    classes = tf.cast(result["detection_classes"], tf.float32)
    scores = result["detection_scores"]
    n = boxes.shape[1]
    batch = tf.shape(boxes)[0]
    keep = tf.logical_and(tf.range(n)[None, :] < result["num_detections"][:, None],
                          scores >= _float32_at_least(score_threshold))
    keep = tf.logical_and(keep, is_thing_graph(result["detection_classes"], stuff_class_ids))
    perm, count = fusion_order(scores, keep)
    mask_shape = tf.shape(masks)
    sorted_boxes = tf.matmul(perm, boxes)
    sorted_masks = tf.reshape(tf.matmul(perm, tf.reshape(masks, tf.stack(
        [mask_shape[0], n, -1]))), mask_shape)
    sorted_classes = tf.cast(tf.round(tf.matmul(perm, classes[..., None])[..., 0]), tf.int32)
    sorted_scores = tf.matmul(perm, scores[..., None])[..., 0]
    slots = tf.range(size)[None, :]
    overlap = float(np.float32(overlap_threshold))

    def body(i, panoptic, made, categories, things, seg_scores):
        mask = paste_masks_portable(tf.gather(sorted_boxes, i, axis=1),
                                    tf.gather(sorted_masks, i, axis=1), height, width)
        area = tf.reduce_sum(tf.cast(mask, tf.int32), axis=[1, 2])
        free = tf.logical_and(mask, tf.equal(panoptic, 0))
        free_area = tf.reduce_sum(tf.cast(free, tf.int32), axis=[1, 2])
        taken = tf.cast(area - free_area, tf.float32) / tf.cast(tf.maximum(area, 1), tf.float32)
        accept = tf.logical_and(tf.logical_and(i < count, area > 0), taken <= overlap)
        panoptic = tf.where(tf.logical_and(free, _last(accept, 2)),
                            _last(made + 1, 2), panoptic)
        slot = tf.logical_and(tf.equal(slots, _last(made)), _last(accept))
        categories = tf.where(slot, _last(tf.gather(sorted_classes, i, axis=1)), categories)
        things = tf.where(slot, 1, things)
        seg_scores = tf.where(slot, _last(tf.gather(sorted_scores, i, axis=1)), seg_scores)
        return i + 1, panoptic, made + tf.cast(accept, tf.int32), categories, things, seg_scores

    zeros_i = tf.zeros(tf.stack([batch, size]), tf.int32)
    state = (tf.constant(0), tf.zeros_like(semantic), tf.zeros_like(count),
             zeros_i, zeros_i, tf.zeros(tf.stack([batch, size]), tf.float32))
    steps = tf.reduce_max(tf.concat([count, [0]], axis=0))
    _, panoptic, made, categories, things, seg_scores = tf.while_loop(
        lambda i, *_: i < steps, body, state)

    # Stuff: one segment per class of its free pixels, numbered in the order
    # of stuff_class_ids, if large enough.
    free = tf.equal(panoptic, 0)
    pixels = [tf.logical_and(free, tf.equal(semantic, int(c))) for c in stuff_class_ids]
    areas = tf.stack([tf.reduce_sum(tf.cast(p, tf.int32), axis=[1, 2]) for p in pixels], 1)
    accepted = tf.logical_and(areas > 0, areas >= int(stuff_area_limit))          # [B, C]
    ids = made[:, None] + tf.cumsum(tf.cast(accepted, tf.int32), axis=1)
    for k, c in enumerate(stuff_class_ids):
        on = accepted[:, k]
        panoptic = tf.where(tf.logical_and(pixels[k], on[:, None, None]),
                            ids[:, k, None, None], panoptic)
        slot = tf.logical_and(tf.equal(slots, ids[:, k, None] - 1), on[:, None])
        categories = tf.where(slot, int(c), categories)
    num_segments = made + tf.reduce_sum(tf.cast(accepted, tf.int32), axis=1)
    return panoptic, categories, things, seg_scores, num_segments


def serving_outputs_portable(head, outputs, metas, original_hw, result):
    """The semantic head's SavedModel outputs (semantic_serving.OUTPUTS) for
    a deploy batch (one image size)."""
    config = head.config
    options = head.fuse_options()
    height, width = original_hw[0, 0], original_hw[0, 1]
    semantic = unmold_semantic_portable(outputs["mrcnn_semantic"], metas, height, width)
    panoptic, categories, things, seg_scores, num = fuse_portable(
        result, semantic, config.stuff_class_ids(), options["score_threshold"],
        options["overlap_threshold"], options["stuff_area_limit"], max_segments(config),
        height, width)
    return dict(zip(OUTPUTS, (semantic, panoptic, categories, things, seg_scores, num)))
