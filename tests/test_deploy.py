"""mrcnn.deploy: the portable pre/post-processing against mrcnn.molding's
NumPy twins, the converters' errors, atomic writes and the CLI."""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import deploy
from mrcnn.deploy import convert as C
from mrcnn.deploy.postprocess import unmold_detections_portable
from mrcnn.deploy.preprocess import preprocess_portable, resize_params_portable
from mrcnn.model import MaskRCNN
from mrcnn.molding import mold_inputs, normalized_anchors, resize_image, unmold_detections

from test_export import ExportConfig, Pad64Config

SIZES = [(50, 80, 3), (200, 150, 3), (128, 96, 3), (33, 301, 3)]


@pytest.mark.parametrize("config", [ExportConfig(), Pad64Config()], ids=["square", "pad64"])
def test_preprocess_matches_molding(config):
    rng = np.random.default_rng(0)
    differ = total = 0
    for shape in SIZES:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        molded, metas, _ = mold_inputs([image], config)
        resized = resize_image(image, min_dim=config.IMAGE_MIN_DIM, max_dim=config.IMAGE_MAX_DIM,
                               mode=config.IMAGE_RESIZE_MODE)[0]
        out = preprocess_portable(tf.constant(image[None]), config)
        got = out["resized"].numpy()[0]
        assert got.shape == resized.shape
        d = np.abs(got.astype(int) - resized.astype(int))
        assert d.max() <= 1, shape
        differ += int((d > 0).sum())
        total += d.size
        np.testing.assert_array_equal(out["metas"].numpy(), metas.astype(np.float32))
        np.testing.assert_array_equal(out["anchors"].numpy(),
                                      normalized_anchors(config, molded.shape[1:3]))
        same = d == 0
        np.testing.assert_array_equal(out["molded"].numpy()[0][same],
                                      molded.astype(np.float32)[0][same])
    # float32 instead of float64 sampling: a handful of pixels one grey level off
    # (2 of 196,608 values in square mode, 29 of 344,064 in pad64 mode).
    assert differ < total * 1e-3, (differ, total)


class CocoSizes(ExportConfig):
    IMAGE_MIN_DIM = 800
    IMAGE_MAX_DIM = 1024


@pytest.mark.parametrize("h,w", [(192, 195), (192, 207), (195, 192), (640, 480), (1999, 1500),
                                 (3000, 4000), (799, 1), (1, 5000), (1024, 1024)])
def test_sizes_equal_resize_image_including_float64_ties(h, w):
    """192 x 195: 195 * 800 / 192 = 812.5 exactly, which resize_image's
    float64 product misses (812.5000000000001 -> 813)."""
    config = CocoSizes()
    scale = max(1, 800 / min(h, w))
    if round(max(h, w) * scale) > 1024:
        scale = 1024 / max(h, w)
    expected = (max(round(h * scale), 1), max(round(w * scale), 1))
    got = resize_params_portable(tf.constant(h), tf.constant(w), config)
    assert (int(got[1]), int(got[2])) == expected
    assert np.float32(got[0].numpy()) == np.float32(scale)


def test_unmold_matches_numpy_within_one_pixel():
    config = Pad64Config()
    rng = np.random.default_rng(3)
    image = np.zeros((77, 333, 3), np.uint8)
    _, metas, windows = mold_inputs([image], config)
    n, classes = 16, config.NUM_CLASSES
    boxes = np.sort(rng.random((n, 2, 2)), axis=1).reshape(n, 4)   # y1, x1, y2, x2
    # Inside the window (normalised coordinates of the 128 x 384 molded image).
    wy1, wx1, wy2, wx2 = windows[0]
    lo = np.array([wy1 / 127, wx1 / 383] * 2)
    hi = np.array([(wy2 - 1) / 127, (wx2 - 1) / 383] * 2)
    boxes = lo + boxes * (hi - lo)
    detections = np.concatenate([boxes, rng.integers(1, classes, (n, 1)),
                                 np.sort(rng.random((n, 1)), axis=0)[::-1]], 1)
    detections[12:] = 0
    detections[3, 3] = detections[3, 1] - 0.01   # no area: dropped
    masks = rng.random((n, 28, 28, classes)).astype(np.float32)
    got = unmold_detections_portable(tf.constant(detections[None], tf.float32),
                                     tf.constant(masks[None]), tf.constant(metas, tf.float32))
    got = {k: v.numpy() for k, v in got.items()}
    rois, class_ids, scores, _ = unmold_detections(
        detections.astype(np.float32), masks, image.shape, (128, 384, 3), windows[0])
    m = int(got["num_detections"][0])
    assert m == len(class_ids) == 11
    np.testing.assert_array_equal(got["detection_classes"][0][:m], class_ids)
    assert np.abs(got["detection_boxes"][0][:m] - rois).max() <= 1
    np.testing.assert_allclose(got["detection_scores"][0][:m], scores, rtol=1e-6)
    keep = [i for i in range(12) if i != 3]
    np.testing.assert_array_equal(got["detection_masks"][0][:m],
                                  masks[keep, :, :, class_ids].astype(np.float32))
    assert not got["detection_masks"][0][m:].any() and not got["detection_boxes"][0][m:].any()


PRE_POST_CHECK = textwrap.dedent("""
    import sys
    import numpy as np
    fmt, path, ref = sys.argv[1:4]
    ref = np.load(ref)
    if fmt == "onnx":
        import onnxruntime as ort
        sess = ort.InferenceSession(path)
        names = [o.name for o in sess.get_outputs()]
        run = lambda x: dict(zip(names, sess.run(None, {"images": x})))
    else:
        from ai_edge_litert.interpreter import Interpreter
        run = Interpreter(model_path=path).get_signature_runner()
        run_ = run
        run = lambda x: run_(images=x)
    for i in range(3):
        got = run(ref["image_%d" % i])
        for k in ("resized", "metas", "anchors", "detection_boxes", "detection_masks",
                  "num_detections", "detection_classes"):
            np.testing.assert_array_equal(got[k], ref["%s_%d" % (k, i)], err_msg=k)
    assert "tensorflow" not in sys.modules and "mrcnn" not in sys.modules
    print("bit-exact")
""")


def test_pre_and_post_processing_convert_and_run_bit_exact_without_tensorflow(tmp_path):
    config = Pad64Config()
    rng = np.random.default_rng(0)
    det = rng.random([1, 8, 6]).astype(np.float32)
    det[..., 4] = np.round(det[..., 4] * 3)
    mask = rng.random([1, 8, 28, 28, config.NUM_CLASSES]).astype(np.float32)

    def f(images):
        pre = preprocess_portable(images, config)
        out = unmold_detections_portable(tf.constant(det), tf.constant(mask), pre["metas"])
        out.update(resized=pre["resized"], metas=pre["metas"], anchors=pre["anchors"][None])
        return out

    spec = tf.TensorSpec([1, None, None, 3], tf.uint8, name="images")
    fn = tf.function(f, input_signature=[spec])
    (tmp_path / "p.onnx").write_bytes(C.convert_onnx_function(fn, spec).SerializeToString())
    (tmp_path / "p.tflite").write_bytes(C.convert_tflite_function(fn.get_concrete_function(),
                                                                  None))
    arrays = {}
    for i, shape in enumerate(SIZES[:3]):
        image = rng.integers(0, 256, (1,) + shape, dtype=np.uint8)
        arrays["image_%d" % i] = image
        arrays.update({"%s_%d" % (k, i): v.numpy() for k, v in fn(tf.constant(image)).items()})
    np.savez(tmp_path / "ref.npz", **arrays)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    for fmt in ("onnx", "tflite"):
        out = subprocess.run([sys.executable, "-c", PRE_POST_CHECK, fmt,
                              str(tmp_path / ("p." + fmt)), str(tmp_path / "ref.npz")],
                             capture_output=True, text=True, env=env, cwd=str(tmp_path))
        assert out.returncode == 0 and "bit-exact" in out.stdout, out.stderr[-3000:]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    keras.utils.set_random_seed(1)
    model = MaskRCNN("inference", ExportConfig(), str(tmp_path_factory.mktemp("logs")))
    model.class_names = ["BG", "a", "b", "c"][:model.config.NUM_CLASSES]
    return model


def test_failed_tflite_conversion_names_the_ops_and_writes_nothing(tiny_model, tmp_path):
    path = tmp_path / "m.tflite"
    with pytest.raises(C.ConversionError) as e:
        deploy.export_tflite(tiny_model, str(path), network=tiny_model.keras_model)
    message = str(e.value)
    assert message.startswith("tflite export failed") and e.value.ops, message
    assert set(e.value.ops) & {"CropAndResize", "CombinedNonMaxSuppression",
                               "TensorListReserve", "TensorListGetItem", "DynamicStitch"}
    assert os.listdir(tmp_path) == []


def test_failed_onnx_conversion_names_the_op(tmp_path):
    spec = tf.TensorSpec([None, 4], tf.float32, name="images")
    fn = tf.function(lambda x: {"y": tf.math.multiply_no_nan(x, x + 1)}, input_signature=[spec])
    with pytest.raises(C.ConversionError) as e:
        C.convert_onnx_function(fn, spec)
    assert "onnx export failed" in str(e.value) and "MulNoNan" in e.value.ops


def test_export_writes_sidecar_and_metadata_and_keeps_an_earlier_file(tiny_model, tmp_path,
                                                                     monkeypatch):
    import onnx
    path = str(tmp_path / "m.onnx")
    deploy.export_onnx(tiny_model, path)
    side = deploy.read_sidecar(path)
    assert side["format"] == "onnx" and side["class_names"] == tiny_model.class_names
    assert side["input"] == {"name": "images", "dtype": "uint8", "shape": [None, None, None, 3]}
    assert side["outputs"]["detection_masks"]["shape"] == [None, 8, 28, 28]
    assert side["config"]["IMAGE_MAX_DIM"] == 128 and side["portable_network"]
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert json.loads(meta["mrcnn"]) == side
    with pytest.raises(FileExistsError):
        deploy.export_onnx(tiny_model, path)
    before = open(path, "rb").read()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(C.fileio, "write_json_atomic", interrupted)
    with pytest.raises(KeyboardInterrupt):
        deploy.export_onnx(tiny_model, path, force=True, quantize="dynamic-int8")
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.json"]


def test_cli_export_formats_and_usage_errors(tiny_model, tmp_path, capsys):
    from mrcnn.cli import main
    model_dir = tiny_model.save(str(tmp_path / "model"), class_names=tiny_model.class_names)
    out = str(tmp_path / "m.tflite")
    assert main(["export", "--model", model_dir, "--format", "tflite", "--output", out,
                 "--quantize", "float16"]) == 0
    assert deploy.read_sidecar(out)["quantize"] == "float16"
    assert "exported" in capsys.readouterr().out
    assert main(["export", "--model", model_dir, "--format", "tflite", "--output", out,
                 "--opset", "17"]) == 2
    assert main(["export", "--model", model_dir, "--output", str(tmp_path / "sm"),
                 "--quantize", "float16"]) == 2
    assert "apply to --format onnx/tflite" in capsys.readouterr().err
