"""Detections out of the network -> boxes and masks of the original image,
in NumPy (detect()) and TensorFlow (the SavedModel) side by side.

NumPy:       unmold_detections (boxes, class ids, scores, full-size masks);
             paste_masks (the export's box-relative masks -> full-size).
TensorFlow:  unmold_detections_graph (boxes, class ids, scores, box-relative
             masks, compacted per image); paste_masks_graph (full-size 0/1).

Both round box coordinates the same way (float64, half to even), drop boxes
without area and paste masks with scikit-image's bilinear conventions, so the
export returns detect()'s results exactly (tests/test_molding.py,
tests/test_export.py).
"""

import numpy as np
import tensorflow as tf

from mrcnn.boxes import denorm_boxes, norm_boxes
from mrcnn.masks import mask_to_box
from mrcnn.molding.meta import meta_image_shape, meta_original_shape, meta_window


############################################################
#  NumPy
############################################################

def unmold_detections(detections, mrcnn_mask, original_image_shape,
                      image_shape, window):
    """Turn one image's network outputs into boxes and masks of the original
    image.

    detections: [N, (y1, x1, y2, x2, class_id, score)], normalised
        coordinates of the molded image, zero-padded after the last one.
    mrcnn_mask: [N, height, width, num_classes] float masks.
    original_image_shape: [H, W, C] before resizing.
    image_shape: [H, W, C] after resizing and padding.
    window: [y1, x1, y2, x2] pixels of the real image inside the padding.

    Returns:
        boxes: int32 [N, (y1, x1, y2, x2)] in original pixels.
        class_ids: int32 [N].
        scores: [N].
        masks: bool [H, W, N] full-size masks.
    Detections whose box has no area in the original image are dropped.
    """
    detections = np.asarray(detections)
    zero_ix = np.where(detections[:, 4] == 0)[0]
    n = zero_ix[0] if zero_ix.shape[0] > 0 else detections.shape[0]

    boxes = detections[:n, :4]
    class_ids = detections[:n, 4].astype(np.int32)
    scores = detections[:n, 5]
    masks = mrcnn_mask[np.arange(n), :, :, class_ids]

    # Normalised coordinates of the molded image -> of the window -> pixels
    # of the original image.
    wy1, wx1, wy2, wx2 = norm_boxes(window, image_shape[:2])
    shift = np.array([wy1, wx1, wy1, wx1])
    wh = wy2 - wy1
    ww = wx2 - wx1
    scale = np.array([wh, ww, wh, ww])
    boxes = np.divide(boxes - shift, scale)
    boxes = denorm_boxes(boxes, original_image_shape[:2])

    # Boxes can collapse to nothing, e.g. early in training.
    heights = boxes[:, 2].astype(np.int64) - boxes[:, 0]
    keep = np.where(heights * (boxes[:, 3] - boxes[:, 1]) > 0)[0]
    if keep.shape[0] < n:
        boxes, class_ids, scores, masks = boxes[keep], class_ids[keep], scores[keep], masks[keep]
        n = class_ids.shape[0]

    if n == 0:
        return boxes, class_ids, scores, np.empty(tuple(original_image_shape[:2]) + (0,))
    # Paste each mask into one preallocated [H, W, N] array, touching only its
    # box (utils.unmold_mask would allocate a full-size mask per detection).
    full_masks = np.zeros(tuple(original_image_shape[:2]) + (n,), dtype=bool)
    for i in range(n):
        y1, x1, y2, x2 = boxes[i]
        full_masks[y1:y2, x1:x2, i] = mask_to_box(masks[i], boxes[i])
    return boxes, class_ids, scores, full_masks


def paste_masks(boxes, masks, image_shape, num_detections=None, threshold=0.5):
    """Paste box-relative masks (the export's ``detection_masks``) into
    full-size bool masks, exactly as detect() does.

    boxes: [N, 4] pixel boxes (``detection_boxes`` of one image);
    masks: [N, mh, mw] probabilities; image_shape: (H, W[, C]) of the original
    image; num_detections: use only the first rows.
    Returns bool [H, W, n], the layout of detect()'s ``masks``.
    """
    boxes = np.asarray(boxes)
    masks = np.asarray(masks)
    n = len(boxes) if num_detections is None else int(num_detections)
    out = np.zeros(tuple(image_shape[:2]) + (n,), dtype=bool)
    for i in range(n):
        y1, x1, y2, x2 = np.round(boxes[i]).astype(np.int64)
        if y2 > y1 and x2 > x1:
            out[y1:y2, x1:x2, i] = mask_to_box(masks[i], (y1, x1, y2, x2), threshold)
    return out


############################################################
#  TensorFlow
############################################################

def kept_rows_graph(detections, metas):
    """The rows detect() keeps and their boxes, for a batch: class > 0 and a
    box with area once in original pixels.

    detections: [B, N, (y1, x1, y2, x2, class_id, score)] normalised;
    metas: [B, IMAGE_META_SIZE]. Returns (boxes float64 [B, N, 4] original
    pixels, rounded as utils.denorm_boxes, in the input's rows; order int32
    [B, N]: the kept rows first in their (score) order, then the others;
    num int32 [B]: the kept rows; valid bool [B, N]: the first num).
    """
    class_ids = tf.cast(detections[..., 4], tf.int32)
    original = meta_original_shape(metas)[:, :2]
    molded = meta_image_shape(metas)[:, :2]
    window = meta_window(metas)
    # utils.norm_boxes(window, molded shape), float32 like the NumPy code.
    mh, mw = molded[:, 0:1], molded[:, 1:2]
    norm_window = (window - tf.constant([0., 0., 1., 1.])) / tf.concat([mh - 1, mw - 1,
                                                                       mh - 1, mw - 1], 1)
    wy1, wx1, wy2, wx2 = tf.unstack(norm_window[:, None, :], axis=-1)
    shift = tf.stack([wy1, wx1, wy1, wx1], axis=-1)
    wscale = tf.stack([wy2 - wy1, wx2 - wx1, wy2 - wy1, wx2 - wx1], axis=-1)
    boxes = (detections[..., :4] - shift) / wscale
    # utils.denorm_boxes(boxes, original shape): float64 then round half to even.
    oh = tf.cast(original[:, 0:1], tf.float64)
    ow = tf.cast(original[:, 1:2], tf.float64)
    pixel_scale = tf.concat([oh - 1, ow - 1, oh - 1, ow - 1], 1)[:, None, :]
    boxes = tf.round(tf.cast(boxes, tf.float64) * pixel_scale +
                     tf.constant([0., 0., 1., 1.], tf.float64))
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    keep = tf.logical_and(class_ids > 0, area > 0)
    # Move kept rows first, keeping their (score) order.
    order = tf.argsort(tf.cast(tf.logical_not(keep), tf.int32), axis=1, stable=True)
    num = tf.reduce_sum(tf.cast(keep, tf.int32), axis=1)
    valid = tf.sequence_mask(num, tf.shape(class_ids)[1])
    return boxes, order, num, valid


def unmold_detections_graph(detections, mrcnn_mask, metas):
    """Network outputs -> boxes in original pixels, compacted per image.

    detections: [B, N, (y1, x1, y2, x2, class_id, score)] normalised;
    mrcnn_mask: [B, N, mh, mw, num_classes]; metas: [B, IMAGE_META_SIZE].
    Returns dict of num_detections [B], detection_boxes [B, N, 4] float32
    pixels, detection_classes [B, N] int32, detection_scores [B, N],
    detection_masks [B, N, mh, mw]. Boxes without area are dropped, as in
    detect().
    """
    class_ids = tf.cast(detections[..., 4], tf.int32)
    scores = detections[..., 5]
    boxes, order, num, valid = kept_rows_graph(detections, metas)
    class_ids = tf.where(valid, tf.gather(class_ids, order, batch_dims=1), 0)
    scores = tf.where(valid, tf.gather(scores, order, batch_dims=1), 0.)
    boxes = tf.where(valid[..., None], tf.cast(tf.gather(boxes, order, batch_dims=1),
                                               tf.float32), 0.)
    # The mask of each detection's own class.
    masks = tf.transpose(mrcnn_mask, [0, 1, 4, 2, 3])              # [B, N, C, mh, mw]
    own_class = tf.cast(detections[..., 4], tf.int32)
    masks = tf.gather(masks, own_class[..., None], batch_dims=2)[:, :, 0]
    masks = tf.gather(masks, order, batch_dims=1)
    masks = tf.where(valid[..., None, None], masks, 0.)
    return {"num_detections": num, "detection_boxes": boxes, "detection_classes": class_ids,
            "detection_scores": scores, "detection_masks": masks}


def paste_masks_graph(boxes, masks, height, width, threshold=0.5):
    """Full-size 0/1 masks from box-relative ones, like utils.unmold_mask
    (bilinear resize to the box with scikit-image's conventions, >= threshold).

    boxes: [N, (y1, x1, y2, x2)] pixels; masks: [N, mh, mw] probabilities.
    Returns uint8 [N, height, width].
    """
    def one(args):
        box, mask = args
        box = tf.cast(box, tf.float64)
        m = tf.cast(mask, tf.float64)
        mh = tf.cast(tf.shape(m)[0], tf.float64)
        mw = tf.cast(tf.shape(m)[1], tf.float64)

        def axis_weights(start, stop, size, n_out):
            # For each output pixel p in [start, stop): coordinate in the mask.
            p = tf.range(n_out, dtype=tf.float64)
            coord = (p - start + 0.5) * size / tf.maximum(stop - start, 1.) - 0.5
            lower = tf.floor(coord)
            frac = coord - lower
            inside = tf.logical_and(p >= start, p < stop)
            # Interpolation matrix [n_out, size + 2] over the zero-padded mask.
            idx = tf.cast(lower, tf.int32) + 1
            cols = tf.cast(size, tf.int32) + 2
            mat = (tf.one_hot(tf.clip_by_value(idx, 0, cols - 1), cols, dtype=tf.float64) *
                   (1. - frac)[:, None] +
                   tf.one_hot(tf.clip_by_value(idx + 1, 0, cols - 1), cols, dtype=tf.float64) *
                   frac[:, None])
            return mat * tf.cast(inside, tf.float64)[:, None], inside

        ry, in_y = axis_weights(box[0], box[2], mh, height)
        rx, in_x = axis_weights(box[1], box[3], mw, width)
        padded = tf.pad(m, [[1, 1], [1, 1]])
        full = tf.matmul(tf.matmul(ry, padded), rx, transpose_b=True)
        full = tf.clip_by_value(full, tf.reduce_min(m), tf.reduce_max(m))
        inside = tf.logical_and(in_y[:, None], in_x[None, :])
        return tf.cast(tf.logical_and(inside, full >= threshold), tf.uint8)

    return tf.map_fn(one, (boxes, masks), fn_output_signature=tf.uint8)
