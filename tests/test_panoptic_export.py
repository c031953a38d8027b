"""The SavedModel of a panoptic model: the graph fusion (fuse_graph) equals
mrcnn.panoptic.fuse on random scenes (ties, thresholds, overlaps, small
stuff), and the exported outputs (semantic_classes, panoptic_segment_ids,
segment_*, num_segments) equal detect()'s "semantic", "panoptic" and
"segments" in a process that imports only TensorFlow."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import export as E
from mrcnn import panoptic
from mrcnn.data.panoptic import load_panoptic_shapes
from mrcnn.heads.semantic_serving import OUTPUTS, fuse_graph
from mrcnn.model import MaskRCNN

from test_heads_semantic import TinyPanopticConfig


def _random_scene(rng, h, w, n, classes=7):
    masks = np.zeros((h, w, n), bool)
    for i in range(n):
        y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
        masks[y:y + rng.integers(3, h // 2), x:x + rng.integers(3, w // 2), i] = True
        if rng.random() < 0.1:
            masks[:, :, i] = False                           # an empty mask
    scores = rng.choice([0.3, 0.5, 0.6, 0.7, 0.9], n).astype(np.float32)   # ties
    class_ids = rng.integers(1, 6, n).astype(np.int32)            # 4, 5: stuff
    semantic = rng.choice([0, 4, 5, 6], (h, w)).astype(np.int32)
    semantic[: h // 3] = 4
    return masks, class_ids, scores, semantic


@pytest.mark.parametrize("seed", range(6))
def test_fuse_graph_equals_fuse(seed):
    rng = np.random.default_rng(seed)
    h, w, n = 40, 50, int(rng.integers(0, 9))
    masks, class_ids, scores, semantic = _random_scene(rng, h, w, n)
    options = dict(score_threshold=[0.0, 0.5, 0.7][seed % 3],
                   overlap_threshold=[0.5, 0.2][seed % 2], stuff_area_limit=[1, 300][seed % 2])
    want_map, want_segments = panoptic.fuse(masks, class_ids, scores, semantic, [4, 5, 6],
                                            **options)
    size = 8 + 3
    pad = size - 3 - n  # padding rows after the real detections
    masks_t = tf.constant(np.concatenate([masks, np.ones((h, w, pad), bool)], axis=2))
    got = fuse_graph(lambda i: masks_t[:, :, i],
                     tf.constant(np.concatenate([class_ids, np.full(pad, 2, np.int32)])),
                     tf.constant(np.concatenate([scores, np.ones(pad, np.float32)])),
                     tf.constant(n), tf.constant(semantic), [4, 5, 6], 7,
                     options["score_threshold"], options["overlap_threshold"],
                     options["stuff_area_limit"], size)
    got_map, categories, things, seg_scores, num = [t.numpy() for t in got]
    np.testing.assert_array_equal(got_map, want_map)
    assert num == len(want_segments)
    np.testing.assert_array_equal(categories[:num], [s["category_id"] for s in want_segments])
    np.testing.assert_array_equal(things[:num], [s["isthing"] for s in want_segments])
    np.testing.assert_array_equal(seg_scores[:num],
                                  [s["score"] or 0.0 for s in want_segments])
    assert not categories[num:].any() and not things[num:].any() and not seg_scores[num:].any()


class PanopticExportConfig(TinyPanopticConfig):
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 128
    IMAGE_RESIZE_MODE = "square"


def _images():
    dataset = load_panoptic_shapes(3, 128, 128, seed=9)
    return [dataset.load_image(0)[:100, :90], dataset.load_image(1),
            dataset.load_image(2)[20:110, :]]


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
    first = tf.io.decode_png(encoded[1], channels=3)
    r = loaded.signatures["serving_images"](images=tf.stack([first, first[:, ::-1]]))
    results.update({"pair_" + k: v.numpy() for k, v in r.items()})
    r = loaded.signatures["serving_default"](images=tf.zeros([0], tf.string))
    assert all(v.shape[0] == 0 for v in r.values())
    np.savez(out, **results)
    assert not any(m == "mrcnn" or m.startswith("mrcnn.") for m in sys.modules)
""")


def _check(r, got, i, image_shape):
    h, w = image_shape[:2]
    semantic = got["semantic_classes"][i]
    np.testing.assert_array_equal(semantic[:h, :w], r["semantic"])
    assert not semantic[h:].any() and not semantic[:, w:].any()
    pan = got["panoptic_segment_ids"][i]
    np.testing.assert_array_equal(pan[:h, :w], r["panoptic"])
    assert not pan[h:].any() and not pan[:, w:].any()
    num = int(got["num_segments"][i])
    assert num == len(r["segments"])
    np.testing.assert_array_equal(got["segment_category_ids"][i][:num],
                                  [s["category_id"] for s in r["segments"]])
    np.testing.assert_array_equal(got["segment_isthing"][i][:num],
                                  [s["isthing"] for s in r["segments"]])
    np.testing.assert_array_equal(got["segment_scores"][i][:num],
                                  np.float32([s["score"] or 0.0 for s in r["segments"]]))
    assert got["segment_category_ids"].shape[1] == 8 + 3


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    keras.utils.set_random_seed(4)
    model = MaskRCNN("inference", PanopticExportConfig(), str(tmp_path_factory.mktemp("logs")))
    # These random weights detect stuff classes (4-6) only, and the fusion
    # skips those: rule them out of the classifier.
    logits = model.keras_model.get_layer("mrcnn_class_logits")
    kernel, bias = logits.get_weights()
    bias[4:] -= 1000.0
    logits.set_weights([kernel, bias])
    return model


def test_exported_panoptic_outputs_equal_detect_in_a_fresh_process(model, tmp_path):
    images = _images()
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / "image{}.png".format(i)))
        tf.io.write_file(paths[-1], tf.io.encode_png(image))
    version = model.export(str(tmp_path / "export"), verbose=0)
    out = str(tmp_path / "out.npz")
    subprocess.run([sys.executable, "-c", FRESH_PROCESS, version, out] + paths, check=True,
                   env=dict(os.environ, PYTHONPATH=""), cwd=str(tmp_path), timeout=600)
    got = np.load(out)
    assert set(OUTPUTS) <= {k[4:] for k in got.files if k.startswith("enc_")}
    expected = model.detect(images)
    assert any(s["isthing"] for r in expected for s in r["segments"])
    assert any(not s["isthing"] for r in expected for s in r["segments"])
    encoded = {k[4:]: v for k, v in got.items() if k.startswith("enc_")}
    for i, image in enumerate(images):
        _check(expected[i], encoded, i, image.shape)
    pair = model.detect([images[1], images[1][:, ::-1]])
    batch = {k[5:]: v for k, v in got.items() if k.startswith("pair_")}
    for i in range(2):
        _check(pair[i], batch, i, images[1].shape)


def test_full_mask_servable_fuses_the_same(model):
    images = _images()
    servable = E._Servable(model.keras_model, model.config, full_masks=True)
    for image in images[:2]:
        got = {k: v.numpy() for k, v in servable.serve_images(tf.constant(image[None])).items()}
        _check(model.detect([image])[0], got, 0, image.shape)
