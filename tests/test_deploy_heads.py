"""The heads' extra outputs in the deploy graph (mrcnn/deploy/heads.py):
the portable twins of the keypoint head's detection_keypoints and of the
semantic head's panoptic outputs equal the SavedModel's (mrcnn.heads.
keypoint.unmold_keypoints_graph, mrcnn.heads.semantic_serving) on random
inputs with ties, dropped rows and batches of two; and the hook's order.
tests/test_deploy_runtime.py runs them through ONNX Runtime and TFLite."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.deploy import heads as H
from mrcnn.deploy.panoptic import paste_masks_portable, serving_outputs_portable
from mrcnn.deploy.postprocess import unmold_keypoints_portable
from mrcnn.heads.keypoint import unmold_keypoints_graph
from mrcnn.heads.semantic import SemanticHead
from mrcnn.heads.semantic_serving import serving_outputs
from mrcnn.molding import mold_inputs, paste_masks_graph

from test_export import Pad64Config
from test_heads_semantic import TinyPanopticConfig


def _detections(rng, metas, windows, molded_hw, n, classes, valid):
    """Random detections inside the window (normalised), `valid` real rows,
    one of them without area (dropped by the unmolding)."""
    mh, mw = molded_hw
    wy1, wx1, wy2, wx2 = windows[0]
    boxes = np.sort(rng.random((n, 2, 2)), axis=1).reshape(n, 4)
    lo = np.array([wy1 / (mh - 1), wx1 / (mw - 1)] * 2)
    hi = np.array([(wy2 - 1) / (mh - 1), (wx2 - 1) / (mw - 1)] * 2)
    boxes = lo + boxes * (hi - lo)
    scores = np.sort(rng.choice([0.3, 0.55, 0.55, 0.7, 0.9, 0.9], n))[::-1]   # ties
    det = np.concatenate([boxes, rng.integers(1, classes, (n, 1)), scores[:, None]], 1)
    det[valid:] = 0
    det[1, 3] = det[1, 1] - 0.001
    return det.astype(np.float32)


@pytest.mark.parametrize("seed", range(3))
def test_keypoints_equal_the_saved_models(seed):
    config = Pad64Config()
    rng = np.random.default_rng(seed)
    image = np.zeros((77 + 20 * seed, 133, 3), np.uint8)
    molded, metas, windows = mold_inputs([image, image], config)
    n, k = 8, 3
    det = np.stack([_detections(rng, metas, windows, molded.shape[1:3], n,
                                config.NUM_CLASSES, v) for v in (6, 8)])
    kp = np.concatenate([rng.random((2, n, k, 2)) * molded.shape[1:3][::-1],
                         rng.random((2, n, k, 1)) * (rng.random((2, n, k, 1)) > 0.3)], -1)
    args = (tf.constant(det), tf.constant(kp, tf.float32), tf.constant(metas, tf.float32))
    want = unmold_keypoints_graph(*args).numpy()
    got = unmold_keypoints_portable(*args).numpy()
    assert got.dtype == np.float32 and got.shape == (2, n, k, 3)
    assert (want[..., 2] > 0).sum() > 10
    np.testing.assert_array_equal(got, want)


def test_paste_masks_portable_equals_paste_masks_graph():
    rng = np.random.default_rng(0)
    n, h, w = 12, 70, 90
    y = rng.integers(-5, h, (n, 1))
    x = rng.integers(-5, w, (n, 1))
    boxes = np.concatenate([y, x, y + rng.integers(0, 40, (n, 1)),
                            x + rng.integers(0, 50, (n, 1))], 1).astype(np.float32)
    masks = rng.random((n, 28, 28)).astype(np.float32)
    want = paste_masks_graph(tf.constant(boxes), tf.constant(masks), h, w).numpy() > 0
    got = paste_masks_portable(tf.constant(boxes), tf.constant(masks), h, w).numpy()
    assert want.any()
    # float32 instead of float64 weights: a pixel within round-off of 0.5 may flip.
    assert (got != want).sum() <= want.size * 1e-4, (got != want).sum()


class PanopticPad64(TinyPanopticConfig):
    IMAGE_RESIZE_MODE = "pad64"
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 128
    PANOPTIC_STUFF_AREA_LIMIT = 300


def _panoptic_case(seed, config):
    """A batch of two images of one size: detections already unmolded (the
    deploy/SavedModel `result`), smooth masks, a blocky semantic map."""
    rng = np.random.default_rng(seed)
    h, w = 60 + 7 * seed, 90
    molded, metas, windows = mold_inputs([np.zeros((h, w, 3), np.uint8)] * 2, config)
    n = config.DETECTION_MAX_INSTANCES
    nums = np.array([n - 2, int(rng.integers(0, n + 1))], np.int32)
    y1 = rng.integers(0, h - 10, (2, n))
    x1 = rng.integers(0, w - 10, (2, n))
    boxes = np.stack([y1, x1, y1 + rng.integers(5, h // 2, (2, n)),
                      x1 + rng.integers(5, w // 2, (2, n))], -1).clip(0, [h, w, h, w])
    scores = np.sort(rng.choice([0.3, 0.5, 0.6, 0.6, 0.9], (2, n)), axis=1)[:, ::-1]
    classes = rng.integers(1, 4, (2, n))
    classes[:, 2::5] = 4                                  # stuff: skipped by the fusion
    yy, xx = np.mgrid[0:28, 0:28]
    blobs = np.exp(-((yy[None, None] - rng.integers(5, 23, (2, n, 1, 1))) ** 2 +
                     (xx[None, None] - rng.integers(5, 23, (2, n, 1, 1))) ** 2) /
                   (2 * rng.integers(3, 12, (2, n, 1, 1)) ** 2))
    for b in range(2):
        boxes[b, nums[b]:], scores[b, nums[b]:], classes[b, nums[b]:] = 0, 0, 0
        blobs[b, nums[b]:] = 0
    coarse = rng.choice([0, 4, 5, 6], (2, 8, 8))
    semantic = np.repeat(np.repeat(coarse, 16, axis=1), 16, axis=2)[:, :molded.shape[1],
                                                                    :molded.shape[2]]
    result = {"num_detections": tf.constant(nums),
              "detection_boxes": tf.constant(boxes, tf.float32),
              "detection_classes": tf.constant(classes, tf.int32),
              "detection_scores": tf.constant(scores, tf.float32),
              "detection_masks": tf.constant(blobs, tf.float32)}
    return ({"mrcnn_semantic": tf.constant(semantic, tf.int32)},
            tf.constant(metas, tf.float32), tf.constant([[h, w]] * 2, tf.int32), result)


@pytest.mark.parametrize("seed", range(4))
def test_panoptic_outputs_equal_the_saved_models(seed):
    config = PanopticPad64()
    config.PANOPTIC_SCORE_THRESHOLD = [0.5, 0.0, 0.6, 0.7][seed]
    config.PANOPTIC_OVERLAP_THRESHOLD = [0.5, 0.25][seed % 2]
    head = SemanticHead(config)
    args = _panoptic_case(seed, config)
    want = {k: v.numpy() for k, v in serving_outputs(head, *args).items()}
    got = {k: v.numpy() for k, v in serving_outputs_portable(head, *args).items()}
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    assert want["num_segments"].min() >= 1 and want["segment_isthing"].sum() >= 2


def test_hook_prefers_the_heads_method_then_the_twin_then_serving_outputs():
    calls = []

    class Own(object):
        name = "keypoint"

        def portable_serving_outputs(self, *args):
            calls.append("own")
            return {}

    class Plain(object):
        name = "not_registered"

        def serving_outputs(self, *args):
            from mrcnn.layers.portable import portable_default
            calls.append(("plain", portable_default()))
            return {}

    H.portable_serving_outputs(Own(), {}, None, None, {})
    H.portable_serving_outputs(Plain(), {}, None, None, {})
    assert calls == ["own", ("plain", True)]
    assert set(H.PORTABLE_OUTPUTS) >= {"keypoint", "semantic"}
