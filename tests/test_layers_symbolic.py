"""The four graph layers of mrcnn.layers on symbolic Keras inputs (as in
the functional model): static output shapes and dtypes."""

from layer_cases import MINI, make_config
from mrcnn.layers import (DetectionLayer, DetectionTargetLayer, ProposalLayer,
                          PyramidROIAlign)


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
