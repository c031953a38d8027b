"""SavedModel export for TF Serving: raw images in, detections out.

matterport's graph needed image metas and anchors computed in Python and a
fixed batch size, so it could not be served. Here everything `detect()` does
around the network runs inside the exported graph:

    encoded bytes --decode--> uint8 image --resize/pad/mold (utils.resize_image's
    exact arithmetic, float64)--> anchors + image meta --> network -->
    detections --unmold--> boxes in original pixels (+ masks)

Two signatures, both with a dynamic batch:

- ``serving_default``: ``images``: tf.string [B], encoded JPEG/PNG/GIF/BMP of any
  sizes (TF Serving's REST API takes them as ``{"b64": ...}``).
- ``serving_images``: ``images``: uint8 [B, H, W, C], one size per batch.

Outputs (N = config.DETECTION_MAX_INSTANCES; rows past num_detections are 0):

- ``num_detections``: int32 [B]
- ``detection_boxes``: float32 [B, N, (y1, x1, y2, x2)] in pixels of the original
  image, rounded like detect()'s ``rois`` (y2, x2 exclusive)
- ``detection_classes``: int32 [B, N], ``detection_scores``: float32 [B, N]
- ``detection_masks``: float32 [B, N, MASK_H, MASK_W] box-relative
  probabilities (paste them with `paste_masks`), or with ``full_masks=True``
  uint8 [B, N, H, W] 0/1 masks of the original image (H, W: the largest in the
  batch; padded with 0 for smaller images).

    from mrcnn.export import export_saved_model
    export_saved_model(model, "export/mrcnn", version=1)

Exports are written to a temporary directory and renamed into place, so an
interrupted export never damages an existing version.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from mrcnn import fileio, modeldir, utils
from mrcnn.config import BUILTIN_BACKBONES
from mrcnn.data.images import LUMA_WEIGHTS_16
from mrcnn.modeling import contracts

SERVING_DEFAULT = "serving_default"
SERVING_IMAGES = "serving_images"
OUTPUT_KEYS = ("num_detections", "detection_boxes", "detection_classes", "detection_scores",
               "detection_masks")


############################################################
#  Preprocessing (mirrors utils.resize_image + mold_image)
############################################################

# Grappler (TensorFlow's graph optimizer, which also runs inside TF Serving)
# re-associates chains of Mul/Add (hoisting common factors, minimising
# broadcasts, folding constants), which changes float64 rounding and so the
# truncated pixels. These ops compute the same values but are not rewritten:
# MulNoNan(x, y) is x * y for finite x, and a cumulative sum over a stacked
# axis adds its terms strictly in order.
def _mul(x, y):
    return tf.math.multiply_no_nan(x, y)


def _sum_in_order(terms):
    return tf.math.cumsum(tf.stack(terms), axis=0)[-1]


def _resize_coords(in_size, out_size):
    """scipy.ndimage.zoom's (grid_mode=True) sample positions along one axis:
    indices of the lower/upper neighbours in the input padded by one zero on
    each side ("grid-constant" with cval 0), and their weights (float64)."""
    in_size = tf.cast(in_size, tf.int64)
    factor = tf.cast(in_size, tf.float64) / tf.cast(out_size, tf.float64)
    half = tf.fill([tf.cast(out_size, tf.int32)], tf.constant(0.5, tf.float64))
    coords = _sum_in_order([_mul(_sum_in_order([tf.range(out_size, dtype=tf.float64), half]),
                                 factor), -half])
    lower = tf.floor(coords)
    weight = _sum_in_order([coords, -lower])
    lower = tf.cast(lower, tf.int64)
    lo = tf.clip_by_value(lower + 1, 0, in_size + 1)
    hi = tf.clip_by_value(lower + 2, 0, in_size + 1)
    return lo, hi, _sum_in_order([tf.ones_like(weight), -weight]), weight


def resize_images_graph(images, out_h, out_w):
    """`utils.resize(image, (out_h, out_w), preserve_range=True)` for a batch of
    same-size images, then truncated to the input dtype like resize_image.

    Bit-exact with scikit-image (scipy.ndimage.zoom, order 1, grid_mode,
    mode "grid-constant"): float64, and the four neighbour terms added in
    scipy's order, each as (value * wy) * wx.

    images: [B, H, W, C] any real dtype. Returns [B, out_h, out_w, C], same dtype.
    """
    x = tf.cast(images, tf.float64)
    shape = tf.shape(x, out_type=tf.int64)
    y_lo, y_hi, wy0, wy1 = _resize_coords(shape[1], out_h)
    x_lo, x_hi, wx0, wx1 = _resize_coords(shape[2], out_w)
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    rows = [tf.gather(padded, y_lo, axis=1), tf.gather(padded, y_hi, axis=1)]
    wy = [tf.reshape(wy0, [1, -1, 1, 1]), tf.reshape(wy1, [1, -1, 1, 1])]
    wx = [tf.reshape(wx0, [1, 1, -1, 1]), tf.reshape(wx1, [1, 1, -1, 1])]
    terms = []
    for i in range(2):
        for j, cols in enumerate((x_lo, x_hi)):
            value = tf.gather(rows[i], cols, axis=2)
            terms.append(_mul(_mul(value, tf.broadcast_to(wy[i], tf.shape(value))),
                              tf.broadcast_to(wx[j], tf.shape(value))))
    out = _sum_in_order(terms)
    # scikit-image clips the result to the input's value range (per image).
    lo = tf.reduce_min(x, axis=[1, 2, 3], keepdims=True)
    hi = tf.reduce_max(x, axis=[1, 2, 3], keepdims=True)
    out = tf.clip_by_value(out, lo, hi)
    if images.dtype.is_integer:
        out = tf.floor(out)
    return tf.cast(out, images.dtype)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def convert_channels_graph(image, channels):
    """uint8 [H, W, c] (c in 1..4) -> uint8 [H, W, channels] with the rules of
    mrcnn.data.images.to_model_image: gray is repeated to RGB, alpha dropped,
    RGB(A) becomes PIL's "L" luminance for a 1-channel model; other channel
    counts must match exactly."""
    have = tf.shape(image)[-1]
    if channels == 3:
        out = tf.cond(have >= 3, lambda: image[..., :3],
                      lambda: tf.repeat(image[..., :1], 3, axis=-1))
    elif channels == 1:
        def luminance():
            rgb = tf.cast(image[..., :3], tf.int32)
            y = (rgb[..., 0:1] * LUMA_WEIGHTS_16[0] + rgb[..., 1:2] * LUMA_WEIGHTS_16[1] +
                 rgb[..., 2:3] * LUMA_WEIGHTS_16[2] + 32768) // 65536
            return tf.cast(y, tf.uint8)
        out = tf.cond(have >= 3, luminance, lambda: image[..., :1])
    else:
        with tf.control_dependencies([tf.debugging.assert_equal(
                have, channels, message="image channels differ from IMAGE_CHANNEL_COUNT")]):
            out = tf.identity(image)
    return tf.ensure_shape(out, [None, None, channels])


def decode_image_graph(encoded, channels):
    """Decode one JPEG/PNG/GIF/BMP/WebP string to uint8 [H, W, channels] as
    mrcnn.data.images.read_image reads the file: JPEG with the accurate
    integer DCT (libjpeg's default, what PIL uses), 16-bit PNG scaled by
    x // 257, then convert_channels_graph."""
    def jpeg():
        image = tf.io.decode_jpeg(encoded, channels=0, dct_method="INTEGER_ACCURATE")
        return tf.cast(image, tf.int32) * 257

    def png():
        # 8-bit PNGs come back scaled by 257, so // 257 below restores them.
        return tf.cast(tf.io.decode_png(encoded, channels=0, dtype=tf.uint16), tf.int32)

    def other():
        image = tf.io.decode_image(encoded, channels=0, expand_animations=False)
        return tf.cast(image, tf.int32) * 257

    is_png = tf.equal(tf.strings.substr(encoded, 0, len(_PNG_SIGNATURE)), _PNG_SIGNATURE)
    image = tf.cond(tf.io.is_jpeg(encoded), jpeg, lambda: tf.cond(is_png, png, other))
    image = tf.cast(image // 257, tf.uint8)
    return convert_channels_graph(image, channels)


def resize_params_graph(height, width, config):
    """Scale, resized size and window of an image of (height, width), exactly
    as utils.resize_image computes them (float64, round half to even).

    Returns (scale float64, new_h int64, new_w int64, molded_h, molded_w,
    top_pad, left_pad) scalars.
    """
    mode = config.IMAGE_RESIZE_MODE
    if mode not in ("square", "pad64", "none"):
        raise ValueError("IMAGE_RESIZE_MODE = {!r} cannot be exported: use square, pad64 "
                         "or none ('crop' is for training)".format(mode))
    h = tf.cast(height, tf.float64)
    w = tf.cast(width, tf.float64)
    scale = tf.constant(1.0, tf.float64)
    if mode != "none":
        if config.IMAGE_MIN_DIM:
            scale = tf.maximum(scale, float(config.IMAGE_MIN_DIM) / tf.minimum(h, w))
        if config.IMAGE_MIN_SCALE:
            scale = tf.maximum(scale, float(config.IMAGE_MIN_SCALE))
        if mode == "square":
            image_max = tf.maximum(h, w)
            scale = tf.where(tf.round(_mul(image_max, scale)) > float(config.IMAGE_MAX_DIM),
                             float(config.IMAGE_MAX_DIM) / image_max, scale)
    # At least one pixel, as utils.resize_image (extreme aspect ratios).
    new_h = tf.maximum(tf.cast(tf.round(_mul(h, scale)), tf.int64), 1)
    new_w = tf.maximum(tf.cast(tf.round(_mul(w, scale)), tf.int64), 1)
    if mode == "square":
        molded_h = molded_w = tf.constant(int(config.IMAGE_MAX_DIM), tf.int64)
    elif mode == "pad64":
        molded_h = new_h + (64 - new_h % 64) % 64
        molded_w = new_w + (64 - new_w % 64) % 64
    else:
        molded_h, molded_w = new_h, new_w
    top_pad = (molded_h - new_h) // 2
    left_pad = (molded_w - new_w) // 2
    return scale, new_h, new_w, molded_h, molded_w, top_pad, left_pad


def preprocess_graph(images, config):
    """Resize and pad a batch of same-size images like `MaskRCNN.mold_inputs`.

    images: uint8 [B, H, W, C].
    Returns:
        resized: uint8 [B, molded_h, molded_w, C] (not yet mean-subtracted),
        metas: float32 [B, config.IMAGE_META_SIZE] (compose_image_meta's layout),
    """
    shape = tf.shape(images, out_type=tf.int64)
    batch, height, width = shape[0], shape[1], shape[2]
    channels = int(config.IMAGE_CHANNEL_COUNT)
    scale, new_h, new_w, molded_h, molded_w, top, left = resize_params_graph(
        height, width, config)
    resized = tf.cond(tf.equal(scale, 1.0),
                      lambda: images,
                      lambda: resize_images_graph(images, new_h, new_w))
    resized = tf.pad(resized, [[0, 0], [top, molded_h - new_h - top],
                               [left, molded_w - new_w - left], [0, 0]])
    resized = tf.ensure_shape(resized, [None, None, None, channels])
    if config.IMAGE_RESIZE_MODE == "none":
        with tf.control_dependencies([tf.debugging.assert_equal(
                tf.stack([molded_h % 64, molded_w % 64]), tf.constant([0, 0], tf.int64),
                message="IMAGE_RESIZE_MODE='none' needs image sides divisible by 64")]):
            resized = tf.identity(resized)
    meta = tf.concat([
        tf.zeros([1], tf.float64),
        tf.cast(tf.stack([height, width, channels, molded_h, molded_w, channels,
                          top, left, top + new_h, left + new_w]), tf.float64),
        scale[None],
        tf.zeros([int(config.NUM_CLASSES)], tf.float64)], axis=0)
    metas = tf.tile(tf.cast(meta, tf.float32)[None], tf.stack([batch, 1]))
    return resized, metas


def mold_graph(resized, config):
    """uint8 images -> float32 minus config.MEAN_PIXEL, bit-exact with
    mold_image + the float32 conversion in detect(): NumPy subtracts a
    float64 MEAN_PIXEL in float64 and the result is rounded to float32
    (a float32 subtraction differs in the last bit, and a trained network
    can turn that into different scores)."""
    mean = np.asarray(config.MEAN_PIXEL)
    dtype = np.result_type(np.float32, mean.dtype)
    x = tf.cast(resized, dtype) - tf.constant(mean.astype(dtype))
    return tf.cast(x, tf.float32)


############################################################
#  Anchors
############################################################

def anchors_graph(config, image_h, image_w):
    """Normalised anchors of an (image_h, image_w) input, in the order and with
    the values of utils.generate_pyramid_anchors + utils.norm_boxes.
    Returns float32 [num_anchors, (y1, x1, y2, x2)]."""
    if callable(config.BACKBONE) or config.BACKBONE not in BUILTIN_BACKBONES:
        raise ValueError("in-graph anchors need a built-in backbone; a callable BACKBONE "
                         "needs IMAGE_RESIZE_MODE='square' (fixed input size)")
    h = tf.cast(image_h, tf.float64)
    w = tf.cast(image_w, tf.float64)
    levels = []
    for scale, stride in zip(config.RPN_ANCHOR_SCALES, config.BACKBONE_STRIDES):
        ratios = np.asarray(config.RPN_ANCHOR_RATIOS, np.float64)
        # matterport meshes scales x ratios: ratio-major; one scale per level.
        scales, ratios = np.meshgrid(np.asarray([scale], np.float64), ratios)
        scales, ratios = scales.flatten(), ratios.flatten()
        sizes = np.stack([scales / np.sqrt(ratios), scales * np.sqrt(ratios)], axis=1)
        feat_h = tf.cast(tf.math.ceil(h / stride), tf.int64)
        feat_w = tf.cast(tf.math.ceil(w / stride), tf.int64)
        step = int(config.RPN_ANCHOR_STRIDE)
        shifts_y = tf.cast(tf.range(0, feat_h, step), tf.float64) * stride
        shifts_x = tf.cast(tf.range(0, feat_w, step), tf.float64) * stride
        cy, cx = tf.meshgrid(shifts_y, shifts_x, indexing="ij")
        centers = tf.stack([tf.reshape(cy, [-1]), tf.reshape(cx, [-1])], axis=1)
        centers = centers[:, None, :]                                  # [cells, 1, 2]
        half = tf.constant(0.5 * sizes)[None]                          # [1, A, 2]
        boxes = tf.concat([centers - half, centers + half], axis=2)    # [cells, A, 4]
        levels.append(tf.reshape(boxes, [-1, 4]))
    anchors = tf.concat(levels, axis=0)
    scale = tf.stack([h - 1, w - 1, h - 1, w - 1])
    shift = tf.constant([0., 0., 1., 1.], tf.float64)
    return tf.cast((anchors - shift) / scale, tf.float32)


############################################################
#  Postprocessing (mirrors molding.unmold_detections)
############################################################

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
    boxes = detections[..., :4]
    original = metas[:, 1:3]
    molded = metas[:, 4:6]
    window = metas[:, 7:11]
    # utils.norm_boxes(window, molded shape), float32 like the NumPy code.
    mh, mw = molded[:, 0:1], molded[:, 1:2]
    norm_window = (window - tf.constant([0., 0., 1., 1.])) / tf.concat([mh - 1, mw - 1,
                                                                       mh - 1, mw - 1], 1)
    wy1, wx1, wy2, wx2 = tf.unstack(norm_window[:, None, :], axis=-1)
    shift = tf.stack([wy1, wx1, wy1, wx1], axis=-1)
    wscale = tf.stack([wy2 - wy1, wx2 - wx1, wy2 - wy1, wx2 - wx1], axis=-1)
    boxes = (boxes - shift) / wscale
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
            out[y1:y2, x1:x2, i] = utils.mask_to_box(masks[i], (y1, x1, y2, x2), threshold)
    return out


############################################################
#  The servable functions
############################################################

class _Servable(object):
    """Builds the two serving functions around an inference keras model."""

    def __init__(self, keras_model, config, full_masks=False):
        self.model = keras_model
        self.config = config
        self.full_masks = full_masks
        self.channels = int(config.IMAGE_CHANNEL_COUNT)
        fixed = config.IMAGE_RESIZE_MODE == "square"
        self.fixed_anchors = None
        if fixed:
            side = int(config.IMAGE_MAX_DIM)
            from mrcnn.molding import compute_backbone_shapes
            shapes = compute_backbone_shapes(config, (side, side))
            a = utils.generate_pyramid_anchors(config.RPN_ANCHOR_SCALES,
                                               config.RPN_ANCHOR_RATIOS, shapes,
                                               config.BACKBONE_STRIDES,
                                               config.RPN_ANCHOR_STRIDE)
            self.fixed_anchors = utils.norm_boxes(a, (side, side))

    def _empty(self):
        """The outputs of a batch of 0 images."""
        n = int(self.config.DETECTION_MAX_INSTANCES)
        masks = (tf.zeros([0, n, 0, 0], tf.uint8) if self.full_masks else
                 tf.zeros([0, n] + list(self.config.MASK_SHAPE), tf.float32))
        return {"num_detections": tf.zeros([0], tf.int32),
                "detection_boxes": tf.zeros([0, n, 4], tf.float32),
                "detection_classes": tf.zeros([0, n], tf.int32),
                "detection_scores": tf.zeros([0, n], tf.float32),
                "detection_masks": masks}

    def _run(self, resized, metas, original_hw):
        """resized: uint8 [B, h, w, C] padded images; metas [B, META]. A batch
        of 0 images gives empty outputs (the network needs B >= 1)."""
        return tf.cond(tf.shape(resized)[0] > 0,
                       lambda: self._run_network(resized, metas, original_hw),
                       self._empty)

    def _run_network(self, resized, metas, original_hw):
        molded = mold_graph(resized, self.config)
        if self.fixed_anchors is not None:
            anchors = tf.constant(self.fixed_anchors)
        else:
            shape = tf.shape(molded)
            anchors = anchors_graph(self.config, shape[1], shape[2])
        anchors = tf.tile(anchors[None], tf.stack([tf.shape(molded)[0], 1, 1]))
        outputs = self.model([molded, metas, anchors], training=False)
        named = contracts.by_name(self.model, outputs)
        detections, mrcnn_mask = named["detections"], named["mrcnn_mask"]
        result = unmold_detections_graph(detections, mrcnn_mask, metas)
        if self.full_masks:
            height = tf.reduce_max(original_hw[:, 0])
            width = tf.reduce_max(original_hw[:, 1])
            result["detection_masks"] = tf.map_fn(
                lambda a: paste_masks_graph(a[0], a[1], height, width),
                (result["detection_boxes"], result["detection_masks"]),
                fn_output_signature=tf.uint8)
        return result

    def serve_images(self, images):
        """uint8 [B, H, W, C] -> detections."""
        resized, metas = preprocess_graph(images, self.config)
        hw = tf.shape(images)[1:3]
        return self._run(resized, metas, tf.tile(hw[None], [tf.shape(images)[0], 1]))

    def serve_encoded(self, encoded):
        """tf.string [B] encoded images -> detections.

        In "square" mode every image molds to the same shape and the batch
        runs at once; otherwise each image runs alone at its own molded shape,
        so results equal detect()'s exactly (padding images to a common shape
        would change them near the borders).
        """
        n = tf.shape(encoded)[0]

        def decode(i):
            image = decode_image_graph(encoded[i], self.channels)
            resized, meta = preprocess_graph(image[None], self.config)
            return resized, meta, tf.shape(image)[None, :2]

        if self.fixed_anchors is not None:
            side = int(self.config.IMAGE_MAX_DIM)
            images, metas, sizes = tf.map_fn(
                lambda i: [x[0] for x in decode(i)], tf.range(n),
                fn_output_signature=[tf.TensorSpec([side, side, self.channels], tf.uint8),
                                     tf.TensorSpec([int(self.config.IMAGE_META_SIZE)],
                                                   tf.float32),
                                     tf.TensorSpec([2], tf.int32)])
            return self._run(images, metas, sizes)

        max_n = int(self.config.DETECTION_MAX_INSTANCES)
        mask_spec = (tf.TensorSpec([max_n, None, None], tf.uint8) if self.full_masks else
                     tf.TensorSpec([max_n] + list(self.config.MASK_SHAPE), tf.float32))

        def one(i):
            resized, meta, size = decode(i)
            result = self._run(resized, meta, size)
            outputs = [result[k][0] for k in OUTPUT_KEYS]
            if self.full_masks:
                outputs[-1] = tf.RaggedTensor.from_tensor(outputs[-1], ragged_rank=2)
            return outputs

        signature = [tf.TensorSpec([], tf.int32), tf.TensorSpec([max_n, 4], tf.float32),
                     tf.TensorSpec([max_n], tf.int32), tf.TensorSpec([max_n], tf.float32)]
        if not self.full_masks:
            outputs = tf.map_fn(one, tf.range(n), fn_output_signature=signature + [mask_spec])
            return dict(zip(OUTPUT_KEYS, outputs))
        # Full-size masks differ in size per image: pad them to the largest.
        outputs = tf.map_fn(one, tf.range(n), fn_output_signature=signature + [
            tf.RaggedTensorSpec([max_n, None, None], tf.uint8, ragged_rank=2)])
        result = dict(zip(OUTPUT_KEYS, outputs))
        result["detection_masks"] = result["detection_masks"].to_tensor()
        return result


############################################################
#  Writing the SavedModel
############################################################

def export_saved_model(model, export_dir, version=1, full_masks=False, force=False,
                       class_names=None, verbose=1):
    """Write `model` (an inference MaskRCNN) as a TF Serving SavedModel in
    ``export_dir/<version>/``.

    version: positive integer (TF Serving loads the highest).
    full_masks: output full-size uint8 masks [B, N, H, W] instead of
        box-relative probabilities [B, N, 28, 28] (much bigger responses).
    force: replace an existing version (it stays intact until the new one
        is complete).
    class_names: list of names by class id, written with the config to
        ``assets.extra/`` (TF Serving ignores that folder).
    Returns the path of the version directory.
    """
    if getattr(model, "mode", "inference") != "inference":
        raise ValueError("export needs a model in inference mode; build "
                         "MaskRCNN(mode='inference', ...) and load the weights")
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise ValueError("version must be a positive integer, got {!r}".format(version)) from None
    if version < 1:
        raise ValueError("version must be a positive integer, got {}".format(version))
    config = model.config
    if class_names is None:
        class_names = getattr(model, "class_names", None)
    if class_names is not None:
        class_names = modeldir.check_class_names(class_names, config.NUM_CLASSES,
                                                 where="export")
    if config.IMAGE_RESIZE_MODE not in ("square", "pad64", "none"):
        raise ValueError("config.IMAGE_RESIZE_MODE = {!r} cannot be exported: use square, "
                         "pad64 or none".format(config.IMAGE_RESIZE_MODE))
    export_dir = os.path.abspath(export_dir)
    final = os.path.join(export_dir, str(version))
    if os.path.exists(final) and not force:
        raise FileExistsError("{} already exists; pick another version or pass force=True "
                              "(--force)".format(final))
    servable = _Servable(model.keras_model, config, full_masks=full_masks)
    channels = int(config.IMAGE_CHANNEL_COUNT)
    # Written to a temporary directory renamed into place (mrcnn.fileio):
    # an existing version stays intact until the new one is complete.
    with fileio.atomic_directory(final, replace=True) as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model.keras_model)
        archive.add_endpoint(
            name=SERVING_DEFAULT, fn=servable.serve_encoded,
            input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        archive.add_endpoint(
            name=SERVING_IMAGES, fn=servable.serve_images,
            input_signature=[tf.TensorSpec([None, None, None, channels], tf.uint8,
                                           name="images")])
        archive.write_out(tmp, verbose=bool(verbose))
        extra = os.path.join(tmp, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        config.save(os.path.join(extra, modeldir.CONFIG_FILE))
        if class_names is not None:
            modeldir.write_class_names(extra, class_names)
    return final
