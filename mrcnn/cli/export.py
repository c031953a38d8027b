"""`mrcnn export`: a SavedModel, ONNX or TFLite file."""

import os

from mrcnn.cli.arguments import _model_arguments, _subcommand
from mrcnn.cli.common import UsageError, load_model, parse_overrides


def _export(args):
    import time
    model, names = load_model(args.model, args.config, parse_overrides(args.set))
    start = time.time()
    if args.format == "saved_model":
        if args.quantize or args.tflite_select_tf_ops or args.opset is not None:
            raise UsageError("--quantize, --tflite-select-tf-ops and --opset apply to "
                             "--format onnx/tflite")
        path = model.export(args.output, version=args.version, full_masks=args.full_masks,
                            force=args.force, class_names=names, verbose=0)
        print("exported {} in {:.0f} s (signatures serving_default: encoded images, "
              "serving_images: uint8 batch)".format(path, time.time() - start))
        return 0
    if args.full_masks:
        raise UsageError("--full-masks applies to --format saved_model")
    if args.format == "onnx" and args.tflite_select_tf_ops:
        raise UsageError("--tflite-select-tf-ops applies to --format tflite")
    if args.format == "tflite" and args.opset is not None:
        raise UsageError("--opset applies to --format onnx")
    if args.format == "onnx" and args.quantize == "float16":
        raise UsageError("--quantize float16 applies to --format tflite (onnx: dynamic-int8)")
    path = model.export(args.output, format=args.format, quantize=args.quantize,
                        opset=17 if args.opset is None else args.opset,
                        select_tf_ops=args.tflite_select_tf_ops, force=args.force,
                        class_names=names)
    print("exported {} ({:.1f} MB, sidecar {}.json) in {:.0f} s: input images uint8 "
          "[{}, H, W, C]".format(path, os.path.getsize(path) / 1e6, path,
                                 time.time() - start, "B" if args.format == "onnx" else 1))
    return 0


def add_parser(sub):
    """Add the `export` subcommand to the subparsers `sub`."""
    export = _subcommand(
        sub, "export", _export, help="write a SavedModel, ONNX or TFLite file",
        description="Export the model with its pre- and post-processing. saved_model "
                    "(default): OUTPUT/VERSION/ with the signatures serving_default (encoded "
                    "images, tf.string [B]) and serving_images (uint8 [B, H, W, C]). onnx / "
                    "tflite: one file OUTPUT (input images uint8 [B, H, W, C], B = 1 for "
                    "tflite) and OUTPUT.json (class names, config); docs/deployment.md.")
    _model_arguments(export)
    export.add_argument("--output", required=True,
                        help="export base directory (saved_model) or file (onnx, tflite)")
    export.add_argument("--format", choices=["saved_model", "onnx", "tflite"],
                        default="saved_model", help="default saved_model")
    export.add_argument("--version", type=int, default=1,
                        help="saved_model version number (default 1)")
    export.add_argument("--force", action="store_true",
                        help="replace an existing version or file")
    export.add_argument("--full-masks", action="store_true",
                        help="saved_model: full-size masks [B, N, H, W] instead of 28x28 ones")
    export.add_argument("--quantize", choices=["float16", "dynamic-int8"],
                        help="tflite: float16 or dynamic-range int8 weights; onnx: "
                             "dynamic-int8 (onnxruntime.quantization)")
    export.add_argument("--tflite-select-tf-ops", action="store_true",
                        help="tflite: allow TensorFlow (Flex) ops; the runtime then needs the "
                             "Flex delegate (not needed for this package's models)")
    export.add_argument("--opset", type=int, help="onnx opset (default 17, at least 17)")
    return export
