"""Clients for a model exported with `mrcnn export` and served by TF Serving.

Request builders for TF Serving's REST API (row ``{"instances": ...}`` and
columnar ``{"inputs": ...}`` bodies) and gRPC API (a ``PredictRequest``), and
parsers that turn either response back into detect()-style dicts::

    from mrcnn import serving_client as sc
    results = sc.predict_rest("http://localhost:8501/v1/models/mrcnn:predict",
                              ["street.jpg"])
    results[0]["rois"], results[0]["class_ids"], results[0]["scores"], results[0]["masks"]

The export has two signatures (see docs/serving.md): ``serving_default``
takes encoded image files (``tf.string [B]``; REST sends them as
``{"b64": ...}``) and ``serving_images`` takes decoded pixels
(``uint8 [B, H, W, C]``, one size per request). The builders pick the
signature from what they are given: file paths or ``bytes`` go to
``serving_default``, arrays to ``serving_images``.

Only NumPy is needed for the REST side (Pillow reads image sizes for mask
pasting); the gRPC side needs ``grpcio``, TensorFlow and the
``tensorflow-serving-api`` package, imported when first used.
"""
import base64
import json
import os
import urllib.error
import urllib.request

import numpy as np

__all__ = ["ServingError", "SERVING_DEFAULT", "SERVING_IMAGES", "OUTPUT_KEYS",
           "rest_request", "grpc_request", "outputs_from_rest", "outputs_from_grpc",
           "detections", "predict_rest", "predict_grpc", "image_shape"]

SERVING_DEFAULT = "serving_default"
SERVING_IMAGES = "serving_images"
INPUT_KEY = "images"
OUTPUT_KEYS = ("num_detections", "detection_boxes", "detection_classes", "detection_scores",
               "detection_masks")
# The rank of each output, batch dimension included, and its dtype in the
# signature (detection_masks: float32 probabilities, or uint8 0/1 full-size
# masks of a --full-masks export, which JSON carries as integers).
_OUTPUT_RANKS = {"num_detections": 1, "detection_boxes": 3, "detection_classes": 2,
                 "detection_scores": 2, "detection_masks": 4}
_OUTPUT_DTYPES = {"num_detections": np.int32, "detection_boxes": np.float32,
                  "detection_classes": np.int32, "detection_scores": np.float32,
                  "detection_masks": np.float32}
# Outputs the RoI heads add (RoIHead.serving_signature) that this module
# knows: rank and dtype as for OUTPUT_KEYS. Any other output of the response
# is parsed too (floats as float32, integers as int32), its rank unchecked.
EXTRA_OUTPUTS = {"detection_keypoints": (4, np.float32)}
_OUTPUT_RANKS.update({k: rank for k, (rank, _) in EXTRA_OUTPUTS.items()})
_OUTPUT_DTYPES.update({k: dtype for k, (_, dtype) in EXTRA_OUTPUTS.items()})


class ServingError(RuntimeError):
    """TF Serving answered with an error (its ``{"error": ...}`` body, an
    HTTP error status or a gRPC status), or could not be reached."""


############################################################
#  Inputs
############################################################

def _read_file(path, where):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError("{}: cannot read image file {}: {}".format(
            where, path, e.strerror or e)) from None
    if not data:
        raise ValueError("{}: image file {} is empty".format(where, path))
    return data


def _normalise_images(images):
    """-> ("encoded", [bytes, ...]) or ("pixels", uint8 [B, H, W, C]).

    images: a list of file paths and/or encoded bytes, or a uint8 array
    [B, H, W, C], or a list of uint8 arrays [H, W, C] of one size.
    """
    if isinstance(images, (str, bytes, os.PathLike)):
        raise ValueError("images must be a list (one entry per image), got a single {}; "
                         "wrap it in a list".format(type(images).__name__))
    if isinstance(images, np.ndarray):
        arrays = list(images) if images.ndim == 4 else None
        if arrays is None:
            raise ValueError("images: a pixel batch must be uint8 [B, H, W, C], got shape "
                             "{}".format(images.shape))
    else:
        try:
            items = list(images)
        except TypeError:
            raise ValueError("images must be a list of file paths, encoded bytes or uint8 "
                             "arrays, got {}".format(type(images).__name__)) from None
        if not items:
            return "encoded", []
        if all(isinstance(x, (str, bytes, bytearray, os.PathLike)) for x in items):
            encoded = []
            for i, x in enumerate(items):
                where = "images[{}]".format(i)
                if isinstance(x, (bytes, bytearray)):
                    if not x:
                        raise ValueError("{}: empty bytes, not an encoded image".format(where))
                    encoded.append(bytes(x))
                else:
                    encoded.append(_read_file(os.fspath(x), where))
            return "encoded", encoded
        if any(isinstance(x, (str, bytes, bytearray, os.PathLike)) for x in items):
            raise ValueError("images mixes files/bytes and arrays: send encoded files "
                             "(serving_default) or pixel arrays (serving_images), not both")
        arrays = items
    checked = []
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        if a.dtype != np.uint8:
            raise ValueError("images[{}]: pixel arrays must be uint8, got {}".format(i, a.dtype))
        if a.ndim != 3:
            raise ValueError("images[{}]: a pixel array must be [H, W, C], got shape "
                             "{}".format(i, a.shape))
        if checked and a.shape != checked[0].shape:
            raise ValueError("images[{}]: shape {} differs from images[0]'s {}; "
                             "serving_images takes one size per request (send encoded files "
                             "to serving_default for mixed sizes)".format(
                                 i, a.shape, checked[0].shape))
        checked.append(a)
    if not checked:
        return "encoded", []
    return "pixels", np.stack(checked)


def image_shape(image):
    """(H, W) of an image given as a file path, encoded bytes or an array
    (read from the file header with Pillow, without decoding the pixels)."""
    if isinstance(image, np.ndarray):
        return tuple(image.shape[:2])
    import io

    from PIL import Image
    try:
        if isinstance(image, (bytes, bytearray)):
            with Image.open(io.BytesIO(bytes(image))) as im:
                width, height = im.size
        else:
            with Image.open(os.fspath(image)) as im:
                width, height = im.size
    except (OSError, SyntaxError, ValueError) as e:
        what = "encoded bytes" if isinstance(image, (bytes, bytearray)) else image
        raise ValueError("cannot read the image size of {}: {}".format(what, e)) from None
    return (height, width)


def rest_request(images, signature_name=None, columnar=False):
    """The JSON body (a dict; send ``json.dumps(body)``) of a TF Serving REST
    ``:predict`` request.

    images: file paths or encoded bytes (JPEG, PNG, ...; for
        ``serving_default``), or uint8 pixel arrays of one size (a
        [B, H, W, C] array or a list of [H, W, C]; for ``serving_images``).
    signature_name: defaults to the signature that takes what `images` is.
    columnar: the columnar form ``{"inputs": {"images": [...]}}`` (the
        response then has ``"outputs"``) instead of the row form
        ``{"instances": [...]}`` (the response has ``"predictions"``).

    Encoded images become ``{"b64": <base64>}`` objects (TF Serving decodes
    them into the ``tf.string`` tensor); pixels become nested lists.
    """
    kind, data = _normalise_images(images)
    if signature_name is None:
        signature_name = SERVING_IMAGES if kind == "pixels" else SERVING_DEFAULT
    if kind == "encoded":
        values = [{"b64": base64.b64encode(x).decode("ascii")} for x in data]
    else:
        values = data.tolist()
    if not values and not columnar:
        # TF Serving: "No values in 'instances' array".
        raise ValueError("images is empty: a row-format request needs at least one image "
                         "(the columnar form, columnar=True, can send 0)")
    body = {"signature_name": signature_name}
    if columnar:
        body["inputs"] = {INPUT_KEY: values}
    else:
        body["instances"] = values
    return body


def grpc_request(images, model_name="mrcnn", signature_name=None, version=None):
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest`` for
    ``PredictionService.Predict`` (TF Serving's gRPC port, 8500 by default).

    images: as for rest_request(); encoded images travel as raw bytes in a
        ``DT_STRING`` tensor, pixels as a ``DT_UINT8`` tensor.
    model_name: the served model's name (``MODEL_NAME`` of the container).
    version: a version number to ask for; None = the latest.
    """
    predict_pb2 = _serving_apis()[0]
    import tensorflow as tf
    kind, data = _normalise_images(images)
    if signature_name is None:
        signature_name = SERVING_IMAGES if kind == "pixels" else SERVING_DEFAULT
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    if kind == "encoded":
        proto = tf.make_tensor_proto(np.array(data, dtype=object).reshape([len(data)]),
                                     dtype=tf.string)
    else:
        proto = tf.make_tensor_proto(data, dtype=tf.uint8)
    request.inputs[INPUT_KEY].CopyFrom(proto)
    return request


def _serving_apis():
    try:
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    except ImportError as e:
        raise ImportError("the gRPC client needs the tensorflow-serving-api package "
                          "(pip install tensorflow-serving-api, the version of your "
                          "TensorFlow): {}".format(e)) from None
    return predict_pb2, prediction_service_pb2_grpc


############################################################
#  Outputs
############################################################

def _output_array(name, value):
    try:
        array = np.asarray(value)
    except ValueError:
        array = None
    if array is None or array.dtype == object:
        raise ValueError("response: output {!r} is not a rectangular array".format(name))
    if name not in _OUTPUT_DTYPES:   # an output of a head this module does not know
        if array.dtype.kind not in "iufb":
            raise ValueError("response: output {!r} is not numbers".format(name))
        return array.astype(np.float32 if array.dtype.kind == "f" else np.int32)
    dtype = _OUTPUT_DTYPES[name]
    if name == "detection_masks" and array.dtype.kind in "iu":
        dtype = np.uint8
    if array.ndim != _OUTPUT_RANKS[name]:
        # An empty batch comes back as [] in the columnar form: any rank.
        if array.size == 0:
            return np.zeros((0,) * _OUTPUT_RANKS[name], dtype)
        raise ValueError("response: output {!r} has shape {}, expected rank {}".format(
            name, array.shape, _OUTPUT_RANKS[name]))
    if array.dtype.kind not in "iuf":
        raise ValueError("response: output {!r} is not numbers".format(name))
    # TF Serving writes float32 values with enough digits to read back the
    # same float32: the cast is exact.
    return array.astype(dtype)


def outputs_from_rest(response):
    """The outputs of a REST ``:predict`` response as batched NumPy arrays
    ``{name: [B, ...]}``.

    response: the response body (str/bytes JSON, or the parsed dict) in
        either form: ``{"predictions": [{name: value, ...}, ...]}`` (row
        requests, one object per image) or ``{"outputs": {name: [...]}}``
        (columnar requests). ``{"error": ...}`` raises ServingError.
    """
    if isinstance(response, (bytes, bytearray, str)):
        try:
            response = json.loads(response)
        except ValueError as e:
            raise ValueError("response is not JSON: {}".format(e)) from None
    if not isinstance(response, dict):
        raise ValueError("response must be a JSON object, got {}".format(
            type(response).__name__))
    if "error" in response:
        raise ServingError("TF Serving: {}".format(response["error"]))
    if "predictions" in response:
        rows = response["predictions"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError("response: 'predictions' must be a list of objects (one per "
                             "image, output name -> value)")
        columns = {}
        for name in OUTPUT_KEYS:
            for i, row in enumerate(rows):
                if name not in row:
                    raise ValueError("response: predictions[{}] has no output {!r} (has {}); "
                                     "is this an mrcnn export?".format(i, name, sorted(row)))
            columns[name] = [row[name] for row in rows]
        # The outputs heads add (detection_keypoints, ...): those of every row.
        for name in sorted(set(rows[0]) - set(OUTPUT_KEYS)) if rows else ():
            if all(name in row for row in rows):
                columns[name] = [row[name] for row in rows]
        if not rows:
            return {name: np.zeros((0,) * _OUTPUT_RANKS[name], _OUTPUT_DTYPES[name])
                    for name in OUTPUT_KEYS}
    elif "outputs" in response:
        columns = response["outputs"]
        if not isinstance(columns, dict):
            raise ValueError("response: 'outputs' must be an object (output name -> value)")
    else:
        raise ValueError("response has neither 'predictions' nor 'outputs' (keys: {})".format(
            sorted(response)))
    for name in OUTPUT_KEYS:
        if name not in columns:
            raise ValueError("response: no output {!r} (has {}); is this an mrcnn "
                             "export?".format(name, sorted(columns)))
    return {name: _output_array(name, columns[name])
            for name in list(OUTPUT_KEYS) + sorted(set(columns) - set(OUTPUT_KEYS))}


def outputs_from_grpc(response):
    """The outputs of a gRPC ``PredictResponse`` as NumPy arrays
    ``{name: [B, ...]}`` (``tf.make_ndarray`` of each TensorProto)."""
    import tensorflow as tf
    missing = [name for name in OUTPUT_KEYS if name not in response.outputs]
    if missing:
        raise ValueError("response: no output {!r} (has {}); is this an mrcnn export?".format(
            missing[0], sorted(response.outputs)))
    return {name: tf.make_ndarray(response.outputs[name])
            for name in list(OUTPUT_KEYS) + sorted(set(response.outputs) - set(OUTPUT_KEYS))}


def detections(outputs, image_shapes=None, threshold=0.5):
    """Per-image dicts in the layout of ``MaskRCNN.detect()``.

    outputs: batched outputs, from outputs_from_rest() / outputs_from_grpc()
        or a direct call of the SavedModel's signature.
    image_shapes: (H, W[, C]) of each original image (see image_shape()):
        needed to paste box-relative masks, and crops full-size masks.
    Returns one dict per image: ``rois`` int32 [n, (y1, x1, y2, x2)] pixels,
    ``class_ids`` int32 [n], ``scores`` float32 [n], and ``masks`` bool
    [H, W, n] (box-relative masks are pasted as detect() pastes them; they
    are also kept as ``mask_probs`` float32 [n, mh, mw]; without
    `image_shapes` only ``mask_probs`` is there). Each other output of the
    heads comes under its name without ``detection_``: per detection
    ([B, N, ...], N the boxes' N) cut to the n detections, e.g.
    ``keypoints`` [n, K, (x, y, score)] from ``detection_keypoints`` as
    detect() gives them; else the image's row.
    """
    arrays = {}
    for name in OUTPUT_KEYS:
        if name not in outputs:
            raise ValueError("outputs: no {!r} (has {})".format(name, sorted(outputs)))
        value = outputs[name]
        arrays[name] = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    num = arrays["num_detections"]
    batch = len(num)
    for name in OUTPUT_KEYS[1:]:
        if len(arrays[name]) != batch:
            raise ValueError("outputs: {!r} has {} images, num_detections {}".format(
                name, len(arrays[name]), batch))
    if image_shapes is not None:
        image_shapes = [tuple(int(d) for d in s[:2]) for s in image_shapes]
        if len(image_shapes) != batch:
            raise ValueError("image_shapes has {} entries for {} images".format(
                len(image_shapes), batch))
    masks = arrays["detection_masks"]
    # Box-relative probabilities are floats; --full-masks exports send 0/1
    # integers (uint8; JSON integers parse as int64).
    full = masks.dtype.kind in "iub"
    results = []
    for i in range(batch):
        n = int(num[i])
        if not 0 <= n <= arrays["detection_boxes"].shape[1]:
            raise ValueError("outputs: num_detections[{}] = {} is outside 0..{}".format(
                i, n, arrays["detection_boxes"].shape[1]))
        boxes = arrays["detection_boxes"][i, :n]
        result = {"rois": np.round(boxes).astype(np.int32).reshape(n, 4),
                  "class_ids": arrays["detection_classes"][i, :n].astype(np.int32),
                  "scores": arrays["detection_scores"][i, :n].astype(np.float32)}
        if full:
            m = masks[i, :n]
            if image_shapes is not None:
                h, w = image_shapes[i]
                m = m[:, :h, :w]
            result["masks"] = np.transpose(m, (1, 2, 0)) > 0
        else:
            result["mask_probs"] = masks[i, :n].astype(np.float32)
            if image_shapes is not None:
                from mrcnn.export import paste_masks
                result["masks"] = paste_masks(boxes, result["mask_probs"], image_shapes[i],
                                              threshold=threshold)
        for name in sorted(set(outputs) - set(OUTPUT_KEYS)):
            value = outputs[name]
            value = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
            if value.ndim == 0 or len(value) != batch:
                continue
            key = name[len("detection_"):] if name.startswith("detection_") else name
            per_detection = (value.ndim >= 2 and
                             value.shape[1] == arrays["detection_boxes"].shape[1])
            result[key] = value[i, :n] if per_detection else value[i]
        results.append(result)
    return results


############################################################
#  Whole requests
############################################################

def _shapes(images):
    kind, data = _normalise_images(images)
    if kind == "pixels":
        return [a.shape[:2] for a in data]
    return [image_shape(x) for x in data]


def predict_rest(url, images, signature_name=None, columnar=False, timeout=60.0):
    """POST a predict request to TF Serving's REST API and return detect()-style
    dicts (see detections()).

    url: ``http://HOST:8501/v1/models/NAME[/versions/N]:predict``.
    images, signature_name, columnar: as for rest_request().
    Raises ServingError for an error answer or an unreachable server.
    """
    kind, data = _normalise_images(images)  # read the files once
    body = json.dumps(rest_request(data, signature_name, columnar)).encode()
    request = urllib.request.Request(url, data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except (ValueError, AttributeError):
            pass
        raise ServingError("{}: HTTP {}: {}".format(url, e.code, detail)) from None
    except (urllib.error.URLError, OSError) as e:
        raise ServingError("{}: {}".format(url, getattr(e, "reason", e))) from None
    return detections(outputs_from_rest(text), _shapes(data))


def predict_grpc(target, images, model_name="mrcnn", signature_name=None, version=None,
                 timeout=60.0):
    """Call ``PredictionService.Predict`` on TF Serving's gRPC port and return
    detect()-style dicts (see detections()).

    target: ``HOST:8500``. The other arguments are grpc_request()'s.
    Raises ServingError with the gRPC status for a failed call.
    """
    import grpc
    prediction_service_pb2_grpc = _serving_apis()[1]
    kind, data = _normalise_images(images)  # read the files once
    request = grpc_request(data, model_name, signature_name, version)
    # Full-size masks easily pass gRPC's default 4 MB limit on received messages.
    options = [("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as e:
            raise ServingError("{}: {}: {}".format(target, e.code().name,
                                                   e.details())) from None
    return detections(outputs_from_grpc(response), _shapes(data))
