"""SavedModel export: in-graph decoding equals read_image, the export equals
detect() (also in a process that imports only TensorFlow), and exports are
written atomically. The in-graph resize/mold/anchor/unmold steps are checked
against their NumPy twins in tests/test_molding.py."""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import export as E
from mrcnn.heads import RoIHead
from mrcnn.model import MaskRCNN
from mrcnn.modeling import contracts

from test_model import TinyConfig
from test_molding import make_test_image as _test_image


class ExportConfig(TinyConfig):
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 128
    DETECTION_MIN_CONFIDENCE = 0.0  # random weights: keep every detection


class Pad64Config(ExportConfig):
    IMAGE_RESIZE_MODE = "pad64"


def _images():
    """Three images of different sizes: upscaled, downscaled, unscaled."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, s, dtype=np.uint8)
              for s in [(50, 80, 3), (200, 150, 3), (128, 96, 3)]]
    for image in images:
        image[10:40, 10:40] = (220, 30, 30)
    return images


FLAT_SIZES = [(64, 64), (160, 200), (300, 96), (400, 400), (250, 130), (77, 333)]


def _flat_scenes():
    """Squares and discs on a flat background, 64 to 400 px: many anchors see
    the same pixels and get equal scores, so a last-bit difference between
    detect() and the export changes which proposals survive (issue #15)."""
    import cv2
    rng = np.random.default_rng(5)
    scenes = []
    for h, w in FLAT_SIZES:
        image = np.empty((h, w, 3), np.uint8)
        image[:] = rng.integers(0, 256, 3)
        for k in range(3):
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            r = int(rng.integers(min(h, w) // 10 + 3, min(h, w) // 4 + 4))
            cy, cx = int(rng.integers(r, h - r)), int(rng.integers(r, w - r))
            if k % 2:
                cv2.circle(image, (cx, cy), r, color, -1)
            else:
                cv2.rectangle(image, (cx - r, cy - r), (cx + r, cy + r), color, -1)
        scenes.append(image)
    return scenes


@pytest.fixture(scope="module")
def square_model(tmp_path_factory):
    keras.utils.set_random_seed(1)
    return MaskRCNN("inference", ExportConfig(), str(tmp_path_factory.mktemp("logs")))


def _encode(kind, path):
    """Write a test image file of `kind` with PIL/OpenCV; returns its path."""
    import cv2
    from PIL import Image
    rgb = _test_image("gradient", (37, 53, 3))
    rgb[5:20, 10:30] = (250, 20, 120)
    if kind in ("jpeg", "jpeg-q50-444"):
        quality, subsampling = (95, 2) if kind == "jpeg" else (50, 0)
        Image.fromarray(rgb).save(path, quality=quality, subsampling=subsampling)
    elif kind == "jpeg-gray":
        Image.fromarray(rgb[..., 0]).save(path, quality=90)
    elif kind == "png-rgba":
        Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(path)
    elif kind == "png-gray16":
        cv2.imwrite(path, rgb[..., 0].astype(np.uint16) * 251 + 7)
    elif kind == "png-rgb16":
        cv2.imwrite(path, (rgb.astype(np.uint16) * 250 + 3)[..., ::-1])
    elif kind in ("png-palette", "gif"):
        Image.fromarray(rgb).quantize(17).save(path)
    elif kind == "bmp":
        Image.fromarray(rgb).save(path)
    else:  # png
        Image.fromarray(rgb).save(path)
    return path


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("kind,suffix", [
    ("jpeg", ".jpg"), ("jpeg-q50-444", ".jpg"), ("jpeg-gray", ".jpg"), ("png", ".png"),
    ("png-rgba", ".png"), ("png-gray16", ".png"), ("png-rgb16", ".png"),
    ("png-palette", ".png"), ("gif", ".gif"), ("bmp", ".bmp")])
def test_decode_image_graph_reads_files_like_read_image(tmp_path, kind, suffix, channels):
    from mrcnn.data.images import read_image
    path = _encode(kind, str(tmp_path / ("image" + suffix)))
    expected = read_image(path, channels=channels)
    got = E.decode_image_graph(tf.io.read_file(path), channels).numpy()
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


FRESH_PROCESS = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    export, out, *paths = sys.argv[1:]
    loaded = tf.saved_model.load(export)
    encoded = [tf.io.read_file(p) for p in paths]
    results = {}
    r = loaded.signatures["serving_default"](images=tf.stack(encoded))
    results.update({"enc_" + k: v.numpy() for k, v in r.items()})
    for i, e in enumerate(encoded):
        image = tf.io.decode_png(e, channels=3)[None]
        r = loaded.signatures["serving_images"](images=image)
        results.update({"u8_{}_{}".format(i, k): v.numpy() for k, v in r.items()})
    # A batch of 2 same-size images (the second flipped), and batches of 0.
    first = tf.io.decode_png(encoded[0], channels=3)
    r = loaded.signatures["serving_images"](images=tf.stack([first, first[:, ::-1]]))
    results.update({"pair_" + k: v.numpy() for k, v in r.items()})
    for name in ("serving_images", "serving_default"):
        empty = (tf.zeros([0, 20, 30, 3], tf.uint8) if name == "serving_images"
                 else tf.zeros([0], tf.string))
        r = loaded.signatures[name](images=empty)
        assert all(v.shape[0] == 0 for v in r.values()), name
    np.savez(out, **results)
    assert not any(m == "mrcnn" or m.startswith("mrcnn.") for m in sys.modules)
""")


def _compare(expected, num, boxes, classes, scores, masks, image_shape):
    # The issue allows 1 px, 1e-4 and mask IoU 0.95; the export is exact,
    # scores to the last bit.
    n = int(num)
    assert n == len(expected["class_ids"]) > 0
    np.testing.assert_array_equal(boxes[:n], expected["rois"])
    np.testing.assert_array_equal(classes[:n], expected["class_ids"])
    np.testing.assert_array_equal(scores[:n], expected["scores"])
    assert not boxes[n:].any() and not scores[n:].any() and not classes[n:].any()
    pasted = E.paste_masks(boxes, masks, image_shape, num_detections=n)
    np.testing.assert_array_equal(pasted, expected["masks"])


def test_export_in_a_fresh_process_matches_detect(square_model, tmp_path):
    images = _images() + _flat_scenes()
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / "image{}.png".format(i)))
        tf.io.write_file(paths[-1], tf.io.encode_png(image))
    version_dir = square_model.export(str(tmp_path / "export"), version=3,
                                      class_names=["BG", "square", "bar"], verbose=0)
    assert version_dir == str(tmp_path / "export" / "3")
    assert os.path.exists(os.path.join(version_dir, "saved_model.pb"))
    with open(os.path.join(version_dir, "assets.extra", "class_names.json")) as f:
        assert json.load(f) == ["BG", "square", "bar"]
    assert os.listdir(str(tmp_path / "export")) == ["3"]

    out = str(tmp_path / "out.npz")
    env = dict(os.environ, PYTHONPATH="")
    subprocess.run([sys.executable, "-c", FRESH_PROCESS, version_dir, out] + paths,
                   check=True, env=env, cwd=str(tmp_path), timeout=600)
    got = np.load(out)
    expected = square_model.detect(images)
    for i, image in enumerate(images):
        _compare(expected[i], *[got["enc_" + k][i] for k in E.OUTPUT_KEYS], image.shape)
        _compare(expected[i], *[got["u8_{}_{}".format(i, k)][0] for k in E.OUTPUT_KEYS],
                 image.shape)
    pair = square_model.detect([images[0], images[0][:, ::-1]])
    for i in range(2):
        _compare(pair[i], *[got["pair_" + k][i] for k in E.OUTPUT_KEYS], images[0].shape)


NETWORK_OUTPUTS = ("detections", "mrcnn_class", "mrcnn_bbox", "mrcnn_mask", "rpn_rois",
                   "rpn_class", "rpn_bbox")


def test_servable_network_equals_detect_bit_for_bit_on_flat_scenes(square_model, tmp_path):
    """The graph the SavedModel runs (dynamic shapes) and detect()'s (traced
    for the first shape it sees, then for any shape) compute the same bits:
    before, grappler re-associated the proposals' box arithmetic only in the
    fixed-shape graph, and the 1-ulp proposals changed the heads' outputs."""
    pad64 = MaskRCNN("inference", Pad64Config(), str(tmp_path / "logs"))
    pad64.keras_model.set_weights(square_model.keras_model.get_weights())
    for model in (square_model, pad64):
        model._predict_fn = None  # trace afresh, for the first scene's shape
        servable = E._Servable(model.keras_model, model.config)
        serve = tf.function(
            lambda images, config=model.config, servable=servable: servable.network(
                *E.preprocess_graph(images, config)),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
        for image in _flat_scenes():
            molded, metas, _ = model.mold_inputs([image])
            expected = model._predict(molded, metas, model.get_anchors(molded[0].shape)[None])
            got = contracts.by_name(model.keras_model, serve(tf.constant(image[None])))
            assert list(got) == list(expected) == list(NETWORK_OUTPUTS)
            for name in NETWORK_OUTPUTS:
                where = "{} of a {} scene, {}".format(name, image.shape,
                                                      model.config.IMAGE_RESIZE_MODE)
                np.testing.assert_array_equal(got[name].numpy(), expected[name], err_msg=where)


def test_pad64_export_with_full_masks_matches_detect(tmp_path):
    keras.utils.set_random_seed(2)
    model = MaskRCNN("inference", Pad64Config(), str(tmp_path / "logs"))
    images = _images() + _flat_scenes()
    path = model.export(str(tmp_path / "export"), full_masks=True, verbose=0)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    out = serve(images=tf.stack([tf.io.encode_png(image) for image in images]))
    masks = out["detection_masks"].numpy()
    assert masks.dtype == np.uint8 and masks.shape[2:] == (400, 400)
    # detect() traces its network for the first molded shape, then for any
    # shape: both must equal the export's dynamic-shape graph.
    for i, (image, expected) in enumerate(zip(images, model.detect(images))):
        n = int(out["num_detections"][i])
        h, w = image.shape[:2]
        assert n == len(expected["class_ids"]) > 0
        np.testing.assert_array_equal(out["detection_boxes"][i, :n].numpy(), expected["rois"])
        np.testing.assert_array_equal(out["detection_classes"][i, :n].numpy(),
                                      expected["class_ids"])
        np.testing.assert_array_equal(out["detection_scores"][i, :n].numpy(),
                                      expected["scores"])
        np.testing.assert_array_equal(np.transpose(masks[i, :n, :h, :w], (1, 2, 0)) > 0,
                                      expected["masks"])
        assert not masks[i, :, h:].any() and not masks[i, :, :, w:].any()


def test_export_never_damages_an_existing_version(square_model, tmp_path, monkeypatch):
    export_dir = tmp_path / "export"
    square_model.export(str(export_dir), version=1, verbose=0)
    before = sorted(os.listdir(export_dir / "1"))
    with pytest.raises(FileExistsError, match="force"):
        square_model.export(str(export_dir), version=1, verbose=0)

    def crash(self, filepath, **kwargs):
        os.makedirs(filepath)
        open(os.path.join(filepath, "saved_model.pb"), "w").close()
        raise KeyboardInterrupt("killed mid-write")
    # keras.export.ExportArchive() returns a backend-specific subclass.
    monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", crash)
    with pytest.raises(KeyboardInterrupt):
        square_model.export(str(export_dir), version=1, force=True, verbose=0)
    monkeypatch.undo()
    assert sorted(os.listdir(export_dir)) == ["1"]
    assert sorted(os.listdir(export_dir / "1")) == before
    tf.saved_model.load(str(export_dir / "1"))  # still loads

    square_model.export(str(export_dir), version=1, force=True, verbose=0)
    assert sorted(os.listdir(export_dir)) == ["1"]


def test_export_on_a_full_disk_is_a_clear_error_and_keeps_the_version(square_model, tmp_path,
                                                                        monkeypatch):
    """(issue #15, item 13) TensorFlow reports a full disk while writing the
    SavedModel as ResourceExhaustedError: an OSError naming the version
    directory instead, the earlier version intact, nothing left over."""
    import errno

    from mrcnn.fileio import DiskFullError
    export_dir = tmp_path / "export"
    square_model.export(str(export_dir), version=1, verbose=0)
    before = sorted(os.listdir(export_dir / "1"))
    for error in (tf.errors.ResourceExhaustedError(
                      None, None, "variables.data-00000-of-00001; No space left on device"),
                  OSError(errno.ENOSPC, "No space left on device")):
        def full(self, filepath, _error=error, **kwargs):
            os.makedirs(filepath)
            open(os.path.join(filepath, "saved_model.pb"), "w").close()
            raise _error
        monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", full)
        with pytest.raises(DiskFullError, match="no space left") as info:
            square_model.export(str(export_dir), version=1, force=True, verbose=0)
        assert str(export_dir / "1") in str(info.value)
        monkeypatch.undo()
        assert sorted(os.listdir(export_dir)) == ["1"]
        assert sorted(os.listdir(export_dir / "1")) == before


def test_export_rejects_bad_arguments(square_model, tmp_path):
    with pytest.raises(ValueError, match="version"):
        square_model.export(str(tmp_path), version=0)
    training = MaskRCNN("training", TinyConfig(), str(tmp_path / "logs"))
    with pytest.raises(ValueError, match="inference mode"):
        E.export_saved_model(training, str(tmp_path / "e"))


class _ProbeHead(RoIHead):
    """A head with no graph outputs that adds two serving outputs: a fixed
    shape one and one the size of the original image (padded per batch)."""
    def build_training(self, ctx):
        return {}

    def build_inference(self, ctx):
        return {}

    def serving_signature(self):
        return {"probe_twice": tf.TensorSpec([], tf.int32),
                "probe_map": tf.TensorSpec([None, None], tf.uint8)}

    def serving_outputs(self, outputs, metas, original_hw, result):
        height = tf.reduce_max(original_hw[:, 0])
        width = tf.reduce_max(original_hw[:, 1])
        rows = tf.range(height)[None, :, None] < original_hw[:, 0, None, None]
        cols = tf.range(width)[None, None, :] < original_hw[:, 1, None, None]
        return {"probe_twice": result["num_detections"] * 2,
                "probe_map": tf.cast(rows & cols, tf.uint8)}


def test_heads_add_serving_outputs_in_both_signatures_and_empty_batches(tmp_path):
    from mrcnn.heads import register_head
    from mrcnn.heads.base import HEADS
    register_head("test_serving_probe")(_ProbeHead)
    try:
        class ProbeConfig(Pad64Config):
            ROI_HEADS = ("box", "mask", "test_serving_probe")
        keras.utils.set_random_seed(3)
        model = MaskRCNN("inference", ProbeConfig(), str(tmp_path / "logs"))
        path = model.export(str(tmp_path / "export"), verbose=0)
    finally:
        HEADS.pop("test_serving_probe")
    loaded = tf.saved_model.load(path)
    images = _images()[:2]  # 50x80 and 200x150: different molded shapes
    out = loaded.signatures["serving_default"](
        images=tf.stack([tf.io.encode_png(image) for image in images]))
    np.testing.assert_array_equal(out["probe_twice"].numpy(), 2 * out["num_detections"].numpy())
    probe = out["probe_map"].numpy()
    assert probe.shape == (2, 200, 150)
    for i, image in enumerate(images):
        h, w = image.shape[:2]
        assert probe[i, :h, :w].all() and probe[i].sum() == h * w
    one = loaded.signatures["serving_images"](images=tf.constant(images[1][None]))
    assert one["probe_map"].shape == (1, 200, 150) and one["probe_map"].numpy().all()
    np.testing.assert_array_equal(one["probe_twice"].numpy(), 2 * one["num_detections"].numpy())
    empty = loaded.signatures["serving_default"](images=tf.zeros([0], tf.string))
    assert empty["probe_map"].shape == (0, 0, 0) and empty["probe_twice"].shape == (0,)
