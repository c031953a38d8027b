"""The anchors: one recipe, in NumPy and in TensorFlow.

`pyramid_anchors(config, image_shape)` is the recipe every user calls:
matterport's utils.generate_pyramid_anchors with the config's scales,
ratios, backbone strides and anchor stride over the feature-map shapes of
`compute_backbone_shapes`. `normalized_anchors` divides them as
utils.norm_boxes does: what the network gets (MaskRCNN.get_anchors, the
training model's constant anchors, the "square" export). `anchors_graph`
computes the same float32 values inside a graph for any input size (the
"pad64"/"none" export), bit-exact (tests/test_molding.py).
"""

import math

import numpy as np
import tensorflow as tf

from mrcnn.anchors import generate_pyramid_anchors
from mrcnn.boxes import norm_boxes
from mrcnn.config import BUILTIN_BACKBONES


def compute_backbone_shapes(config, image_shape):
    """[levels, (height, width)] of the pyramid feature maps for an input of
    `image_shape`: ceil(size / stride) per level of config.BACKBONE_STRIDES.
    A callable BACKBONE uses config.COMPUTE_BACKBONE_SHAPE instead."""
    if callable(config.BACKBONE):
        return config.COMPUTE_BACKBONE_SHAPE(image_shape)
    if config.BACKBONE not in BUILTIN_BACKBONES:
        raise ValueError("config.BACKBONE = {!r}: expected one of {} or a callable".format(
            config.BACKBONE, ", ".join(BUILTIN_BACKBONES)))
    return np.array(
        [[int(math.ceil(image_shape[0] / stride)),
          int(math.ceil(image_shape[1] / stride))]
         for stride in config.BACKBONE_STRIDES])


def pyramid_anchors(config, image_shape):
    """Pixel anchors of an input of `image_shape` (h, w[, c]): float64
    [num_anchors, (y1, x1, y2, x2)], level by level (all of
    RPN_ANCHOR_SCALES[0] first), cells row-major, ratio-major in a cell."""
    return generate_pyramid_anchors(
        config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS,
        compute_backbone_shapes(config, image_shape), config.BACKBONE_STRIDES,
        config.RPN_ANCHOR_STRIDE)


def normalized_anchors(config, image_shape, pixel_anchors=None):
    """`pyramid_anchors` normalised for the input's size (utils.norm_boxes):
    float32 [num_anchors, 4], the network's `input_anchors`.
    pixel_anchors: pyramid_anchors(config, image_shape) if already computed."""
    if pixel_anchors is None:
        pixel_anchors = pyramid_anchors(config, image_shape)
    return norm_boxes(pixel_anchors, tuple(image_shape[:2]))


def anchors_graph(config, image_h, image_w):
    """TensorFlow twin of `normalized_anchors` for an (image_h, image_w) input
    (scalar tensors): the same order and the same float32 values (float64
    arithmetic, then cast, as NumPy).
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
