"""A portable inference network: the same graph, weights and layer names,
built from ops that tf2onnx (opset 17) and TFLite's builtin op set convert.

Three layers of today's inference graph use ops that one of the two
converters rejects (docs/deployment.md): PyramidROIAlign (CropAndResize,
DynamicStitch), ProposalLayer (``tf.map_fn``: TensorList ops) and
DetectionLayer (CombinedNonMaxSuppression). Built inside `portable_ops()`
they take the ops of this module instead:

- `pyramid_roi_align`: bilinear sampling by gathers from the pyramid levels
  flattened into one table, with crop_and_resize's sampling grid and its
  extrapolation value 0; every RoI is sampled on its own level by its index
  in the table, so the RoIs keep their order without DynamicStitch.
- `map_images`: a per-image function over the batch as a ``tf.while_loop``
  (ONNX ``Loop``, TFLite ``WHILE``) whose output is a fixed-shape tensor
  updated with a select, no TensorList; a batch of statically 1 image
  (a TFLite signature) runs the function once, without a loop.
- `nms_padded`: ``NonMaxSuppressionV4`` with padded output (TFLite's
  builtin NON_MAX_SUPPRESSION_V4, ONNX NonMaxSuppression).
- `refine_detections_portable`: per-class NMS as one NMS over class-offset
  boxes (each class moved by 2 * class_id, so that boxes of different
  classes never overlap), which keeps the max_instances best of the union
  of the per-class survivors, as CombinedNonMaxSuppression does.

The other layers of the inference graph (the heads' convolutions, the
keypoint head's heatmap decoding, the valid-row gathers and scatters)
already convert, so only these three layers have twins.

Each layer records the choice as its ``portable`` constructor argument (in
get_config); ``portable=False`` (the default outside `portable_ops()`) keeps
today's ops and detections. Usage::

    with portable_ops():
        net = build_graph("inference", config)     # same names and weights
    net.set_weights(model.keras_model.get_weights())

or `portable_model(maskrcnn)`. The network's inputs are those of the
inference model (molded float32 image, image meta, anchors).

Known differences from the standard ops, all in exact ties or float
round-off: NMS keeps equal-scored boxes in its own order; the class offsets
add the round-off of coordinates of magnitude 2 * NUM_CLASSES to the IoUs
that NMS compares with its threshold.
"""

import contextlib
import threading

import tensorflow as tf

_STATE = threading.local()


@contextlib.contextmanager
def portable_ops(enabled=True):
    """Within the block, layers built without an explicit ``portable``
    argument use the convertible ops (see the module docstring). Nests; the
    previous setting is restored on exit."""
    previous = getattr(_STATE, "enabled", False)
    _STATE.enabled = bool(enabled)
    try:
        yield
    finally:
        _STATE.enabled = previous


def portable_default(portable=None):
    """A layer's ``portable`` argument: the explicit value, else whether the
    layer is built inside `portable_ops()`."""
    if portable is None:
        return bool(getattr(_STATE, "enabled", False))
    return bool(portable)


############################################################
#  RoIAlign
############################################################

def _sample_coords(lo, hi, size, samples, zero):
    """crop_and_resize's sampling grid along one axis.

    lo, hi: [B, N] normalised box edges; size: float32 [B, N], the level's
    size - 1 in cells; zero: int32 [B, N] of zeros computed from the
    inputs (see below). Returns [B, N, samples]: sample i at lo * size +
    i * ((hi - lo) * size / (samples - 1)) (the box centre for one sample),
    in crop_and_resize's order of float32 operations.

    The division must stay a division: TFLite's converter rewrites a
    division by a constant as a product with its reciprocal, which rounds
    differently and moves the last sample of a box touching the image edge
    (x2 = 1) just past it, where it samples 0 instead of the edge (about one
    border RoI in five at 7 samples). Dividing by (samples - 1 + zero), a
    value the converter cannot fold, keeps the rounding of TensorFlow.
    """
    if samples > 1:
        divisor = tf.cast(zero + (samples - 1), tf.float32)
        scale = (hi - lo) * size / divisor
        steps = tf.range(samples, dtype=tf.float32)
        return (lo * size)[..., None] + steps * scale[..., None]
    return (0.5 * (lo + hi) * size)[..., None]


def pyramid_roi_align(boxes, levels, feature_maps, pool_shape):
    """RoIAlign of each box on its level, by bilinear gathers.

    boxes: float32 [B, N, (y1, x1, y2, x2)] normalised; levels: int32
    [B, N] in 2..5 (roi_pyramid_level); feature_maps: P2..P5, each
    [B, h, w, C]. Returns float32 [B, N, ph, pw, C], equal to
    tf.image.crop_and_resize (bilinear, extrapolation 0) of each box on
    feature_maps[level - 2], to float32 round-off.
    """
    ph, pw = pool_shape
    maps = [tf.cast(f, tf.float32) for f in feature_maps]
    shapes = [tf.shape(f) for f in maps]
    channels = maps[0].shape[-1] if maps[0].shape[-1] is not None else shapes[0][3]
    batch = tf.shape(boxes)[0]
    heights = tf.stack([s[1] for s in shapes])                        # [4]
    widths = tf.stack([s[2] for s in shapes])
    areas = heights * widths
    starts = tf.concat([[0], tf.cumsum(areas)[:-1]], axis=0)          # level's first row
    total = tf.reduce_sum(areas)
    # All levels of all images as one [B * total, C] table.
    table = tf.reshape(tf.concat([tf.reshape(f, [batch, -1, channels]) for f in maps],
                                 axis=1), [-1, channels])
    li = levels - 2
    h = tf.gather(heights, li)                                        # [B, N]
    w = tf.gather(widths, li)
    base = tf.gather(starts, li) + tf.range(batch)[:, None] * total   # [B, N]
    y1, x1, y2, x2 = [boxes[..., i] for i in range(4)]
    zero = tf.minimum(levels, 0)              # levels are 2..5: 0, but not a constant
    ys = _sample_coords(y1, y2, tf.cast(h - 1, tf.float32), ph, zero)    # [B, N, ph]
    xs = _sample_coords(x1, x2, tf.cast(w - 1, tf.float32), pw, zero)    # [B, N, pw]
    hmax = tf.cast(h - 1, tf.float32)[..., None]
    wmax = tf.cast(w - 1, tf.float32)[..., None]
    inside_y = tf.logical_and(ys >= 0.0, ys <= hmax)
    inside_x = tf.logical_and(xs >= 0.0, xs <= wmax)
    top = tf.floor(ys)
    left = tf.floor(xs)
    y_lerp = ys - top
    x_lerp = xs - left
    # Indices of the corners, clamped into the level (outside samples are
    # dropped below, their indices only have to be valid).
    hi_y = (h - 1)[..., None]
    hi_x = (w - 1)[..., None]
    top_i = tf.clip_by_value(tf.cast(top, tf.int32), 0, hi_y)
    bottom_i = tf.clip_by_value(tf.cast(tf.math.ceil(ys), tf.int32), 0, hi_y)
    left_i = tf.clip_by_value(tf.cast(left, tf.int32), 0, hi_x)
    right_i = tf.clip_by_value(tf.cast(tf.math.ceil(xs), tf.int32), 0, hi_x)
    row_top = (base[..., None] + top_i * w[..., None])[..., :, None]        # [B, N, ph, 1]
    row_bottom = (base[..., None] + bottom_i * w[..., None])[..., :, None]
    col_left = left_i[..., None, :]                                         # [B, N, 1, pw]
    col_right = right_i[..., None, :]

    def corner(rows, cols):
        return tf.gather(table, rows + cols)                                # [B, N, ph, pw, C]

    x_lerp = x_lerp[..., None, :, None]                                     # [B, N, 1, pw, 1]
    y_lerp = y_lerp[..., :, None, None]                                     # [B, N, ph, 1, 1]
    top_left = corner(row_top, col_left)
    upper = top_left + (corner(row_top, col_right) - top_left) * x_lerp
    bottom_left = corner(row_bottom, col_left)
    lower = bottom_left + (corner(row_bottom, col_right) - bottom_left) * x_lerp
    pooled = upper + (lower - upper) * y_lerp
    inside = tf.logical_and(inside_y[..., :, None], inside_x[..., None, :])  # [B, N, ph, pw]
    return pooled * tf.cast(inside, tf.float32)[..., None]


############################################################
#  The batch loop and NMS
############################################################

def map_images(fn, tensors, out_shape, dtype=tf.float32):
    """fn applied to each image's slice of `tensors` (each [B, ...]),
    stacked: [B] + out_shape. fn returns one tensor of shape out_shape.

    A tf.while_loop over the batch whose loop variable is the fixed-shape
    output, updated by a select on the image's row (no TensorList: converts
    to ONNX Loop and TFLite WHILE). A static batch of 1 calls fn once.
    """
    batch = tensors[0].shape[0]
    if batch == 1:
        return fn(*[t[0] for t in tensors])[None]
    size = tf.shape(tensors[0])[0]
    out = tf.zeros(tf.concat([[size], tf.constant(out_shape, tf.int32)], axis=0), dtype)
    row_shape = [-1] + [1] * len(out_shape)

    def body(i, out):
        value = fn(*[tf.gather(t, i) for t in tensors])
        row = tf.reshape(tf.equal(tf.range(size), i), row_shape)
        return i + 1, tf.where(row, value[None], out)

    _, out = tf.while_loop(lambda i, _: i < size, body, [tf.constant(0), out],
                           shape_invariants=[tf.TensorShape([]),
                                             tf.TensorShape([None] + list(out_shape))])
    return out


def nms_padded(boxes, scores, max_output, iou_threshold, score_threshold=float("-inf")):
    """Greedy NMS of one image (tf.image.non_max_suppression's kernel,
    NonMaxSuppressionV4) padded to `max_output`.

    boxes [N, 4], scores [N]. Returns (indices int32 [max_output], valid
    float32 [max_output], 1 for the first num_valid entries); indices of
    the padding are 0. Boxes with a score not above score_threshold are
    never selected.
    """
    indices, count = tf.raw_ops.NonMaxSuppressionV4(
        boxes=boxes, scores=scores, max_output_size=max_output,
        iou_threshold=iou_threshold, score_threshold=score_threshold,
        pad_to_max_output_size=True)
    valid = tf.cast(tf.range(max_output) < count, tf.float32)
    return indices, valid


############################################################
#  Proposals and detections
############################################################

def proposal_nms(boxes, scores, proposal_count, nms_threshold):
    """ProposalLayer's NMS: boxes [B, K, 4] and scores [B, K] (sorted) ->
    [B, proposal_count, 4], best first, zero rows after the last."""

    def one(image_boxes, image_scores):
        keep, valid = nms_padded(image_boxes, image_scores, proposal_count, nms_threshold)
        return tf.gather(image_boxes, keep) * valid[:, None]

    return map_images(one, [boxes, scores], [proposal_count, 4])


def detection_nms(refined, class_ids, class_scores, keep, max_instances, nms_threshold):
    """DetectionLayer's per-class NMS and top max_instances.

    refined [B, N, 4] boxes inside [0, 1]; class_ids int32 [B, N];
    class_scores [B, N]; keep bool [B, N] (RoIs that may be detections).
    Returns [B, max_instances, (y1, x1, y2, x2, class_id, score)], best
    first, zero rows at the end.
    """
    # Dropped RoIs score -1: below the threshold 0 whichever way a runtime
    # compares (the kept ones score at least 1 / num_classes).
    scores = tf.where(keep, class_scores, -1.0)
    classes = tf.cast(class_ids, tf.float32)

    def one(boxes, image_classes, image_scores):
        shifted = boxes + (2.0 * image_classes)[:, None]
        picked, valid = nms_padded(shifted, image_scores, max_instances, nms_threshold, 0.0)
        rows = tf.concat([tf.gather(boxes, picked), tf.gather(image_classes, picked)[:, None],
                          tf.gather(image_scores, picked)[:, None]], axis=1)
        return rows * valid[:, None]

    return map_images(one, [refined, classes, scores], [max_instances, 6])


############################################################
#  The model
############################################################

def portable_model(maskrcnn):
    """The portable inference Keras model of an inference-mode MaskRCNN,
    with its weights copied: same inputs, outputs and layer names."""
    from mrcnn.modeling.graph import build_graph
    if maskrcnn.mode != "inference":
        raise ValueError("portable_model: the MaskRCNN is in {!r} mode; build it with "
                         "mode='inference'".format(maskrcnn.mode))
    with portable_ops():
        net = build_graph("inference", maskrcnn.config)
    net.set_weights(maskrcnn.keras_model.get_weights())
    return net
