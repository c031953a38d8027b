"""The box/class head: RoIAlign 7x7 -> two "fully connected" layers ->
class logits and class-specific box refinements; at inference the
DetectionLayer turns them into the final detections.

Layer names follow matterport (``roi_align_classifier``,
``mrcnn_class_conv1`` ... ``mrcnn_bbox_fc``) so weight files load by name.
The per-RoI layers run on RoIs folded into the batch axis
([batch * rois, h, w, c]) rather than through TimeDistributed.
"""

from keras import layers as KL

from mrcnn.backbone import BatchNorm
from mrcnn.heads.base import RoIHead, register_head
from mrcnn.layers import DetectionLayer, PyramidROIAlign
from mrcnn.layers.fast_conv import WindowConv2D
from mrcnn.layers.rois import FoldRois, UnfoldRois
from mrcnn.layers.tensors import ActiveClassIds, LossLayer


def fpn_classifier_graph(rois, feature_maps, image_meta, pool_size, num_classes,
                         train_bn=True, fc_layers_size=1024):
    """Box/class head: RoIAlign (pool_size) -> two "FC" layers (a
    pool_size x pool_size conv then a 1x1 conv, each with BN and ReLU) ->
    class logits and class-specific box deltas.

    rois: [batch, num_rois, 4] normalised; feature_maps: [P2, P3, P4, P5].
    Returns:
        logits: [batch, num_rois, num_classes]
        probs: [batch, num_rois, num_classes]
        bbox_deltas: [batch, num_rois, num_classes, (dy, dx, log(dh), log(dw))]
    All three are float32 under a mixed-precision policy (the output
    layers compute in float32).
    """
    num_rois = rois.shape[1]
    x = PyramidROIAlign([pool_size, pool_size], name="roi_align_classifier")(
        [rois, image_meta] + feature_maps)
    x = FoldRois()(x)
    x = WindowConv2D(fc_layers_size, (pool_size, pool_size), padding="valid",
                     name="mrcnn_class_conv1")(x)
    x = BatchNorm(train_bn=train_bn, name="mrcnn_class_bn1")(x)
    x = KL.Activation("relu")(x)
    x = WindowConv2D(fc_layers_size, (1, 1), name="mrcnn_class_conv2")(x)
    x = BatchNorm(train_bn=train_bn, name="mrcnn_class_bn2")(x)
    x = KL.Activation("relu")(x)
    shared = UnfoldRois(num_rois, name="pool_squeeze")(KL.Reshape((fc_layers_size,))(x))
    mrcnn_class_logits = KL.Dense(num_classes, name="mrcnn_class_logits",
                                  dtype="float32")(shared)
    mrcnn_probs = KL.Activation("softmax", name="mrcnn_class", dtype="float32")(
        mrcnn_class_logits)
    x = KL.Dense(num_classes * 4, activation="linear", name="mrcnn_bbox_fc",
                 dtype="float32")(shared)
    mrcnn_bbox = KL.Reshape((num_rois, num_classes, 4), name="mrcnn_bbox", dtype="float32")(x)
    return mrcnn_class_logits, mrcnn_probs, mrcnn_bbox




@register_head("box")
class BoxHead(RoIHead):
    """Classifies each RoI and refines its box.

    Training: on DetectionTargetLayer's RoIs (positives and negatives),
    losses ``mrcnn_class_loss`` (over the classes active in the image's
    source) and ``mrcnn_bbox_loss`` (positives, their class's deltas).
    Inference: on the RPN's proposals, then ``detections`` [batch,
    DETECTION_MAX_INSTANCES, (y1, x1, y2, x2, class_id, score)] normalised.
    """

    outputs = ("detections", "mrcnn_class", "mrcnn_bbox")
    training_outputs = ("mrcnn_class_logits", "mrcnn_class", "mrcnn_bbox")
    losses = ("mrcnn_class_loss", "mrcnn_bbox_loss")

    def _head(self, rois, ctx):
        c = self.config
        return fpn_classifier_graph(rois, ctx.feature_maps, ctx.image_meta, c.POOL_SIZE,
                                    c.NUM_CLASSES, train_bn=c.TRAIN_BN,
                                    fc_layers_size=c.FPN_CLASSIF_FC_LAYERS_SIZE)

    def build_training(self, ctx):
        t = ctx.targets
        logits, probs, bbox = self._head(t["rois"], ctx)
        active_class_ids = ActiveClassIds()(ctx.image_meta)
        return {
            "mrcnn_class_logits": logits, "mrcnn_class": probs, "mrcnn_bbox": bbox,
            "mrcnn_class_loss": LossLayer("mrcnn_class_loss")(
                [t["target_class_ids"], logits, active_class_ids]),
            "mrcnn_bbox_loss": LossLayer("mrcnn_bbox_loss")(
                [t["target_bbox"], t["target_class_ids"], bbox]),
        }

    def build_inference(self, ctx):
        rois = ctx.rpn["rpn_rois"]
        _, probs, bbox = self._head(rois, ctx)
        detections = DetectionLayer(self.config, name="mrcnn_detection")(
            [rois, probs, bbox, ctx.image_meta])
        return {"detections": detections, "mrcnn_class": probs, "mrcnn_bbox": bbox}
