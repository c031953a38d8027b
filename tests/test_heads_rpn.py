"""The RPN head (mrcnn.heads.rpn.build_rpn_model): shapes, matterport's
names, and the anchor order of its outputs."""

import numpy as np

from mrcnn.heads import build_rpn_model


def test_rpn_outputs_follow_the_anchor_order():
    """Outputs are [batch, h * w * anchors, k] with the anchors of a cell
    contiguous and the cells row-major (utils.generate_anchors' order): the
    logits are the raw 1x1 conv's output reshaped, the probabilities their
    softmax."""
    import keras
    rpn = build_rpn_model(anchor_stride=1, anchors_per_location=3, depth=8)
    assert rpn.name == "rpn_model"
    assert {l.name for l in rpn.layers if l.weights} == {"rpn_conv_shared", "rpn_class_raw",
                                                         "rpn_bbox_pred"}
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 8)).astype(np.float32)
    logits, probs, bbox = [o.numpy() for o in rpn(x)]
    assert logits.shape == probs.shape == (2, 4 * 5 * 3, 2) and bbox.shape == (2, 60, 4)
    shared = rpn.get_layer("rpn_conv_shared")
    raw = keras.Model(rpn.inputs, [rpn.get_layer("rpn_class_raw").output,
                                   rpn.get_layer("rpn_bbox_pred").output])
    raw_class, raw_bbox = [o.numpy() for o in raw(x)]
    assert raw_class.shape == (2, 4, 5, 6) and shared.filters == 16
    # Cell (1, 2), anchor 1 is row (1 * 5 + 2) * 3 + 1.
    np.testing.assert_allclose(logits[:, 22], raw_class[:, 1, 2, 2:4], rtol=1e-6)
    np.testing.assert_allclose(bbox[:, 22], raw_bbox[:, 1, 2, 4:8], rtol=1e-6)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)
