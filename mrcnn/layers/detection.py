"""DetectionLayer: head outputs -> final detections (per-class NMS)."""

import keras
import numpy as np
import tensorflow as tf

from mrcnn.layers.portable import detection_nms, portable_default
from mrcnn.molding.meta import meta_image_shape, meta_window
from mrcnn.ops import apply_box_deltas_graph, clip_boxes_graph, norm_boxes_graph


def refine_detections_graph(rois, probs, deltas, window, bbox_std_dev, min_confidence,
                            max_instances, nms_threshold, portable=False):
    """Batched detection refinement.

    rois: [B, N, 4] normalised; probs: [B, N, num_classes];
    deltas: [B, N, num_classes, 4]; window: [B, 4] normalised image area
    without padding. Each RoI takes its most probable class; background and
    RoIs below `min_confidence` are dropped; boxes are refined with that
    class's deltas and clipped to the window; NMS runs per class; the
    `max_instances` best remain.
    portable: per-class NMS as one padded NMS over class-offset boxes
    (mrcnn.layers.portable.detection_nms) instead of CombinedNonMaxSuppression.
    Returns [B, max_instances, (y1, x1, y2, x2, class_id, score)], zero-padded.
    """
    class_ids = tf.argmax(probs, axis=-1, output_type=tf.int32)            # [B, N]
    class_scores = tf.gather(probs, class_ids, batch_dims=2)                # [B, N]
    deltas_specific = tf.gather(deltas, class_ids, batch_dims=2)            # [B, N, 4]
    refined = apply_box_deltas_graph(rois, deltas_specific * tf.constant(bbox_std_dev))
    refined = clip_boxes_graph(refined, window[:, None, :])

    keep = class_ids > 0
    if min_confidence:
        keep = tf.logical_and(keep, class_scores >= min_confidence)
    if portable:
        return detection_nms(refined, class_ids, class_scores, keep, max_instances,
                             nms_threshold)
    num_classes = tf.shape(probs)[-1]
    # Score of each RoI under its own class only; 0 elsewhere and for dropped
    # RoIs, so per-class NMS (which keeps scores > 0) never sees them.
    scores = tf.one_hot(class_ids, num_classes) * tf.where(keep, class_scores, 0.)[..., None]
    nms = tf.image.combined_non_max_suppression(
        refined[:, :, None, :], scores,
        max_output_size_per_class=max_instances, max_total_size=max_instances,
        iou_threshold=nms_threshold, score_threshold=0.0, pad_per_class=False,
        clip_boxes=False)
    valid = tf.sequence_mask(nms.valid_detections, max_instances, dtype=tf.float32)[..., None]
    detections = tf.concat([nms.nmsed_boxes, nms.nmsed_classes[..., None],
                            nms.nmsed_scores[..., None]], axis=-1)
    return detections * valid


@keras.saving.register_keras_serializable(package="mrcnn")
class DetectionLayer(keras.layers.Layer):
    """Final detections from the classifier head's outputs.

    Args:
        config: a Config (BBOX_STD_DEV, DETECTION_MIN_CONFIDENCE,
            DETECTION_MAX_INSTANCES, DETECTION_NMS_THRESHOLD), or the same
            values as keyword arguments (for get_config).
        portable: convertible ops instead of CombinedNonMaxSuppression (see
            refine_detections_graph); default: whether the layer is built
            inside mrcnn.layers.portable.portable_ops().

    Inputs:
        rois: [batch, N, (y1, x1, y2, x2)] normalised proposals.
        mrcnn_class: [batch, N, num_classes] class probabilities.
        mrcnn_bbox: [batch, N, num_classes, (dy, dx, log(dh), log(dw))].
        image_meta: [batch, IMAGE_META_SIZE].
    Returns:
        [batch, DETECTION_MAX_INSTANCES, (y1, x1, y2, x2, class_id, score)],
        normalised coordinates, best score first, zero rows at the end.
    """

    def __init__(self, config=None, bbox_std_dev=None, min_confidence=None,
                 max_instances=None, nms_threshold=None, portable=None, **kwargs):
        # Box math and NMS run in float32 under any mixed-precision policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

        def pick(value, attr):
            return value if value is not None else getattr(config, attr)

        self.bbox_std_dev = [float(v) for v in np.asarray(pick(bbox_std_dev, "BBOX_STD_DEV"))]
        self.min_confidence = float(pick(min_confidence, "DETECTION_MIN_CONFIDENCE"))
        self.max_instances = int(pick(max_instances, "DETECTION_MAX_INSTANCES"))
        self.nms_threshold = float(pick(nms_threshold, "DETECTION_NMS_THRESHOLD"))
        self.portable = portable_default(portable)

    def call(self, inputs):
        rois, mrcnn_class, mrcnn_bbox, image_meta = inputs
        image_shape = meta_image_shape(image_meta)[0, :2]
        window = norm_boxes_graph(meta_window(image_meta), image_shape)
        return refine_detections_graph(
            rois, mrcnn_class, mrcnn_bbox, window, self.bbox_std_dev, self.min_confidence,
            self.max_instances, self.nms_threshold, portable=self.portable)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.max_instances, 6)

    def get_config(self):
        config = super().get_config()
        config.update(bbox_std_dev=self.bbox_std_dev, min_confidence=self.min_confidence,
                      max_instances=self.max_instances, nms_threshold=self.nms_threshold,
                      portable=self.portable)
        return config
