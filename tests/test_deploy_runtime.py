"""ONNX Runtime and the TFLite interpreter on exported files, in a process
that imports neither TensorFlow nor mrcnn (tests/deploy_runtime_check.py),
against the SavedModel's outputs (mrcnn.export's servable, which equals
detect()).

Parity needs a trained model: with random weights the scores saturate at
1.0 and the boxes degenerate, so equal-scored proposals and zero-area boxes
are ordered and dropped differently by each runtime's float round-off. The
parity test therefore uses the model `mrcnn demo` trains (its default
recipe, ~8 min on 2 cores): set MRCNN_DEPLOY_MODEL=DIR to a trained demo
model (DIR/model of `mrcnn demo --output-dir DIR`) or run with --runslow to
train one. The contract test (names, dtypes, shapes, three sizes) runs on a
tiny random model in CI.
"""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import export as E
from mrcnn.deploy import export_onnx, export_tflite
from mrcnn.model import MaskRCNN

from test_export import ExportConfig

pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert")

CHECK = os.path.join(os.path.dirname(__file__), "deploy_runtime_check.py")


def _run_check(fmt, path, ref, contract=False):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the checker must not see mrcnn
    out = subprocess.run([sys.executable, CHECK, fmt, path, ref] + (["contract"] if contract
                                                                   else []),
                         capture_output=True, text=True, env=env, timeout=300,
                         cwd=os.path.dirname(ref))
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert '"tensorflow_imported": false' in out.stdout
    return out.stdout


def _reference(model, images, path):
    servable = E._Servable(model.keras_model, model.config)
    arrays = {}
    for i, image in enumerate(images):
        arrays["image_{}".format(i)] = image
        for k, v in servable.serve_images(tf.constant(image[None])).items():
            arrays["{}_{}".format(k, i)] = v.numpy()
    np.savez(path, **arrays)
    return path


def _shapes_images():
    from mrcnn.data.shapes import ShapesDataset
    val = ShapesDataset()
    val.load_shapes(3, 128, 128, seed=2)
    val.prepare()
    # Three sizes: as drawn, taller (upscaled rows, then cropped), shorter.
    return [val.load_image(0),
            np.ascontiguousarray(np.repeat(val.load_image(1), 2, axis=0)[:, :100]),
            np.ascontiguousarray(val.load_image(2)[:90])]


def test_exports_keep_the_contract_on_three_sizes_without_tensorflow(tmp_path):
    keras.utils.set_random_seed(1)
    model = MaskRCNN("inference", ExportConfig(), str(tmp_path / "logs"))
    onnx_path = export_onnx(model, str(tmp_path / "m.onnx"))
    tflite_path = export_tflite(model, str(tmp_path / "m.tflite"))
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, s, dtype=np.uint8) for s in [(50, 80, 3), (200, 150, 3),
                                                                 (128, 96, 3)]]
    ref = _reference(model, images, str(tmp_path / "ref.npz"))
    for fmt, path in [("onnx", onnx_path), ("tflite", tflite_path)]:
        out = _run_check(fmt, path, ref, contract=True)
        assert out.count('"n": ') == 3


@pytest.fixture(scope="module")
def demo_model_dir(tmp_path_factory, request):
    given = os.environ.get("MRCNN_DEPLOY_MODEL")
    if given:
        return given
    if not request.config.getoption("--runslow"):
        pytest.skip("needs a trained demo model: MRCNN_DEPLOY_MODEL=DIR or --runslow")
    from mrcnn.demo import run_demo
    out = str(tmp_path_factory.mktemp("demo"))
    run_demo(out, verbose=0)
    return os.path.join(out, "model")


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_runtime_gives_the_saved_models_detections(demo_model_dir, tmp_path, fmt):
    model = MaskRCNN.from_directory(demo_model_dir)
    path = str(tmp_path / ("demo." + fmt))
    if fmt == "onnx":
        export_onnx(model, path)
    else:
        export_tflite(model, path)       # builtin ops only
    ref = _reference(model, _shapes_images(), str(tmp_path / "ref.npz"))
    out = _run_check(fmt, path, ref)
    assert out.count('"ok": true') == 3, out
