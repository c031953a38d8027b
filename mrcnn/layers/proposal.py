"""ProposalLayer: RPN scores and deltas -> region proposals."""

import keras
import numpy as np
import tensorflow as tf

from mrcnn.layers.portable import portable_default, proposal_nms
from mrcnn.ops import apply_box_deltas_graph, clip_boxes_graph


@keras.saving.register_keras_serializable(package="mrcnn")
class ProposalLayer(keras.layers.Layer):
    """Turns anchor scores and deltas into `proposal_count` proposals per image.

    Keeps the `pre_nms_limit` best-scored anchors, applies their deltas
    (scaled by `rpn_bbox_std_dev`), clips them to the image ([0, 1]), then
    runs NMS at `nms_threshold` and zero-pads to `proposal_count`.

    Args:
        proposal_count: proposals per image after NMS.
        nms_threshold: IoU above which a lower-scored box is suppressed.
        config: a Config (matterport's signature); supplies PRE_NMS_LIMIT and
            RPN_BBOX_STD_DEV unless they are given explicitly.
        pre_nms_limit: explicit PRE_NMS_LIMIT (for get_config).
        rpn_bbox_std_dev: explicit RPN_BBOX_STD_DEV (for get_config).
        portable: NMS per image in a tf.while_loop of padded NMS instead of
            tf.map_fn (mrcnn.layers.portable; same proposals); default: whether
            the layer is built inside portable_ops().

    Inputs:
        rpn_probs: [batch, num_anchors, (bg prob, fg prob)]
        rpn_bbox: [batch, num_anchors, (dy, dx, log(dh), log(dw))]
        anchors: [batch, num_anchors, (y1, x1, y2, x2)], normalised.
    Returns:
        [batch, proposal_count, (y1, x1, y2, x2)] normalised, best first,
        zero rows after the last proposal.
    """

    def __init__(self, proposal_count, nms_threshold, config=None,
                 pre_nms_limit=None, rpn_bbox_std_dev=None, portable=None, **kwargs):
        # Box math and NMS run in float32 under any mixed-precision policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.proposal_count = int(proposal_count)
        self.nms_threshold = float(nms_threshold)
        if pre_nms_limit is None:
            pre_nms_limit = config.PRE_NMS_LIMIT if config is not None else 6000
        if rpn_bbox_std_dev is None:
            rpn_bbox_std_dev = (config.RPN_BBOX_STD_DEV if config is not None
                                else [0.1, 0.1, 0.2, 0.2])
        self.pre_nms_limit = int(pre_nms_limit)
        self.rpn_bbox_std_dev = [float(v) for v in np.asarray(rpn_bbox_std_dev).reshape(4)]
        self.portable = portable_default(portable)

    def call(self, inputs):
        rpn_probs, rpn_bbox, anchors = inputs
        scores = rpn_probs[:, :, 1]
        deltas = rpn_bbox * tf.constant(self.rpn_bbox_std_dev, tf.float32)
        k = tf.minimum(self.pre_nms_limit, tf.shape(anchors)[1])
        top = tf.math.top_k(scores, k, sorted=True)
        scores = top.values
        deltas = tf.gather(deltas, top.indices, batch_dims=1)
        anchors = tf.gather(anchors, top.indices, batch_dims=1)
        boxes = apply_box_deltas_graph(anchors, deltas)
        boxes = clip_boxes_graph(boxes, tf.constant([0., 0., 1., 1.]))
        if self.portable:
            return proposal_nms(boxes, scores, self.proposal_count, self.nms_threshold)

        def nms(args):
            image_boxes, image_scores = args
            keep = tf.image.non_max_suppression(
                image_boxes, image_scores, self.proposal_count, self.nms_threshold)
            proposals = tf.gather(image_boxes, keep)
            padding = tf.maximum(self.proposal_count - tf.shape(proposals)[0], 0)
            return tf.pad(proposals, [(0, padding), (0, 0)])

        return tf.map_fn(nms, (boxes, scores),
                         fn_output_signature=tf.TensorSpec([self.proposal_count, 4], tf.float32))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.proposal_count, 4)

    def get_config(self):
        config = super().get_config()
        config.update(proposal_count=self.proposal_count, nms_threshold=self.nms_threshold,
                      pre_nms_limit=self.pre_nms_limit, rpn_bbox_std_dev=self.rpn_bbox_std_dev,
                      portable=self.portable)
        return config
