"""The mask head: RoIAlign 14x14 -> four 3x3 convs -> 2x deconv -> a
sigmoid mask per class (28x28), trained on the positive RoIs only.

Layer names follow matterport (``roi_align_mask``, ``mrcnn_mask_conv1`` ...
``mrcnn_mask``) so weight files load by name.
"""

from keras import layers as KL

from mrcnn.backbone import BatchNorm
from mrcnn.heads.base import RoIHead, register_head
from mrcnn.layers import DetectionTargetLayer, PyramidROIAlign
from mrcnn.layers.rois import FoldRois, GatherRows, ScatterRows, SelectPositives, UnfoldRois, ValidRows
from mrcnn.layers.tensors import DetectionBoxes, DetectionClassIds, LossLayer, Positive


def build_fpn_mask_graph(rois, feature_maps, image_meta, pool_size, num_classes,
                         train_bn=True, channels=256, valid=None):
    """Mask head: RoIAlign (pool_size) -> four 3x3 convs (BN, ReLU) -> 2x2
    stride-2 transposed conv -> 1x1 conv with a sigmoid per class.

    rois: [batch, num_rois, 4] normalised; feature_maps: [P2, P3, P4, P5].
    valid: optional [batch, num_rois] bool: the convolutions then run only on
        the valid RoIs (the positive training RoIs, the real detections) and
        the other rows of the output are 0. The padding rows are ignored
        downstream (mask loss, unmolding), so this changes no result, only
        the work: most images have fewer objects than the slots.
    Returns [batch, num_rois, 2 * pool_size, 2 * pool_size, num_classes],
    float32 (the final 1x1 conv and sigmoid compute in float32 under a
    mixed-precision policy).
    """
    num_rois = rois.shape[1]
    x = PyramidROIAlign([pool_size, pool_size], name="roi_align_mask")(
        [rois, image_meta] + feature_maps)
    x = FoldRois()(x)
    if valid is not None:
        rows = ValidRows()(valid)
        x = GatherRows()([x, rows])
    for i in range(1, 5):
        x = KL.Conv2D(channels, (3, 3), padding="same", name="mrcnn_mask_conv{}".format(i))(x)
        x = BatchNorm(train_bn=train_bn, name="mrcnn_mask_bn{}".format(i))(x)
        x = KL.Activation("relu")(x)
    x = KL.Conv2DTranspose(channels, (2, 2), strides=2, activation="relu",
                           name="mrcnn_mask_deconv")(x)
    x = KL.Conv2D(num_classes, (1, 1), strides=1, activation="sigmoid", name="mrcnn_mask",
                  dtype="float32")(x)
    if valid is not None:
        x = ScatterRows()([x, rows, valid])
    return UnfoldRois(num_rois, name="mrcnn_mask_rois")(x)


@register_head("mask")
class MaskHead(RoIHead):
    """Predicts a mask per class for each RoI.

    Training: on the positive RoIs of DetectionTargetLayer (picked by their
    target class id, SelectPositives), loss ``mrcnn_mask_loss`` (per-pixel
    binary cross-entropy on the mask of the RoI's class).
    Inference: on the box head's ``detections`` (the real ones only; the
    padding rows of ``mrcnn_mask`` are 0).
    Output ``mrcnn_mask``: [batch, rois, MASK_SHAPE[0], MASK_SHAPE[1],
    NUM_CLASSES] float32.
    """

    outputs = ("mrcnn_mask",)
    training_outputs = ("mrcnn_mask",)
    losses = ("mrcnn_mask_loss",)
    requires = ("detections",)

    def _head(self, rois, valid, ctx):
        c = self.config
        return build_fpn_mask_graph(rois, ctx.feature_maps, ctx.image_meta, c.MASK_POOL_SIZE,
                                    c.NUM_CLASSES, train_bn=c.TRAIN_BN,
                                    channels=c.TOP_DOWN_PYRAMID_SIZE, valid=valid)

    def build_training(self, ctx):
        t = ctx.targets
        # Only the positive RoIs have a mask loss: the head runs on at most
        # DetectionTargetLayer's positive quota per image, and of those its
        # convolutions on the real positives only.
        class_ids, rois, target_mask = SelectPositives(
            DetectionTargetLayer.max_positives(self.config), name="mask_positives")(
            [t["target_class_ids"], t["rois"], t["target_mask"]])
        mrcnn_mask = self._head(rois, Positive()(class_ids), ctx)
        return {"mrcnn_mask": mrcnn_mask,
                "mrcnn_mask_loss": LossLayer("mrcnn_mask_loss")(
                    [target_mask, class_ids, mrcnn_mask])}

    def build_inference(self, ctx):
        detections = ctx.outputs["detections"]
        valid = Positive()(DetectionClassIds()(detections))
        return {"mrcnn_mask": self._head(DetectionBoxes()(detections), valid, ctx)}
