"""The portable inference network (mrcnn.layers.portable) of a tiny model:
the same detections as the standard network in TensorFlow (detect()), and
the same outputs after conversion with tf2onnx (opset 17, run in ONNX
Runtime, dynamic batch and size) and with TFLite's builtin op set only (run
in ai_edge_litert's interpreter, float32 and float16)."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.layers.portable import portable_model
from mrcnn.model import MaskRCNN
from mrcnn.modeling import contracts
from mrcnn.molding import mold_inputs
from test_model import TinyConfig


class PortableTiny(TinyConfig):
    IMAGES_PER_GPU = 2
    DETECTION_MIN_CONFIDENCE = 0.0


PORTABLE_LAYERS = ("ROI", "roi_align_classifier", "roi_align_mask", "mrcnn_detection")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A random-weight tiny model whose outputs are not saturated (conv1
    scaled down, the class bias centred so that both classes are detected)
    and its portable network."""
    import keras
    keras.utils.set_random_seed(3)
    model = MaskRCNN("inference", PortableTiny(), str(tmp_path_factory.mktemp("logs")))
    conv1 = model.keras_model.get_layer("conv1")
    kernel, *rest = conv1.get_weights()
    conv1.set_weights([kernel * 0.01] + rest)
    inputs = network_inputs(model, [image(0), image(1)])
    probs = run_tf(model.keras_model, inputs)["mrcnn_class"]
    logits = model.keras_model.get_layer("mrcnn_class_logits")
    kernel, bias = logits.get_weights()
    bias[1] -= np.median(np.log(probs[..., 1]) - np.log(probs[..., 2]))
    logits.set_weights([kernel, bias])
    return model, portable_model(model)


def image(seed, shape=(64, 64, 3)):
    return np.random.default_rng(seed).integers(0, 255, shape).astype(np.uint8)


def network_inputs(model, images, mode="square"):
    config = PortableTiny()
    config.IMAGE_RESIZE_MODE = mode
    molded, metas, _ = mold_inputs(images, config)
    anchors = np.repeat(model.get_anchors(molded.shape[1:])[None], len(images), 0)
    return {"input_image": molded.astype(np.float32),
            "input_image_meta": metas.astype(np.float32),
            "input_anchors": anchors.astype(np.float32)}


def run_tf(net, inputs):
    values = net([inputs[n] for n in contracts.INFERENCE_INPUTS], training=False)
    return {n: v.numpy() for n, v in zip(contracts.output_names(net), values)}


def signature(model, batch=None):
    meta_size = PortableTiny().IMAGE_META_SIZE
    return [tf.TensorSpec([batch, None, None, 3], tf.float32, name="input_image"),
            tf.TensorSpec([batch, meta_size], tf.float32, name="input_image_meta"),
            tf.TensorSpec([batch, None, 4], tf.float32, name="input_anchors")]


def check_outputs(got, want, scale=1.0):
    """Detections (boxes, classes, scores) and masks as the brief's
    tolerances, times `scale`."""
    det, ref = got["detections"], want["detections"]
    assert det.shape == ref.shape
    np.testing.assert_array_equal(det[..., 4], ref[..., 4])
    np.testing.assert_allclose(det[..., :4], ref[..., :4], atol=1e-4 * scale, rtol=0)
    np.testing.assert_allclose(det[..., 5], ref[..., 5], atol=1e-5 * scale, rtol=0)
    np.testing.assert_allclose(got["mrcnn_mask"], want["mrcnn_mask"], atol=1e-4 * scale, rtol=0)
    for name in ("rpn_rois", "mrcnn_class"):
        np.testing.assert_allclose(got[name], want[name], atol=1e-4 * scale, rtol=0)


def test_portable_network_shares_names_and_weights_and_detects_the_same(models, tmp_path):
    model, net = models
    # The layers with weights (those weight files load by name) keep their
    # names; unnamed plumbing layers get Keras' next free automatic names.
    assert ([l.name for l in net.layers if l.weights]
            == [l.name for l in model.keras_model.layers if l.weights])
    for name in PORTABLE_LAYERS:
        assert net.get_layer(name).portable is True
        assert model.keras_model.get_layer(name).portable is False
    assert contracts.output_names(net) == contracts.output_names(model.keras_model)
    inputs = network_inputs(model, [image(0), image(1)])
    want = run_tf(model.keras_model, inputs)
    # Non-trivial detections: both classes, distinct scores.
    classes = want["detections"][..., 4]
    assert (classes > 0).all() and set(np.unique(classes)) == {1, 2}
    check_outputs(run_tf(net, inputs), want)
    # detect() through the portable network: the same results.
    portable = MaskRCNN("inference", PortableTiny(), str(tmp_path))
    portable.keras_model = net
    images = [image(0), image(1), image(2, (48, 80, 3))]
    for r, ref in zip(portable.detect(images), model.detect(images)):
        np.testing.assert_array_equal(r["class_ids"], ref["class_ids"])
        np.testing.assert_array_equal(r["rois"], ref["rois"])
        np.testing.assert_allclose(r["scores"], ref["scores"], atol=1e-5)
        np.testing.assert_array_equal(r["masks"], ref["masks"])


def graph_nodes(graph):
    """The nodes of an ONNX graph and of its subgraphs (Loop bodies)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g is not None and len(attr.g.node):
                yield from graph_nodes(attr.g)


def test_portable_network_converts_to_onnx_and_runs_in_onnxruntime(models):
    tf2onnx = pytest.importorskip("tf2onnx")
    ort = pytest.importorskip("onnxruntime")
    model, net = models
    names = contracts.output_names(net)
    spec = signature(model)

    def serve(*inputs):
        return dict(zip(names, net(list(inputs), training=False)))

    proto, _ = tf2onnx.convert.from_function(tf.function(serve, input_signature=spec),
                                             input_signature=spec, opset=17)
    nodes = list(graph_nodes(proto.graph))
    assert {n.domain for n in nodes} <= {"", "ai.onnx"}          # standard ONNX ops only
    ops = {n.op_type for n in nodes}
    assert {"Loop", "NonMaxSuppression", "GatherND"} <= ops and "CropAndResize" not in ops
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    # A batch of 2 (the loop over images) and another molded size.
    for inputs in (network_inputs(model, [image(0), image(1)]),
                   network_inputs(model, [image(4, (64, 128, 3))], mode="pad64")):
        got = dict(zip(names, session.run(names, inputs)))
        check_outputs(got, run_tf(model.keras_model, inputs), scale=10)


def run_tflite(content, inputs, count):
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_content=content)
    details = {d["name"]: d["index"] for d in interpreter.get_input_details()}
    assert sorted(details) == sorted(inputs)
    for name, value in inputs.items():
        interpreter.resize_tensor_input(details[name], value.shape)
    interpreter.allocate_tensors()
    for name, value in inputs.items():
        interpreter.set_tensor(details[name], value)
    interpreter.invoke()
    # A frozen concrete function's outputs are Identity, Identity_1, ...
    # in the order the function returns them.
    out = {d["name"]: interpreter.get_tensor(d["index"])
           for d in interpreter.get_output_details()}
    return [out["Identity_%d" % i if i else "Identity"] for i in range(count)]


def test_portable_network_converts_to_tflite_builtins(models):
    pytest.importorskip("ai_edge_litert")
    model, net = models
    names = contracts.output_names(net)
    fn = tf.function(lambda *inputs: tuple(net(list(inputs), training=False)),
                     input_signature=signature(model, batch=1))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]   # no Flex
    content = converter.convert()
    assert b"Flex" not in content
    cases = [network_inputs(model, [image(0)]),
             network_inputs(model, [image(4, (64, 128, 3))], mode="pad64")]
    for inputs in cases:
        got = dict(zip(names, run_tflite(content, inputs, len(names))))
        check_outputs(got, run_tf(model.keras_model, inputs), scale=10)
    # float16 weights: half the file, detections close to float32's.
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    half = converter.convert()
    assert len(half) < 0.6 * len(content)
    got = dict(zip(names, run_tflite(half, cases[0], len(names))))
    want = run_tf(model.keras_model, cases[0])
    np.testing.assert_array_equal(got["detections"][..., 4], want["detections"][..., 4])
    np.testing.assert_allclose(got["detections"], want["detections"], atol=5e-3)


def test_roi_align_edge_samples_survive_conversion():
    # RoIs touching the image's bottom and right edges (clipped proposals:
    # y2 = x2 = 1 exactly). Their last row and column of samples lie on the
    # edge only with TensorFlow's rounding of the sampling grid; a converter
    # that turned its division into a product with the reciprocal would put
    # about one in five just outside (sampled as 0).
    pytest.importorskip("ai_edge_litert")
    from mrcnn.layers import PyramidROIAlign
    from test_layers_portable import image_meta
    rng = np.random.default_rng(9)
    n = 64
    boxes = np.stack([rng.uniform(0.0, 0.9, n), rng.uniform(0.0, 0.9, n),
                      np.ones(n), np.ones(n)], 1).astype(np.float32)[None]
    meta = image_meta(4, (64, 64), (0, 0, 64, 64))
    maps = [rng.uniform(1, 2, (1, s, s, 3)).astype(np.float32) for s in (16, 8, 4, 2)]
    arrays = [boxes, meta] + maps
    want = PyramidROIAlign((7, 7))([tf.constant(a) for a in arrays]).numpy()
    layer = PyramidROIAlign((7, 7), portable=True)
    spec = [tf.TensorSpec(a.shape, tf.float32) for a in arrays]
    fn = tf.function(lambda *a: layer(list(a)), input_signature=spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    for d, a in zip(interpreter.get_input_details(), arrays):
        assert tuple(d["shape"]) == a.shape
        interpreter.set_tensor(d["index"], a)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_portable_keypoint_network_converts_to_tflite_builtins(tmp_path):
    # The keypoint head needs no twin of its own: with its RoIAlign portable,
    # its layers (heatmap arg-max, softmax, gathers) are TFLite builtins.
    pytest.importorskip("ai_edge_litert")
    import keras
    from test_heads_keypoint import TinyKeypointConfig

    class Config(TinyKeypointConfig):
        IMAGES_PER_GPU = 1

    keras.utils.set_random_seed(5)
    model = MaskRCNN("inference", Config(), str(tmp_path))
    conv1 = model.keras_model.get_layer("conv1")
    kernel, *rest = conv1.get_weights()
    conv1.set_weights([kernel * 0.01] + rest)
    net = portable_model(model)
    assert net.get_layer("roi_align_keypoint").portable
    names = contracts.output_names(net)
    molded, metas, _ = mold_inputs([image(6)], Config())
    inputs = {"input_image": molded.astype(np.float32),
              "input_image_meta": metas.astype(np.float32),
              "input_anchors": model.get_anchors(molded.shape[1:])[None].astype(np.float32)}
    want = run_tf(model.keras_model, inputs)
    assert (want["mrcnn_keypoints"][..., 2] > 0).any()
    spec = [tf.TensorSpec([1, None, None, 3], tf.float32, name="input_image"),
            tf.TensorSpec([1, metas.shape[1]], tf.float32, name="input_image_meta"),
            tf.TensorSpec([1, None, 4], tf.float32, name="input_anchors")]
    fn = tf.function(lambda *a: tuple(net(list(a), training=False)), input_signature=spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    got = dict(zip(names, run_tflite(converter.convert(), inputs, len(names))))
    check_outputs(got, want, scale=10)
    np.testing.assert_allclose(got["mrcnn_keypoints"], want["mrcnn_keypoints"], atol=1e-3)
