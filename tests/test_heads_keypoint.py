"""The keypoint head: its loss against NumPy, its target and decoding
layers against mrcnn.data.keypoints, a tiny Keypoint R-CNN that trains
(finite, decreasing keypoint loss; the graph's loss equals the NumPy
reference on its own targets), detect()'s "keypoints" and the .keras round
trip. Models without keypoints are covered by test_modeling/test_model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import utils
from mrcnn.data import keypoints as kp
from mrcnn.data.keypoints import KeypointShapesConfig, keypoint_shapes
from mrcnn.data.pipeline import make_tf_dataset
from mrcnn.heads import HEADS
from mrcnn.heads.keypoint import HeatmapKeypoints, KeypointTargets, keypoint_loss_graph
from mrcnn.model import MaskRCNN
from mrcnn.modeling import contracts
from mrcnn.training import Trainer, loss_names, make_optimizer


class TinyKeypointConfig(KeypointShapesConfig):
    NAME = "tiny_keypoints"
    BACKBONE = "resnet18"
    IMAGES_PER_GPU = 2
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 64
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TOP_DOWN_PYRAMID_SIZE = 32
    FPN_CLASSIF_FC_LAYERS_SIZE = 64
    PRE_NMS_LIMIT = 2000
    POST_NMS_ROIS_TRAINING = 600
    POST_NMS_ROIS_INFERENCE = 32
    TRAIN_ROIS_PER_IMAGE = 64
    RPN_TRAIN_ANCHORS_PER_IMAGE = 32
    MAX_GT_INSTANCES = 4
    DETECTION_MAX_INSTANCES = 6
    DETECTION_MIN_CONFIDENCE = 0.0
    KEYPOINT_CONV_LAYERS = 2
    KEYPOINT_CONV_CHANNELS = 16
    OPTIMIZER = "Adam"


# ----------------------------------------------------------------------
# Loss and layers against NumPy
# ----------------------------------------------------------------------

def test_keypoint_loss_matches_numpy_reference():
    rng = np.random.default_rng(0)
    b, r, s, k = 2, 3, 8, 4
    logits = rng.normal(0, 3, (b, r, s, s, k)).astype(np.float32)
    index = rng.integers(0, s * s, (b, r, k)).astype(np.int32)
    valid = rng.random((b, r, k)) < 0.5
    got = keypoint_loss_graph(index, valid.astype(np.float32), logits).numpy()
    want = kp.keypoint_loss_reference(logits.reshape(b * r, s, s, k), index.reshape(b * r, k),
                                      valid.reshape(b * r, k))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # Normalised by the number of valid keypoints: one valid keypoint alone.
    one = np.zeros_like(valid)
    one[1, 2, 3] = True
    flat = logits[1, 2, :, :, 3].ravel()
    expected = np.log(np.exp(flat - flat.max()).sum()) + flat.max() - flat[index[1, 2, 3]]
    np.testing.assert_allclose(keypoint_loss_graph(index, one.astype(np.float32),
                                                   logits).numpy(), expected, rtol=1e-5)
    # No valid keypoint: 0 (and out-of-range indices of invalid ones are ignored).
    assert keypoint_loss_graph(index * 0 + 10 ** 6, np.zeros_like(valid, np.float32),
                               logits).numpy() == 0.0


def test_keypoint_targets_layer_assigns_and_encodes_like_numpy():
    image = np.zeros((1, 64, 96, 3), np.float32)
    gt_boxes = np.array([[[10, 10, 40, 50], [12, 12, 42, 52], [0, 60, 30, 95],
                          [0, 0, 0, 0]]], np.int32)
    # The second box is a crowd (negative id): never assigned, although a
    # RoI overlaps it most. The last row is padding.
    gt_class_ids = np.array([[1, -1, 2, 0]], np.int32)
    rng = np.random.default_rng(1)
    gt_kp = np.zeros((1, 4, 3, 3), np.float32)
    gt_kp[..., 0] = rng.uniform(0, 96, (1, 4, 3))
    gt_kp[..., 1] = rng.uniform(0, 64, (1, 4, 3))
    gt_kp[..., 2] = 2
    gt_kp[0, 0, 0] = (20.5, 20.5, 2)
    gt_kp[0, 0, 1] = (30, 30, 0)                      # unlabelled
    gt_kp[0, 2, 0] = (70.25, 10.75, 1)                # labelled, hidden: trained on
    pixel_rois = np.array([[12, 12, 42, 52], [10, 10, 40, 50], [1, 58, 31, 94], [0, 0, 0, 0]])
    rois = utils.norm_boxes(pixel_rois, (64, 96))[None]
    class_ids = np.array([[1, 1, 2, 0]], np.int32)
    layer = KeypointTargets(56, keypoint_classes=[1, 2], num_classes=3)
    index, weight = (t.numpy() for t in layer([rois, class_ids, gt_class_ids, gt_boxes,
                                                gt_kp, image]))
    boxes = kp.roi_pixel_boxes(rois[0], (64, 96))
    assigned = [0, 0, 2]   # RoI 0 overlaps the crowd box best: the first non-crowd instead
    want_index, want_valid = kp.encode_keypoints(boxes[:3], gt_kp[0, assigned], 56)
    np.testing.assert_array_equal(index[0, :3], want_index)
    np.testing.assert_array_equal(weight[0, :3], want_valid.astype(np.float32))
    assert weight[0, 3].sum() == 0 and weight[0, 0, 1] == 0 and weight[0, 2, 0] == 1
    assert weight[0, :3].sum() > 3
    # Classes without keypoints get no targets.
    only_1 = KeypointTargets(56, keypoint_classes=[1], num_classes=3)
    weight = only_1([rois, class_ids, gt_class_ids, gt_boxes, gt_kp, image])[1].numpy()
    assert weight[0, 2].sum() == 0 and weight[0, :2].sum() > 0


def test_heatmap_keypoints_layer_decodes_like_numpy():
    rng = np.random.default_rng(2)
    heatmaps = rng.normal(0, 2, (1, 3, 8, 8, 4)).astype(np.float32)
    pixel = np.array([[4, 8, 40, 60], [10, 0, 30, 20], [0, 0, 0, 0]])
    boxes = utils.norm_boxes(pixel, (64, 64))[None]
    class_ids = np.array([[1, 2, 0]], np.float32)
    image = np.zeros((1, 64, 64, 3), np.float32)
    layer = HeatmapKeypoints(keypoint_classes=[1, 3], num_classes=4)
    out = layer([heatmaps, boxes, class_ids, image]).numpy()
    want = kp.decode_heatmaps(heatmaps[0, :1], kp.roi_pixel_boxes(boxes[0, :1], (64, 64)))
    np.testing.assert_allclose(out[0, :1], want, rtol=1e-5, atol=1e-4)
    # Class 2 carries no keypoints; row 2 is padding.
    assert np.all(out[0, 1:] == 0)


def test_unmold_keypoints_maps_the_window_to_the_original_image():
    # A 100x50 image (h x w) molded into 128x128: scale 1.28, window x 32..96.
    window = (0, 32, 128, 96)
    detections = np.zeros((3, 6), np.float32)
    detections[0] = list(utils.norm_boxes(np.array([10, 40, 60, 90]), (128, 128))) + [1, 0.9]
    detections[1] = list(utils.norm_boxes(np.array([5, 50, 5, 60]), (128, 128))) + [1, 0.8]
    keypoints = np.zeros((3, 2, 3), np.float32)
    keypoints[0] = [[32 + 12.8, 25.6, 0.7], [96, 128, 0.1]]
    keypoints[1] = [[60, 6, 0.5], [61, 6, 0.5]]
    out = kp.unmold_keypoints(detections, keypoints, (100, 50, 3), (128, 128, 3), window)
    # The zero-height detection 1 is dropped, as unmold_detections drops it.
    assert out.shape == (1, 2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], [[10, 20, 0.7], [50, 100, 0.1]], rtol=1e-5)


# ----------------------------------------------------------------------
# A tiny Keypoint R-CNN
# ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def dataset():
    return keypoint_shapes(4, 80, 80, seed=4)   # molded to 64x64


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dataset):
    """A tiny model whose keypoint head trained a few steps on one batch
    (the rest frozen, the RPN's deltas zeroed: its proposals are the
    anchors, some of which are positives)."""
    keras.utils.set_random_seed(0)
    config = TinyKeypointConfig()
    model = MaskRCNN("training", config, str(tmp_path_factory.mktemp("logs")))
    km = model.keras_model
    rpn_bbox = km.get_layer("rpn_model").get_layer("rpn_bbox_pred")
    rpn_bbox.set_weights([np.zeros_like(w) for w in rpn_bbox.get_weights()])
    model.set_trainable(r"mrcnn\_keypoint.*", verbose=0)
    batch = next(iter(make_tf_dataset(dataset, config, shuffle=False)))
    trainer = Trainer(km, config)
    trainer.compile(optimizer=make_optimizer(config, 3e-3), jit_compile=False)
    history = [trainer.train_on_batch(batch, return_dict=True) for _ in range(12)]
    return model, config, batch, history


def test_keypoint_model_has_its_input_outputs_and_loss(trained):
    model, config, batch, _ = trained
    km = model.keras_model
    assert [t.name for t in km.inputs] == list(contracts.TRAINING_INPUTS) + [
        "input_gt_keypoints"]
    assert contracts.output_names(km) == list(contracts.TRAINING_OUTPUTS) + [
        "mrcnn_keypoint_logits", "keypoint_loss"]
    assert loss_names(config)[-1] == "keypoint_loss"
    assert HEADS["keypoint"].name == "keypoint"
    assert len(batch) == 8 and tuple(batch[7].shape) == (2, 4, 4, 3)


def test_keypoint_loss_is_finite_and_decreases(trained):
    _, _, _, history = trained
    losses = [h["keypoint_loss"] for h in history]
    assert np.all(np.isfinite(losses)) and all(v > 0 for v in losses)
    # Starts near uniform heatmaps (log(56 * 56) = 8.04) and goes down.
    assert 6.0 < losses[0] < 10.0
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses


def test_graph_keypoint_loss_equals_numpy_on_its_targets(trained):
    """The loss of the whole graph equals the NumPy loss computed from the
    positive RoIs it trained on and the ground truth, re-assigned and
    encoded in NumPy."""
    model, config, batch, _ = trained
    km = model.keras_model
    class_ids, rois = km.get_layer("keypoint_positives").output
    probe = keras.Model(km.inputs, [class_ids, rois, km.get_layer("mrcnn_keypoint_logits").output,
                                    km.get_layer("keypoint_loss").output])
    tf.random.set_seed(3)
    class_ids, rois, logits, loss = (t.numpy() for t in probe(list(batch), training=False))
    gt_class_ids, gt_boxes, gt_kp = (np.asarray(batch[i]) for i in (4, 5, 7))
    heatmaps, index, valid = [], [], []
    for b in range(class_ids.shape[0]):
        pos = np.where(class_ids[b] > 0)[0]
        if len(pos) == 0:
            continue
        gt_norm = utils.norm_boxes(gt_boxes[b], (64, 64))
        overlaps = utils.compute_overlaps(rois[b, pos], gt_norm)
        overlaps[:, gt_class_ids[b] <= 0] = -1
        assigned = overlaps.argmax(axis=1)
        # The class of the re-assigned instance is DetectionTargetLayer's.
        np.testing.assert_array_equal(gt_class_ids[b, assigned], class_ids[b, pos])
        i, v = kp.encode_keypoints(kp.roi_pixel_boxes(rois[b, pos], (64, 64)),
                                   gt_kp[b, assigned], config.KEYPOINT_MASK_SHAPE)
        heatmaps.append(logits[b, pos])
        index.append(i)
        valid.append(v)
        # Only RoIs with a keypoint target went through the head.
        np.testing.assert_array_equal(np.abs(logits[b, pos]).reshape(len(pos), -1).max(1) > 0,
                                      np.asarray(v).reshape(len(pos), -1).max(1) > 0)
    assert heatmaps, "no positive RoI in the batch"
    want = kp.keypoint_loss_reference(np.concatenate(heatmaps), np.concatenate(index),
                                      np.concatenate(valid))
    assert np.concatenate(valid).sum() > 0
    np.testing.assert_allclose(loss, want, rtol=1e-4)


@pytest.fixture(scope="module")
def inference(trained, tmp_path_factory):
    model, config, _, _ = trained
    path = str(tmp_path_factory.mktemp("w") / "w.h5")
    from mrcnn import weights as weight_io
    weight_io.save_weights(model.keras_model, path)
    inference = MaskRCNN("inference", config, str(tmp_path_factory.mktemp("logs")))
    inference.load_weights(path, by_name=True)
    return inference


def test_detect_returns_keypoints_in_image_pixels(inference, dataset):
    km = inference.keras_model
    assert contracts.output_names(km) == list(contracts.INFERENCE_OUTPUTS) + ["mrcnn_keypoints"]
    image = dataset.load_image(0)
    big = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)   # 160x160
    for img in (image, big):
        r = inference.detect([img])[0]
        n = len(r["class_ids"])
        assert n > 0
        assert r["keypoints"].shape == (n, 4, 3) and r["keypoints"].dtype == np.float32
        x, y, score = np.moveaxis(r["keypoints"], -1, 0)
        assert np.all((score > 0) & (score <= 1))
        assert np.all((x >= 0) & (x <= img.shape[1]) & (y >= 0) & (y <= img.shape[0]))
        # Each keypoint is a cell centre of its detection's box (boxes are
        # rounded to original pixels; one molded pixel is img / 64 of them).
        y1, x1, y2, x2 = (r["rois"][:, None, i] for i in range(4))
        tol = img.shape[0] / 64 + 0.5
        assert np.all((x >= x1 - tol) & (x <= x2 + tol) & (y >= y1 - tol) & (y <= y2 + tol))
    small = inference.detect([image])[0]
    # The same as decoding the head's heatmaps of run_graph in NumPy (in
    # molded pixels: 64 for the image's 80).
    values = inference.run_graph([image], [
        ("logits", km.get_layer("mrcnn_keypoint_logits").output),
        ("detections", km.get_layer("mrcnn_detection").output)])
    boxes = kp.roi_pixel_boxes(values["detections"][0, :n, :4], (64, 64))
    want = kp.decode_heatmaps(values["logits"][0, :n], boxes)
    want[..., :2] *= 80 / 64
    np.testing.assert_allclose(small["keypoints"], want, rtol=1e-4, atol=1e-3)


def test_keypoint_class_ids_zero_other_classes(inference, dataset, tmp_path):
    config = TinyKeypointConfig()
    config.KEYPOINT_CLASS_IDS = (1,)
    path = str(tmp_path / "w.h5")
    from mrcnn import weights as weight_io
    weight_io.save_weights(inference.keras_model, path)
    model = MaskRCNN("inference", config, str(tmp_path))
    model.load_weights(path, by_name=True)
    want = inference.detect([dataset.load_image(1)])[0]
    got = model.detect([dataset.load_image(1)])[0]
    for key in ("rois", "class_ids", "scores", "masks"):
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    one = got["class_ids"] == 1
    assert np.all(got["keypoints"][~one] == 0)
    np.testing.assert_allclose(got["keypoints"][one], want["keypoints"][one], rtol=1e-5)


def test_keypoint_model_keras_file_round_trip(inference, dataset, tmp_path):
    path = str(tmp_path / "k.keras")
    inference.keras_model.save(path)
    loaded = keras.saving.load_model(path)
    assert contracts.output_names(loaded) == contracts.output_names(inference.keras_model)
    again = MaskRCNN("inference", TinyKeypointConfig(), str(tmp_path))
    again.keras_model = loaded
    image = dataset.load_image(2)
    want, got = inference.detect([image])[0], again.detect([image])[0]
    np.testing.assert_array_equal(got["keypoints"], want["keypoints"])
