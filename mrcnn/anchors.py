"""Anchor grids in NumPy: matterport's `generate_anchors` (one feature map)
and `generate_pyramid_anchors` (all levels); also importable from
`mrcnn.utils`.

These are the building blocks; the recipe a model uses (the config's
scales, ratios and strides over its backbone's feature-map shapes, and the
TensorFlow twin) is `mrcnn.molding.anchors.pyramid_anchors`. This module
needs no TensorFlow.
"""

import numpy as np


def generate_anchors(scales, ratios, shape, feature_stride, anchor_stride):
    """Anchors of one feature map, in pixels.

    scales: anchor side lengths (e.g. [32]); ratios: widths/heights
    (e.g. [0.5, 1, 2]); shape: [height, width] of the feature map;
    feature_stride: its stride in pixels; anchor_stride: anchors at every
    `anchor_stride`-th cell.

    Returns float64 [cells * len(scales) * len(ratios), (y1, x1, y2, x2)],
    cells in row-major order, the anchor shapes of a cell contiguous
    (ratio-major, then scale).
    """
    scales, ratios = np.meshgrid(np.array(scales), np.array(ratios))
    scales = scales.flatten()
    ratios = ratios.flatten()
    heights = scales / np.sqrt(ratios)
    widths = scales * np.sqrt(ratios)

    shifts_y = np.arange(0, shape[0], anchor_stride) * feature_stride
    shifts_x = np.arange(0, shape[1], anchor_stride) * feature_stride
    shifts_x, shifts_y = np.meshgrid(shifts_x, shifts_y)

    # [cells, anchors per cell] grids of centers and sizes.
    box_widths, box_centers_x = np.meshgrid(widths, shifts_x)
    box_heights, box_centers_y = np.meshgrid(heights, shifts_y)
    box_centers = np.stack([box_centers_y, box_centers_x], axis=2).reshape([-1, 2])
    box_sizes = np.stack([box_heights, box_widths], axis=2).reshape([-1, 2])
    return np.concatenate([box_centers - 0.5 * box_sizes,
                           box_centers + 0.5 * box_sizes], axis=1)


def generate_pyramid_anchors(scales, ratios, feature_shapes, feature_strides,
                             anchor_stride):
    """Anchors of all pyramid levels, one scale per level, concatenated in
    level order (all anchors of scales[0] first)."""
    if not (len(scales) == len(feature_shapes) == len(feature_strides)):
        raise ValueError("generate_pyramid_anchors: {} scales, {} feature shapes and "
                         "{} strides; need one of each per level".format(
                             len(scales), len(feature_shapes), len(feature_strides)))
    anchors = [generate_anchors(scales[i], ratios, feature_shapes[i],
                                feature_strides[i], anchor_stride)
               for i in range(len(scales))]
    return np.concatenate(anchors, axis=0)
