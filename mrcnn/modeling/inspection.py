"""Looking inside the graph: intermediate tensors of the inference model
(`MaskRCNN.run_graph`, `MaskRCNN.ancestor`), with the per-RoI heads' layers
seen as [batch, rois, ...] as in matterport; and matterport's `log`
(`mrcnn.model.log`)."""

import re
from collections import OrderedDict

import keras
import numpy as np


def log(text, array=None):
    """Print a message, with the shape, range and dtype of `array` if given."""
    if array is not None:
        array = np.asarray(array)
        text = text.ljust(25)
        text += "shape: {:20}  ".format(str(array.shape))
        if array.size:
            text += "min: {:10.5f}  max: {:10.5f}".format(array.min(), array.max())
        else:
            text += "min: {:10}  max: {:10}".format("", "")
        text += "  {}".format(array.dtype)
    print(text)


def ancestor(tensor, name):
    """The output of the layer named `name` (a layer name or a regex) among
    the ancestors of the Keras tensor `tensor`; None if absent."""
    pattern = re.compile(name) if isinstance(name, str) else name
    seen = set()
    stack = [tensor]
    while stack:
        t = stack.pop()
        history = getattr(t, "_keras_history", None)
        if history is None:
            continue
        layer = history[0]
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        node = layer._inbound_nodes[history[1]]
        for parent in node.input_tensors:
            parent_layer = parent._keras_history[0]
            if re.fullmatch(pattern, parent_layer.name):
                return parent
            stack.append(parent)
    return None


def roi_views(keras_model):
    """{id(tensor): tensor}: for the last layer of each per-RoI head (which
    computes on [batch * rois, ...] folded RoIs, or on the valid rows only
    and then scatters them back), its [batch, rois, ...] view."""
    # The mask head computes only the valid rows (layers.rois.ScatterRows)
    # before UnfoldRois: its last layer maps through the scatter.
    scattered = {id(layer.output): layer.input[0] for layer in keras_model.layers
                 if type(layer).__name__ == "ScatterRows" and len(layer._inbound_nodes) == 1}
    views = {}
    for layer in keras_model.layers:
        if type(layer).__name__ == "UnfoldRois" and len(layer._inbound_nodes) == 1:
            views[id(layer.input)] = layer.output
            if id(layer.input) in scattered:
                views[id(scattered[id(layer.input)])] = layer.output
    return views


def evaluate(keras_model, outputs, model_inputs):
    """Values of the Keras tensors `outputs` ([(name, tensor)]) of
    keras_model for the arrays `model_inputs`: an OrderedDict name -> numpy
    array, heads' layers as [batch, rois, ...]."""
    outputs = OrderedDict(outputs)
    for key, value in outputs.items():
        if value is None:
            raise ValueError("run_graph: output {!r} is None".format(key))
    views = roi_views(keras_model)
    outputs = OrderedDict((k, views.get(id(v), v)) for k, v in outputs.items())
    sub = keras.Model(keras_model.inputs, list(outputs.values()))
    values = sub(model_inputs, training=False)
    if not isinstance(values, (list, tuple)):
        values = [values]
    return OrderedDict((k, np.asarray(v)) for k, v in zip(outputs.keys(), values))
