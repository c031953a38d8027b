"""What an RoI head is, and the registry the config selects heads from.

A head of the second stage (box/class, mask, ...) is an object built from
the config that owns its layers, the selection of its training RoIs and
targets, its losses and its inference outputs. The graph
(mrcnn.modeling.graph) calls, for each head of config.ROI_HEADS in order:

- training:  ``head.build_training(ctx)`` -> {name: tensor}, outputs and
  losses of the training graph (a loss is a scalar output whose name is in
  ``head.losses``; mrcnn.training sums the losses by name, weighted by
  config.LOSS_WEIGHTS);
- inference: ``head.build_inference(ctx)`` -> {name: tensor}.

``ctx`` (mrcnn.modeling.graph.GraphContext) holds the config, the inputs
by name, the feature maps, the RPN's outputs, the training targets
(``ctx.targets``: DetectionTargetLayer's outputs by name) and
``ctx.outputs``, the outputs of the heads before this one (the mask head
reads the box head's ``detections``). Outputs are named by the contract in
mrcnn.modeling.contracts.

A new head is one file: subclass RoIHead, decorate it with
``@register_head("name")`` and add the name to config.ROI_HEADS.

An image-level head fits the same base: it reads ``ctx.feature_maps``
(P2..P5) instead of RoIs, as the semantic head does (mrcnn.heads.semantic).
"""

HEADS = {}
BUILTIN_HEADS = ("box", "mask", "keypoint", "semantic")


def register_head(name):
    """Class decorator: make an RoIHead subclass selectable as
    config.ROI_HEADS entry `name`."""
    def register(cls):
        # Registering a name again replaces the head (a notebook cell run
        # twice), except for the built-in ones.
        if name in BUILTIN_HEADS and HEADS.get(name, cls) is not cls:
            raise ValueError("{!r} is a built-in RoI head; register yours under another "
                             "name".format(name))
        cls.name = name
        HEADS[name] = cls
        return cls
    return register


def build_roi_heads(config):
    """The heads of config.ROI_HEADS, in order, built from the config."""
    unknown = [n for n in config.ROI_HEADS if n not in HEADS]
    if unknown:
        raise ValueError("config.ROI_HEADS: unknown head(s) {}; registered: {}".format(
            ", ".join(map(repr, unknown)), ", ".join(sorted(HEADS))))
    return [HEADS[name](config) for name in config.ROI_HEADS]


class RoIHead(object):
    """Base class of the second-stage heads.

    Class attributes a head declares (the graph's named contracts):
        outputs: names of its inference outputs.
        training_outputs: names of its training-graph outputs (not losses).
        losses: names of its losses (keys of config.LOSS_WEIGHTS; each is
            registered in mrcnn.losses.LOSSES).
        requires: names of outputs of earlier heads it reads at inference.
    build_training must return exactly training_outputs + losses and
    build_inference exactly outputs (the graph checks it).
    """

    name = None
    outputs = ()
    training_outputs = ()
    losses = ()
    requires = ()

    def __init__(self, config):
        self.config = config

    def training_inputs(self):
        """Extra inputs of the training graph this head needs (ground truth
        beyond classes, boxes and masks): {name: keras.Input}."""
        return {}

    def build_training(self, ctx):
        """Training-graph outputs and losses: {name: tensor}."""
        raise NotImplementedError

    def build_inference(self, ctx):
        """Inference-graph outputs: {name: tensor}."""
        raise NotImplementedError

    def unmold(self, outputs, original_image_shape, image_shape, window):
        """What the head adds to one image's detect() result: {key: array}.

        outputs: the inference graph's outputs of the image by name (no
        batch axis), e.g. ``outputs["detections"]`` of shape ``[N, 6]``;
        image_shape: the molded shape; window: the image inside the padding
        (molded pixels).
        Per-detection values follow mrcnn.molding.unmold_detections' order
        and filter. The box and mask heads' results are detect()'s rois,
        class_ids, scores and masks."""
        return {}

    def unmold_result(self, result, outputs, original_image_shape, image_shape, window):
        """What the head adds to one image's detect() result, for a head
        that also reads the result so far (`result`: rois, class_ids,
        scores, masks and the additions of the heads before it; e.g. the
        semantic head fuses the masks with its map). detect() calls this
        one; by default it returns `unmold(outputs, ...)`."""
        return self.unmold(outputs, original_image_shape, image_shape, window)

    def serving_signature(self):
        """The SavedModel outputs this head adds (mrcnn.export): {name:
        tf.TensorSpec of ONE image's value}, e.g. ``TensorSpec([N, K, 3],
        tf.float32)``. A None dimension varies per image (e.g. the original
        height; such values need rank >= 2); the batch pads it with zeros to
        the largest in the batch."""
        return {}

    def serving_outputs(self, outputs, metas, original_hw, result):
        """The values of serving_signature's outputs for a batch:
        {name: tensor [B, ...]}.

        outputs: the inference graph's outputs by name (batched, molded
        coordinates); metas: float32 [B, META] image metas; original_hw:
        int32 [B, 2] sizes of the original images; result: the SavedModel
        outputs built so far (num_detections, detection_boxes in original
        pixels, ..., and those of the heads before this one)."""
        return {}

    def __repr__(self):
        return "{}(name={!r})".format(type(self).__name__, self.name)
