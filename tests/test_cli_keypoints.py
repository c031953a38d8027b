"""The command line with keypoints: `mrcnn demo --task keypoints` (1-2
steps) writes its files, `mrcnn detect --save-dir` draws the skeletons and
`--json` carries the keypoints, `mrcnn evaluate` prints the OKS AP, and
`mrcnn train` on a COCO keypoints file trains the keypoint head with the
file's names, skeleton and left/right flip pairs."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from mrcnn.cli import main
from mrcnn.config import Config

from test_cli import model_that_detects


@pytest.fixture(scope="module")
def keypoint_demo(tmp_path_factory):
    out_dir = str(tmp_path_factory.mktemp("kdemo"))
    assert main(["demo", "--task", "keypoints", "--output-dir", out_dir, "--epochs", "1",
                 "--steps-per-epoch", "2", "--train-images", "16", "--val-images", "3",
                 "--quiet"]) == 0
    return out_dir


def test_keypoint_demo_writes_metrics_picture_and_model(keypoint_demo):
    with open(os.path.join(keypoint_demo, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["num_images"] == 3 and metrics["steps"] == 2
    for key in ("keypoints_AP", "keypoints_AP50", "segm_AP", "bbox_AP", "mAP50",
                "train_seconds"):
        assert 0 <= metrics[key] <= (1 if "AP" in key else 1e9), key
    assert metrics["keypoint_names"] == ["top", "left", "right", "center"]
    picture = np.asarray(Image.open(os.path.join(keypoint_demo, "predictions.png")))
    assert picture.shape[0] > 100 and picture.std() > 10
    assert sorted(os.listdir(os.path.join(keypoint_demo, "model"))) == [
        "class_names.json", "config.json", "mask_rcnn.h5"]
    from mrcnn.model import MaskRCNN
    model = MaskRCNN.from_directory(os.path.join(keypoint_demo, "model"),
                                    DETECTION_MIN_CONFIDENCE=0.0)
    assert model.config.KEYPOINT_CONV_LAYERS == 4 and "keypoint" in model.config.ROI_HEADS
    r = model.detect([np.zeros((128, 128, 3), np.uint8)])[0]
    assert r["keypoints"].shape == (len(r["class_ids"]), 4, 3)


def test_detect_draws_keypoints_and_writes_them(keypoint_demo, tmp_path, capsys):
    from mrcnn.data.keypoints import keypoint_shapes
    from mrcnn.model import MaskRCNN
    dataset = keypoint_shapes(1, 128, 128, seed=5)
    image = dataset.load_image(0)
    path = str(tmp_path / "shape.png")
    Image.fromarray(image).save(path)
    model_dir = model_that_detects(os.path.join(keypoint_demo, "model"), str(tmp_path / "m"))
    out_json, save_dir = str(tmp_path / "d.json"), str(tmp_path / "pictures")
    assert main(["detect", "--model", model_dir, "--min-confidence", "0", "--json", out_json,
                 "--save-dir", save_dir, path]) == 0
    want = MaskRCNN.from_directory(model_dir, DETECTION_MIN_CONFIDENCE=0.0).detect([image])[0]
    with open(out_json) as f:
        dets = json.load(f)[0]["detections"]
    assert len(dets) == len(want["class_ids"]) > 0
    for d, points in zip(dets, want["keypoints"]):
        np.testing.assert_allclose(d["keypoints"], points, atol=1e-3)
    picture = np.asarray(Image.open(os.path.join(save_dir, "shape.png")))
    assert picture.ndim == 3 and picture.std() > 10


def test_evaluate_prints_keypoint_ap(keypoint_demo, tmp_path, capsys, monkeypatch):
    # The keypoint shapes are no --format: evaluate their COCO export.
    from mrcnn.data.keypoints import keypoint_shapes
    json_path = _coco_keypoint_file(tmp_path, keypoint_shapes(2, 128, 128, seed=8),
                                    ["BG", "square", "circle", "triangle"])
    metrics_path = str(tmp_path / "m.json")
    capsys.readouterr()
    assert main(["evaluate", "--model", os.path.join(keypoint_demo, "model"), "--format",
                 "coco", "--dataset", json_path, "--metrics", metrics_path, "--quiet"]) == 0
    assert "kpts  AP " in capsys.readouterr().out
    with open(metrics_path) as f:
        assert "keypoints_AP" in json.load(f)


def _coco_keypoint_file(tmp_path, dataset, class_names, names=None, skeleton=None):
    """A COCO keypoints export of a KeypointShapesDataset (polygon-free:
    RLE masks), images written beside it."""
    from mrcnn.evaluate import encode_mask
    names = names or list(dataset.keypoint_names)
    images, annotations = [], []
    for image_id in dataset.image_ids:
        file_name = "{}.png".format(image_id)
        image = dataset.load_image(image_id)
        Image.fromarray(image).save(str(tmp_path / file_name))
        images.append({"id": int(image_id) + 1, "file_name": file_name,
                       "height": image.shape[0], "width": image.shape[1]})
        masks, class_ids = dataset.load_mask(image_id)
        points = dataset.load_keypoints(image_id)
        for i in range(masks.shape[-1]):
            if not masks[..., i].any():
                continue
            flat = []
            for x, y, v in points[i]:
                flat += [int(x - 0.5), int(y - 0.5), int(v)] if v > 0 else [0, 0, 0]
            rle = encode_mask(masks[..., i])
            ys, xs = np.where(masks[..., i])
            annotations.append({
                "id": len(annotations) + 1, "image_id": int(image_id) + 1,
                "category_id": int(class_ids[i]), "iscrowd": 0, "segmentation": rle,
                "area": int(masks[..., i].sum()),
                "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                         int(ys.max() - ys.min() + 1)],
                "keypoints": flat, "num_keypoints": int((points[i, :, 2] > 0).sum())})
    skeleton = skeleton if skeleton is not None else [
        [names.index(a) + 1, names.index(b) + 1] for a, b in dataset.keypoint_skeleton]
    categories = [{"id": c, "name": class_names[c], "keypoints": names, "skeleton": skeleton}
                  for c in range(1, len(class_names))]
    path = tmp_path / "keypoints.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": categories}))
    return str(path)


class TinyConfig(Config):
    NAME = "tinykp"
    NUM_CLASSES = 1 + 3
    BACKBONE = "resnet18"
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TOP_DOWN_PYRAMID_SIZE = 32
    FPN_CLASSIF_FC_LAYERS_SIZE = 64
    TRAIN_BN = None
    OPTIMIZER = "Adam"
    # Untrained proposals are nearly the anchors: keep many, so that some
    # are positives (the keypoint loss is 0 without).
    PRE_NMS_LIMIT = 5000
    POST_NMS_ROIS_TRAINING = 1000
    POST_NMS_ROIS_INFERENCE = 32
    TRAIN_ROIS_PER_IMAGE = 64
    RPN_TRAIN_ANCHORS_PER_IMAGE = 32
    MAX_GT_INSTANCES = 4
    DETECTION_MAX_INSTANCES = 8
    STEPS_PER_EPOCH = 3
    VALIDATION_STEPS = 0
    KEYPOINT_CONV_LAYERS = 1
    KEYPOINT_CONV_CHANNELS = 8


def test_train_on_a_coco_keypoints_file_trains_the_keypoint_head(tmp_path, capsys):
    from mrcnn.data.keypoints import keypoint_shapes
    from mrcnn.visualize import read_tensorboard_scalars
    # The file's own names (another order, left/right spelled out).
    names = ["center_pt", "left_corner", "top_pt", "right_corner"]
    order = [3, 1, 0, 2]          # the dataset's top, left, right, center -> names
    dataset = keypoint_shapes(2, 128, 128, seed=9)
    original = dataset.load_keypoints
    dataset.load_keypoints = lambda i: original(i)[:, order]
    dataset.keypoint_names = names
    json_path = _coco_keypoint_file(tmp_path, dataset, ["BG", "square", "circle", "triangle"],
                                    names=names, skeleton=[[3, 2], [3, 4]])
    config_path = str(tmp_path / "tiny.json")
    TinyConfig().save(config_path)
    model_dir, logs = str(tmp_path / "model"), str(tmp_path / "logs")
    # Seeded, and enough steps that some batch has a positive RoI with
    # keypoints (two steps of a random RPN may have none: a loss of 0).
    import keras
    keras.utils.set_random_seed(4)
    assert main(["train", "--format", "coco", "--train", json_path, "--config", config_path,
                 "--logs", logs, "--output", model_dir, "--layers", "all", "--epochs", "1",
                 "--set", "STEPS_PER_EPOCH=8", "--quiet"]) == 0
    assert "training the keypoint head: center_pt, left_corner, top_pt" in capsys.readouterr().out
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    assert config["KEYPOINT_NAMES"] == names
    assert config["KEYPOINT_SKELETON"] == [["top_pt", "left_corner"], ["top_pt", "right_corner"]]
    assert config["KEYPOINT_FLIP_PAIRS"] == [["left_corner", "right_corner"]]
    assert "keypoint" in config["ROI_HEADS"]
    run = os.path.join(logs, os.listdir(logs)[0])
    losses = read_tensorboard_scalars(run)["train"]
    assert any("keypoint_loss" in tag for tag in losses), sorted(losses)
    values = [v for tag, rows in losses.items() if "keypoint_loss" in tag for _, v in rows]
    assert all(np.isfinite(values)) and max(values) > 0
