"""The portable ops of mrcnn/layers/portable.py against the standard layers
(PyramidROIAlign with CropAndResize, ProposalLayer with tf.map_fn,
DetectionLayer with CombinedNonMaxSuppression) on random inputs, eagerly,
for a static batch of 1 and in a graph with a dynamic batch (the
tf.while_loop)."""

import numpy as np
import pytest
import tensorflow as tf

from layer_cases import image_meta, make_config, np_crop_and_resize, random_boxes, softmax
from mrcnn.layers import DetectionLayer, ProposalLayer, PyramidROIAlign
from mrcnn.layers.portable import map_images, portable_default, portable_ops
from mrcnn.layers.roi_align import roi_pyramid_level

LEVEL_SHAPES = {2: (24, 32), 3: (12, 16), 4: (6, 8), 5: (3, 4)}


def graph_call(layer, arrays):
    """layer(arrays) in a tf.function whose inputs have no static sizes but
    the last (the batch too is dynamic: the tf.while_loop runs)."""
    spec = [tf.TensorSpec([None] * (a.ndim - 1) + [a.shape[-1]], tf.float32) for a in arrays]
    fn = tf.function(lambda *a: layer(list(a)), input_signature=spec)
    return fn(*[tf.constant(a) for a in arrays]).numpy()


def test_portable_ops_sets_the_layers_default_and_restores_it():
    assert portable_default() is False
    with portable_ops():
        assert portable_default() is True
        inside = PyramidROIAlign((7, 7))
        explicit = PyramidROIAlign((7, 7), portable=False)
        with portable_ops(False):
            assert portable_default() is False
        assert portable_default() is True
    assert portable_default() is False
    assert inside.portable and not explicit.portable
    assert not PyramidROIAlign((7, 7)).portable
    config = make_config()
    with portable_ops():
        layers = [ProposalLayer(10, 0.7, config=config), DetectionLayer(config)]
    for layer in layers + [inside]:
        assert layer.get_config()["portable"] is True
        assert type(layer).from_config(layer.get_config()).portable is True
    assert DetectionLayer(config).get_config()["portable"] is False


def test_portable_ops_restores_on_error():
    with pytest.raises(RuntimeError):
        with portable_ops():
            raise RuntimeError("boom")
    assert portable_default() is False


############################################################
#  RoIAlign
############################################################

def roi_align_inputs(seed, batch, n=40):
    rng = np.random.default_rng(seed)
    maps = [rng.normal(size=(batch,) + LEVEL_SHAPES[l] + (5,)).astype(np.float32)
            for l in range(2, 6)]
    boxes = np.stack([random_boxes(rng, n, min_size=0.02, max_size=0.9) for _ in range(batch)])
    # Boxes partly outside the image, a flipped box, degenerate boxes (a
    # line, a point) and zero padding.
    boxes[:, 0] = [-0.2, 0.3, 0.4, 1.3]
    boxes[:, 1] = [0.5, -0.4, 1.2, 0.7]
    boxes[:, 2] = [0.8, 0.7, 0.3, 0.2]
    boxes[:, 3] = [0.4, 0.2, 0.4, 0.9]
    boxes[:, 4] = [0.5, 0.5, 0.5, 0.5]
    boxes[:, -2:] = 0
    meta = image_meta(4, (384, 512), (0, 0, 384, 512), batch=batch)
    return boxes, meta, maps


@pytest.mark.parametrize("batch, pool_shape", [(2, (7, 7)), (1, (3, 4)), (2, (1, 1)),
                                               (3, (14, 14))])
def test_portable_roi_align_equals_crop_and_resize(batch, pool_shape):
    boxes, meta, maps = roi_align_inputs(batch * 10 + pool_shape[0], batch)
    levels = roi_pyramid_level(tf.constant(boxes), tf.constant([384.0, 512.0])).numpy()
    assert set(np.unique(levels)) == {2, 3, 4, 5}          # every level
    arrays = [boxes, meta] + maps
    args = [tf.constant(a) for a in arrays]
    want = PyramidROIAlign(pool_shape)(args).numpy()
    layer = PyramidROIAlign(pool_shape, portable=True)
    got = layer(args).numpy()
    assert got.shape == want.shape == (batch, boxes.shape[1]) + pool_shape + (5,)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(graph_call(layer, arrays), want, atol=1e-5, rtol=0)
    # Out-of-image samples are 0, in-image ones are not: both occur (a
    # single sample is the box centre, inside the image here).
    assert (want != 0).any()
    if pool_shape != (1, 1):
        assert (want == 0).all(axis=-1).any()


def test_portable_roi_align_independent_bilinear_reference():
    # An independent check (NumPy from the documented sampling rule), not
    # only agreement with CropAndResize.
    boxes, meta, maps = roi_align_inputs(5, 2, n=12)
    got = PyramidROIAlign((5, 3), portable=True)(
        [tf.constant(a) for a in [boxes, meta] + maps]).numpy()
    levels = roi_pyramid_level(tf.constant(boxes), tf.constant([384.0, 512.0])).numpy()
    for b in range(2):
        for i in range(boxes.shape[1]):
            want = np_crop_and_resize(maps[levels[b, i] - 2][b], boxes[b, i], (5, 3))
            np.testing.assert_allclose(got[b, i], want, atol=1e-5)


def test_portable_roi_align_gradients_and_float16_maps():
    boxes, meta, maps = roi_align_inputs(7, 1, n=10)
    variables = [tf.Variable(m) for m in maps]
    layer = PyramidROIAlign((2, 2), portable=True)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer([tf.constant(boxes), tf.constant(meta)] + variables))
    for g in tape.gradient(loss, variables):
        assert np.isfinite(tf.convert_to_tensor(g).numpy()).all()
    half = layer([tf.constant(boxes), tf.constant(meta)]
                 + [tf.constant(m, tf.float16) for m in maps])
    assert half.dtype == tf.float16
    want = PyramidROIAlign((2, 2))([tf.constant(boxes), tf.constant(meta)]
                                   + [tf.constant(m, tf.float16) for m in maps])
    np.testing.assert_allclose(half.numpy(), want.numpy(), atol=1e-2)


############################################################
#  The batch loop
############################################################

def test_map_images_loop_and_single_image():
    x = np.arange(24, dtype=np.float32).reshape(4, 3, 2)

    def fn(image):
        return tf.reduce_sum(image, axis=0) * 2.0          # [2]

    want = x.sum(axis=1) * 2
    np.testing.assert_array_equal(map_images(fn, [tf.constant(x)], [2]).numpy(), want)
    np.testing.assert_array_equal(map_images(fn, [tf.constant(x[:1])], [2]).numpy(), want[:1])
    graph = tf.function(lambda t: map_images(fn, [t], [2]),
                        input_signature=[tf.TensorSpec([None, None, 2])])
    np.testing.assert_array_equal(graph(tf.constant(x)).numpy(), want)
    assert graph(tf.zeros([0, 3, 2])).numpy().shape == (0, 2)


############################################################
#  Proposals
############################################################

def proposal_inputs(seed, batch, num_anchors=400):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.1, 0.9, (10, 2))
    anchors = np.stack([random_boxes(rng, num_anchors, centres) for _ in range(batch)])
    # Distinct scores: NMS order is then fully defined.
    logits = rng.permutation(batch * num_anchors).reshape(batch, num_anchors) * (6.0 / (batch * num_anchors)) - 3.0
    probs = softmax(np.stack([np.zeros_like(logits), logits], -1)).astype(np.float32)
    deltas = rng.normal(0, 1, (batch, num_anchors, 4)).astype(np.float32)
    return probs, deltas, anchors.astype(np.float32)


@pytest.mark.parametrize("batch, proposal_count, pre_nms_limit", [
    (2, 30, 300),       # truncated to proposal_count
    (1, 200, 150),      # zero padding (fewer survivors than proposal_count)
    (3, 50, 1000),      # pre_nms_limit above the anchor count
])
def test_portable_proposals_equal_proposal_layer(batch, proposal_count, pre_nms_limit):
    probs, deltas, anchors = proposal_inputs(proposal_count, batch)
    for b in range(batch):
        assert len(np.unique(probs[b, :, 1])) == probs.shape[1]
    config = make_config(PRE_NMS_LIMIT=pre_nms_limit)
    arrays = [probs, deltas, anchors]
    want = ProposalLayer(proposal_count, 0.6, config=config)(
        [tf.constant(a) for a in arrays]).numpy()
    layer = ProposalLayer(proposal_count, 0.6, config=config, portable=True)
    got = layer([tf.constant(a) for a in arrays]).numpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(graph_call(layer, arrays), want)
    padded = (np.abs(want).sum(-1) == 0).sum(1)
    if proposal_count == 200:
        assert padded.min() > 0
    else:
        assert padded.max() == 0


############################################################
#  Detections
############################################################

def detection_inputs(seed, config, n=80, batch=2):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.2, 0.8, (5, 2))
    rois = np.clip(np.stack([random_boxes(rng, n, centres, spread=0.05)
                             for _ in range(batch)]), 0, 1)
    probs = softmax(rng.normal(0, 3, (batch, n, config.NUM_CLASSES))).astype(np.float32)
    deltas = rng.normal(0, 1, (batch, n, config.NUM_CLASSES, 4)).astype(np.float32)
    windows = np.tile(np.array([[10, 5, 118, 120]], np.float32), (batch, 1))
    windows[::2] = [0, 16, 128, 112]
    meta = image_meta(config.NUM_CLASSES, (128, 128), windows, batch=batch)
    return [rois.astype(np.float32), probs, deltas, meta]


@pytest.mark.parametrize("batch, min_confidence, max_instances, seed", [
    (2, 0.5, 12, 0),
    (1, 0.0, 12, 1),
    (3, 0.0, 100, 2),       # fewer detections than the slots: zero padding
    (2, 0.7, 100, 3),
])
def test_portable_detections_equal_detection_layer(batch, min_confidence, max_instances, seed):
    config = make_config(DETECTION_MIN_CONFIDENCE=min_confidence,
                         DETECTION_MAX_INSTANCES=max_instances)
    arrays = detection_inputs(seed, config, batch=batch)
    want = DetectionLayer(config)([tf.constant(a) for a in arrays]).numpy()
    layer = DetectionLayer(config, portable=True)
    got = layer([tf.constant(a) for a in arrays]).numpy()
    assert got.shape == (batch, max_instances, 6)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(graph_call(layer, arrays), want)
    counts = (want[..., 4] > 0).sum(1)
    assert counts.min() > 0
    # Per-class NMS: several classes among the detections.
    assert len(np.unique(want[..., 4][want[..., 4] > 0])) >= 2
    if max_instances == 12:
        assert counts.max() == 12
    else:
        assert counts.max() < 100


def test_portable_detections_nms_is_per_class():
    # The same box as class 1 and class 2 both stay; the near copy of
    # class 1 is suppressed; background and low-confidence RoIs never show.
    config = make_config(DETECTION_MIN_CONFIDENCE=0.5, DETECTION_MAX_INSTANCES=4)
    rois = np.array([[[0.1, 0.1, 0.5, 0.5], [0.11, 0.1, 0.51, 0.5], [0.1, 0.1, 0.5, 0.5],
                      [0.6, 0.6, 0.9, 0.9], [0.6, 0.1, 0.9, 0.3]]], np.float32)
    probs = np.array([[[0.1, 0.9, 0.0, 0.0], [0.2, 0.8, 0.0, 0.0], [0.3, 0.0, 0.7, 0.0],
                       [0.95, 0.05, 0.0, 0.0], [0.3, 0.0, 0.3, 0.4]]], np.float32)
    meta = image_meta(4, (128, 128), (0, 0, 128, 128))
    got = DetectionLayer(config, portable=True)(
        [tf.constant(rois), tf.constant(probs), tf.zeros([1, 5, 4, 4]), tf.constant(meta)])
    np.testing.assert_allclose(got.numpy()[0], [[0.1, 0.1, 0.5, 0.5, 1, 0.9],
                                                [0.1, 0.1, 0.5, 0.5, 2, 0.7],
                                                [0, 0, 0, 0, 0, 0],
                                                [0, 0, 0, 0, 0, 0]], atol=1e-6)
