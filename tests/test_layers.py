"""Graph layers (proposals, RoIAlign, detection targets, detections) against
independent NumPy references and hand-computed values."""

import math

import numpy as np
import pytest
import tensorflow as tf

from mrcnn import utils
from mrcnn.config import Config
from mrcnn.layers import (DetectionLayer, DetectionTargetLayer, ProposalLayer,
                          PyramidROIAlign)
from mrcnn.layers.detection_target import detection_targets_graph
from mrcnn.layers.roi_align import roi_pyramid_level


class LayerConfig(Config):
    NAME = "layers"
    NUM_CLASSES = 4
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    IMAGES_PER_GPU = 2
    PRE_NMS_LIMIT = 100
    RPN_BBOX_STD_DEV = np.array([0.2, 0.1, 0.3, 0.25])
    BBOX_STD_DEV = np.array([0.1, 0.2, 0.25, 0.3])
    TRAIN_ROIS_PER_IMAGE = 10
    ROI_POSITIVE_RATIO = 0.5
    MASK_POOL_SIZE = 4
    MASK_SHAPE = [8, 8]
    MINI_MASK_SHAPE = (16, 16)
    MAX_GT_INSTANCES = 5
    DETECTION_MAX_INSTANCES = 12
    DETECTION_MIN_CONFIDENCE = 0.5
    DETECTION_NMS_THRESHOLD = 0.3


def make_config(**overrides):
    cls = type("TestConfig", (LayerConfig,), dict(overrides))
    return cls()


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def random_boxes(rng, n, centres=None, spread=0.08, min_size=0.05, max_size=0.3):
    """Normalised boxes, optionally clustered around `centres` so that NMS has
    work to do."""
    if centres is None:
        cy, cx = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    else:
        pick = rng.integers(0, len(centres), n)
        cy = centres[pick, 0] + rng.normal(0, spread, n)
        cx = centres[pick, 1] + rng.normal(0, spread, n)
    h = rng.uniform(min_size, max_size, n)
    w = rng.uniform(min_size, max_size, n)
    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], 1).astype(np.float32)


def np_crop_and_resize(image, box, crop_size):
    """Bilinear crop_and_resize of one box, written out from TF's documented
    sampling rule: row i samples y = y1 * (H - 1) + i * (y2 - y1) * (H - 1) /
    (ch - 1); samples outside the image are 0. image [H, W, C] -> [ch, cw, C]."""
    image = np.asarray(image, np.float64)
    height, width = image.shape[:2]
    ch, cw = crop_size
    y1, x1, y2, x2 = [float(v) for v in box]
    out = np.zeros((ch, cw, image.shape[2]))

    def coords(a, b, size, n):
        if n > 1:
            return [a * (size - 1) + i * (b - a) * (size - 1) / (n - 1) for i in range(n)]
        return [0.5 * (a + b) * (size - 1)]

    for i, yy in enumerate(coords(y1, y2, height, ch)):
        if yy < 0 or yy > height - 1:
            continue
        top, bottom = math.floor(yy), math.ceil(yy)
        ly = yy - top
        for j, xx in enumerate(coords(x1, x2, width, cw)):
            if xx < 0 or xx > width - 1:
                continue
            left, right = math.floor(xx), math.ceil(xx)
            lx = xx - left
            t = image[top, left] * (1 - lx) + image[top, right] * lx
            b = image[bottom, left] * (1 - lx) + image[bottom, right] * lx
            out[i, j] = t + (b - t) * ly
    return out


def image_meta(num_classes, image_shape, window, batch=1):
    """[batch, 12 + num_classes] image metas (compose_image_meta's layout)."""
    meta = np.zeros((batch, 12 + num_classes), np.float32)
    for b in range(batch):
        shape = image_shape[b] if np.ndim(image_shape[0]) else image_shape
        win = window[b] if np.ndim(window[0]) else window
        meta[b, 1:4] = [shape[0], shape[1], 3]
        meta[b, 4:7] = [shape[0], shape[1], 3]
        meta[b, 7:11] = win
        meta[b, 11] = 1.0
        meta[b, 12:] = 1
    return meta


# ===========================================================================
# ProposalLayer
# ===========================================================================

def np_proposals(probs, deltas, anchors, proposal_count, nms_threshold, pre_nms_limit, std):
    """Matterport's proposal rule for one image, from mrcnn.utils helpers."""
    scores = probs[:, 1]
    order = np.argsort(-scores, kind="stable")[:min(pre_nms_limit, len(scores))]
    boxes = utils.apply_box_deltas(anchors[order], deltas[order] * std)
    boxes = np.clip(boxes, 0.0, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):    # clipped zero-area boxes
        keep = utils.non_max_suppression(boxes, scores[order], nms_threshold)[:proposal_count]
    out = np.zeros((proposal_count, 4), np.float32)
    out[:len(keep)] = boxes[keep]
    return out, len(keep)


def proposal_inputs(seed, batch=2, num_anchors=300):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.1, 0.9, (12, 2))
    anchors = np.stack([random_boxes(rng, num_anchors, centres) for _ in range(batch)])
    probs = softmax(rng.normal(0, 2, (batch, num_anchors, 2))).astype(np.float32)
    deltas = rng.normal(0, 1, (batch, num_anchors, 4)).astype(np.float32)
    return probs, deltas, anchors


@pytest.mark.parametrize("proposal_count, nms_threshold, pre_nms_limit, expect_padding", [
    (20, 0.5, 100, False),      # more survivors than proposal_count: truncated
    (150, 0.5, 100, True),      # at most 100 survivors: zero padding
    (40, 0.7, 1000, None),      # pre_nms_limit larger than the anchor count
])
def test_proposal_layer_matches_numpy(proposal_count, nms_threshold, pre_nms_limit,
                                      expect_padding):
    probs, deltas, anchors = proposal_inputs(seed=proposal_count)
    config = make_config(PRE_NMS_LIMIT=pre_nms_limit)
    layer = ProposalLayer(proposal_count, nms_threshold, config=config)
    got = layer([tf.constant(probs), tf.constant(deltas), tf.constant(anchors)]).numpy()
    assert got.shape == (2, proposal_count, 4)
    for b in range(2):
        want, kept = np_proposals(probs[b], deltas[b], anchors[b], proposal_count,
                                  nms_threshold, pre_nms_limit, config.RPN_BBOX_STD_DEV)
        np.testing.assert_allclose(got[b], want, atol=1e-5)
        if expect_padding is True:
            assert kept < proposal_count
            assert np.all(got[b, kept:] == 0) and np.all(np.abs(got[b, :kept]).sum(1) > 0)
        elif expect_padding is False:
            assert kept == proposal_count
    assert got.min() >= 0.0 and got.max() <= 1.0
    # The two images are handled independently.
    assert not np.allclose(got[0], got[1])


def test_proposal_layer_pre_nms_limit_restricts_candidates():
    probs, deltas, anchors = proposal_inputs(seed=7, batch=1, num_anchors=200)
    std = np.array([0.1, 0.1, 0.2, 0.2], np.float32)
    layer = ProposalLayer(50, 0.9, pre_nms_limit=10, rpn_bbox_std_dev=std)
    got = layer([tf.constant(probs), tf.constant(deltas), tf.constant(anchors)]).numpy()[0]
    want, kept = np_proposals(probs[0], deltas[0], anchors[0], 50, 0.9, 10, std)
    assert kept <= 10
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.all(got[10:] == 0)
    # Every proposal comes from one of the 10 best-scored anchors.
    top10 = np.argsort(-probs[0, :, 1])[:10]
    cands = np.clip(utils.apply_box_deltas(anchors[0, top10], deltas[0, top10] * std), 0, 1)
    for row in got[:kept]:
        assert np.min(np.abs(cands - row).max(1)) < 1e-5


def test_proposal_layer_hand_case():
    # Three anchors: the best two overlap heavily, so NMS drops the second.
    anchors = np.array([[[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.6, 0.6, 0.9, 0.9]]],
                       np.float32)
    probs = np.array([[[0.1, 0.9], [0.2, 0.8], [0.7, 0.3]]], np.float32)
    deltas = np.zeros((1, 3, 4), np.float32)
    deltas[0, 2] = [1.0, 0.0, 0.0, 0.0]     # * 0.1 -> moved down by 0.1 * 0.3
    layer = ProposalLayer(4, 0.7, pre_nms_limit=10, rpn_bbox_std_dev=[0.1, 0.1, 0.2, 0.2])
    got = layer([tf.constant(probs), tf.constant(deltas), tf.constant(anchors)]).numpy()[0]
    np.testing.assert_allclose(got, [[0.1, 0.1, 0.5, 0.5], [0.63, 0.6, 0.93, 0.9],
                                     [0, 0, 0, 0], [0, 0, 0, 0]], atol=1e-6)


@pytest.mark.parametrize("threshold, kept", [(0.5, 2), (0.49, 1)])
def test_proposal_layer_nms_suppresses_strictly_above_threshold(threshold, kept):
    # IoU of the two anchors is exactly 0.5 (binary-exact coordinates).
    anchors = np.array([[[0.25, 0.25, 0.75, 0.75], [0.25, 0.25, 0.75, 0.5]]], np.float32)
    probs = np.array([[[0.1, 0.9], [0.2, 0.8]]], np.float32)
    layer = ProposalLayer(3, threshold, pre_nms_limit=10, rpn_bbox_std_dev=[1, 1, 1, 1])
    got = layer([tf.constant(probs), tf.zeros([1, 2, 4]), tf.constant(anchors)]).numpy()[0]
    np.testing.assert_array_equal(got[:kept], anchors[0, :kept])
    assert np.all(got[kept:] == 0)


def test_proposal_layer_graph_mode_and_config_round_trip():
    probs, deltas, anchors = proposal_inputs(seed=3)
    layer = ProposalLayer(30, 0.6, config=make_config(PRE_NMS_LIMIT=80))
    spec = [tf.TensorSpec([None, None, 2]), tf.TensorSpec([None, None, 4]),
            tf.TensorSpec([None, None, 4])]
    fn = tf.function(lambda p, d, a: layer([p, d, a]), input_signature=spec)
    eager = layer([tf.constant(probs), tf.constant(deltas), tf.constant(anchors)]).numpy()
    np.testing.assert_allclose(fn(probs, deltas, anchors).numpy(), eager, atol=1e-6)
    clone = ProposalLayer.from_config(layer.get_config())
    np.testing.assert_allclose(clone([tf.constant(probs), tf.constant(deltas),
                                      tf.constant(anchors)]).numpy(), eager, atol=1e-6)


# ===========================================================================
# PyramidROIAlign
# ===========================================================================

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


# ===========================================================================
# DetectionLayer
# ===========================================================================

def np_refine_detections(rois, probs, deltas, window, config):
    """Matterport's refine_detections_graph for one image, in NumPy with
    utils.non_max_suppression."""
    n = rois.shape[0]
    class_ids = np.argmax(probs, axis=1)
    scores = probs[np.arange(n), class_ids]
    specific = deltas[np.arange(n), class_ids] * config.BBOX_STD_DEV
    refined = utils.apply_box_deltas(rois, specific)
    wy1, wx1, wy2, wx2 = window
    refined = np.stack([np.clip(refined[:, 0], wy1, wy2), np.clip(refined[:, 1], wx1, wx2),
                        np.clip(refined[:, 2], wy1, wy2), np.clip(refined[:, 3], wx1, wx2)], 1)
    keep = class_ids > 0
    if config.DETECTION_MIN_CONFIDENCE:
        keep &= scores >= config.DETECTION_MIN_CONFIDENCE
    keep = np.where(keep)[0]
    kept = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for c in np.unique(class_ids[keep]):
            ixs = keep[class_ids[keep] == c]
            k = utils.non_max_suppression(refined[ixs], scores[ixs],
                                          config.DETECTION_NMS_THRESHOLD)
            kept.extend(ixs[k[:config.DETECTION_MAX_INSTANCES]])
    kept = np.array(kept, int)
    kept = kept[np.argsort(-scores[kept], kind="stable")][:config.DETECTION_MAX_INSTANCES]
    out = np.zeros((config.DETECTION_MAX_INSTANCES, 6), np.float32)
    out[:len(kept), :4] = refined[kept]
    out[:len(kept), 4] = class_ids[kept]
    out[:len(kept), 5] = scores[kept]
    return out, len(kept)


def detection_inputs(seed, config, n=60, batch=2, sharpness=3.0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.2, 0.8, (5, 2))
    rois = np.stack([random_boxes(rng, n, centres, spread=0.05) for _ in range(batch)])
    rois = np.clip(rois, 0, 1)
    probs = softmax(rng.normal(0, sharpness, (batch, n, config.NUM_CLASSES))).astype(np.float32)
    deltas = rng.normal(0, 1, (batch, n, config.NUM_CLASSES, 4)).astype(np.float32)
    windows = np.array([[10, 5, 118, 120], [0, 16, 128, 112]], np.float32)[:batch]
    meta = image_meta(config.NUM_CLASSES, (128, 128), windows, batch=batch)
    return rois, probs, deltas, meta, windows


def check_detections(got, rois, probs, deltas, windows, config):
    assert got.shape == (rois.shape[0], config.DETECTION_MAX_INSTANCES, 6)
    counts = []
    for b in range(rois.shape[0]):
        window = utils.norm_boxes(windows[b], (128, 128))
        want, kept = np_refine_detections(rois[b], probs[b], deltas[b], window, config)
        np.testing.assert_array_equal(got[b, :, 4], want[:, 4], err_msg="class ids, image %d" % b)
        np.testing.assert_allclose(got[b, :, 5], want[:, 5], atol=1e-6)
        np.testing.assert_allclose(got[b, :, :4], want[:, :4], atol=1e-5)
        assert np.all(got[b, kept:] == 0)
        counts.append(kept)
    return counts


@pytest.mark.parametrize("min_confidence, max_instances, seed", [
    (0.5, 12, 0),
    (0.0, 12, 1),       # no confidence filter (matterport skips it when 0)
    (0.0, 100, 2),      # fewer detections than DETECTION_MAX_INSTANCES
    (0.7, 100, 3),
])
def test_detection_layer_matches_numpy(min_confidence, max_instances, seed):
    config = make_config(DETECTION_MIN_CONFIDENCE=min_confidence,
                         DETECTION_MAX_INSTANCES=max_instances)
    rois, probs, deltas, meta, windows = detection_inputs(seed, config)
    got = DetectionLayer(config)([tf.constant(rois), tf.constant(probs), tf.constant(deltas),
                                  tf.constant(meta)]).numpy()
    counts = check_detections(got, rois, probs, deltas, windows, config)
    assert min(counts) > 0
    if max_instances == 12:
        assert max(counts) == 12            # truncation to the best 12 exercised
    if max_instances == 100:
        assert max(counts) < 100            # zero padding exercised
    # Detections lie inside their window, best score first, foreground only.
    for b in range(2):
        det = got[b, :counts[b]]
        win = utils.norm_boxes(windows[b], (128, 128))
        assert (det[:, 4] > 0).all() and (np.diff(det[:, 5]) <= 0).all()
        assert (det[:, 5] >= min_confidence).all()
        assert (det[:, [0, 2]] >= win[0] - 1e-6).all() and (det[:, [0, 2]] <= win[2] + 1e-6).all()
        assert (det[:, [1, 3]] >= win[1] - 1e-6).all() and (det[:, [1, 3]] <= win[3] + 1e-6).all()


def test_detection_layer_per_class_nms_hand_case():
    # Two nearly identical RoIs of class 1 (the weaker is suppressed), the same
    # box as class 2 (kept: NMS is per class), a background RoI and one below
    # DETECTION_MIN_CONFIDENCE.
    config = make_config(DETECTION_MIN_CONFIDENCE=0.5, DETECTION_MAX_INSTANCES=4)
    rois = np.array([[[0.1, 0.1, 0.5, 0.5], [0.11, 0.1, 0.51, 0.5], [0.1, 0.1, 0.5, 0.5],
                      [0.6, 0.6, 0.9, 0.9], [0.6, 0.1, 0.9, 0.3]]], np.float32)
    probs = np.array([[[0.1, 0.9, 0.0, 0.0],
                       [0.2, 0.8, 0.0, 0.0],
                       [0.3, 0.0, 0.7, 0.0],
                       [0.95, 0.05, 0.0, 0.0],
                       [0.3, 0.0, 0.3, 0.4]]], np.float32)
    deltas = np.zeros((1, 5, 4, 4), np.float32)
    deltas[0, 0, 1] = [1.0, 0.0, 0.0, 0.0]   # class 1: dy 1 * 0.1 * h 0.4 = +0.04
    deltas[0, 0, 2] = [9.0, 9.0, 9.0, 9.0]   # other classes' deltas are ignored
    meta = image_meta(4, (128, 128), (0, 0, 128, 128))
    got = DetectionLayer(config)([tf.constant(rois), tf.constant(probs), tf.constant(deltas),
                                  tf.constant(meta)]).numpy()[0]
    np.testing.assert_allclose(got, [[0.14, 0.1, 0.54, 0.5, 1, 0.9],
                                     [0.1, 0.1, 0.5, 0.5, 2, 0.7],
                                     [0, 0, 0, 0, 0, 0],
                                     [0, 0, 0, 0, 0, 0]], atol=1e-6)


@pytest.mark.parametrize("threshold, kept", [(0.5, 2), (0.49, 1)])
def test_detection_layer_nms_suppresses_strictly_above_threshold(threshold, kept):
    # Two class-1 RoIs with IoU exactly 0.5 (as tf.image.non_max_suppression
    # and utils.non_max_suppression: suppressed only when IoU > threshold).
    config = make_config(DETECTION_NMS_THRESHOLD=threshold, DETECTION_MAX_INSTANCES=3)
    rois = np.array([[[0.25, 0.25, 0.75, 0.75], [0.25, 0.25, 0.75, 0.5]]], np.float32)
    probs = np.array([[[0.1, 0.9, 0, 0], [0.2, 0.8, 0, 0]]], np.float32)
    meta = image_meta(4, (128, 128), (0, 0, 128, 128))
    got = DetectionLayer(config)([tf.constant(rois), tf.constant(probs), tf.zeros([1, 2, 4, 4]),
                                  tf.constant(meta)]).numpy()[0]
    want = np.zeros((3, 6), np.float32)
    want[:2, :4] = rois[0]
    want[:2, 4] = 1
    want[:2, 5] = [0.9, 0.8]
    np.testing.assert_allclose(got[:kept], want[:kept], atol=1e-7)
    assert np.all(got[kept:] == 0)


@pytest.mark.parametrize("case", ["low_confidence", "all_background"])
def test_detection_layer_nothing_passes(case):
    config = make_config(DETECTION_MIN_CONFIDENCE=0.99)
    rois, probs, deltas, meta, windows = detection_inputs(5, config, sharpness=0.5)
    if case == "all_background":
        config = make_config(DETECTION_MIN_CONFIDENCE=0.0)
        probs = probs.copy()
        probs[..., 0] = 2.0                 # background wins everywhere
    assert probs[..., 1:].max() < 0.99
    got = DetectionLayer(config)([tf.constant(rois), tf.constant(probs), tf.constant(deltas),
                                  tf.constant(meta)]).numpy()
    assert got.shape == (2, config.DETECTION_MAX_INSTANCES, 6)
    assert np.all(got == 0)


def test_detection_layer_graph_mode_and_config_round_trip():
    config = make_config(DETECTION_MIN_CONFIDENCE=0.3)
    rois, probs, deltas, meta, windows = detection_inputs(6, config)
    layer = DetectionLayer(config)
    eager = layer([tf.constant(rois), tf.constant(probs), tf.constant(deltas),
                   tf.constant(meta)]).numpy()
    spec = [tf.TensorSpec([None, None, 4]), tf.TensorSpec([None, None, 4]),
            tf.TensorSpec([None, None, 4, 4]), tf.TensorSpec([None, 16])]
    fn = tf.function(lambda *a: layer(list(a)), input_signature=spec)
    np.testing.assert_allclose(fn(rois, probs, deltas, meta).numpy(), eager, atol=1e-6)
    clone = DetectionLayer.from_config(layer.get_config())
    np.testing.assert_allclose(clone([tf.constant(rois), tf.constant(probs),
                                      tf.constant(deltas), tf.constant(meta)]).numpy(),
                               eager, atol=1e-6)
    check_detections(eager, rois, probs, deltas, windows, config)


# ===========================================================================
# DetectionTargetLayer
# ===========================================================================

FULL = 32           # full-size gt masks are FULL x FULL
MINI = 16           # LayerConfig.MINI_MASK_SHAPE


def quadrant_mask(size):
    """Ones except the bottom-right quadrant."""
    m = np.ones((size, size), bool)
    m[size // 2:, size // 2:] = False
    return m


def box_mask(size, box, pattern=None):
    """A size x size image mask that is `pattern` (resized by nearest) on the
    pixels covered by normalised `box` [y1, x1, y2, x2], 0 elsewhere. Pixel
    rows from floor(y1 * (size - 1)) to ceil(y2 * (size - 1)) are covered."""
    m = np.zeros((size, size), bool)
    r1, c1 = int(np.floor(box[0] * (size - 1))), int(np.floor(box[1] * (size - 1)))
    r2, c2 = int(np.ceil(box[2] * (size - 1))) + 1, int(np.ceil(box[3] * (size - 1))) + 1
    if pattern is None:
        m[r1:r2, c1:c2] = True
    else:
        ry = (np.arange(r2 - r1) * pattern.shape[0] // (r2 - r1))
        rx = (np.arange(c2 - c1) * pattern.shape[1] // (c2 - c1))
        m[r1:r2, c1:c2] = pattern[ry][:, rx]
    return m


# Image 0: binary-exact coordinates.
GT0 = [  # class, box
    (2, [0.25, 0.25, 0.75, 0.75]),
    (3, [0.0, 0.5, 0.25, 1.0]),
    (-1, [0.75, 0.0, 1.0, 0.25]),         # crowd
    (1, [0.75, 0.25, 1.0, 0.5]),          # touches the crowd box along an edge only
]
POS0 = [  # proposal, index of the gt it must be assigned
    ([0.25, 0.25, 0.75, 0.75], 0),        # the gt box itself
    ([0.25, 0.25, 0.75, 0.5], 0),         # IoU exactly 0.5: positive
    ([0.0, 0.5625, 0.25, 1.0], 1),        # IoU 0.875
    ([0.75, 0.125, 1.0, 0.5], 3),         # IoU 2/3, also overlaps the crowd: still positive
]
NEG0 = [
    [0.25, 0.25, 0.75, 0.49],             # IoU 0.48 with gt 0
    [0.5, 0.0, 0.7, 0.2],                 # overlaps nothing
]
CROWD0 = [  # IoU < 0.5 with every gt, but touch the crowd box: neither
    [0.8, 0.05, 0.95, 0.2],
    [0.7, 0.0, 0.8, 0.3],
    [0.6, 0.1, 0.9, 0.2],
]

# Image 1: one gt, 7 positives and 8 negatives: both samples are capped.
GT1 = [(1, [0.25, 0.25, 0.75, 0.75])]
POS1 = [([0.25 + k / 64, 0.25, 0.75 + k / 64, 0.75], 0) for k in range(7)]
NEG1 = [[0.0, 0.0, 0.1 + k / 100, 0.2] for k in range(4)] + \
       [[0.8, 0.8, 0.9 + k / 100, 1.0] for k in range(4)]


def target_inputs(use_mini_mask, num_padding_proposals=3):
    rng = np.random.default_rng(21)
    max_gt = 5
    size = MINI if use_mini_mask else FULL
    proposals, class_ids, gt_boxes, masks = [], [], [], []
    patterns = {}
    for image, (gts, rois) in enumerate([(GT0, [p for p, _ in POS0] + NEG0 + CROWD0),
                                         (GT1, [p for p, _ in POS1] + NEG1)]):
        rois = np.array(rois, np.float32)[rng.permutation(len(rois))]
        rois = np.concatenate([rois, np.zeros((num_padding_proposals, 4), np.float32)])
        proposals.append(rois)
        ids = np.zeros(max_gt, np.int32)
        boxes = np.zeros((max_gt, 4), np.float32)
        m = np.zeros((size, size, max_gt), bool)
        for g, (cid, box) in enumerate(gts):
            ids[g] = cid
            boxes[g] = box
            if image == 0 and g == 0:
                pattern = np.ones((MINI, MINI), bool)               # all ones
            elif image == 1:
                pattern = quadrant_mask(MINI)
            else:
                pattern = rng.uniform(size=(MINI, MINI)) > 0.4
            patterns[image, g] = pattern
            m[..., g] = pattern if use_mini_mask else box_mask(FULL, box, pattern)
        class_ids.append(ids)
        gt_boxes.append(boxes)
        masks.append(m)
    n = max(len(p) for p in proposals)
    proposals = np.stack([np.pad(p, [(0, n - len(p)), (0, 0)]) for p in proposals])
    return proposals, np.stack(class_ids), np.stack(gt_boxes), np.stack(masks)


def np_mask_target(gt_mask, roi, gt_box, use_mini_mask, mask_shape):
    """Unrounded mask target: the gt mask sampled on the RoI."""
    if use_mini_mask:
        gh, gw = gt_box[2] - gt_box[0], gt_box[3] - gt_box[1]
        roi = [(roi[0] - gt_box[0]) / gh, (roi[1] - gt_box[1]) / gw,
               (roi[2] - gt_box[0]) / gh, (roi[3] - gt_box[1]) / gw]
    return np_crop_and_resize(gt_mask[..., None].astype(np.float64), roi, mask_shape)[..., 0]


def find_row(rows, box):
    d = np.abs(np.asarray(rows) - np.asarray(box)).max(axis=1)
    return int(np.argmin(d)) if d.min() < 1e-6 else None


@pytest.mark.parametrize("use_mini_mask", [True, False])
def test_detection_target_layer_crafted(use_mini_mask):
    tf.random.set_seed(1234)
    config = make_config(USE_MINI_MASK=use_mini_mask)
    proposals, gt_ids, gt_boxes, gt_masks = target_inputs(use_mini_mask)
    rois, class_ids, deltas, masks = [t.numpy() for t in DetectionTargetLayer(config)(
        [tf.constant(proposals), tf.constant(gt_ids), tf.constant(gt_boxes),
         tf.constant(gt_masks)])]
    T = config.TRAIN_ROIS_PER_IMAGE
    assert rois.shape == (2, T, 4) and class_ids.shape == (2, T)
    assert deltas.shape == (2, T, 4) and masks.shape == (2, T, 8, 8)
    assert class_ids.dtype == np.int32

    # positive_count = int(10 * 0.5) = 5; negatives = int(2 * P) - P.
    # Image 0: 4 positives, wants 4 negatives, only 2 eligible -> 6 RoIs.
    # Image 1: 7 positives capped to 5, 5 of 8 negatives -> 10 RoIs.
    expected = [(POS0, NEG0, GT0, 4, 2), (POS1, NEG1, GT1, 5, 5)]
    for b, (pos, neg, gts, n_pos, n_neg) in enumerate(expected):
        pos_boxes = [p for p, _ in pos]
        # Positives first, then negatives, then zero padding.
        assert np.all(class_ids[b, :n_pos] > 0)
        assert np.all(class_ids[b, n_pos:] == 0)
        assert np.all(rois[b, n_pos + n_neg:] == 0)
        assert np.all(np.abs(rois[b, :n_pos + n_neg]).sum(1) > 0)
        seen = set()
        for r in range(n_pos):
            k = find_row(pos_boxes, rois[b, r])
            assert k is not None and k not in seen, "row %d is not a fresh positive" % r
            seen.add(k)
            g = pos[k][1]
            gt_class, gt_box = gts[g]
            assert class_ids[b, r] == gt_class
            want = utils.box_refinement(rois[b, r][None], np.array([gt_box]))[0]
            np.testing.assert_allclose(deltas[b, r], want / config.BBOX_STD_DEV, atol=1e-5)
            # Mask target: the assigned gt mask sampled on the RoI, rounded.
            raw = np_mask_target(gt_masks[b, ..., g], rois[b, r], gt_box, use_mini_mask, (8, 8))
            sure = np.abs(raw - 0.5) > 1e-3
            np.testing.assert_array_equal(masks[b, r][sure], np.round(raw)[sure])
            assert set(np.unique(masks[b, r])) <= {0.0, 1.0}
        neg_seen = set()
        for r in range(n_pos, n_pos + n_neg):
            k = find_row(neg, rois[b, r])
            assert k is not None and k not in neg_seen, "row %d is not a fresh negative" % r
            neg_seen.add(k)
        if b == 0:
            assert len(seen) == 4 and neg_seen == {0, 1}    # every eligible one; no crowd RoI
        assert np.all(deltas[b, n_pos:] == 0) and np.all(masks[b, n_pos:] == 0)

    # Hand-cropped masks for RoIs equal to their gt box.
    r = find_row(rois[0, :4], GT0[0][1])
    np.testing.assert_array_equal(masks[0, r], np.ones((8, 8)))        # all-ones gt mask
    np.testing.assert_allclose(deltas[0, r], 0, atol=1e-6)
    r = find_row(rois[1, :5], GT1[0][1])
    if r is not None:                       # the unshifted RoI may have been sampled out
        want = np.ones((8, 8))
        want[4:, 4:] = 0                    # the quadrant pattern, sampled 8 x 8
        np.testing.assert_array_equal(masks[1, r], want)


def test_detection_target_layer_default_ratio_counts():
    # ROI_POSITIVE_RATIO 0.33: positive_count = int(12 * 0.33) = 3; with 2
    # positives, negatives = int(2 / 0.33) - 2 = 4.
    tf.random.set_seed(5)
    config = make_config(TRAIN_ROIS_PER_IMAGE=12, ROI_POSITIVE_RATIO=0.33)
    proposals = np.array([[[0.25, 0.25, 0.75, 0.75], [0.25, 0.25, 0.75, 0.7]]
                          + NEG1 + [[0, 0, 0, 0]]], np.float32)
    gt_ids = np.array([[2, 0]], np.int32)
    gt_boxes = np.array([[[0.25, 0.25, 0.75, 0.75], [0, 0, 0, 0]]], np.float32)
    gt_masks = np.ones((1, MINI, MINI, 2), bool)
    rois, ids, deltas, masks = [t.numpy() for t in DetectionTargetLayer(config)(
        [proposals, gt_ids, gt_boxes, gt_masks])]
    assert ids[0].tolist() == [2, 2] + [0] * 10
    assert np.all(np.abs(rois[0, :6]).sum(1) > 0) and np.all(rois[0, 6:] == 0)
    assert np.all(masks[0, :2] == 1) and np.all(masks[0, 2:] == 0)


def test_detection_targets_no_positive_gives_all_zeros():
    # No proposal reaches IoU 0.5, so no negative is sampled either (matterport).
    out = detection_targets_graph(
        tf.constant([[0.0, 0.0, 0.2, 0.2], [0.5, 0.5, 0.6, 0.6]]), tf.constant([1, 0]),
        tf.constant([[0.7, 0.7, 0.9, 0.9], [0, 0, 0, 0]]), tf.ones([MINI, MINI, 2], tf.bool),
        train_rois_per_image=6, roi_positive_ratio=0.33, bbox_std_dev=[0.1, 0.1, 0.2, 0.2],
        mask_shape=[8, 8], use_mini_mask=True)
    shapes = [(6, 4), (6,), (6, 4), (6, 8, 8)]
    for t, shape in zip(out, shapes):
        assert t.shape == shape and np.all(t.numpy() == 0)
    # No gt at all (only padding).
    out = detection_targets_graph(
        tf.constant([[0.0, 0.0, 0.2, 0.2]]), tf.constant([0]), tf.zeros([1, 4]),
        tf.zeros([MINI, MINI, 1], tf.bool), 6, 0.33, [0.1, 0.1, 0.2, 0.2], [8, 8], True)
    for t, shape in zip(out, shapes):
        assert t.shape == shape and np.all(t.numpy() == 0)


def test_detection_target_layer_graph_mode_and_config_round_trip():
    config = make_config(USE_MINI_MASK=True)
    proposals, gt_ids, gt_boxes, gt_masks = target_inputs(True)
    layer = DetectionTargetLayer.from_config(DetectionTargetLayer(config).get_config())
    spec = [tf.TensorSpec([None, None, 4]), tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None, None, 4]), tf.TensorSpec([None, MINI, MINI, None], tf.bool)]
    fn = tf.function(lambda *a: layer(list(a)), input_signature=spec)
    rois, ids, deltas, masks = [t.numpy() for t in fn(proposals, gt_ids, gt_boxes, gt_masks)]
    assert rois.shape == (2, 10, 4) and masks.shape == (2, 10, 8, 8)
    assert (ids[0] > 0).sum() == 4 and (ids[1] > 0).sum() == 5
    assert np.all(rois[0, 6:] == 0) and np.all(np.abs(rois[1]).sum(1) > 0)


# ===========================================================================
# Symbolic (functional-model) use
# ===========================================================================

def test_layers_symbolic_output_shapes_and_dtypes():
    import keras
    config = make_config()
    probs, deltas4, boxes = keras.Input((None, 2)), keras.Input((None, 4)), keras.Input((None, 4))
    meta = keras.Input((16,))
    out = ProposalLayer(7, 0.7, config=config)([probs, deltas4, boxes])
    assert tuple(out.shape) == (None, 7, 4)
    maps = [keras.Input((None, None, 8)) for _ in range(4)]
    out = PyramidROIAlign((3, 5))([boxes, meta] + maps)
    assert tuple(out.shape) == (None, None, 3, 5, 8)
    ids = keras.Input((None,), dtype="int32")
    gt_masks = keras.Input((MINI, MINI, None), dtype="bool")
    outs = DetectionTargetLayer(config)([boxes, ids, deltas4, gt_masks])
    assert [tuple(o.shape) for o in outs] == [(None, 10, 4), (None, 10), (None, 10, 4),
                                              (None, 10, 8, 8)]
    # Same dtypes as the eager outputs (class ids are int32).
    assert [o.dtype for o in outs] == ["float32", "int32", "float32", "float32"]
    class_probs, class_deltas = keras.Input((None, 4)), keras.Input((None, 4, 4))
    out = DetectionLayer(config)([boxes, class_probs, class_deltas, meta])
    assert tuple(out.shape) == (None, config.DETECTION_MAX_INSTANCES, 6)


def test_window_conv_equals_conv2d():
    """The box head's 7x7 / 1x1 "FC" convs as a matmul: same outputs and
    gradients as KL.Conv2D with the same weights."""
    import keras
    import tensorflow as tf

    from mrcnn.heads import WindowConv2D
    rng = np.random.default_rng(0)
    for kernel, shape in (((7, 7), (5, 7, 7, 16)), ((1, 1), (4, 1, 1, 8)),
                          ((3, 3), (2, 6, 6, 4))):  # the last: not a window, plain conv
        x = tf.constant(rng.normal(size=shape).astype(np.float32))
        conv = keras.layers.Conv2D(12, kernel, padding="valid", activation="relu")
        window = WindowConv2D(12, kernel, padding="valid", activation="relu")
        conv.build(shape)
        window.build(shape)
        window.set_weights(conv.get_weights())
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            a, b = conv(x), window(x)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)
        for ga, gb in zip(tape.gradient(a, [x, conv.kernel]), tape.gradient(b, [x, window.kernel])):
            np.testing.assert_allclose(ga.numpy(), gb.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel,shape", [((3, 3), (2, 7, 5, 6)), ((5, 5), (1, 6, 9, 3)),
                                          ((1, 1), (2, 4, 4, 5)), ((3, 1), (1, 5, 6, 4))])
@pytest.mark.parametrize("density", [0.0, 0.08, 0.6, 1.0])
@pytest.mark.parametrize("path", ["sparse", "dense"])
def test_sparse_grad_conv_gradients_equal_conv2d(kernel, shape, density, path):
    """rpn_conv_shared's backward pass that works only where the gradient is
    non-zero: the same input, kernel and bias gradients as TF's dense
    convolution kernels, whichever path (sparse gather/scatter or dense) it
    takes, for gradients that are empty, sparse, half and fully dense."""
    from mrcnn.heads import _conv_relu_sparse_grad
    rng = np.random.default_rng(int(density * 10) + kernel[0] + shape[1])
    x = tf.constant(rng.normal(size=shape).astype(np.float32))
    k = tf.constant(rng.normal(size=kernel + (shape[-1], 8)).astype(np.float32) * 0.3)
    b = tf.constant(rng.normal(size=8).astype(np.float32) * 0.1)
    where = rng.random(shape[:3] + (1,)) < density
    dy = tf.constant((rng.normal(size=shape[:3] + (8,)) * where).astype(np.float32))
    fraction = 1.0 if path == "sparse" else -1.0

    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, k, b])
        ref = tf.nn.relu(tf.nn.conv2d(x, k, 1, "SAME") + b)
        out = _conv_relu_sparse_grad(x, k, b, fraction)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6, atol=1e-6)
    want = tape.gradient(ref, [x, k, b], output_gradients=dy)
    got = tape.gradient(out, [x, k, b], output_gradients=dy)
    assert (out.numpy() > 0).any() and (out.numpy() == 0).any()   # ReLU active and not
    for name, w, g in zip("xkb", want, got):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-5, err_msg=name)
        if density == 0.0:
            assert not np.any(g.numpy())


def test_sparse_grad_conv_layer_is_a_conv2d():
    """SparseGradConv2D: KL.Conv2D's weights and outputs, in training and at
    inference, and its class still reads "Conv2D" (matterport notebooks
    filter layers by class name); configurations it does not cover (here a
    stride of 2) fall back to KL.Conv2D, gradients included."""
    import keras

    from mrcnn.heads import SparseGradConv2D
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(2, 8, 8, 4)).astype(np.float32))
    for kwargs in ({}, {"strides": 2}):
        conv = keras.layers.Conv2D(6, 3, padding="same", activation="relu", **kwargs)
        sparse = SparseGradConv2D(6, 3, padding="same", activation="relu", **kwargs)
        conv.build(x.shape)
        sparse.build(x.shape)
        sparse.set_weights(conv.get_weights())
        assert [w.shape for w in sparse.weights] == [w.shape for w in conv.weights]
        for training in (False, True):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                a, b = conv(x, training=training), sparse(x, training=training)
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-6)
            dy = tf.constant(rng.normal(size=a.shape).astype(np.float32))
            ga = tape.gradient(a, [x, conv.kernel, conv.bias], output_gradients=dy)
            gb = tape.gradient(b, [x, sparse.kernel, sparse.bias], output_gradients=dy)
            for u, v in zip(ga, gb):
                np.testing.assert_allclose(v.numpy(), u.numpy(), rtol=1e-5, atol=1e-5)
    assert type(sparse).__name__ == "Conv2D"


def test_mask_head_on_valid_rois_only():
    """build_fpn_mask_graph(valid=...): the valid RoIs' masks equal those of
    the head run on every RoI (same weights), the other rows are 0, and a
    batch without any valid RoI gives zeros (no empty-batch convolution)."""
    import keras

    from mrcnn.heads import build_fpn_mask_graph
    rng = np.random.default_rng(5)
    meta_size = 1 + 3 + 3 + 4 + 1 + 4
    rois = keras.Input((6, 4))
    meta = keras.Input((meta_size,))
    valid = keras.Input((6,), dtype="bool")
    maps = [keras.Input((s, s, 8)) for s in (16, 8, 4, 2)]
    every = keras.Model([rois, meta] + maps,
                        build_fpn_mask_graph(rois, maps, meta, 4, 3, train_bn=False, channels=8))
    some = keras.Model([rois, meta, valid] + maps,
                       build_fpn_mask_graph(rois, maps, meta, 4, 3, train_bn=False, channels=8,
                                            valid=valid))
    some.set_weights(every.get_weights())
    y1, x1 = rng.uniform(0, 0.5, (2, 2, 6))
    boxes = np.stack([y1, x1, y1 + rng.uniform(0.1, 0.5, (2, 6)),
                      x1 + rng.uniform(0.1, 0.5, (2, 6))], -1).astype(np.float32)
    metas = np.zeros((2, meta_size), np.float32)
    metas[:, 4:7] = (64, 64, 3)
    feats = [rng.normal(size=(2, s, s, 8)).astype(np.float32) for s in (16, 8, 4, 2)]
    full = every([boxes, metas] + feats).numpy()
    assert full.shape == (2, 6, 8, 8, 3)
    for mask in (np.array([[1, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 1]], bool),
                 np.zeros((2, 6), bool), np.ones((2, 6), bool)):
        out = some([boxes, metas, mask] + feats).numpy()
        np.testing.assert_allclose(out[mask], full[mask], rtol=1e-5, atol=1e-6)
        assert not out[~mask].any()
