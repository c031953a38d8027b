"""The keypoint head (Keypoint R-CNN, Mask R-CNN paper section 5, the head
of detectron2's KRCNNConvDeconvUpsampleHead): RoIAlign 14x14 ->
KEYPOINT_CONV_LAYERS 3x3 convs of KEYPOINT_CONV_CHANNELS (ReLU) -> a 4x4
stride-2 deconvolution to K channels -> 2x bilinear upsampling: one
56x56 heatmap of logits per keypoint and RoI.

Training: on the positive RoIs of DetectionTargetLayer whose class carries
keypoints (config.keypoint_class_ids()) and that hold at least one keypoint
target (the others would add nothing to the loss). Each positive RoI is assigned the
ground truth it overlaps most among the non-crowd instances (the rule of
DetectionTargetLayer, recomputed here from the RoIs and the ground-truth
boxes, so DetectionTargetLayer's outputs stay matterport's). A keypoint of
that instance with v > 0 inside the RoI becomes one target cell of its
heatmap; the loss ``keypoint_loss`` is the softmax cross-entropy over the
56 x 56 cells, summed over those keypoints and divided by their number in
the batch.

Inference: on the box head's detections; ``mrcnn_keypoints`` [batch,
DETECTION_MAX_INSTANCES, K, (x, y, score)]: each heatmap's arg-max cell
centre in pixels of the molded image and its softmax probability; zeros
for padding rows and classes without keypoints. MaskRCNN.detect() maps
them to the original image (mrcnn.data.keypoints.unmold_keypoints).

The coordinate rules are those of mrcnn.data.keypoints (encode_keypoints,
decode_heatmaps), written here in TensorFlow.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers as KL

from mrcnn import losses
from mrcnn.data.keypoints import unmold_keypoints
from mrcnn.heads.base import RoIHead, register_head
from mrcnn.layers import DetectionTargetLayer, PyramidROIAlign
from mrcnn.layers.rois import FoldRois, GatherRows, ScatterRows, SelectPositives, UnfoldRois, ValidRows
from mrcnn.layers.tensors import DetectionBoxes, DetectionClassIds, Float32Layer, LossLayer
from mrcnn.ops import norm_boxes_graph, overlaps_graph


############################################################
#  Loss
############################################################

def keypoint_loss_graph(target_index, target_weight, pred_logits):
    """Softmax cross-entropy of each valid keypoint's heatmap at its target
    cell, summed and divided by the number of valid keypoints (0 when there
    is none).

    target_index: int [batch, rois, K]: row * S + column of the target.
    target_weight: [batch, rois, K] 1 for a valid target, 0 otherwise.
    pred_logits: [batch, rois, S, S, K] heatmap logits.
    """
    logits = tf.cast(pred_logits, tf.float32)
    shape = tf.shape(logits)
    logits = tf.reshape(logits, tf.stack([shape[0], shape[1], shape[2] * shape[3], shape[4]]))
    logits = tf.transpose(logits, [0, 1, 3, 2])                    # [B, R, K, S*S]
    weight = tf.cast(target_weight, tf.float32)
    labels = tf.cast(target_index, tf.int32) * tf.cast(weight > 0, tf.int32)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_sum(ce * weight) / tf.maximum(tf.reduce_sum(weight), 1.0)


losses.register_loss("keypoint_loss", keypoint_loss_graph)


############################################################
#  Layers
############################################################

def _pixel_boxes(rois, image_hw):
    """Normalised boxes [..., 4] -> continuous pixel boxes (the frame of
    mrcnn.data.keypoints.roi_pixel_boxes)."""
    h = tf.cast(image_hw[0], tf.float32)
    w = tf.cast(image_hw[1], tf.float32)
    y1, x1, y2, x2 = tf.unstack(tf.cast(rois, tf.float32), axis=-1)
    return y1 * (h - 1), x1 * (w - 1), y2 * (h - 1) + 1, x2 * (w - 1) + 1


class _ClassTable(Float32Layer):
    """A layer that knows which class ids carry keypoints."""

    def __init__(self, keypoint_classes, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.keypoint_classes = [int(c) for c in keypoint_classes]
        self.num_classes = int(num_classes)

    def _allowed(self, class_ids):
        """bool [...]: class id > 0 and among keypoint_classes."""
        table = np.zeros([self.num_classes], bool)
        table[self.keypoint_classes] = True
        ids = tf.cast(class_ids, tf.int32)
        allowed = tf.gather(tf.constant(table), tf.clip_by_value(ids, 0, self.num_classes - 1))
        return tf.logical_and(allowed, ids > 0)

    def get_config(self):
        config = super().get_config()
        config.update(keypoint_classes=self.keypoint_classes, num_classes=self.num_classes)
        return config


@keras.saving.register_keras_serializable(package="mrcnn")
class KeypointRows(_ClassTable):
    """class ids [batch, rois] -> bool [batch, rois]: the RoIs (positives,
    detections) whose class carries keypoints."""

    def call(self, class_ids):
        return self._allowed(class_ids)

    def compute_output_spec(self, class_ids):
        return keras.KerasTensor(class_ids.shape, dtype="bool")


@keras.saving.register_keras_serializable(package="mrcnn")
class RowsWithTargets(Float32Layer):
    """Target weights [batch, rois, K] -> bool [batch, rois]: the RoIs with
    at least one keypoint target (weight > 0)."""

    def call(self, weight):
        return tf.reduce_any(weight > 0, axis=-1)

    def compute_output_spec(self, weight):
        return keras.KerasTensor(tuple(weight.shape[:2]), dtype="bool")


@keras.saving.register_keras_serializable(package="mrcnn")
class KeypointTargets(_ClassTable):
    """The heatmap targets of the positive RoIs.

    Inputs: rois [batch, P, 4] normalised and their target class ids
    [batch, P] (SelectPositives' output), gt_class_ids [batch, G],
    gt_boxes [batch, G, 4] pixels, gt_keypoints [batch, G, K, 3] pixels of
    the molded image, the image [batch, H, W, C] (its size).
    Outputs: index int32 [batch, P, K] (row * size + column) and weight
    float32 [batch, P, K] (1: v > 0, inside the RoI, a positive RoI of a
    keypoint class).
    """

    def __init__(self, size, keypoint_classes, num_classes, **kwargs):
        super().__init__(keypoint_classes, num_classes, **kwargs)
        self.size = int(size)

    def call(self, inputs):
        rois, class_ids, gt_class_ids, gt_boxes, gt_keypoints, image = inputs
        rois = tf.stop_gradient(tf.cast(rois, tf.float32))
        image_hw = tf.shape(image)[1:3]
        gt_norm = norm_boxes_graph(gt_boxes, image_hw)
        # DetectionTargetLayer's assignment: the max-IoU non-crowd instance
        # (the first of equal ones).
        overlaps = overlaps_graph(rois, gt_norm)                   # [B, P, G]
        real = tf.cast(gt_class_ids, tf.int32) > 0
        overlaps = tf.where(real[:, None, :], overlaps, -1.0)
        assigned = tf.argmax(overlaps, axis=2, output_type=tf.int32)
        kp = tf.gather(tf.cast(gt_keypoints, tf.float32), assigned, batch_dims=1)  # [B,P,K,3]
        y1, x1, y2, x2 = (c[..., None] for c in _pixel_boxes(rois, image_hw))
        x, y, v = kp[..., 0], kp[..., 1], kp[..., 2]
        inside = (x >= x1) & (x <= x2) & (y >= y1) & (y <= y2)
        s = float(self.size)
        col = tf.clip_by_value(tf.floor((x - x1) / tf.maximum(x2 - x1, 1e-6) * s), 0, s - 1)
        row = tf.clip_by_value(tf.floor((y - y1) / tf.maximum(y2 - y1, 1e-6) * s), 0, s - 1)
        index = tf.cast(row, tf.int32) * self.size + tf.cast(col, tf.int32)
        valid = inside & (v > 0) & self._allowed(class_ids)[..., None]
        return index, tf.cast(valid, tf.float32)

    def compute_output_spec(self, inputs):
        shape = tuple(inputs[0].shape[:2]) + (inputs[4].shape[2],)
        return [keras.KerasTensor(shape, dtype="int32"), keras.KerasTensor(shape, dtype="float32")]

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size)
        return config


@keras.saving.register_keras_serializable(package="mrcnn")
class HeatmapKeypoints(_ClassTable):
    """Heatmap logits [batch, N, S, S, K], boxes [batch, N, 4] normalised,
    class ids [batch, N] and the image [batch, H, W, C] -> keypoints
    [batch, N, K, (x, y, score)] in pixels of the molded image: each
    channel's arg-max cell centre and its softmax probability; zeros for
    rows without keypoints (padding, other classes)."""

    def call(self, inputs):
        heatmaps, boxes, class_ids, image = inputs
        heatmaps = tf.cast(heatmaps, tf.float32)
        shape = tf.shape(heatmaps)
        size = shape[2]
        flat = tf.reshape(heatmaps, tf.stack([shape[0], shape[1], size * shape[3], shape[4]]))
        best = tf.argmax(flat, axis=2, output_type=tf.int32)      # [B, N, K]
        probs = tf.nn.softmax(flat, axis=2)
        score = tf.squeeze(tf.gather(tf.transpose(probs, [0, 1, 3, 2]), best[..., None],
                                     batch_dims=3), -1)
        y1, x1, y2, x2 = (c[..., None] for c in _pixel_boxes(boxes, tf.shape(image)[1:3]))
        s = tf.cast(size, tf.float32)
        col = tf.cast(best % size, tf.float32)
        row = tf.cast(best // size, tf.float32)
        x = x1 + (col + 0.5) * (x2 - x1) / s
        y = y1 + (row + 0.5) * (y2 - y1) / s
        keypoints = tf.stack([x, y, score], axis=-1)
        keep = self._allowed(class_ids)[..., None, None]
        return tf.where(keep, keypoints, tf.zeros_like(keypoints))

    def compute_output_spec(self, inputs):
        heatmaps = inputs[0]
        return keras.KerasTensor(tuple(heatmaps.shape[:2]) + (heatmaps.shape[4], 3),
                                 dtype="float32")


############################################################
#  The head
############################################################

def build_keypoint_graph(rois, valid, feature_maps, image_meta, config):
    """RoIAlign -> convs -> deconv -> bilinear 2x: heatmap logits [batch,
    num_rois, S, S, K] (float32), computed on the `valid` rows only (the
    others are 0). Layers are named mrcnn_keypoint_* (trained with
    layers="heads")."""
    num_rois = rois.shape[1]
    pool = int(config.KEYPOINT_POOL_SIZE)
    init = keras.initializers.VarianceScaling(2.0, mode="fan_out",
                                              distribution="untruncated_normal")
    x = PyramidROIAlign([pool, pool], name="roi_align_keypoint")(
        [rois, image_meta] + feature_maps)
    x = FoldRois()(x)
    rows = ValidRows()(valid)
    x = GatherRows()([x, rows])
    for i in range(1, int(config.KEYPOINT_CONV_LAYERS) + 1):
        x = KL.Conv2D(int(config.KEYPOINT_CONV_CHANNELS), (3, 3), padding="same",
                      activation="relu", kernel_initializer=init,
                      name="mrcnn_keypoint_conv{}".format(i))(x)
    # A small initial deconvolution: the heatmaps start near uniform (loss
    # about log(S * S)) instead of with logits of tens.
    x = KL.Conv2DTranspose(len(config.KEYPOINT_NAMES), (4, 4), strides=2, padding="same",
                           kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
                           name="mrcnn_keypoint_deconv",
                           dtype="float32")(x)
    x = KL.UpSampling2D(size=2, interpolation="bilinear", name="mrcnn_keypoint_upsample",
                        dtype="float32")(x)
    x = ScatterRows()([x, rows, valid])
    return UnfoldRois(num_rois, name="mrcnn_keypoint_logits")(x)


############################################################
#  Serving (the SavedModel's detection_keypoints)
############################################################

def unmold_keypoints_graph(detections, keypoints, metas):
    """The TensorFlow twin of mrcnn.data.keypoints.unmold_keypoints for a
    batch: keypoints [B, N, K, (x, y, score)] of the molded images ->
    float32 [B, N, K, 3] in original image pixels, the rows kept and ordered
    as mrcnn.molding.unmold_detections_graph keeps them (class > 0, box with
    area in original pixels), zeros after them.

    detections: [B, N, (y1, x1, y2, x2, class_id, score)] normalised;
    metas: [B, IMAGE_META_SIZE] image metas."""
    from mrcnn.molding.detections import kept_rows_graph

    _, order, _, valid = kept_rows_graph(detections, metas)
    kp = tf.gather(keypoints_to_original_graph(keypoints, metas), order, batch_dims=1)
    return tf.where(valid[..., None, None], kp, 0.)


def keypoints_to_original_graph(keypoints, metas):
    """keypoints [B, N, K, (x, y, score)] in molded-image pixels -> float32
    [B, N, K, 3] in original image pixels (x, y clipped to the image; 0
    where the score is 0), in float32 as mrcnn.data.keypoints.unmold_keypoints."""
    from mrcnn.molding.meta import meta_original_shape, meta_window

    original = tf.cast(meta_original_shape(metas)[:, :2], tf.float32)
    window = tf.cast(meta_window(metas), tf.float32)
    kp = tf.cast(keypoints, tf.float32)
    x1, y1 = window[:, None, None, 1], window[:, None, None, 0]
    ww = tf.maximum(window[:, 3] - window[:, 1], 1e-6)[:, None, None]
    wh = tf.maximum(window[:, 2] - window[:, 0], 1e-6)[:, None, None]
    h, w = original[:, 0, None, None], original[:, 1, None, None]
    present = kp[..., 2] > 0
    x = tf.where(present, tf.clip_by_value((kp[..., 0] - x1) * w / ww, 0., w), 0.)
    y = tf.where(present, tf.clip_by_value((kp[..., 1] - y1) * h / wh, 0., h), 0.)
    return tf.stack([x, y, kp[..., 2]], axis=-1)


@register_head("keypoint")
class KeypointHead(RoIHead):
    """Predicts a heatmap per keypoint for each RoI (see the module
    docstring). Selected by config.KEYPOINT_NAMES (Config adds "keypoint"
    to ROI_HEADS).

    Training input ``input_gt_keypoints`` [batch, MAX_GT_INSTANCES, K,
    (x, y, v)] (molded-image pixels, mrcnn.data.pipeline); training outputs
    ``mrcnn_keypoint_logits`` [batch, positives, S, S, K] and the loss
    ``keypoint_loss``; inference output ``mrcnn_keypoints``.
    """

    outputs = ("mrcnn_keypoints",)
    training_outputs = ("mrcnn_keypoint_logits",)
    losses = ("keypoint_loss",)
    requires = ("detections",)

    def __init__(self, config):
        super().__init__(config)
        if not config.KEYPOINT_NAMES:
            raise ValueError("config.ROI_HEADS has 'keypoint' but config.KEYPOINT_NAMES is "
                             "empty")

    def unmold(self, outputs, original_image_shape, image_shape, window):
        """detect()'s "keypoints": float32 [N, K, (x, y, score)] in original
        image pixels."""
        return {"keypoints": unmold_keypoints(outputs["detections"], outputs["mrcnn_keypoints"],
                                              original_image_shape, image_shape, window)}

    def serving_signature(self):
        """The SavedModel's ``detection_keypoints``: float32 [N, K, (x, y,
        score)] per image, in original image pixels (detect()'s
        "keypoints", rows after num_detections zero)."""
        return {"detection_keypoints": tf.TensorSpec(
            [int(self.config.DETECTION_MAX_INSTANCES), len(self.config.KEYPOINT_NAMES), 3],
            tf.float32)}

    def serving_outputs(self, outputs, metas, original_hw, result):
        return {"detection_keypoints": unmold_keypoints_graph(
            outputs["detections"], outputs["mrcnn_keypoints"], metas)}

    def _classes(self):
        return dict(keypoint_classes=self.config.keypoint_class_ids(),
                    num_classes=self.config.NUM_CLASSES)

    def training_inputs(self):
        return {"input_gt_keypoints": KL.Input(
            shape=[None, len(self.config.KEYPOINT_NAMES), 3], name="input_gt_keypoints",
            dtype="float32")}

    def build_training(self, ctx):
        c, t, inputs = self.config, ctx.targets, ctx.inputs
        class_ids, rois = SelectPositives(DetectionTargetLayer.max_positives(c),
                                          name="keypoint_positives")(
            [t["target_class_ids"], t["rois"]])
        index, weight = KeypointTargets(c.KEYPOINT_MASK_SHAPE, name="keypoint_targets",
                                        **self._classes())(
            [rois, class_ids, inputs["input_gt_class_ids"], inputs["input_gt_boxes"],
             inputs["input_gt_keypoints"], inputs["input_image"]])
        # Only the RoIs with a keypoint target go through the head (the
        # others add nothing to the loss: COCO has many persons without a
        # labelled keypoint, and keypoints outside the RoI are ignored), as
        # detectron2 selects proposals with visible keypoints.
        valid = RowsWithTargets(name="keypoint_rows")(weight)
        logits = build_keypoint_graph(rois, valid, ctx.feature_maps, ctx.image_meta, c)
        return {"mrcnn_keypoint_logits": logits,
                "keypoint_loss": LossLayer("keypoint_loss")([index, weight, logits])}

    def build_inference(self, ctx):
        detections = ctx.outputs["detections"]
        class_ids = DetectionClassIds()(detections)
        boxes = DetectionBoxes()(detections)
        valid = KeypointRows(name="keypoint_rows", **self._classes())(class_ids)
        logits = build_keypoint_graph(boxes, valid, ctx.feature_maps, ctx.image_meta,
                                      self.config)
        keypoints = HeatmapKeypoints(name="mrcnn_keypoints", **self._classes())(
            [logits, boxes, class_ids, ctx.inputs["input_image"]])
        return {"mrcnn_keypoints": keypoints}
