"""TF Serving clients (mrcnn.serving_client and the code in docs/serving.md):
REST bodies in the row and columnar forms and gRPC PredictRequests, checked
against the exported signatures, decoded the way TF Serving decodes them
(tensorflow_serving/util/json_tensor.cc for REST, TensorProto -> tensor for
gRPC), run through the loaded SavedModel and compared with detect().

No TF Serving binary can run here, so `_tf_serving_rest` / `_tf_serving_grpc`
below do what the model server does between the wire and the signature
call; the loopback servers around them let the real HTTP and gRPC client code
(including the docs' blocks) run end to end."""
import base64
import http.server
import json
import math
import os
import re
import threading
from concurrent import futures

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import serving_client as sc
from mrcnn.data.images import read_image
from mrcnn.model import MaskRCNN

from test_export import ExportConfig

grpc = pytest.importorskip("grpc")
predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
prediction_service_pb2_grpc = pytest.importorskip(
    "tensorflow_serving.apis.prediction_service_pb2_grpc")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pictures():
    """Images of three sizes (scaled up, down, unchanged by the 64..128 square
    resize) with a few flat regions."""
    rng = np.random.default_rng(5)
    images = []
    for shape in [(50, 80, 3), (150, 120, 3), (128, 96, 3)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        image[5:35, 10:45] = (230, 40, 30)
        image[-30:-5, -40:-8] = (20, 200, 60)
        images.append(image)
    return images


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """An exported tiny model, its loaded SavedModel, image files and
    detect()'s results on them."""
    from PIL import Image
    keras.utils.set_random_seed(3)
    root = tmp_path_factory.mktemp("serving")
    model = MaskRCNN("inference", ExportConfig(), str(root / "logs"))
    version_dir = model.export(str(root / "export"), version=1, verbose=0)
    images = _pictures()
    paths = []
    for i, image in enumerate(images):
        suffix = ".jpg" if i == 1 else ".png"
        paths.append(str(root / "image{}{}".format(i, suffix)))
        Image.fromarray(image).save(paths[-1], quality=92)
    decoded = [read_image(p) for p in paths]  # what the JPEG decodes to
    return {"model": model, "loaded": tf.saved_model.load(version_dir), "paths": paths,
            "decoded": decoded, "expected": model.detect(decoded), "root": root}


def _assert_matches_detect(results, expected):
    assert len(results) == len(expected)
    for got, want in zip(results, expected):
        assert len(want["class_ids"]) > 0
        np.testing.assert_array_equal(got["rois"], want["rois"])
        np.testing.assert_array_equal(got["class_ids"], want["class_ids"])
        np.testing.assert_allclose(got["scores"], want["scores"], rtol=0, atol=1e-5)
        assert got["rois"].dtype == np.int32 and got["class_ids"].dtype == np.int32
        assert got["masks"].dtype == bool
        np.testing.assert_array_equal(got["masks"], want["masks"])


# What TF Serving does between the wire and the signature ----------------------

def _input_spec(loaded, signature_name):
    """{input name: tf.TensorSpec} of a signature of the loaded SavedModel."""
    args, kwargs = loaded.signatures[signature_name].structured_input_signature
    assert not args
    return kwargs


class _BadRequest(Exception):
    pass


def _json_tensor(value, dtype):
    """A JSON value -> ndarray of `dtype`, as json_tensor.cc fills a
    TensorProto: the shape from the first element at each level, every leaf
    at the same depth, {"b64": ...} objects decoded for DT_STRING."""
    shape = []
    v = value
    while isinstance(v, list):
        shape.append(len(v))
        if not v:
            break
        v = v[0]
    leaves = []

    def fill(v, level):
        if not isinstance(v, list):
            if level != len(shape):
                raise _BadRequest("JSON Value found at incorrect level")
            if dtype == tf.string:
                if isinstance(v, dict):
                    if list(v) != ["b64"] or not isinstance(v["b64"], str):
                        raise _BadRequest("not formatted correctly for base64 data")
                    leaves.append(base64.b64decode(v["b64"], validate=True))
                elif isinstance(v, str):
                    leaves.append(v.encode())
                else:
                    raise _BadRequest("is not of expected type: DT_STRING")
            elif dtype.is_integer:
                if not isinstance(v, int) or isinstance(v, bool):
                    raise _BadRequest("is not of expected type: {}".format(dtype.name))
                leaves.append(v)
            else:
                if not isinstance(v, (int, float)):
                    raise _BadRequest("is not of expected type: {}".format(dtype.name))
                leaves.append(v)
            return
        if level >= len(shape) or len(v) != shape[level]:
            raise _BadRequest("Encountered list at unexpected size")
        for x in v:
            fill(x, level + 1)

    fill(value, 0)
    np_dtype = object if dtype == tf.string else dtype.as_numpy_dtype
    return np.array(leaves, dtype=np_dtype).reshape(shape)


def _is_b64(v):
    return isinstance(v, dict) and list(v) == ["b64"] and isinstance(v["b64"], str)


def _write_json(value):
    """JSON text the way TF Serving writes a response: float32 with the
    shortest %g form that reads back to the same float32 (else %.9g), '.0'
    added to whole numbers; integers as integers."""
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + _write_json(v)
                              for k, v in value.items()) + "}"
    if isinstance(value, np.ndarray) and value.ndim:
        return "[" + ",".join(_write_json(v) for v in value) + "]"
    if isinstance(value, list):
        return "[" + ",".join(_write_json(v) for v in value) + "]"
    if isinstance(value, (np.floating, float)):
        f = np.float32(value)
        if not math.isfinite(f):
            return "NaN" if math.isnan(f) else ("-Infinity" if f < 0 else "Infinity")
        text = "%g" % f
        if np.float32(float(text)) != f:
            text = "%.9g" % f
        if "." not in text and "e" not in text:
            text += ".0"
        return text
    return json.dumps(int(value))


def _tf_serving_rest(loaded, body_text):
    """(status, response text) for a :predict body, as the model server
    answers it."""
    try:
        body = json.loads(body_text)
        if not isinstance(body, dict):
            raise _BadRequest("Is not object")
        name = body.get("signature_name", "serving_default")
        if name not in loaded.signatures:
            raise _BadRequest("Serving signature name: \"{}\" not found".format(name))
        specs = _input_spec(loaded, name)
        if ("instances" in body) == ("inputs" in body):
            raise _BadRequest("expecting only one of 'inputs' or 'instances'")
        inputs = {}
        if "instances" in body:
            rows = body["instances"]
            if not isinstance(rows, list) or not rows:
                raise _BadRequest("No values in 'instances' array")
            named = isinstance(rows[0], dict) and not _is_b64(rows[0])
            per_input = {k: [] for k in specs}
            for row in rows:
                if named:
                    if not isinstance(row, dict) or set(row) != set(specs):
                        raise _BadRequest("keys must be equal to: " + ",".join(specs))
                    items = row.items()
                else:
                    (only,) = specs
                    items = [(only, row)]
                for k, v in items:
                    per_input[k].append(_json_tensor(v, specs[k].dtype))
            for k, tensors in per_input.items():
                if len({t.shape for t in tensors}) > 1:
                    raise _BadRequest("Expecting shape {} but got: {}".format(
                        tensors[0].shape, [t.shape for t in tensors]))
                inputs[k] = np.stack(tensors)
        else:
            value = body["inputs"]
            if not isinstance(value, dict) or _is_b64(value):
                (only,) = specs
                value = {only: value}
            for k in specs:
                if k not in value:
                    raise _BadRequest("Missing named input: {} in 'inputs' object.".format(k))
                inputs[k] = _json_tensor(value[k], specs[k].dtype)
        for k, spec in specs.items():
            if not spec.shape.is_compatible_with(inputs[k].shape):
                raise _BadRequest("input {} has shape {}, signature {}".format(
                    k, inputs[k].shape, spec.shape))
        outputs = loaded.signatures[name](**{k: tf.constant(v, specs[k].dtype)
                                             for k, v in inputs.items()})
    except (_BadRequest, ValueError, tf.errors.InvalidArgumentError) as e:
        return 400, json.dumps({"error": str(e)})
    outputs = {k: v.numpy() for k, v in outputs.items()}
    if "instances" in body:
        batch = len(outputs["num_detections"])
        return 200, _write_json({"predictions": [{k: v[i] for k, v in outputs.items()}
                                                 for i in range(batch)]})
    return 200, _write_json({"outputs": outputs})


class _Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """PredictionService.Predict of the model server, for one model."""

    def __init__(self, loaded, model_name="mrcnn"):
        self.loaded = loaded
        self.model_name = model_name
        self.requests = []

    def Predict(self, request, context):
        self.requests.append(request)
        if request.model_spec.name != self.model_name:
            context.abort(grpc.StatusCode.NOT_FOUND, "Servable not found for request: "
                          "Latest({})".format(request.model_spec.name))
        name = request.model_spec.signature_name or "serving_default"
        if name not in self.loaded.signatures:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          "Serving signature name: \"{}\" not found".format(name))
        specs = _input_spec(self.loaded, name)
        if set(request.inputs) != set(specs):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "inputs {} != {}".format(
                sorted(request.inputs), sorted(specs)))
        feed = {}
        for k, spec in specs.items():
            proto = request.inputs[k]
            if proto.dtype != spec.dtype.as_datatype_enum:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Expects arg[0] to be {} but "
                              "{} is provided".format(spec.dtype.name,
                                                      tf.dtypes.as_dtype(proto.dtype).name))
            feed[k] = tf.constant(tf.make_ndarray(proto), spec.dtype)
        try:
            outputs = self.loaded.signatures[name](**feed)
        except (tf.errors.InvalidArgumentError, ValueError) as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = self.model_name
        response.model_spec.signature_name = name
        for k, v in outputs.items():
            response.outputs[k].CopyFrom(tf.make_tensor_proto(v.numpy()))
        return response


@pytest.fixture(scope="module")
def servers(served):
    """The two loopback servers: {"rest": base URL, "grpc": host:port}."""
    loaded = served["loaded"]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            if not re.fullmatch(r"/v1/models/mrcnn(/versions/1)?:predict", self.path):
                status, text = 404, json.dumps({"error": "Servable not found"})
            else:
                length = int(self.headers.get("Content-Length", 0))
                status, text = _tf_serving_rest(loaded, self.rfile.read(length))
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = _Servicer(loaded)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    yield {"rest": "127.0.0.1:{}".format(http_server.server_address[1]),
           "grpc": "127.0.0.1:{}".format(port), "servicer": servicer}
    grpc_server.stop(None)
    http_server.shutdown()
    http_server.server_close()
    thread.join(10)


# Request bodies against the signatures ----------------------------------------

def test_request_builders_match_the_exported_signatures(served):
    loaded, paths = served["loaded"], served["paths"]
    default = _input_spec(loaded, "serving_default")
    images_spec = _input_spec(loaded, "serving_images")
    assert list(default) == [sc.INPUT_KEY] and default["images"].dtype == tf.string
    assert default["images"].shape.as_list() == [None]
    assert list(images_spec) == [sc.INPUT_KEY] and images_spec["images"].dtype == tf.uint8
    assert images_spec["images"].shape.as_list() == [None, None, None, 3]
    assert set(loaded.signatures["serving_default"].structured_outputs) == set(sc.OUTPUT_KEYS)

    files = [open(p, "rb").read() for p in paths]
    row = sc.rest_request(paths)
    assert row == {"signature_name": "serving_default",
                   "instances": [{"b64": base64.b64encode(f).decode()} for f in files]}
    assert sc.rest_request(files) == row  # bytes or paths: the same body
    columnar = sc.rest_request(paths, columnar=True)
    assert columnar == {"signature_name": "serving_default",
                        "inputs": {"images": row["instances"]}}
    json.dumps(row), json.dumps(columnar)  # JSON-serialisable as they are

    pixels = sc.rest_request([served["decoded"][0]])
    assert pixels["signature_name"] == "serving_images"
    np.testing.assert_array_equal(np.array(pixels["instances"], np.uint8),
                                  served["decoded"][0][None])

    request = sc.grpc_request(paths, model_name="mrcnn", version=1)
    assert request.model_spec.name == "mrcnn" and request.model_spec.version.value == 1
    assert request.model_spec.signature_name == "serving_default"
    assert list(request.inputs) == ["images"]
    proto = request.inputs["images"]
    assert proto.dtype == default["images"].dtype.as_datatype_enum
    assert [d.size for d in proto.tensor_shape.dim] == [3]
    assert list(tf.make_ndarray(proto)) == files
    request = sc.grpc_request(np.stack([served["decoded"][0]] * 2))
    assert request.model_spec.signature_name == "serving_images"
    assert request.inputs["images"].dtype == images_spec["images"].dtype.as_datatype_enum
    assert tf.make_ndarray(request.inputs["images"]).shape == (2, 50, 80, 3)
    # Bytes travel through protobuf serialisation unchanged.
    again = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    assert again == request


@pytest.mark.parametrize("columnar", [False, True], ids=["row", "columnar"])
def test_rest_bodies_run_through_the_savedmodel_like_detect(served, columnar):
    loaded = served["loaded"]
    body = json.dumps(sc.rest_request(served["paths"], columnar=columnar))
    status, text = _tf_serving_rest(loaded, body)
    assert status == 200, text
    assert list(json.loads(text)) == (["outputs"] if columnar else ["predictions"])
    outputs = sc.outputs_from_rest(text)
    # The JSON round trip is lossless: the same arrays as a direct call.
    direct = loaded.signatures["serving_default"](
        images=tf.constant([open(p, "rb").read() for p in served["paths"]]))
    for k in sc.OUTPUT_KEYS:
        np.testing.assert_array_equal(outputs[k], direct[k].numpy())
    shapes = [sc.image_shape(p) for p in served["paths"]]
    assert shapes == [d.shape[:2] for d in served["decoded"]]
    results = sc.detections(outputs, shapes)
    _assert_matches_detect(results, served["expected"])
    assert results[0]["mask_probs"].shape == (len(results[0]["class_ids"]), 28, 28)


@pytest.mark.parametrize("columnar", [False, True], ids=["row", "columnar"])
def test_rest_pixel_bodies_run_serving_images_like_detect(served, columnar):
    image = served["decoded"][0]
    batch = np.stack([image, image[::-1]])
    body = json.dumps(sc.rest_request(batch, columnar=columnar))
    status, text = _tf_serving_rest(served["loaded"], body)
    assert status == 200, text
    results = sc.detections(sc.outputs_from_rest(text), [image.shape] * 2)
    _assert_matches_detect(results, served["model"].detect(list(batch)))


def test_grpc_request_runs_through_the_savedmodel_like_detect(served):
    # The request as TF Serving receives it: serialised and parsed again.
    request = predict_pb2.PredictRequest.FromString(
        sc.grpc_request(served["paths"]).SerializeToString())
    spec = _input_spec(served["loaded"], request.model_spec.signature_name)["images"]
    tensor = tf.make_ndarray(request.inputs["images"])
    assert tensor.shape == (3,) and request.inputs["images"].dtype == spec.dtype.as_datatype_enum
    outputs = served["loaded"].signatures[request.model_spec.signature_name](
        images=tf.constant(tensor, spec.dtype))
    response = predict_pb2.PredictResponse()
    for k, v in outputs.items():
        response.outputs[k].CopyFrom(tf.make_tensor_proto(v.numpy()))
    response = predict_pb2.PredictResponse.FromString(response.SerializeToString())
    results = sc.detections(sc.outputs_from_grpc(response),
                            [d.shape for d in served["decoded"]])
    _assert_matches_detect(results, served["expected"])


# Whole requests over loopback -------------------------------------------------

def test_predict_rest_and_grpc_over_the_wire(served, servers):
    url = "http://{}/v1/models/mrcnn:predict".format(servers["rest"])
    for columnar in (False, True):
        _assert_matches_detect(sc.predict_rest(url, served["paths"], columnar=columnar),
                               served["expected"])
    _assert_matches_detect(
        sc.predict_rest("http://{}/v1/models/mrcnn/versions/1:predict".format(servers["rest"]),
                        [served["decoded"][2]]),
        served["expected"][2:])
    _assert_matches_detect(sc.predict_grpc(servers["grpc"], served["paths"]),
                           served["expected"])
    _assert_matches_detect(sc.predict_grpc(servers["grpc"], [served["decoded"][1]]),
                           served["expected"][1:2])
    assert servers["servicer"].requests[-1].model_spec.signature_name == "serving_images"


def test_server_errors_are_serving_errors(served, servers, tmp_path):
    url = "http://{}/v1/models/mrcnn:predict".format(servers["rest"])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    # The graph cannot decode it: TF Serving answers 400 {"error": ...}.
    with pytest.raises(sc.ServingError, match="HTTP 400"):
        sc.predict_rest(url, [served["paths"][0]], signature_name="serving_images")
    with pytest.raises(sc.ServingError, match="HTTP 404"):
        sc.predict_rest(url.replace("mrcnn", "other"), served["paths"][:1])
    with pytest.raises(sc.ServingError, match="NOT_FOUND"):
        sc.predict_grpc(servers["grpc"], served["paths"][:1], model_name="other")
    with pytest.raises(sc.ServingError, match="INVALID_ARGUMENT"):
        sc.predict_grpc(servers["grpc"], [served["decoded"][0]],
                        signature_name="serving_default")
    with pytest.raises(sc.ServingError, match="127.0.0.1:9"):
        sc.predict_rest("http://127.0.0.1:9/v1/models/mrcnn:predict", served["paths"][:1],
                        timeout=5)
    with pytest.raises(sc.ServingError, match="TF Serving: boom"):
        sc.outputs_from_rest('{"error": "boom"}')


# The docs' client code, run ---------------------------------------------------

def _doc_blocks():
    with open(os.path.join(REPO_ROOT, "docs", "serving.md")) as f:
        text = f.read()
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


@pytest.mark.parametrize("marker", ["# REST client, row form", "# REST client, columnar form",
                                    "# gRPC client", "# With mrcnn.serving_client"])
def test_docs_client_blocks_run_against_the_servers(served, servers, tmp_path, monkeypatch,
                                                    marker):
    (block,) = [b for b in _doc_blocks() if b.startswith(marker)]
    assert "localhost:8501" in block or "localhost:8500" in block
    block = block.replace("localhost:8501", servers["rest"]).replace(
        "localhost:8500", servers["grpc"])
    monkeypatch.chdir(tmp_path)
    with open(served["paths"][1], "rb") as src, open("street.jpg", "wb") as dst:
        dst.write(src.read())
    namespace = {"__name__": "__doc_block__"}
    exec(compile(block, "docs/serving.md", "exec"), namespace)
    want = served["expected"][1]
    if "results" in namespace:
        _assert_matches_detect(namespace["results"], [want])
        _assert_matches_detect(namespace["grpc_results"], [want])
        body = namespace["body"]
        assert body["inputs"]["images"][0]["b64"] == base64.b64encode(
            open("street.jpg", "rb").read()).decode()
        assert list(namespace["request"].inputs) == ["images"]
        return
    np.testing.assert_array_equal(np.round(namespace["boxes"]), want["rois"])
    np.testing.assert_array_equal(namespace["classes"], want["class_ids"])
    np.testing.assert_allclose(namespace["scores"], want["scores"], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(namespace["full_masks"], want["masks"])


# Bad input ------------------------------------------------------------------

def test_bad_images_are_clear_errors(served, tmp_path):
    image = served["decoded"][0]
    missing = str(tmp_path / "missing.jpg")
    with pytest.raises(ValueError, match=r"images\[1\].*missing\.jpg"):
        sc.rest_request([served["paths"][0], missing])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png is empty"):
        sc.grpc_request([str(empty)])
    with pytest.raises(ValueError, match="wrap it in a list"):
        sc.rest_request(served["paths"][0])
    with pytest.raises(ValueError, match="mixes"):
        sc.rest_request([served["paths"][0], image])
    with pytest.raises(ValueError, match=r"images\[1\].*differs"):
        sc.rest_request([image, served["decoded"][1]])
    with pytest.raises(ValueError, match="uint8"):
        sc.grpc_request([image.astype(np.float32)])
    with pytest.raises(ValueError, match=r"\[H, W, C\]"):
        sc.rest_request([image[..., 0]])
    with pytest.raises(ValueError, match="at least one image"):
        sc.rest_request([])
    with pytest.raises(ValueError, match="list of file paths"):
        sc.rest_request(42)
    with pytest.raises(ValueError, match="cannot read the image size.*bad"):
        bad = tmp_path / "bad.png"
        bad.write_bytes(b"junk")
        sc.image_shape(str(bad))
    # A columnar request may carry 0 images; the export answers 0 rows.
    status, text = _tf_serving_rest(served["loaded"],
                                    json.dumps(sc.rest_request([], columnar=True)))
    assert status == 200, text
    assert sc.detections(sc.outputs_from_rest(text), []) == []


def test_bad_responses_are_clear_errors(served):
    with pytest.raises(ValueError, match="not JSON"):
        sc.outputs_from_rest("<html>502 Bad Gateway</html>")
    with pytest.raises(ValueError, match="neither 'predictions' nor 'outputs'"):
        sc.outputs_from_rest({"result": []})
    with pytest.raises(ValueError, match=r"predictions\[0\] has no output 'detection_boxes'"):
        sc.outputs_from_rest({"predictions": [{"num_detections": 0}]})
    with pytest.raises(ValueError, match="no output 'num_detections'"):
        sc.outputs_from_rest({"outputs": {"scores": [1.0]}})
    row = {"num_detections": 1, "detection_boxes": [[0.0, 0.0, 2.0, 2.0]],
           "detection_classes": [1], "detection_scores": [0.5],
           "detection_masks": [[[0.9] * 2] * 2]}
    with pytest.raises(ValueError, match="'detection_boxes' is not a rectangular"):
        sc.outputs_from_rest({"predictions": [row, dict(row, detection_boxes=[[1.0]])]})
    with pytest.raises(ValueError, match="num_detections\\[0\\] = 5"):
        sc.detections(sc.outputs_from_rest({"predictions": [dict(row, num_detections=5)]}))
    with pytest.raises(ValueError, match="image_shapes has 2 entries for 1 images"):
        sc.detections(sc.outputs_from_rest({"predictions": [row]}), [(4, 4), (4, 4)])
    response = predict_pb2.PredictResponse()
    with pytest.raises(ValueError, match="no output 'num_detections'"):
        sc.outputs_from_grpc(response)


def test_full_size_masks_are_cropped_to_each_image(served):
    """A --full-masks export answers uint8 [B, N, H, W] masks padded to the
    largest image (JSON integers): detections() crops each to its image."""
    masks = np.zeros((2, 3, 6, 7), np.uint8)
    masks[0, 0, 1:3, 2:4] = 1
    masks[1, 1, 4:6, 5:7] = 1  # image 1 is 6 x 7, image 0 only 4 x 5
    outputs = {"num_detections": [1, 2], "detection_boxes": np.zeros((2, 3, 4), np.float32),
               "detection_classes": np.ones((2, 3), np.int32),
               "detection_scores": np.full((2, 3), 0.5, np.float32),
               "detection_masks": masks}
    text = _write_json({"predictions": [{k: np.asarray(v)[i] for k, v in outputs.items()}
                                        for i in range(2)]})
    results = sc.detections(sc.outputs_from_rest(text), [(4, 5), (6, 7)])
    assert results[0]["masks"].shape == (4, 5, 1) and results[1]["masks"].shape == (6, 7, 2)
    np.testing.assert_array_equal(results[0]["masks"][..., 0], masks[0, 0, :4, :5] > 0)
    np.testing.assert_array_equal(results[1]["masks"], np.transpose(masks[1, :2], (1, 2, 0)) > 0)
    assert "mask_probs" not in results[0]


def test_outputs_heads_add_reach_the_client_dict():
    """Outputs beyond OUTPUT_KEYS (a keypoint export's detection_keypoints,
    any head's) are parsed from REST rows, REST columns and gRPC, and
    detections() gives detection_keypoints as detect()'s "keypoints"."""
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0, 50, (2, 3, 4, 3)).astype(np.float32)
    keypoints[0, 1:] = 0   # after num_detections: zeros
    outputs = {"num_detections": np.array([1, 3], np.int32),
               "detection_boxes": np.tile(np.array([1, 2, 9, 8], np.float32), (2, 3, 1)),
               "detection_classes": np.ones((2, 3), np.int32),
               "detection_scores": np.full((2, 3), 0.5, np.float32),
               "detection_masks": np.full((2, 3, 2, 2), 0.75, np.float32),
               "detection_keypoints": keypoints,
               "probe_map": np.arange(2 * 5 * 6).reshape(2, 5, 6).astype(np.uint8)}
    rows = _write_json({"predictions": [{k: v[i] for k, v in outputs.items()}
                                        for i in range(2)]})
    columns = _write_json({"outputs": outputs})
    response = predict_pb2.PredictResponse()
    for k, v in outputs.items():
        response.outputs[k].CopyFrom(tf.make_tensor_proto(v))
    for parsed in (sc.outputs_from_rest(rows), sc.outputs_from_rest(columns),
                   sc.outputs_from_grpc(response)):
        assert set(parsed) == set(outputs)
        assert parsed["detection_keypoints"].dtype == np.float32
        np.testing.assert_array_equal(parsed["detection_keypoints"], keypoints)
        np.testing.assert_array_equal(parsed["probe_map"], outputs["probe_map"])
        results = sc.detections(parsed)
        assert results[0]["keypoints"].shape == (1, 4, 3)
        np.testing.assert_array_equal(results[0]["keypoints"], keypoints[0, :1])
        np.testing.assert_array_equal(results[1]["keypoints"], keypoints[1])
        np.testing.assert_array_equal(results[1]["probe_map"], outputs["probe_map"][1])
    with pytest.raises(ValueError, match="'detection_keypoints' has shape"):
        sc.outputs_from_rest({"outputs": dict(
            {k: np.asarray(v).tolist() for k, v in outputs.items()},
            detection_keypoints=[[1.0, 2.0]])})
