"""The SavedModel of a Keypoint R-CNN: detection_keypoints [B, N, K, 3] in
original pixels equals detect()'s "keypoints", in a process that imports
only TensorFlow, for images of several sizes, in both signatures and in
empty batches; a model without keypoints has no such output."""
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import tensorflow as tf

from mrcnn import export as E
from mrcnn.data.keypoints import KeypointShapesConfig
from mrcnn.model import MaskRCNN


class ExportKeypointConfig(KeypointShapesConfig):
    NAME = "export_keypoints"
    BACKBONE = "resnet18"
    IMAGES_PER_GPU = 1
    IMAGE_RESIZE_MODE = "pad64"
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TOP_DOWN_PYRAMID_SIZE = 32
    FPN_CLASSIF_FC_LAYERS_SIZE = 64
    POST_NMS_ROIS_INFERENCE = 32
    DETECTION_MAX_INSTANCES = 6
    DETECTION_MIN_CONFIDENCE = 0.0     # random weights: keep every detection
    KEYPOINT_CONV_LAYERS = 1
    KEYPOINT_CONV_CHANNELS = 8
    KEYPOINT_CLASS_IDS = (1, 2)        # triangles (3) get zeros


FRESH_PROCESS = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    export_dir, out, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    loaded = tf.saved_model.load(export_dir)
    encoded = tf.stack([tf.io.read_file(p) for p in paths])
    r = loaded.signatures["serving_default"](images=encoded)
    results = {"enc_" + k: v.numpy() for k, v in r.items()}
    image = tf.io.decode_png(encoded[1], channels=3)
    r = loaded.signatures["serving_images"](images=image[None])
    results.update({"u8_" + k: v.numpy() for k, v in r.items()})
    empty = loaded.signatures["serving_default"](images=tf.zeros([0], tf.string))
    results["empty"] = empty["detection_keypoints"].numpy()
    np.savez(out, **results)
    assert not any(m == "mrcnn" or m.startswith("mrcnn.") for m in sys.modules)
""")


def _images():
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, s, dtype=np.uint8) for s in [(50, 80, 3), (200, 150, 3),
                                                                 (128, 96, 3)]]
    for image in images:
        image[10:40, 10:40] = (220, 30, 30)
    return images


def test_saved_model_keypoints_equal_detect_in_a_fresh_process(tmp_path):
    keras.utils.set_random_seed(4)
    model = MaskRCNN("inference", ExportKeypointConfig(), str(tmp_path / "logs"))
    images = _images()
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / "image{}.png".format(i)))
        tf.io.write_file(paths[-1], tf.io.encode_png(image))
    version_dir = model.export(str(tmp_path / "export"), verbose=0)
    out = str(tmp_path / "out.npz")
    subprocess.run([sys.executable, "-c", FRESH_PROCESS, version_dir, out] + paths,
                   check=True, env=dict(os.environ, PYTHONPATH=""), cwd=str(tmp_path),
                   timeout=600)
    got = np.load(out)
    assert got["enc_detection_keypoints"].shape == (3, 6, 4, 3)
    assert got["empty"].shape == (0, 6, 4, 3)
    expected = model.detect(images)
    some_kept = False
    for i, r in enumerate(expected):
        n = int(got["enc_num_detections"][i])
        assert n == len(r["class_ids"]) > 0
        keypoints = got["enc_detection_keypoints"][i]
        np.testing.assert_allclose(keypoints[:n], r["keypoints"], rtol=1e-6, atol=1e-4)
        assert not keypoints[n:].any()
        some_kept |= bool((r["keypoints"][..., 2] > 0).any())
        assert np.all(r["keypoints"][r["class_ids"] == 3] == 0)
    assert some_kept
    n = int(got["u8_num_detections"][0])
    np.testing.assert_allclose(got["u8_detection_keypoints"][0, :n], expected[1]["keypoints"],
                               rtol=1e-6, atol=1e-4)


def test_unmold_keypoints_graph_equals_numpy_twin():
    """The TensorFlow twin against mrcnn.data.keypoints.unmold_keypoints on
    hand-made detections: a padding row, a box without area, two windows."""
    from mrcnn.data.keypoints import unmold_keypoints
    from mrcnn.heads.keypoint import unmold_keypoints_graph
    from mrcnn.molding.meta import compose_image_meta
    rng = np.random.default_rng(0)
    metas, dets, kps, cases = [], [], [], []
    for original, molded, window in [((50, 80, 3), (128, 128, 3), (24, 0, 104, 128)),
                                     ((200, 150, 3), (128, 128, 3), (0, 16, 128, 112))]:
        det = np.zeros((5, 6), np.float32)
        det[:3, :4] = np.sort(rng.random((3, 4)), axis=-1)[:, [0, 1, 2, 3]]
        det[:3, :2], det[:3, 2:4] = det[:3, [0, 1]] * 0.5, 0.5 + det[:3, [2, 3]] * 0.5
        det[1, 2] = det[1, 0] - 0.05              # no height: dropped
        det[:3, 4], det[:3, 5] = [1, 2, 1], [0.9, 0.8, 0.7]
        kp = rng.uniform(0, 128, (5, 4, 3)).astype(np.float32)
        kp[..., 2] = rng.random((5, 4))
        kp[0, 1] = 0                              # a zero keypoint stays zero
        metas.append(compose_image_meta(0, original, molded, window, 1.0, np.ones(4)))
        dets.append(det)
        kps.append(kp)
        cases.append((original, molded, window))
    got = unmold_keypoints_graph(tf.constant(np.stack(dets)), tf.constant(np.stack(kps)),
                                 tf.constant(np.stack(metas), tf.float32)).numpy()
    for i, (original, molded, window) in enumerate(cases):
        want = unmold_keypoints(dets[i], kps[i], original, molded, np.array(window))
        assert len(want) == 2
        np.testing.assert_allclose(got[i, :len(want)], want, rtol=1e-6, atol=1e-5)
        assert not got[i, len(want):].any()


def test_model_without_keypoints_has_no_keypoint_output():
    class Plain(ExportKeypointConfig):
        KEYPOINT_NAMES = ()
        KEYPOINT_FLIP_PAIRS = KEYPOINT_SKELETON = ()
        KEYPOINT_OKS_SIGMAS = KEYPOINT_CLASS_IDS = None
        ROI_HEADS = ("box", "mask")
    model = MaskRCNN("inference", Plain(), "/tmp")
    servable = E._Servable(model.keras_model, model.config)
    assert servable.output_keys() == E.OUTPUT_KEYS
