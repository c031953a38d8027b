"""Resizing, padding and pixel normalisation: NumPy and TensorFlow twins.

NumPy (detect(), training):   resize_image -> mold_image; mold_inputs does both
                              and composes the image metas.
TensorFlow (the SavedModel):  resize_params_graph + resize_images_graph ->
                              preprocess_graph (with the metas) -> mold_graph.

The twins agree bit for bit: the graph resizes in float64 with
scikit-image's arithmetic (scipy.ndimage.zoom, order 1) and subtracts
MEAN_PIXEL in float64 as NumPy does (tests/test_molding.py).
"""

import random

import numpy as np
import tensorflow as tf

from mrcnn.masks import resize
from mrcnn.molding.divisor import BACKBONE_DIVISOR, padding_to_divisor
from mrcnn.molding.meta import compose_image_meta, compose_image_meta_graph

# The modes an export (and so resize_params_graph) supports; "crop" is random.
EXPORTABLE_RESIZE_MODES = ("square", "pad64", "none")


############################################################
#  NumPy
############################################################

def resize_image(image, min_dim=None, max_dim=None, min_scale=None, mode="square"):
    """Resize an image keeping its aspect ratio, and pad or crop it.

    min_dim: scale up (never down) so the short side is at least min_dim.
    max_dim: in "square" mode, the long side is at most max_dim and the image
        is padded to max_dim x max_dim.
    min_scale: scale up by at least this factor (square mode may overrule).
    mode: "none" (unchanged), "square", "pad64" (scale up if min_dim or
        min_scale ask for it, then pad each side to a multiple of
        BACKBONE_DIVISOR; a given min_dim must be a multiple of it) or "crop"
        (scale up, then a random min_dim x min_dim crop; training only).

    Returns:
        image: the resized image, same dtype as the input.
        window: (y1, x1, y2, x2) of the image inside the padded result,
            (y2, x2) exclusive.
        scale: the scale factor applied.
        padding: [(top, bottom), (left, right), (0, 0)].
        crop: (y, x, h, w) in "crop" mode, else None.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError("resize_image: expected an [height, width(, channels)] image, "
                         "got shape {}".format(image.shape))
    image_dtype = image.dtype
    h, w = image.shape[:2]
    window = (0, 0, h, w)
    scale = 1
    padding = [(0, 0), (0, 0), (0, 0)]
    crop = None

    if mode == "none":
        return image, window, scale, padding, crop
    if mode not in ("square", "pad64", "crop"):
        raise ValueError("resize_image: mode {!r} not supported; use one of "
                         "none, square, pad64, crop".format(mode))
    if mode == "square" and not max_dim:
        raise ValueError("resize_image: 'square' mode needs max_dim")
    if mode == "crop" and not min_dim:
        raise ValueError("resize_image: 'crop' mode needs min_dim")
    if mode == "pad64" and min_dim and min_dim % BACKBONE_DIVISOR != 0:
        raise ValueError("resize_image: min_dim={} must be a multiple of {} in "
                         "'pad64' mode".format(min_dim, BACKBONE_DIVISOR))

    if min_dim:
        # Scale up but not down.
        scale = max(1, min_dim / min(h, w))
    if min_scale and scale < min_scale:
        scale = min_scale
    if max_dim and mode == "square":
        image_max = max(h, w)
        if round(image_max * scale) > max_dim:
            scale = max_dim / image_max

    if scale != 1:
        # At least one pixel (matterport produced an empty image for extreme
        # aspect ratios).
        image = resize(image, (max(round(h * scale), 1), max(round(w * scale), 1)),
                             preserve_range=True)

    if image.ndim == 2:
        padding = padding[:2]
    h, w = image.shape[:2]
    if mode == "square":
        top_pad = (max_dim - h) // 2
        left_pad = (max_dim - w) // 2
        padding[0] = (top_pad, max_dim - h - top_pad)
        padding[1] = (left_pad, max_dim - w - left_pad)
        image = np.pad(image, padding, mode="constant", constant_values=0)
        window = (top_pad, left_pad, h + top_pad, w + left_pad)
    elif mode == "pad64":
        pad_h = padding_to_divisor(h)
        pad_w = padding_to_divisor(w)
        top_pad, left_pad = pad_h // 2, pad_w // 2
        padding[0] = (top_pad, pad_h - top_pad)
        padding[1] = (left_pad, pad_w - left_pad)
        image = np.pad(image, padding, mode="constant", constant_values=0)
        window = (top_pad, left_pad, h + top_pad, w + left_pad)
    else:  # crop
        y = random.randint(0, (h - min_dim))
        x = random.randint(0, (w - min_dim))
        crop = (y, x, min_dim, min_dim)
        image = image[y:y + min_dim, x:x + min_dim]
        window = (0, 0, min_dim, min_dim)
    return image.astype(image_dtype), window, scale, padding, crop


def mold_image(images, config):
    """Image(s) as float with config.MEAN_PIXEL subtracted (float64 when
    MEAN_PIXEL is a float64 array, as in matterport)."""
    return images.astype(np.float32) - config.MEAN_PIXEL


def unmold_image(normalized_images, config):
    """Inverse of `mold_image` (back to uint8)."""
    return (normalized_images + config.MEAN_PIXEL).astype(np.uint8)


def mold_inputs(images, config):
    """Resize, pad and normalise images for the network, as detect() does
    (MaskRCNN.mold_inputs).

    Returns molded_images [N, h, w, c] (float64, see mold_image), image_metas
    [N, IMAGE_META_SIZE] (image_id 0, no active classes), windows
    [N, (y1, x1, y2, x2)].
    """
    molded_images, image_metas, windows = [], [], []
    for image in images:
        molded_image, window, scale, padding, crop = resize_image(
            image, min_dim=config.IMAGE_MIN_DIM, min_scale=config.IMAGE_MIN_SCALE,
            max_dim=config.IMAGE_MAX_DIM, mode=config.IMAGE_RESIZE_MODE)
        molded_image = mold_image(molded_image, config)
        image_meta = compose_image_meta(0, image.shape, molded_image.shape, window, scale,
                                        np.zeros([config.NUM_CLASSES], dtype=np.int32))
        molded_images.append(molded_image)
        windows.append(window)
        image_metas.append(image_meta)
    return np.stack(molded_images), np.stack(image_metas), np.stack(windows)


############################################################
#  TensorFlow
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
    """`mrcnn.masks.resize(image, (out_h, out_w), preserve_range=True)` for a batch of
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


def resize_params_graph(height, width, config):
    """Scale, resized size and window of an image of (height, width), exactly
    as resize_image computes them (float64, round half to even).

    Returns (scale float64, new_h int64, new_w int64, molded_h, molded_w,
    top_pad, left_pad) scalars.
    """
    mode = config.IMAGE_RESIZE_MODE
    if mode not in EXPORTABLE_RESIZE_MODES:
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
        molded_h = new_h + padding_to_divisor(new_h)
        molded_w = new_w + padding_to_divisor(new_w)
    else:
        molded_h, molded_w = new_h, new_w
    top_pad = (molded_h - new_h) // 2
    left_pad = (molded_w - new_w) // 2
    return scale, new_h, new_w, molded_h, molded_w, top_pad, left_pad


def preprocess_graph(images, config):
    """Resize and pad a batch of same-size images like `mold_inputs` (without
    the mean subtraction: `mold_graph` does that).

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
                tf.stack([padding_to_divisor(molded_h), padding_to_divisor(molded_w)]),
                tf.constant([0, 0], tf.int64),
                message="IMAGE_RESIZE_MODE='none' needs image sides divisible by {}".format(
                    BACKBONE_DIVISOR))]):
            resized = tf.identity(resized)
    meta = compose_image_meta_graph(
        tf.stack([height, width, channels]), tf.stack([molded_h, molded_w, channels]),
        tf.stack([top, left, top + new_h, left + new_w]), scale, config.NUM_CLASSES)
    metas = tf.tile(meta[None], tf.stack([batch, 1]))
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
