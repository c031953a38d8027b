"""The heads' extra outputs in the ONNX / TFLite graph.

mrcnn.export asks each head of config.ROI_HEADS for its SavedModel outputs
(RoIHead.serving_signature for the names and specs, serving_outputs for
the values). The deploy graph keeps the names, dtypes and meaning
(serving_signature) and takes the values from, in order:

1. the head's own ``portable_serving_outputs(outputs, metas, original_hw,
   result)`` method, if it has one (same arguments as serving_outputs; a
   deploy batch has one image size);
2. a twin registered here for the head's registry name
   (`register_portable_outputs`), for heads whose SavedModel code uses ops
   the converters lack: the keypoint head (float64 rounding, argsort and
   batched gathers: `mrcnn.deploy.postprocess.unmold_keypoints_portable`)
   and the semantic head (tf.map_fn, float64 / int64, scatter updates:
   `mrcnn.deploy.panoptic`);
3. otherwise the head's serving_outputs itself, built inside
   mrcnn.layers.portable.portable_ops(); if an op of it does not convert,
   the export fails with a ConversionError naming it.
"""

from mrcnn.layers.portable import portable_ops

PORTABLE_OUTPUTS = {}


def register_portable_outputs(head_name):
    """Decorator: fn(head, outputs, metas, original_hw, result) -> {name:
    tensor [B, ...]} gives head `head_name`'s serving outputs in the deploy
    graph."""
    def register(fn):
        PORTABLE_OUTPUTS[head_name] = fn
        return fn
    return register


@register_portable_outputs("keypoint")
def _keypoint_outputs(head, outputs, metas, original_hw, result):
    from mrcnn.deploy.postprocess import unmold_keypoints_portable
    return {"detection_keypoints": unmold_keypoints_portable(
        outputs["detections"], outputs["mrcnn_keypoints"], metas)}


@register_portable_outputs("semantic")
def _semantic_outputs(head, outputs, metas, original_hw, result):
    from mrcnn.deploy.panoptic import serving_outputs_portable
    return serving_outputs_portable(head, outputs, metas, original_hw, result)


def portable_serving_outputs(head, outputs, metas, original_hw, result):
    """`head`'s serving outputs for the deploy graph (see the module docstring)."""
    own = getattr(head, "portable_serving_outputs", None)
    if own is not None:
        return own(outputs, metas, original_hw, result)
    twin = PORTABLE_OUTPUTS.get(getattr(head, "name", None))
    if twin is not None:
        return twin(head, outputs, metas, original_hw, result)
    with portable_ops():
        return head.serving_outputs(outputs, metas, original_hw, result)
