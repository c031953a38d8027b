"""Pre-processing that ONNX and TFLite take: uint8 images -> the network's
molded images, image metas and anchors, in float32 and int32 only.

mrcnn.molding's graph twins are bit-exact with detect()'s NumPy code, but they
need float64 (TFLite has none) and tf.math.multiply_no_nan (neither converter
has it). These functions compute the same things with ops both converters
map to builtins (Gather, Pad, Floor, Cast, FloorDiv, Reshape, ...), no
tf.cond, no tf.map_fn:

| step | NumPy reference (mrcnn.molding) | here | agreement |
|---|---|---|---|
| resize parameters | `resize_image` (float64) | `resize_params_portable` (int32 fractions) | equal (see below) |
| resize | `mrcnn.masks.resize` (scikit-image, float64) | `resize_images_portable` (float32, same sampling) | within 1 grey level |
| mold | `mold_image` (float64 minus MEAN_PIXEL, to float32) | a 256-entry table per channel | equal |
| metas | `compose_image_meta` | `preprocess_portable` | equal |
| anchors | `normalized_anchors` | constants ("square"), per-axis tables (others) | equal |

Sizes: the scale is a fraction of integers (IMAGE_MIN_DIM / short side,
IMAGE_MAX_DIM / long side), so round(side * scale) is computed exactly in
int32, ties to even like Python's round. resize_image rounds a float64
product instead, which misses some exact half integers by a bit (40 of the
2048 x 2048 image sizes with IMAGE_MIN_DIM 800, IMAGE_MAX_DIM 1024, e.g.
192 x 195); those cases, for sides up to TIE_TABLE_SIDE (4096), are found
at export time and corrected from a small table, so the sizes are equal.
With IMAGE_MIN_SCALE set the scale is not such a fraction and float32
products are used.
"""

import math

import numpy as np
import tensorflow as tf

from mrcnn.molding.anchors import compute_backbone_shapes, normalized_anchors
from mrcnn.molding.divisor import BACKBONE_DIVISOR
from mrcnn.molding.resize import EXPORTABLE_RESIZE_MODES, mold_image

# Largest molded side (pixels) that the anchor tables of "pad64"/"none"
# exports cover; a larger input is refused at export time only for "square"
# (whose side is fixed), so it is documented in docs/deployment.md.
DEFAULT_MAX_SIDE = 2048


def check_exportable(config):
    """Raise ValueError unless `config` can be converted."""
    mode = config.IMAGE_RESIZE_MODE
    if mode not in EXPORTABLE_RESIZE_MODES:
        raise ValueError("config.IMAGE_RESIZE_MODE = {!r} cannot be exported: use square, "
                         "pad64 or none".format(mode))
    if mode != "square" and callable(config.BACKBONE):
        raise ValueError("a callable config.BACKBONE needs IMAGE_RESIZE_MODE = 'square' to "
                         "be exported (the anchors are computed for a fixed input size)")


############################################################
#  Sizes
############################################################

def _round_fraction(a, b):
    """round(a / b) for int32 tensors a >= 0, b > 0, ties to even (Python's round)."""
    q = a // b
    r2 = 2 * (a - q * b)
    up = tf.logical_or(r2 > b, tf.logical_and(tf.equal(r2, b), tf.equal(q % 2, 1)))
    return q + tf.cast(up, tf.int32)


# Sides up to this many pixels get resize_image's float64 rounding exactly.
TIE_TABLE_SIDE = 4096


def _np_round_fraction(a, b):
    q = a // b
    r2 = 2 * (a - q * b)
    return q + ((r2 > b) | ((r2 == b) & (q % 2 == 1)))


def tie_corrections(numerators, limit=TIE_TABLE_SIDE):
    """Where float64 round(x * (num / den)) (resize_image) differs from the
    exact rounding of the fraction x * num / den: at exact half integers that
    float64 misses by a bit. numerators: {code: num}. Returns (keys int32 [E],
    deltas int32 [E]), key = code * 2**24 + (den - 1) * 2**12 + (x - 1), for
    1 <= den, x <= limit (limit <= 4096)."""
    keys, deltas = [], []
    x = np.arange(1, limit + 1, dtype=np.int64)
    for code, num in numerators.items():
        for den in range(1, limit + 1):
            exact = _np_round_fraction(x * num, den)
            f64 = np.round(x * (num / den)).astype(np.int64)
            bad = np.nonzero(exact != f64)[0]
            keys.extend(code * 2 ** 24 + (den - 1) * 2 ** 12 + bad)
            deltas.extend(f64[bad] - exact[bad])
    return np.asarray(keys, np.int32), np.asarray(deltas, np.int32)


class _Rounder(object):
    """round(x * num / den) as resize_image computes it in float64, for int32
    tensors; num is one of a few constants (code 0: 1, 1: IMAGE_MIN_DIM,
    2: IMAGE_MAX_DIM)."""

    def __init__(self, config):
        numerators = {}
        if config.IMAGE_MIN_DIM:
            numerators[1] = int(config.IMAGE_MIN_DIM)
        if config.IMAGE_RESIZE_MODE == "square":
            numerators[2] = int(config.IMAGE_MAX_DIM)
        self.keys, self.deltas = tie_corrections(numerators)

    def __call__(self, x, code, num, den):
        q = _round_fraction(x * num, den)
        if not len(self.keys):
            return q
        key = code * 2 ** 24 + (den - 1) * 2 ** 12 + (x - 1)
        hit = tf.equal(key, tf.constant(self.keys))
        delta = tf.reduce_sum(tf.where(hit, tf.constant(self.deltas), 0))
        inside = tf.logical_and(x <= TIE_TABLE_SIDE, den <= TIE_TABLE_SIDE)
        return q + tf.where(inside, delta, 0)


def resize_params_portable(height, width, config):
    """resize_image's scale, resized size and padding for an image of
    (height, width) int32 scalars.

    Returns (scale float32, new_h, new_w, molded_h, molded_w, top_pad,
    left_pad), the last six int32 scalars.
    """
    mode = config.IMAGE_RESIZE_MODE
    h = tf.cast(height, tf.int32)
    w = tf.cast(width, tf.int32)
    one = tf.constant(1, tf.int32)
    num, den, code = one, one, tf.constant(0, tf.int32)
    if mode == "none" or config.IMAGE_MIN_SCALE:
        # Not a fraction of the sides (or no scaling at all): float32.
        scale = tf.constant(1.0, tf.float32)
        if mode != "none":
            hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
            if config.IMAGE_MIN_DIM:
                scale = tf.maximum(scale, float(config.IMAGE_MIN_DIM) / tf.minimum(hf, wf))
            scale = tf.maximum(scale, float(config.IMAGE_MIN_SCALE))
            if mode == "square":
                image_max = tf.maximum(hf, wf)
                scale = tf.where(tf.round(image_max * scale) > float(config.IMAGE_MAX_DIM),
                                 float(config.IMAGE_MAX_DIM) / image_max, scale)
        new_h = tf.maximum(tf.cast(tf.round(tf.cast(h, tf.float32) * scale), tf.int32), 1)
        new_w = tf.maximum(tf.cast(tf.round(tf.cast(w, tf.float32) * scale), tf.int32), 1)
    else:
        rounded = _Rounder(config)
        if config.IMAGE_MIN_DIM:
            short = tf.minimum(h, w)
            up = short < int(config.IMAGE_MIN_DIM)       # scale = max(1, min_dim / short)
            num = tf.where(up, tf.constant(int(config.IMAGE_MIN_DIM), tf.int32), one)
            den = tf.where(up, short, one)
            code = tf.where(up, 1, 0)
        if mode == "square":
            long = tf.maximum(h, w)
            too_big = rounded(long, code, num, den) > int(config.IMAGE_MAX_DIM)
            num = tf.where(too_big, tf.constant(int(config.IMAGE_MAX_DIM), tf.int32), num)
            den = tf.where(too_big, long, den)
            code = tf.where(too_big, 2, code)
        scale = tf.cast(num, tf.float32) / tf.cast(den, tf.float32)
        new_h = tf.maximum(rounded(h, code, num, den), 1)
        new_w = tf.maximum(rounded(w, code, num, den), 1)
    if mode == "square":
        molded_h = molded_w = tf.constant(int(config.IMAGE_MAX_DIM), tf.int32)
    elif mode == "pad64":
        d = BACKBONE_DIVISOR
        molded_h = (new_h + d - 1) // d * d
        molded_w = (new_w + d - 1) // d * d
    else:
        molded_h, molded_w = new_h, new_w
    top_pad = (molded_h - new_h) // 2
    left_pad = (molded_w - new_w) // 2
    return scale, new_h, new_w, molded_h, molded_w, top_pad, left_pad


############################################################
#  Resize
############################################################

def _sample_coords(in_size, out_size):
    """scipy.ndimage.zoom's sample positions (grid_mode, "grid-constant"
    padding) along one axis, in float32: indices of the lower/upper
    neighbour in the input padded by one zero on each side, and weights."""
    factor = tf.cast(in_size, tf.float32) / tf.cast(out_size, tf.float32)
    coords = (tf.cast(tf.range(out_size), tf.float32) + 0.5) * factor - 0.5
    lower = tf.floor(coords)
    weight = coords - lower
    lower = tf.cast(lower, tf.int32)
    lo = tf.clip_by_value(lower + 1, 0, in_size + 1)
    hi = tf.clip_by_value(lower + 2, 0, in_size + 1)
    return lo, hi, 1.0 - weight, weight


def resize_images_portable(images, out_h, out_w):
    """Bilinear resize of float32 [B, H, W, C] to [B, out_h, out_w, C] with
    mrcnn.masks.resize's sampling (scikit-image order 1, constant 0 outside,
    clipped to each image's value range), in float32, then floored like
    resize_image's cast back to uint8. Equal to the input when the size is
    unchanged."""
    shape = tf.shape(images)
    y_lo, y_hi, wy0, wy1 = _sample_coords(shape[1], out_h)
    x_lo, x_hi, wx0, wx1 = _sample_coords(shape[2], out_w)
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
    wx0 = tf.reshape(wx0, [1, 1, -1, 1])
    wx1 = tf.reshape(wx1, [1, 1, -1, 1])
    # Along x first, then y (separable bilinear).
    cols = tf.gather(padded, x_lo, axis=2) * wx0 + tf.gather(padded, x_hi, axis=2) * wx1
    out = (tf.gather(cols, y_lo, axis=1) * tf.reshape(wy0, [1, -1, 1, 1]) +
           tf.gather(cols, y_hi, axis=1) * tf.reshape(wy1, [1, -1, 1, 1]))
    lo = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
    hi = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    return tf.floor(tf.minimum(tf.maximum(out, lo), hi))


############################################################
#  Anchors
############################################################

def _axis_tables(config, max_side, axis):
    """Per pyramid level, float32 [K, n_max, R, 2]: normalised (start, end)
    along `axis` (0: y, 1: x) of the anchors of row/column i for a molded
    side of 64 * (k + 1), computed as normalized_anchors does (float64, then
    cast)."""
    k_sizes = max_side // BACKBONE_DIVISOR
    ratios = np.asarray(config.RPN_ANCHOR_RATIOS, np.float64)
    step = int(config.RPN_ANCHOR_STRIDE)
    tables = []
    for scale, stride in zip(config.RPN_ANCHOR_SCALES, config.BACKBONE_STRIDES):
        # generate_anchors: ratio-major meshgrid of one scale.
        sizes = scale / np.sqrt(ratios) if axis == 0 else scale * np.sqrt(ratios)
        n_max = len(range(0, int(math.ceil(max_side / stride)), step))
        table = np.zeros([k_sizes, n_max, len(ratios), 2], np.float32)
        for k in range(k_sizes):
            side = BACKBONE_DIVISOR * (k + 1)
            centers = np.arange(0, int(math.ceil(side / stride)), step) * stride
            start = centers[:, None] - 0.5 * sizes[None, :]
            end = centers[:, None] + 0.5 * sizes[None, :]
            n = len(centers)
            table[k, :n, :, 0] = (start - 0.) / (side - 1)
            table[k, :n, :, 1] = (end - 1.) / (side - 1)
        tables.append(table)
    return tables


def anchors_portable(config, molded_h, molded_w, max_side=DEFAULT_MAX_SIDE):
    """The network's anchors for an input of (molded_h, molded_w), float32
    [A, (y1, x1, y2, x2)] equal to normalized_anchors(config, (h, w)).

    "square": a constant. Other modes: gathered from per-axis tables of
    every molded side that is a multiple of 64 up to `max_side` (larger
    inputs are outside the tables: the network then fails on the anchor count).
    """
    if config.IMAGE_RESIZE_MODE == "square":
        side = int(config.IMAGE_MAX_DIM)
        return tf.constant(normalized_anchors(config, (side, side)), tf.float32)
    ys = _axis_tables(config, max_side, 0)
    xs = _axis_tables(config, max_side, 1)
    ky = molded_h // BACKBONE_DIVISOR - 1
    kx = molded_w // BACKBONE_DIVISOR - 1
    step = int(config.RPN_ANCHOR_STRIDE)
    levels = []
    for stride, ty, tx in zip(config.BACKBONE_STRIDES, ys, xs):
        rows = ((molded_h + stride - 1) // stride + step - 1) // step
        cols = ((molded_w + stride - 1) // stride + step - 1) // step
        y = tf.gather(tf.constant(ty), ky)[:rows]                      # [rows, R, 2]
        x = tf.gather(tf.constant(tx), kx)[:cols]                      # [cols, R, 2]
        r = ty.shape[2]
        y = tf.broadcast_to(y[:, None], tf.stack([rows, cols, r, 2]))
        x = tf.broadcast_to(x[None], tf.stack([rows, cols, r, 2]))
        boxes = tf.stack([y[..., 0], x[..., 0], y[..., 1], x[..., 1]], axis=-1)
        levels.append(tf.reshape(boxes, [-1, 4]))
    return tf.concat(levels, axis=0)


def anchor_count(config, image_shape):
    """Number of anchors of an input of image_shape (h, w): for tests and docs."""
    shapes = compute_backbone_shapes(config, image_shape)
    step = int(config.RPN_ANCHOR_STRIDE)
    return sum(len(range(0, int(s[0]), step)) * len(range(0, int(s[1]), step))
               for s in shapes) * len(config.RPN_ANCHOR_RATIOS)


############################################################
#  Everything before the network
############################################################

def mold_table(config):
    """float32 [256 * C]: mold_image of every uint8 value, channel-minor
    (entry v * C + c is pixel value v of channel c minus MEAN_PIXEL[c], with
    mold_image's float64 arithmetic)."""
    channels = int(config.IMAGE_CHANNEL_COUNT)
    values = np.repeat(np.arange(256, dtype=np.uint8)[:, None], channels, axis=1)
    return np.asarray(mold_image(values, config), np.float32).reshape([-1])


def preprocess_portable(images, config):
    """uint8 [B, H, W, C] (one size per batch) -> what the network takes.

    Returns dict of
        resized: float32 [B, mh, mw, C] the resized, padded image (whole grey levels),
        molded: float32 [B, mh, mw, C] minus MEAN_PIXEL,
        metas: float32 [B, IMAGE_META_SIZE] (compose_image_meta's layout),
        anchors: float32 [A, 4].
    """
    channels = int(config.IMAGE_CHANNEL_COUNT)
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    scale, new_h, new_w, molded_h, molded_w, top, left = resize_params_portable(
        height, width, config)
    resized = resize_images_portable(tf.cast(images, tf.float32), new_h, new_w)
    paddings = tf.stack([tf.stack([0, 0]), tf.stack([top, molded_h - new_h - top]),
                         tf.stack([left, molded_w - new_w - left]), tf.stack([0, 0])])
    resized = tf.pad(resized, paddings)
    if config.IMAGE_RESIZE_MODE == "square":
        side = int(config.IMAGE_MAX_DIM)
        resized = tf.reshape(resized, [-1, side, side, channels])
    index = tf.cast(resized, tf.int32) * channels + tf.range(channels)
    molded = tf.gather(tf.constant(mold_table(config)), index)
    meta = tf.concat([
        tf.zeros([1], tf.float32),
        tf.cast(tf.stack([height, width, channels, molded_h, molded_w, channels,
                          top, left, top + new_h, left + new_w]), tf.float32),
        tf.reshape(scale, [1]),
        tf.zeros([int(config.NUM_CLASSES)], tf.float32)], axis=0)
    metas = tf.tile(meta[None], tf.stack([batch, 1]))
    return {"resized": resized, "molded": molded, "metas": metas,
            "anchors": anchors_portable(config, molded_h, molded_w)}
