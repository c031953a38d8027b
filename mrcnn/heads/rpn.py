"""The region proposal network's head: a 3x3 conv shared by all pyramid
levels, then objectness logits and box deltas for each anchor.

Layer names follow matterport (``rpn_model`` with ``rpn_conv_shared``,
``rpn_class_raw``, ``rpn_bbox_pred``) so weight files load by name.
"""

import keras
from keras import layers as KL

from mrcnn.layers.fast_conv import SparseGradConv2D
from mrcnn.layers.rois import AnchorsReshape


def build_rpn_model(anchor_stride, anchors_per_location, depth):
    """The RPN as a Keras model shared by all pyramid levels.

    Input: a feature map [batch, height, width, depth].
    Outputs:
        rpn_class_logits: [batch, h * w * anchors, 2] (bg, fg) logits.
        rpn_probs: [batch, h * w * anchors, 2] softmax of the logits.
        rpn_bbox: [batch, h * w * anchors, (dy, dx, log(dh), log(dw))].
    Anchors of a cell are contiguous, cells in row-major order, matching
    utils.generate_anchors.
    Under a mixed-precision policy the shared conv runs in float16/bfloat16
    and the two 1x1 output convs (and so all three outputs) in float32.
    """
    feature_map = KL.Input(shape=[None, None, depth], name="input_rpn_feature_map")
    shared = SparseGradConv2D(2 * depth, (3, 3), padding="same", activation="relu",
                              strides=anchor_stride, name="rpn_conv_shared")(feature_map)
    x = KL.Conv2D(2 * anchors_per_location, (1, 1), padding="valid",
                  activation="linear", name="rpn_class_raw", dtype="float32")(shared)
    rpn_class_logits = AnchorsReshape(2)(x)
    rpn_probs = KL.Activation("softmax", name="rpn_class_xxx", dtype="float32")(
        rpn_class_logits)
    x = KL.Conv2D(anchors_per_location * 4, (1, 1), padding="valid",
                  activation="linear", name="rpn_bbox_pred", dtype="float32")(shared)
    rpn_bbox = AnchorsReshape(4)(x)
    return keras.Model([feature_map], [rpn_class_logits, rpn_probs, rpn_bbox], name="rpn_model")


