"""DetectionLayer (mrcnn/layers/detection.py) against matterport's
refine_detections in NumPy and hand-computed cases."""

import numpy as np
import pytest
import tensorflow as tf

from layer_cases import image_meta, make_config, random_boxes, softmax
from mrcnn import utils
from mrcnn.layers import DetectionLayer


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
