"""The first stage: the RPN head on every pyramid level, the proposals,
and the RPN's two losses."""

from keras import layers as KL

from mrcnn.heads.rpn import build_rpn_model
from mrcnn.layers import ProposalLayer
from mrcnn.layers.tensors import LossLayer

RPN_LOSSES = ("rpn_class_loss", "rpn_bbox_loss")


def build_rpn(rpn_feature_maps, anchors, config, mode):
    """RPN outputs over all levels, and its proposals.

    rpn_feature_maps: [P2..P6]; anchors: [batch, anchors, 4] normalised, in
    utils.generate_pyramid_anchors' order (level by level, cells row-major).
    Returns {name: tensor}:
        rpn_class_logits, rpn_class: [batch, anchors, 2] (bg, fg)
        rpn_bbox: [batch, anchors, (dy, dx, log(dh), log(dw))]
        rpn_rois: [batch, POST_NMS_ROIS_TRAINING or _INFERENCE, (y1, x1,
            y2, x2)] normalised proposals, zero-padded.
    """
    rpn = build_rpn_model(config.RPN_ANCHOR_STRIDE, len(config.RPN_ANCHOR_RATIOS),
                          config.TOP_DOWN_PYRAMID_SIZE)
    level_outputs = [rpn([p]) for p in rpn_feature_maps]
    names = ["rpn_class_logits", "rpn_class", "rpn_bbox"]
    out = {n: KL.Concatenate(axis=1, name=n, dtype="float32")(list(o))
           for o, n in zip(zip(*level_outputs), names)}
    proposal_count = (config.POST_NMS_ROIS_TRAINING if mode == "training"
                      else config.POST_NMS_ROIS_INFERENCE)
    out["rpn_rois"] = ProposalLayer(proposal_count=proposal_count,
                                    nms_threshold=config.RPN_NMS_THRESHOLD, name="ROI",
                                    config=config)([out["rpn_class"], out["rpn_bbox"], anchors])
    return out


def rpn_losses(rpn, input_rpn_match, input_rpn_bbox):
    """The RPN's losses on its sampled anchors: {name: scalar}."""
    return {
        "rpn_class_loss": LossLayer("rpn_class_loss")([input_rpn_match,
                                                       rpn["rpn_class_logits"]]),
        "rpn_bbox_loss": LossLayer("rpn_bbox_loss")([input_rpn_bbox, input_rpn_match,
                                                     rpn["rpn_bbox"]]),
    }
