"""The command line on COCO panoptic data: mrcnn train --format
coco-panoptic (the semantic branch follows the data's stuff categories),
evaluate (PQ/SQ/RQ beside the mask AP), detect --panoptic (COCO panoptic
JSON + PNGs) and the errors of wrong combinations."""

import json
import os

import numpy as np
import pytest

from mrcnn.cli import main
from mrcnn.config import Config
from mrcnn.data.panoptic import load_panoptic_shapes, write_coco_panoptic
from mrcnn.panoptic import pq_compute, read_panoptic_png


class TinyCliConfig(Config):
    NAME = "tiny_cli_panoptic"
    NUM_CLASSES = 7
    BACKBONE = "resnet18"
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TOP_DOWN_PYRAMID_SIZE = 32
    FPN_CLASSIF_FC_LAYERS_SIZE = 64
    TRAIN_BN = None
    PRE_NMS_LIMIT = 500
    POST_NMS_ROIS_TRAINING = 64
    POST_NMS_ROIS_INFERENCE = 32
    TRAIN_ROIS_PER_IMAGE = 16
    RPN_TRAIN_ANCHORS_PER_IMAGE = 32
    MAX_GT_INSTANCES = 4
    DETECTION_MAX_INSTANCES = 8
    DETECTION_MIN_CONFIDENCE = 0.0
    SEMANTIC_CONV_CHANNELS = 16
    SEMANTIC_GROUPS = 4
    PANOPTIC_SCORE_THRESHOLD = 0.0
    PANOPTIC_STUFF_AREA_LIMIT = 16
    STEPS_PER_EPOCH = 2
    VALIDATION_STEPS = 1
    OPTIMIZER = "Adam"


@pytest.fixture(scope="module")
def coco_panoptic(tmp_path_factory):
    """3 synthetic panoptic images as COCO panoptic files, and a model
    trained on them for 2 steps with mrcnn train."""
    root = tmp_path_factory.mktemp("panoptic")
    dataset = load_panoptic_shapes(3, 128, 128, seed=7)
    json_path = str(root / "panoptic_train.json")
    images = str(root / "images")
    write_coco_panoptic(dataset, json_path, png_dir=str(root / "pngs"), image_dir=images)
    config = str(root / "config.json")
    TinyCliConfig().save(config)
    model = str(root / "model")
    assert main(["train", "--format", "coco-panoptic", "--train", json_path,
                 "--train-images", images, "--train-pngs", str(root / "pngs"),
                 "--val", json_path, "--val-images", images, "--val-pngs", str(root / "pngs"),
                 "--config", config, "--logs", str(root / "logs"), "--output", model,
                 "--layers", "all", "--epochs", "1", "--quiet"]) == 0
    return {"root": root, "json": json_path, "images": images, "pngs": str(root / "pngs"),
            "model": model, "dataset": dataset}


def test_train_builds_the_semantic_branch_from_the_data(coco_panoptic):
    with open(os.path.join(coco_panoptic["model"], "config.json")) as f:
        config = json.load(f)
    assert config["NUM_STUFF_CLASSES"] == 3 and config["STUFF_CLASS_IDS"] is None
    assert config["ROI_HEADS"] == ["box", "mask", "semantic"]
    with open(os.path.join(coco_panoptic["model"], "class_names.json")) as f:
        assert json.load(f) == ["BG", "square", "circle", "triangle", "sky", "grass", "sea"]


def test_evaluate_reports_pq_beside_the_mask_ap(coco_panoptic, tmp_path, capsys):
    p = coco_panoptic
    capsys.readouterr()
    assert main(["evaluate", "--model", p["model"], "--format", "coco-panoptic",
                 "--dataset", p["json"], "--images", p["images"], "--pngs", p["pngs"],
                 "--metrics", str(tmp_path / "m.json"), "--panoptic-output",
                 str(tmp_path / "pq"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "panoptic  all PQ" in out and "things PQ" in out and "stuff PQ" in out
    with open(tmp_path / "m.json") as f:
        metrics = json.load(f)
    for key in ("PQ", "SQ", "RQ", "PQ_things", "PQ_stuff", "segm_AP", "mAP50"):
        assert 0 <= metrics[key] <= 1
    assert metrics["panoptic_categories"]["All"] >= 1
    # The reported numbers are those of the files kept in --panoptic-output.
    pq = pq_compute(str(tmp_path / "pq" / "panoptic_gt.json"),
                    str(tmp_path / "pq" / "panoptic_pred.json"))
    assert pq["All"]["pq"] == metrics["PQ"] and pq["Things"]["sq"] == metrics["SQ_things"]
    with open(tmp_path / "pq" / "panoptic_pred.json") as f:
        pred = json.load(f)
    assert sorted(a["image_id"] for a in pred["annotations"]) == [0, 1, 2]


def test_detect_writes_coco_panoptic_files(coco_panoptic, tmp_path):
    from mrcnn.model import MaskRCNN
    p = coco_panoptic
    paths = [os.path.join(p["images"], name) for name in sorted(os.listdir(p["images"]))[:2]]
    out = str(tmp_path / "pred.json")
    assert main(["detect", "--model", p["model"], *paths, "--panoptic", out,
                 "--save-dir", str(tmp_path / "overlays")]) == 0
    with open(out) as f:
        data = json.load(f)
    assert [i["file_name"] for i in data["images"]] == [os.path.basename(x) for x in paths]
    assert {c["id"]: c["isthing"] for c in data["categories"]} == {
        1: 1, 2: 1, 3: 1, 4: 0, 5: 0, 6: 0}
    model = MaskRCNN.from_directory(p["model"])
    from mrcnn.data.images import read_image
    for path, ann in zip(paths, data["annotations"]):
        ids = read_panoptic_png(os.path.join(str(tmp_path / "pred"), ann["file_name"]))
        r = model.detect([read_image(path)])[0]
        np.testing.assert_array_equal(ids, r["panoptic"])
        assert [s["id"] for s in ann["segments_info"]] == [
            s["id"] for s in r["segments"] if s["area"] > 0]
    assert len(os.listdir(tmp_path / "overlays")) == 2


def test_panoptic_options_with_other_formats_and_models_are_refused(coco_panoptic, tmp_path,
                                                                     capsys):
    p = coco_panoptic
    assert main(["evaluate", "--model", p["model"], "--format", "coco", "--dataset", p["json"],
                 "--pngs", p["pngs"]]) == 2
    assert "--format coco-panoptic" in capsys.readouterr().err
    # A missing PNG folder is named.
    assert main(["evaluate", "--model", p["model"], "--format", "coco-panoptic",
                 "--dataset", p["json"], "--images", p["images"], "--pngs",
                 str(tmp_path / "nowhere")]) == 1
    assert "nowhere" in capsys.readouterr().err
    # detect --panoptic needs a panoptic model.
    plain = tmp_path / "plain"
    from mrcnn.model import MaskRCNN

    class Plain(TinyCliConfig):
        NUM_CLASSES = 4
    MaskRCNN("inference", Plain(), str(tmp_path / "logs")).save(str(plain))
    image = os.path.join(p["images"], sorted(os.listdir(p["images"]))[0])
    assert main(["detect", "--model", str(plain), image, "--panoptic",
                 str(tmp_path / "x.json")]) == 2
    assert "NUM_STUFF_CLASSES" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.json")
