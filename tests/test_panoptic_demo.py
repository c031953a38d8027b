"""mrcnn/demo_panoptic.py: its config and a run of two training steps that
writes every file (metrics.json with PQ/SQ/RQ recomputable from the written
COCO panoptic files, predictions.png, model/, panoptic/)."""

import json
import os

import numpy as np
from PIL import Image

from mrcnn import demo, demo_panoptic
from mrcnn.data.panoptic import load_panoptic_shapes
from mrcnn.model import MaskRCNN
from mrcnn.panoptic import pq_compute


class SmallPanopticDemo(demo_panoptic.PanopticDemoConfig):
    IMAGES_PER_GPU = 2
    PRE_NMS_LIMIT = 500
    POST_NMS_ROIS_TRAINING = 64
    POST_NMS_ROIS_INFERENCE = 32
    TRAIN_ROIS_PER_IMAGE = 16
    SEMANTIC_CONV_CHANNELS = 16
    SEMANTIC_GROUPS = 4
    DETECTION_MIN_CONFIDENCE = 0.0
    PANOPTIC_SCORE_THRESHOLD = 0.0


def test_panoptic_demo_config_and_task():
    config = demo_panoptic.PanopticDemoConfig()
    assert config.ROI_HEADS == ("box", "mask", "semantic")
    assert config.stuff_class_ids() == [4, 5, 6]
    assert tuple(config.IMAGE_SHAPE) == (128, 128, 3) and config.BACKBONE == "resnet18"
    dataset = load_panoptic_shapes(1, 128, 128, seed=1)
    assert dataset.num_classes == config.NUM_CLASSES
    assert list(dataset.stuff_class_ids) == config.stuff_class_ids()
    run, metric = demo.demo_task("panoptic")
    assert run is demo_panoptic.run_demo and metric == "PQ"


def test_panoptic_demo_writes_metrics_picture_model_and_files(tmp_path):
    out = str(tmp_path / "out")
    metrics = demo_panoptic.run_demo(out, epochs=1, steps_per_epoch=2, train_images=4,
                                     val_images=2, config=SmallPanopticDemo(), verbose=0)
    with open(os.path.join(out, "metrics.json")) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(metrics))
    for key in ("PQ", "SQ", "RQ", "PQ_things", "SQ_things", "RQ_things", "PQ_stuff",
                "SQ_stuff", "RQ_stuff", "segm_AP", "mAP50"):
        assert 0.0 <= saved[key] <= 1.0, key
    assert saved["panoptic_categories"] == {"All": 6, "Things": 3, "Stuff": 3}
    assert set(saved["PQ_per_class"]) == {"square", "circle", "triangle", "sky", "grass", "sea"}
    assert saved["steps"] == 2 and saved["val_images"] == 2
    # The numbers are those of the written COCO panoptic files.
    folder = os.path.join(out, "panoptic")
    again = pq_compute(os.path.join(folder, "panoptic_gt.json"),
                       os.path.join(folder, "panoptic_pred.json"))
    assert again["All"]["pq"] == saved["PQ"] and again["Stuff"]["rq"] == saved["RQ_stuff"]
    with open(os.path.join(folder, "panoptic_pred.json")) as f:
        pred = json.load(f)
    assert len(pred["annotations"]) == 2
    assert {c["id"] for c in pred["categories"]} == {1, 2, 3, 4, 5, 6}
    # Two rows (ground truth | prediction) of 3 x 6 inches at 80 dpi.
    picture = np.asarray(Image.open(os.path.join(out, "predictions.png")).convert("RGB"))
    assert picture.shape == (2 * 3 * 80, 6 * 80, 3)
    for row in np.split(picture, 2, axis=0):
        left, right = np.split(row, 2, axis=1)
        assert left.std() > 10 and right.std() > 10
    model = MaskRCNN.from_directory(os.path.join(out, "model"), mode="inference")
    assert model.config.NUM_STUFF_CLASSES == 3
    r = model.detect([load_panoptic_shapes(1, 128, 128, seed=5).load_image(0)])[0]
    assert r["panoptic"].shape == (128, 128)
