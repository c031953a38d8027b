"""The graph's named contracts: its inputs, outputs and losses by name.

The Keras model keeps matterport's positional order (notebooks index
``keras_model.outputs``): the outputs of matterport's graph come first, in
matterport's order, then those of any added head. Everything in this
package reads them by name: `output_names(keras_model)` and
`by_name(keras_model, values)` map positions to names. An output's name is
the name of the layer that produces it, except for the few layers whose
matterport name differs from the tensor's (LAYER_TO_OUTPUT).
"""

from collections import OrderedDict

# Inputs, in the Keras model's order.
TRAINING_INPUTS = ("input_image", "input_image_meta", "input_rpn_match", "input_rpn_bbox",
                   "input_gt_class_ids", "input_gt_boxes", "input_gt_masks")
INFERENCE_INPUTS = ("input_image", "input_image_meta", "input_anchors")

# matterport's output order of each graph.
TRAINING_OUTPUTS = ("rpn_class_logits", "rpn_class", "rpn_bbox",
                    "mrcnn_class_logits", "mrcnn_class", "mrcnn_bbox", "mrcnn_mask",
                    "rpn_rois", "output_rois",
                    "rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss", "mrcnn_bbox_loss",
                    "mrcnn_mask_loss")
INFERENCE_OUTPUTS = ("detections", "mrcnn_class", "mrcnn_bbox", "mrcnn_mask",
                     "rpn_rois", "rpn_class", "rpn_bbox")

# Output layers whose (matterport) layer name is not the output's name.
LAYER_TO_OUTPUT = {"mrcnn_detection": "detections", "ROI": "rpn_rois",
                   "mrcnn_mask_rois": "mrcnn_mask"}


def order_outputs(outputs, mode):
    """{name: tensor} -> (names, tensors): matterport's outputs of `mode`
    first in its order, then the others in the order they were added."""
    first = TRAINING_OUTPUTS if mode == "training" else INFERENCE_OUTPUTS
    names = [n for n in first if n in outputs] + [n for n in outputs if n not in first]
    return names, [outputs[n] for n in names]


def output_name(layer_name):
    """The contract name of the output produced by the layer `layer_name`."""
    return LAYER_TO_OUTPUT.get(layer_name, layer_name)


def output_names(keras_model):
    """Names of keras_model's outputs, in order."""
    return [output_name(n) for n in keras_model.output_names]


def by_name(keras_model, values):
    """The values of keras_model's outputs (a list, in order) by name."""
    if not isinstance(values, (list, tuple)):
        values = [values]
    return OrderedDict(zip(output_names(keras_model), values))


def loss_names(keras_model, candidates):
    """The outputs of keras_model that are losses among `candidates`."""
    return [n for n in output_names(keras_model) if n in candidates]
