"""DetectionTargetLayer: sample RoIs and build the heads' training targets."""

import keras
import numpy as np
import tensorflow as tf

from mrcnn.ops import box_refinement_graph, overlaps_graph, trim_zeros_graph


def detection_targets_graph(proposals, gt_class_ids, gt_boxes, gt_masks,
                            train_rois_per_image, roi_positive_ratio, bbox_std_dev,
                            mask_shape, use_mini_mask):
    """Targets of one image. See DetectionTargetLayer for the shapes.

    RoIs with IoU >= 0.5 to a ground-truth box are positive, < 0.5 negative
    (unless they touch a crowd box, class id < 0). At most
    train_rois_per_image * roi_positive_ratio positives are sampled, and
    negatives so that positives make up roi_positive_ratio of the RoIs.
    """
    proposals, _ = trim_zeros_graph(proposals, name="trim_proposals")
    gt_boxes, non_zeros = trim_zeros_graph(gt_boxes, name="trim_gt_boxes")
    gt_class_ids = tf.boolean_mask(gt_class_ids, non_zeros)
    gt_masks = tf.gather(gt_masks, tf.where(non_zeros)[:, 0], axis=2)

    # Crowd boxes (negative class ids) only stop RoIs from being negatives.
    crowd_ix = tf.where(gt_class_ids < 0)[:, 0]
    non_crowd_ix = tf.where(gt_class_ids > 0)[:, 0]
    crowd_boxes = tf.gather(gt_boxes, crowd_ix)
    gt_class_ids = tf.gather(gt_class_ids, non_crowd_ix)
    gt_boxes = tf.gather(gt_boxes, non_crowd_ix)
    gt_masks = tf.gather(gt_masks, non_crowd_ix, axis=2)

    overlaps = overlaps_graph(proposals, gt_boxes)
    crowd_overlaps = overlaps_graph(proposals, crowd_boxes)
    no_crowd_bool = tf.reduce_max(crowd_overlaps, axis=1) < 0.001
    roi_iou_max = tf.reduce_max(overlaps, axis=1)

    positive_indices = tf.where(roi_iou_max >= 0.5)[:, 0]
    negative_indices = tf.where(tf.logical_and(roi_iou_max < 0.5, no_crowd_bool))[:, 0]
    positive_count = int(train_rois_per_image * roi_positive_ratio)
    positive_indices = tf.random.shuffle(positive_indices)[:positive_count]
    positive_count = tf.shape(positive_indices)[0]
    r = 1.0 / roi_positive_ratio
    negative_count = tf.cast(r * tf.cast(positive_count, tf.float32), tf.int32) - positive_count
    negative_indices = tf.random.shuffle(negative_indices)[:negative_count]

    positive_rois = tf.gather(proposals, positive_indices)
    negative_rois = tf.gather(proposals, negative_indices)

    # Each positive RoI is assigned the ground truth it overlaps most.
    positive_overlaps = tf.gather(overlaps, positive_indices)
    roi_gt_box_assignment = tf.cond(
        tf.greater(tf.shape(positive_overlaps)[1], 0),
        true_fn=lambda: tf.argmax(positive_overlaps, axis=1),
        false_fn=lambda: tf.zeros([0], tf.int64))
    roi_gt_boxes = tf.gather(gt_boxes, roi_gt_box_assignment)
    roi_gt_class_ids = tf.gather(gt_class_ids, roi_gt_box_assignment)

    deltas = box_refinement_graph(positive_rois, roi_gt_boxes)
    deltas /= tf.constant(bbox_std_dev, tf.float32)

    # Mask targets: the assigned ground-truth mask cropped to the RoI.
    transposed_masks = tf.expand_dims(tf.transpose(gt_masks, [2, 0, 1]), -1)
    roi_masks = tf.gather(transposed_masks, roi_gt_box_assignment)
    boxes = positive_rois
    if use_mini_mask:
        # Mini-masks cover the gt box only: express the RoI in that frame.
        y1, x1, y2, x2 = tf.split(positive_rois, 4, axis=1)
        gt_y1, gt_x1, gt_y2, gt_x2 = tf.split(roi_gt_boxes, 4, axis=1)
        gt_h = gt_y2 - gt_y1
        gt_w = gt_x2 - gt_x1
        boxes = tf.concat([(y1 - gt_y1) / gt_h, (x1 - gt_x1) / gt_w,
                           (y2 - gt_y1) / gt_h, (x2 - gt_x1) / gt_w], 1)
    box_ids = tf.range(0, tf.shape(roi_masks)[0])
    masks = tf.image.crop_and_resize(tf.cast(roi_masks, tf.float32), boxes, box_ids,
                                     mask_shape)
    masks = tf.round(tf.squeeze(masks, axis=3))

    # Positives first, then negatives, then zero padding.
    rois = tf.concat([positive_rois, negative_rois], axis=0)
    n = tf.shape(negative_rois)[0]
    p = tf.maximum(train_rois_per_image - tf.shape(rois)[0], 0)
    rois = tf.pad(rois, [(0, p), (0, 0)])
    roi_gt_class_ids = tf.pad(roi_gt_class_ids, [(0, n + p)])
    deltas = tf.pad(deltas, [(0, n + p), (0, 0)])
    masks = tf.pad(masks, [[0, n + p], (0, 0), (0, 0)])
    return rois, roi_gt_class_ids, deltas, masks


@keras.saving.register_keras_serializable(package="mrcnn")
class DetectionTargetLayer(keras.layers.Layer):
    """Samples RoIs among the proposals and builds their targets: class ids,
    box deltas (divided by BBOX_STD_DEV) and masks.

    Args:
        config: a Config (TRAIN_ROIS_PER_IMAGE, ROI_POSITIVE_RATIO,
            BBOX_STD_DEV, MASK_SHAPE, USE_MINI_MASK), or the same values as
            keyword arguments (for get_config).

    Inputs:
        proposals: [batch, N, (y1, x1, y2, x2)] normalised, zero-padded.
        gt_class_ids: [batch, MAX_GT_INSTANCES] int; negative = crowd.
        gt_boxes: [batch, MAX_GT_INSTANCES, (y1, x1, y2, x2)] normalised.
        gt_masks: [batch, height, width, MAX_GT_INSTANCES] bool (mini-masks
            of MINI_MASK_SHAPE when USE_MINI_MASK).
    Returns:
        rois: [batch, TRAIN_ROIS_PER_IMAGE, (y1, x1, y2, x2)] normalised
        target_class_ids: [batch, TRAIN_ROIS_PER_IMAGE] int32
        target_bbox: [batch, TRAIN_ROIS_PER_IMAGE, (dy, dx, log(dh), log(dw))]
        target_mask: [batch, TRAIN_ROIS_PER_IMAGE, mask_h, mask_w]
    All zero-padded after the sampled RoIs.
    """

    # The outputs by name (the heads read ctx.targets[name]). Positive RoIs
    # are those with target_class_ids > 0; an image has at most
    # max_positives(config) of them.
    OUTPUTS = ("rois", "target_class_ids", "target_bbox", "target_mask")

    @staticmethod
    def max_positives(config):
        """The most positive RoIs an image gets (TRAIN_ROIS_PER_IMAGE *
        ROI_POSITIVE_RATIO, at least 1)."""
        return max(1, int(config.TRAIN_ROIS_PER_IMAGE * config.ROI_POSITIVE_RATIO))

    def __init__(self, config=None, train_rois_per_image=None, roi_positive_ratio=None,
                 bbox_std_dev=None, mask_shape=None, use_mini_mask=None, **kwargs):
        # Box math and NMS run in float32 under any mixed-precision policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

        def pick(value, attr):
            return value if value is not None else getattr(config, attr)

        self.train_rois_per_image = int(pick(train_rois_per_image, "TRAIN_ROIS_PER_IMAGE"))
        self.roi_positive_ratio = float(pick(roi_positive_ratio, "ROI_POSITIVE_RATIO"))
        self.bbox_std_dev = [float(v) for v in np.asarray(pick(bbox_std_dev, "BBOX_STD_DEV"))]
        self.mask_shape = [int(v) for v in pick(mask_shape, "MASK_SHAPE")]
        self.use_mini_mask = bool(pick(use_mini_mask, "USE_MINI_MASK"))

    def call(self, inputs):
        proposals, gt_class_ids, gt_boxes, gt_masks = inputs
        t = self.train_rois_per_image
        h, w = self.mask_shape

        def one_image(args):
            return detection_targets_graph(
                *args, self.train_rois_per_image, self.roi_positive_ratio,
                self.bbox_std_dev, self.mask_shape, self.use_mini_mask)

        rois, class_ids, deltas, masks = tf.map_fn(
            one_image,
            (tf.cast(proposals, tf.float32), tf.cast(gt_class_ids, tf.int32),
             tf.cast(gt_boxes, tf.float32), tf.cast(gt_masks, tf.bool)),
            fn_output_signature=(tf.TensorSpec([t, 4], tf.float32),
                                 tf.TensorSpec([t], tf.int32),
                                 tf.TensorSpec([t, 4], tf.float32),
                                 tf.TensorSpec([t, h, w], tf.float32)))
        return rois, class_ids, deltas, masks

    def compute_output_shape(self, input_shape):
        b = input_shape[0][0]
        t = self.train_rois_per_image
        return [(b, t, 4), (b, t), (b, t, 4), (b, t) + tuple(self.mask_shape)]

    def compute_output_spec(self, inputs):
        # Keras would give every output the layer's float dtype; the class
        # ids are int32, as call() returns them.
        shapes = self.compute_output_shape([tuple(x.shape) for x in inputs])
        dtypes = ["float32", "int32", "float32", "float32"]
        return [keras.KerasTensor(s, dtype=d) for s, d in zip(shapes, dtypes)]

    def get_config(self):
        config = super().get_config()
        config.update(train_rois_per_image=self.train_rois_per_image,
                      roi_positive_ratio=self.roi_positive_ratio,
                      bbox_std_dev=self.bbox_std_dev, mask_shape=self.mask_shape,
                      use_mini_mask=self.use_mini_mask)
        return config
