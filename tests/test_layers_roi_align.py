"""PyramidROIAlign and roi_pyramid_level (mrcnn/layers/roi_align.py) on
linear ramps (exact bilinear values) and against a NumPy crop_and_resize."""

import numpy as np
import pytest
import tensorflow as tf

from layer_cases import image_meta, np_crop_and_resize, random_boxes
from mrcnn.layers import PyramidROIAlign
from mrcnn.layers.roi_align import roi_pyramid_level


# Feature maps of different, non-square sizes per level.
LEVEL_SHAPES = {2: (12, 16), 3: (8, 10), 4: (6, 6), 5: (4, 5)}
SLOPE_Y = np.array([1.0, -2.0, 0.5])
SLOPE_X = np.array([0.5, 3.0, -1.0])


def ramp_maps(batch=2):
    """P2..P5 with F[b, y, x, c] = 1000 * level + 100 * b + SLOPE_Y[c] * y +
    SLOPE_X[c] * x: bilinear interpolation of a linear ramp is exact, and the
    constant tells which level and image were sampled."""
    maps = []
    for level in range(2, 6):
        h, w = LEVEL_SHAPES[level]
        y = np.arange(h)[:, None, None]
        x = np.arange(w)[None, :, None]
        base = y * SLOPE_Y + x * SLOPE_X + 1000.0 * level
        maps.append(np.stack([base + 100.0 * b for b in range(batch)]).astype(np.float32))
    return maps


def ramp_expected(box, level, b, pool_shape):
    """Hand value of RoIAlign on ramp_maps: the ramp at the sample points."""
    h, w = LEVEL_SHAPES[level]
    y1, x1, y2, x2 = box
    ph, pw = pool_shape
    ys = y1 * (h - 1) + np.arange(ph) * (y2 - y1) * (h - 1) / (ph - 1)
    xs = x1 * (w - 1) + np.arange(pw) * (x2 - x1) * (w - 1) / (pw - 1)
    return (1000.0 * level + 100.0 * b + ys[:, None, None] * SLOPE_Y
            + xs[None, :, None] * SLOPE_X)


# Image 448 x 448: 224 / sqrt(area) = 0.5 exactly, so the level is
# 4 + round(log2(2 * sqrt(h * w))) with h, w normalised.
ROI_CASES = [
    # box (normalised)            level  log2(2 sqrt(hw))
    ([0.05, 0.05, 0.95, 0.95], 5),    # log2(1.8) = 0.85 -> 1
    ([0.0, 0.0, 1.0, 1.0], 5),        # 1 exactly
    ([0.25, 0.3, 0.75, 0.8], 4),      # 0 exactly
    ([0.1, 0.2, 0.4, 0.8], 4),        # log2(0.849) = -0.24 -> 0
    ([0.5, 0.5, 0.75, 0.75], 3),      # -1 exactly
    ([0.3, 0.1, 0.5, 0.4], 3),        # log2(0.49) = -1.03 -> -1
    ([0.5, 0.25, 0.625, 0.5], 2),     # -1.5 exactly: half to even -> -2 (floor(x+.5) gives 3)
    ([0.6, 0.7, 0.65, 0.8], 2),       # log2(0.141) = -2.8 -> -3, clamped to 2
]


@pytest.mark.parametrize("box, level", ROI_CASES)
def test_roi_pyramid_level_hand_values(box, level):
    got = roi_pyramid_level(tf.constant([box], tf.float32), tf.constant([448., 448.]))
    assert got.numpy().tolist() == [level]


def test_roi_pyramid_level_uses_image_area():
    # The same 0.5 x 0.5 box is level 4 in a 448 x 448 image, 5 in 896 x 896
    # (log2 = 1), 3 in 224 x 224 (log2 = -1).
    box = tf.constant([[0.25, 0.25, 0.75, 0.75]])
    assert roi_pyramid_level(box, tf.constant([896., 896.])).numpy().tolist() == [5]
    assert roi_pyramid_level(box, tf.constant([224., 224.])).numpy().tolist() == [3]
    # Non-square image: area 224 * 896 = 448^2.
    assert roi_pyramid_level(box, tf.constant([224., 896.])).numpy().tolist() == [4]


def test_pyramid_roi_align_ramp_levels_order_and_batch():
    pool_shape = (3, 4)
    rng = np.random.default_rng(11)
    # Different orders of the same cases in the two images, plus zero padding.
    order0 = rng.permutation(len(ROI_CASES))
    order1 = rng.permutation(len(ROI_CASES))
    boxes = np.zeros((2, len(ROI_CASES) + 2, 4), np.float32)
    levels = np.zeros((2, len(ROI_CASES) + 2), int)
    for b, order in enumerate([order0, order1]):
        for i, k in enumerate(order):
            boxes[b, i] = ROI_CASES[k][0]
            levels[b, i] = ROI_CASES[k][1]
    # Image 1 has a different molded size in its meta: the first image's sets
    # the level rule (as in matterport).
    meta = image_meta(4, [(448, 448), (1024, 1024)], [(0, 0, 448, 448)] * 2, batch=2)
    maps = ramp_maps()
    layer = PyramidROIAlign(pool_shape)
    got = layer([tf.constant(boxes), tf.constant(meta)] + [tf.constant(m) for m in maps]).numpy()
    assert got.shape == (2, len(ROI_CASES) + 2) + pool_shape + (3,)
    for b in range(2):
        for i in range(len(ROI_CASES)):
            want = ramp_expected(boxes[b, i], levels[b, i], b, pool_shape)
            np.testing.assert_allclose(got[b, i], want, atol=2e-3,
                                       err_msg="image {} box {}".format(b, i))
        # Zero-padded boxes: degenerate box at the origin of P2.
        for i in range(len(ROI_CASES), len(ROI_CASES) + 2):
            np.testing.assert_allclose(got[b, i], np.broadcast_to(maps[0][b, 0, 0], pool_shape + (3,)),
                                       atol=1e-3)


def test_pyramid_roi_align_random_features_vs_numpy_bilinear():
    rng = np.random.default_rng(12)
    pool_shape = (5, 3)
    maps = [rng.normal(size=(2,) + LEVEL_SHAPES[l] + (4,)).astype(np.float32) for l in range(2, 6)]
    boxes = np.stack([random_boxes(rng, 9, min_size=0.03, max_size=0.9) for _ in range(2)])
    boxes = np.clip(boxes, 0.0, 1.0)
    meta = image_meta(4, (448, 448), (0, 0, 448, 448), batch=2)
    got = PyramidROIAlign(pool_shape)([tf.constant(boxes), tf.constant(meta)]
                                      + [tf.constant(m) for m in maps]).numpy()
    h = boxes[..., 2] - boxes[..., 0]
    w = boxes[..., 3] - boxes[..., 1]
    levels = np.clip(4 + np.round(np.log2(2 * np.sqrt(h * w))), 2, 5).astype(int)
    assert len(np.unique(levels)) >= 3      # several levels exercised
    for b in range(2):
        for i in range(9):
            want = np_crop_and_resize(maps[levels[b, i] - 2][b], boxes[b, i], pool_shape)
            np.testing.assert_allclose(got[b, i], want, atol=1e-5)


def test_pyramid_roi_align_gradients_reach_feature_maps_and_graph_mode():
    maps = [tf.Variable(m) for m in ramp_maps(batch=1)]
    boxes = tf.constant([[c[0] for c in ROI_CASES]], tf.float32)
    meta = tf.constant(image_meta(4, (448, 448), (0, 0, 448, 448)))
    layer = PyramidROIAlign((2, 2))
    with tf.GradientTape() as tape:
        out = layer([boxes, meta] + maps)
        loss = tf.reduce_sum(out)
    grads = tape.gradient(loss, maps)
    for g in grads:                         # every level got at least one box
        g = tf.convert_to_tensor(g).numpy()
        assert np.isfinite(g).all() and g.sum() > 0
    spec = [tf.TensorSpec([None, None, 4]), tf.TensorSpec([None, 16])] + [
        tf.TensorSpec([None, None, None, 3]) for _ in range(4)]
    fn = tf.function(lambda *a: layer(list(a)), input_signature=spec)
    np.testing.assert_allclose(fn(boxes, meta, *maps).numpy(), out.numpy(), atol=1e-5)
    clone = PyramidROIAlign.from_config(layer.get_config())
    assert clone.pool_shape == (2, 2)
