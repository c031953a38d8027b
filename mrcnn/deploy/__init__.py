"""ONNX and TFLite exports: the model with its pre- and post-processing, as
one file each runtime loads without TensorFlow or this package.

    from mrcnn.deploy import export_onnx, export_tflite
    export_onnx(model, "model.onnx")                     # + model.onnx.json
    export_tflite(model, "model.tflite", quantize=None)  # + model.tflite.json

Contract of both (docs/deployment.md): input ``images`` uint8 [B, H, W, C]
(B = 1 for TFLite; any H, W), outputs by name as the SavedModel's
(mrcnn.export): num_detections, detection_boxes (original pixels),
detection_classes, detection_scores, detection_masks (box-relative), plus
the heads' serving outputs.

Modules: preprocess (float32/int32 resize, mold, metas, anchors), postprocess
(float32 unmolding, keypoints), heads (the heads' serving outputs in the
deploy graph), panoptic (the semantic head's fusion without map_fn or
float64), graph (DeployGraph: the whole conversion graph), convert (the
converters, atomic writes, sidecars).
"""

import importlib

_LAZY = {
    "convert": ("export_onnx", "export_tflite", "ConversionError", "read_sidecar",
                "QUANTIZE_CHOICES", "FORMATS"),
    "graph": ("DeployGraph", "portable_network"),
    "preprocess": ("preprocess_portable", "anchors_portable", "resize_params_portable",
                   "resize_images_portable"),
    "postprocess": ("unmold_detections_portable", "unmold_keypoints_portable"),
    "heads": ("portable_serving_outputs", "register_portable_outputs"),
    "panoptic": ("fuse_portable", "paste_masks_portable"),
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name):
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError("module 'mrcnn.deploy' has no attribute {!r}".format(name))
    value = getattr(importlib.import_module("mrcnn.deploy." + module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY_NAMES))
