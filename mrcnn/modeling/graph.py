"""Mask R-CNN's graph, top to bottom:

    image --features (backbone + FPN)--> P2..P6 --RPN--> proposals
      training:  proposals + ground truth --DetectionTargetLayer--> RoIs + targets
      each RoI head of config.ROI_HEADS (box, mask, ...) --> outputs [+ losses]

`build_graph(mode, config)` returns the Keras model; its inputs, outputs
and losses are named by mrcnn.modeling.contracts.
"""

from collections import OrderedDict

import keras
from keras import layers as KL

from mrcnn.heads import build_roi_heads
from mrcnn.layers import DetectionTargetLayer
from mrcnn.layers.tensors import ConstantAnchors, Identity, NormBoxes
from mrcnn.modeling import contracts
from mrcnn.modeling.features import build_features
from mrcnn.modeling.rpn import build_rpn, rpn_losses


class GraphContext(object):
    """What the stages of the graph hand to the RoI heads.

    config, mode; inputs: {name: keras.Input}; image_meta: the
    input_image_meta tensor; feature_maps: [P2..P5]; rpn: the RPN's
    outputs by name (rpn_rois, rpn_class, ...); targets (training):
    DetectionTargetLayer's outputs by name (rois, target_class_ids,
    target_bbox, target_mask); outputs: the heads' outputs so far.
    """

    def __init__(self, config, mode, inputs, feature_maps, rpn):
        self.config = config
        self.mode = mode
        self.inputs = inputs
        self.image_meta = inputs["input_image_meta"]
        self.feature_maps = feature_maps
        self.rpn = rpn
        self.targets = None
        self.outputs = OrderedDict()


def make_inputs(mode, config, heads=()):
    """The model's inputs by name (contracts.TRAINING_INPUTS /
    INFERENCE_INPUTS, then the heads' extra training inputs)."""
    inputs = OrderedDict()
    inputs["input_image"] = KL.Input(shape=[None, None, int(config.IMAGE_SHAPE[2])],
                                     name="input_image")
    inputs["input_image_meta"] = KL.Input(shape=[config.IMAGE_META_SIZE],
                                          name="input_image_meta")
    if mode == "training":
        mask_hw = config.MINI_MASK_SHAPE if config.USE_MINI_MASK else config.IMAGE_SHAPE[:2]
        specs = [("input_rpn_match", [None, 1], "int32"),
                 ("input_rpn_bbox", [None, 4], "float32"),
                 ("input_gt_class_ids", [None], "int32"),
                 ("input_gt_boxes", [None, 4], "float32"),
                 ("input_gt_masks", [int(mask_hw[0]), int(mask_hw[1]), None], "bool")]
        for name, shape, dtype in specs:
            inputs[name] = KL.Input(shape=shape, name=name, dtype=dtype)
        for head in heads:
            inputs.update(head.training_inputs())
    else:
        inputs["input_anchors"] = KL.Input(shape=[None, 4], name="input_anchors")
    return inputs


def build_graph(mode, config, train_anchors=None):
    """The Keras model of `mode` ("training" or "inference").

    train_anchors: the training model's normalised anchors [anchors, 4]
        (its input size is fixed: config.IMAGE_SHAPE); the inference model
        takes them as its input_anchors input.
    """
    if not config.USE_RPN_ROIS and mode == "training":
        raise NotImplementedError("USE_RPN_ROIS = False (externally generated RoIs) "
                                  "is not supported")
    heads = build_roi_heads(config)
    inputs = make_inputs(mode, config, heads)
    rpn_feature_maps, mrcnn_feature_maps = build_features(inputs["input_image"], config)
    if mode == "training":
        anchors = ConstantAnchors(train_anchors, name="anchors")(inputs["input_image"])
    else:
        anchors = inputs["input_anchors"]
    rpn = build_rpn(rpn_feature_maps, anchors, config, mode)
    ctx = GraphContext(config, mode, inputs, mrcnn_feature_maps, rpn)

    if mode == "training":
        gt_boxes = NormBoxes()([inputs["input_gt_boxes"], inputs["input_image"]])
        targets = DetectionTargetLayer(config, name="proposal_targets")(
            [rpn["rpn_rois"], inputs["input_gt_class_ids"], gt_boxes, inputs["input_gt_masks"]])
        ctx.targets = OrderedDict(zip(DetectionTargetLayer.OUTPUTS, targets))
        ctx.outputs.update(rpn)
        ctx.outputs["output_rois"] = Identity(name="output_rois")(ctx.targets["rois"])
        ctx.outputs.update(rpn_losses(rpn, inputs["input_rpn_match"], inputs["input_rpn_bbox"]))
    for head in heads:
        missing = [n for n in (head.requires if mode == "inference" else ())
                   if n not in ctx.outputs]
        if missing:
            raise ValueError("config.ROI_HEADS: head {!r} needs {} from a head before it".format(
                head.name, ", ".join(missing)))
        built = head.build_training(ctx) if mode == "training" else head.build_inference(ctx)
        # The head's declared names are the contract the trainer and detect() read.
        declared = (list(head.training_outputs) + list(head.losses) if mode == "training"
                    else list(head.outputs))
        if sorted(built) != sorted(declared):
            raise ValueError("RoI head {!r} ({}) built the {} outputs {} but declares {}".format(
                head.name, type(head).__name__, mode, sorted(built), sorted(declared)))
        ctx.outputs.update(built)
    if mode == "inference":
        ctx.outputs.update((n, rpn[n]) for n in ("rpn_rois", "rpn_class", "rpn_bbox"))
    _, outputs = contracts.order_outputs(ctx.outputs, mode)
    return keras.Model(list(inputs.values()), outputs, name="mask_rcnn")
