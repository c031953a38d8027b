"""Write the conversion graph (mrcnn.deploy.graph) as one ONNX or TFLite file.

    export_onnx(model, "model.onnx", opset=17)
    export_tflite(model, "model.tflite", quantize=None | "float16" | "dynamic-int8")

Each writes the model file and a sidecar ``<file>.json`` (format, input and
outputs, class names, the config, quantisation); the ONNX file carries the
same JSON in its metadata_props (key ``mrcnn``). Both files go through
temporary files renamed into place (mrcnn.fileio), so an interrupted export
leaves an earlier export intact, and a conversion that fails writes nothing:
its ConversionError names the format and the ops that did not convert.
"""

import json
import os
import re
import tempfile

import tensorflow as tf

from mrcnn import fileio, modeldir
from mrcnn.deploy.graph import INPUT_NAME, DeployGraph

FORMATS = ("saved_model", "onnx", "tflite")
QUANTIZE_CHOICES = ("float16", "dynamic-int8")
SIDECAR_SUFFIX = ".json"
METADATA_KEY = "mrcnn"


class ConversionError(ValueError):
    """A converter refused the graph; `ops` names what it could not convert."""

    def __init__(self, fmt, ops, detail):
        self.format = fmt
        self.ops = sorted(set(ops))
        what = ("ops it cannot convert: " + ", ".join(self.ops)) if self.ops else "an error"
        super().__init__("{} export failed: the converter stopped at {} ({}); nothing was "
                         "written".format(fmt, what, detail))


def sidecar_path(path):
    return os.fspath(path) + SIDECAR_SUFFIX


def read_sidecar(path):
    """The JSON written beside an exported file (`path` is the model file)."""
    side = sidecar_path(path)
    try:
        with open(side, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError("{}: cannot read the export's sidecar: {}".format(side, e)) from None


def _describe(graph, fmt, batch, class_names, **extra):
    fn = graph.function(batch)
    cf = fn.get_concrete_function()
    outputs = {}
    for name, spec in cf.structured_outputs.items():
        outputs[name] = {"dtype": spec.dtype.name, "shape": spec.shape.as_list()}
    return fn, cf, {
        "format": fmt,
        "input": {"name": INPUT_NAME, "dtype": "uint8",
                  "shape": [batch, None, None, int(graph.config.IMAGE_CHANNEL_COUNT)]},
        "outputs": outputs,
        "output_order": list(graph.output_keys()),
        "class_names": class_names,
        "config": json.loads(graph.config.to_json()),
        "portable_network": graph.portable,
        **extra}


def _class_names(model, class_names):
    if class_names is None:
        class_names = getattr(model, "class_names", None)
    if class_names is not None:
        class_names = modeldir.check_class_names(class_names, model.config.NUM_CLASSES,
                                                 where="export")
    return class_names


def _write(path, data, info, force):
    """Model bytes and sidecar, each atomically (sidecar renamed first)."""
    path = os.fspath(path)
    if os.path.exists(path) and not force:
        raise FileExistsError("{} already exists; pass force=True (--force) to replace "
                              "it".format(path))
    with fileio.atomic_path(path) as tmp:
        with open(tmp, "xb") as f:
            f.write(data)
        fileio.write_json_atomic(sidecar_path(path), info)
    return path


############################################################
#  ONNX
############################################################

def _unconverted_onnx_ops(model_proto):
    """(op type, node name) of nodes that are not ONNX ops: what tf2onnx left
    as TensorFlow ops (its from_function continues on errors)."""
    import onnx
    bad = []
    for node in model_proto.graph.node:
        domain = node.domain or ""
        if domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type):
            bad.append((node.op_type, node.name))
        elif domain not in ("", "ai.onnx", "ai.onnx.ml", "com.microsoft"):
            bad.append((node.op_type, node.name))
    return bad


def convert_onnx_function(fn, input_spec, opset=17):
    """tf2onnx of a tf.function -> onnx ModelProto; ConversionError naming
    the ops tf2onnx could not convert (it leaves them in the graph)."""
    try:
        import tf2onnx
    except ImportError as e:
        raise ValueError("ONNX export needs tf2onnx and onnx: pip install "
                         "'mask-rcnn-keras3[onnx]' ({})".format(e)) from None
    try:
        model_proto, _ = tf2onnx.convert.from_function(fn, input_signature=[input_spec],
                                                       opset=int(opset))
    except Exception as e:  # tf2onnx raises many types
        ops = re.findall(r"Tensorflow op \[(\w+)\]", str(e))
        raise ConversionError("onnx", ops, "tf2onnx: {}: {}".format(
            type(e).__name__, str(e).splitlines()[0] if str(e) else "")) from e
    bad = _unconverted_onnx_ops(model_proto)
    if bad:
        names = ", ".join(n for _, n in bad[:5])
        raise ConversionError("onnx", [op for op, _ in bad],
                              "tf2onnx left {} node(s) unconverted, e.g. {}".format(
                                  len(bad), names))
    return model_proto


def _quantize_onnx(data):
    """onnxruntime's dynamic int8 quantisation (weights int8, activations
    quantised at run time) of serialised ONNX bytes."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    with tempfile.TemporaryDirectory(prefix="mrcnn-onnx-") as tmp:
        src, dst = os.path.join(tmp, "in.onnx"), os.path.join(tmp, "out.onnx")
        with open(src, "wb") as f:
            f.write(data)
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        with open(dst, "rb") as f:
            return f.read()


def export_onnx(model, path, opset=17, quantize=None, extra_outputs=True, network=None,
                class_names=None, force=False):
    """Write `model` (an inference MaskRCNN) as one ONNX file at `path`.

    Input ``images`` uint8 [B, H, W, C] (B, H, W dynamic); outputs by name as
    the SavedModel's (mrcnn.export). opset >= 17. quantize: None or
    "dynamic-int8" (onnxruntime.quantization.quantize_dynamic). Writes
    `path` and `path`.json; returns `path`.
    """
    if int(opset) < 17:
        raise ValueError("opset must be >= 17, got {}".format(opset))
    if quantize not in (None, "dynamic-int8"):
        raise ValueError("ONNX quantize must be None or 'dynamic-int8', got {!r}".format(
            quantize))
    class_names = _class_names(model, class_names)
    graph = DeployGraph(model, network=network, extra_outputs=extra_outputs)
    fn, _, info = _describe(graph, "onnx", None, class_names, opset=int(opset),
                            quantize=quantize)
    model_proto = convert_onnx_function(fn, graph.input_spec(None), opset)
    got = [o.name for o in model_proto.graph.output]
    if sorted(got) != sorted(info["outputs"]):
        raise ConversionError("onnx", [], "outputs came out as {}, expected {}".format(
            got, sorted(info["outputs"])))
    entry = model_proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(info)
    data = model_proto.SerializeToString()
    if quantize == "dynamic-int8":
        data = _quantize_onnx(data)
    return _write(path, data, info, force)


############################################################
#  TFLite
############################################################

def _tflite_failed_ops(message):
    ops = set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", message))
    ops |= set(re.findall(r"failed to legalize operation 'tf\.(\w+)'", message))
    ops |= set(re.findall(r"^\s*tf\.(\w+) \{", message, flags=re.M))
    return ops


def convert_tflite_function(cf, trackable, quantize=None, select_tf_ops=False):
    """TFLiteConverter of a concrete function -> flatbuffer bytes;
    ConversionError naming the ops the builtins lack."""
    # Frozen first: given the Keras model, the converter keeps its weights as
    # resource variables (VAR_HANDLE / READ_VARIABLE), which the interpreter
    # reads uninitialised (NaN). A tf.Module as the trackable keeps the
    # signature (outputs by name).
    from tensorflow.python.framework.convert_to_constants import \
        convert_variables_to_constants_v2
    frozen = convert_variables_to_constants_v2(cf)
    # The frozen function returns a flat list; give the outputs their names
    # back (the signature runner's keys).
    structure = cf.structured_outputs

    def named(*args):
        return tf.nest.pack_sequence_as(structure, tf.nest.flatten(frozen(*args)))

    named = tf.function(named, input_signature=[
        tf.TensorSpec(t.shape, t.dtype, name=t.name.split(":")[0]) for t in frozen.inputs])
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [named.get_concrete_function()], trackable if trackable is not None else tf.Module())
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if select_tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic-int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize is not None:
        raise ValueError("TFLite quantize must be None, {}; got {!r}".format(
            " or ".join(map(repr, QUANTIZE_CHOICES)), quantize))
    try:
        return converter.convert()
    except Exception as e:  # ConverterError and friends
        message = str(e)
        first = next((line.strip() for line in message.splitlines()
                      if "error" in line.lower()), message.splitlines()[0] if message else "")
        raise ConversionError("tflite" + ("" if not select_tf_ops else " (select TF ops)"),
                              _tflite_failed_ops(message),
                              "TFLiteConverter: {}".format(first[:300])) from e


def export_tflite(model, path, quantize=None, select_tf_ops=False, extra_outputs=True,
                  network=None, class_names=None, force=False):
    """Write `model` (an inference MaskRCNN) as one TFLite file at `path`.

    Input ``images`` uint8 [1, H, W, C]: the file is converted for any H, W
    (shape signature [1, -1, -1, C]); resize the input tensor to the image's
    size before running (Interpreter.resize_tensor_input, or a signature
    runner, which does it). Outputs by name as the SavedModel's (the
    signature runner's keys). Builtin ops only unless select_tf_ops (then a
    runtime with the Flex delegate is needed). quantize: None, "float16"
    (float16 weights) or "dynamic-int8" (int8 weights, dynamic-range
    kernels). Writes `path` and `path`.json; returns `path`.
    """
    if quantize is not None and quantize not in QUANTIZE_CHOICES:
        raise ValueError("TFLite quantize must be None, {}; got {!r}".format(
            " or ".join(map(repr, QUANTIZE_CHOICES)), quantize))
    class_names = _class_names(model, class_names)
    graph = DeployGraph(model, network=network, extra_outputs=extra_outputs)
    _, cf, info = _describe(graph, "tflite", 1, class_names, quantize=quantize,
                            select_tf_ops=bool(select_tf_ops))
    data = convert_tflite_function(cf, tf.Module(), quantize=quantize,
                                   select_tf_ops=select_tf_ops)
    return _write(path, data, info, force)
