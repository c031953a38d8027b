"""The semantic head's SavedModel outputs (mrcnn.export, through
RoIHead.serving_signature / serving_outputs): the semantic map of the
original image and the panoptic fusion, as graph ops, so that a TF Serving
client gets detect()'s "semantic", "panoptic" and "segments" without this
package.

Outputs, per batch (S = DETECTION_MAX_INSTANCES + NUM_STUFF_CLASSES, the
most segments an image can have; H, W the largest original image of the
batch, smaller ones padded with 0):

- ``semantic_classes``: int32 [B, H, W], the internal stuff class id of
  each pixel (0 thing/other): detect()'s "semantic".
- ``panoptic_segment_ids``: int32 [B, H, W], segment ids (0 void): its
  "panoptic".
- ``segment_category_ids``: int32 [B, S], the internal class id of segment
  k + 1 (row k); ``segment_isthing``: int32 [B, S] 1 thing, 0 stuff;
  ``segment_scores``: float32 [B, S] the instance's score (0 for stuff);
  rows past ``num_segments`` (int32 [B]) are 0. Its "segments", in order.

The fusion is mrcnn.panoptic.fuse's, written with TensorFlow: instances by
descending score (a stable sort: equal scores keep their order) in a
tf.while_loop over the kept detections, the comparisons in float64 as
NumPy makes them; then the stuff classes at once (their free pixels do not
overlap), numbered in the order of config.stuff_class_ids().
"""

import numpy as np
import tensorflow as tf

from mrcnn.heads.semantic import unmold_semantic_graph
from mrcnn.molding import paste_masks_graph
from mrcnn.molding.meta import meta_window

OUTPUTS = ("semantic_classes", "panoptic_segment_ids", "segment_category_ids",
           "segment_isthing", "segment_scores", "num_segments")


def max_segments(config):
    """S: the most segments an image can have."""
    return int(config.DETECTION_MAX_INSTANCES) + int(config.NUM_STUFF_CLASSES)


def serving_signature(config):
    """{output name: tf.TensorSpec of one image's value}."""
    s = max_segments(config)
    return {"semantic_classes": tf.TensorSpec([None, None], tf.int32),
            "panoptic_segment_ids": tf.TensorSpec([None, None], tf.int32),
            "segment_category_ids": tf.TensorSpec([s], tf.int32),
            "segment_isthing": tf.TensorSpec([s], tf.int32),
            "segment_scores": tf.TensorSpec([s], tf.float32),
            "num_segments": tf.TensorSpec([], tf.int32)}


def is_thing_graph(class_ids, stuff_class_ids):
    """bool, the shape of int32 `class_ids`: False for a class of
    `stuff_class_ids` (a Python list), whose detections the fusion skips
    (see mrcnn.panoptic.fuse)."""
    if not len(stuff_class_ids):
        return tf.ones_like(class_ids, tf.bool)
    stuff = tf.constant(list(stuff_class_ids), tf.int32)
    return tf.logical_not(tf.reduce_any(tf.equal(class_ids[..., None], stuff), axis=-1))


def fuse_graph(get_mask, class_ids, scores, num_detections, semantic, stuff_class_ids,
               num_classes, score_threshold, overlap_threshold, stuff_area_limit, size):
    """mrcnn.panoptic.fuse for one image, in TensorFlow.

    get_mask(i) -> bool [h, w], the full-size mask of detection i;
    class_ids int32 [N], scores float32 [N], num_detections: the real rows;
    semantic int32 [h, w] internal class ids; stuff_class_ids: a Python
    list; size: S, the length of the segment arrays.
    Returns (panoptic int32 [h, w], category_ids int32 [S], isthing int32
    [S], scores float32 [S], num_segments int32).
    """
    n = tf.shape(class_ids)[0]
    scores64 = tf.cast(scores, tf.float64)
    keep = tf.logical_and(tf.range(n) < num_detections, scores64 >= score_threshold)
    keep = tf.logical_and(keep, is_thing_graph(class_ids, stuff_class_ids))
    key = tf.where(keep, -scores64, tf.constant(np.inf, tf.float64))
    order = tf.argsort(key, stable=True)
    count = tf.reduce_sum(tf.cast(keep, tf.int32))
    zeros_i = tf.zeros([size], tf.int32)
    state = (tf.constant(0), tf.zeros_like(semantic), tf.constant(0), zeros_i, zeros_i,
             tf.zeros([size], tf.float32))

    def body(i, panoptic, made, categories, things, seg_scores):
        index = order[i]
        mask = get_mask(index)
        area = tf.reduce_sum(tf.cast(mask, tf.int64))
        free = tf.logical_and(mask, tf.equal(panoptic, 0))
        free_area = tf.reduce_sum(tf.cast(free, tf.int64))
        taken = tf.cast(area - free_area, tf.float64) / tf.cast(tf.maximum(area, 1), tf.float64)
        accept = tf.logical_and(area > 0, taken <= overlap_threshold)
        panoptic = tf.where(tf.logical_and(free, accept), made + 1, panoptic)
        row = tf.minimum(made, size - 1)[None, None]

        def put(values, value):
            return tf.where(accept, tf.tensor_scatter_nd_update(values, row, value[None]),
                            values)
        categories = put(categories, class_ids[index])
        things = put(things, tf.constant(1))
        seg_scores = put(seg_scores, scores[index])
        return i + 1, panoptic, made + tf.cast(accept, tf.int32), categories, things, seg_scores

    _, panoptic, made, categories, things, seg_scores = tf.while_loop(
        lambda i, *_: i < count, body, state)

    # Stuff: one segment per class of its free pixels, if large enough.
    stuff = tf.constant(stuff_class_ids, tf.int32)
    free = tf.equal(panoptic, 0)
    areas = tf.math.unsorted_segment_sum(
        tf.cast(tf.reshape(free, [-1]), tf.int64),
        tf.clip_by_value(tf.reshape(semantic, [-1]), 0, num_classes - 1), num_classes)
    stuff_area = tf.gather(areas, stuff)
    accepted = tf.logical_and(stuff_area > 0, stuff_area >= stuff_area_limit)
    ids = made + tf.cumsum(tf.cast(accepted, tf.int32))           # segment id of each class
    table = tf.tensor_scatter_nd_update(tf.zeros([num_classes], tf.int32), stuff[:, None],
                                        tf.where(accepted, ids, 0))
    in_range = tf.logical_and(semantic >= 0, semantic < num_classes)
    stuff_ids = tf.where(in_range, tf.gather(table, tf.clip_by_value(semantic, 0,
                                                                     num_classes - 1)), 0)
    panoptic = tf.where(tf.logical_and(free, stuff_ids > 0), stuff_ids, panoptic)
    rows = tf.boolean_mask(ids - 1, accepted)[:, None]
    categories = tf.tensor_scatter_nd_update(categories, rows, tf.boolean_mask(stuff, accepted))
    num_segments = made + tf.reduce_sum(tf.cast(accepted, tf.int32))
    return panoptic, categories, things, seg_scores, num_segments


def serving_outputs(head, outputs, metas, original_hw, result):
    """The values of serving_signature's outputs for a batch (see the
    module docstring)."""
    config = head.config
    options = head.fuse_options()
    size = max_segments(config)
    semantic = tf.cast(outputs["mrcnn_semantic"], tf.int32)
    windows = tf.cast(tf.round(meta_window(metas)), tf.int32)
    original_hw = tf.cast(original_hw, tf.int32)
    height = tf.reduce_max(original_hw[:, 0])
    width = tf.reduce_max(original_hw[:, 1])
    masks = result["detection_masks"]
    full = masks.dtype == tf.uint8        # export(full_masks=True): already pasted

    def one(b):
        h, w = original_hw[b, 0], original_hw[b, 1]
        sem = unmold_semantic_graph(semantic[b], windows[b], h, w)
        boxes = result["detection_boxes"][b]

        def get_mask(i):
            if full:
                return masks[b, i, :h, :w] > 0
            return paste_masks_graph(boxes[i:i + 1], masks[b, i:i + 1], h, w)[0] > 0

        panoptic, categories, things, seg_scores, num = fuse_graph(
            get_mask, result["detection_classes"][b], result["detection_scores"][b],
            result["num_detections"][b], sem, config.stuff_class_ids(),
            int(config.NUM_CLASSES), options["score_threshold"],
            options["overlap_threshold"], options["stuff_area_limit"], size)
        pad = [[0, height - h], [0, width - w]]
        return tf.pad(sem, pad), tf.pad(panoptic, pad), categories, things, seg_scores, num

    values = tf.map_fn(one, tf.range(tf.shape(semantic)[0]), fn_output_signature=(
        tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.int32),
        tf.TensorSpec([size], tf.int32), tf.TensorSpec([size], tf.int32),
        tf.TensorSpec([size], tf.float32), tf.TensorSpec([], tf.int32)))
    return dict(zip(OUTPUTS, values))
