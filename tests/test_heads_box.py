"""The box/class head (mrcnn.heads.box): fpn_classifier_graph's shapes and
names, and BoxHead's place in the graph."""

import numpy as np

from mrcnn.heads import BoxHead, fpn_classifier_graph


def test_classifier_graph_shapes_names_and_softmax():
    import keras
    rng = np.random.default_rng(3)
    meta_size = 1 + 3 + 3 + 4 + 1 + 4
    rois = keras.Input((5, 4))
    meta = keras.Input((meta_size,))
    maps = [keras.Input((s, s, 8)) for s in (16, 8, 4, 2)]
    outputs = fpn_classifier_graph(rois, maps, meta, pool_size=3, num_classes=4,
                                   train_bn=False, fc_layers_size=16)
    model = keras.Model([rois, meta] + maps, list(outputs))
    names = {l.name for l in model.layers if l.weights}
    assert names == {"mrcnn_class_conv1", "mrcnn_class_bn1", "mrcnn_class_conv2",
                     "mrcnn_class_bn2", "mrcnn_class_logits", "mrcnn_bbox_fc"}
    # The "FC" layers are 3x3 and 1x1 convs (matterport's weight shapes).
    assert model.get_layer("mrcnn_class_conv1").kernel.shape == (3, 3, 8, 16)
    assert model.get_layer("mrcnn_class_conv2").kernel.shape == (1, 1, 16, 16)
    boxes = np.array([[[0.1, 0.1, 0.5, 0.6]] * 5] * 2, np.float32)
    boxes[1, 2] = (0.0, 0.0, 1.0, 1.0)
    metas = np.zeros((2, meta_size), np.float32)
    metas[:, 4:7] = (64, 64, 3)
    feats = [rng.normal(size=(2, s, s, 8)).astype(np.float32) for s in (16, 8, 4, 2)]
    logits, probs, deltas = [o.numpy() for o in model([boxes, metas] + feats)]
    assert logits.shape == probs.shape == (2, 5, 4) and deltas.shape == (2, 5, 4, 4)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)
    # Same box, same features: same outputs; another box: other outputs.
    np.testing.assert_allclose(logits[0, 0], logits[0, 4], rtol=1e-5)
    assert not np.allclose(logits[1, 2], logits[1, 0])


def test_box_head_declares_its_contract():
    assert BoxHead.name == "box"
    assert BoxHead.outputs == ("detections", "mrcnn_class", "mrcnn_bbox")
    assert BoxHead.losses == ("mrcnn_class_loss", "mrcnn_bbox_loss")
    assert BoxHead.requires == ()
