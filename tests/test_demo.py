"""mrcnn/demo.py: its config, the picture of predictions, and run_demo's
schedule (all but the last epoch at the learning rate, the last at a tenth)
and outputs. test_cli.py runs the `mrcnn demo` command, training included
(one epoch of two steps)."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from mrcnn import demo
from mrcnn import utils
from mrcnn.data.shapes import ShapesConfig, ShapesDataset
from mrcnn.model import MaskRCNN


def test_demo_config():
    config = demo.DemoConfig()
    assert isinstance(config, ShapesConfig)
    assert config.BACKBONE == "resnet18" and config.NUM_CLASSES == 4
    assert tuple(config.IMAGE_SHAPE) == (128, 128, 3)
    assert config.BATCH_SIZE == 8 and config.TRAIN_BN is None
    assert config.OPTIMIZER == "Adam" and config.VALIDATION_STEPS == 0


def ground_truth_results(dataset, image_ids):
    results = []
    for image_id in image_ids:
        masks, class_ids = dataset.load_mask(image_id)
        results.append({"rois": utils.extract_bboxes(masks), "masks": masks,
                        "class_ids": class_ids, "scores": np.ones(len(class_ids))})
    return results


def test_draw_predictions_one_row_per_image(tmp_path):
    dataset = ShapesDataset()
    dataset.load_shapes(3, 128, 128, seed=4)
    dataset.prepare()
    ids = list(dataset.image_ids)
    path = str(tmp_path / "p.png")
    demo.draw_predictions(dataset, ground_truth_results(dataset, ids), ids, path)
    picture = np.asarray(Image.open(path).convert("RGB"))
    # figsize (6, 3 * rows) inches at 80 dpi.
    assert picture.shape == (3 * 3 * 80, 6 * 80, 3)
    # Every row has something drawn on both sides.
    for row in np.split(picture, 3, axis=0):
        left, right = np.split(row, 2, axis=1)
        assert left.std() > 10 and right.std() > 10


class SmallDemo(demo.DemoConfig):
    IMAGES_PER_GPU = 2
    PRE_NMS_LIMIT = 500
    POST_NMS_ROIS_TRAINING = 64
    POST_NMS_ROIS_INFERENCE = 32
    TRAIN_ROIS_PER_IMAGE = 16


def test_run_demo_schedule_outputs_and_model(tmp_path, monkeypatch):
    """epochs=2: train() to epoch 1 at the learning rate, then to epoch 2 at
    a tenth; then the model, metrics and picture are written. train() only
    records here (test_cli.py runs the demo's training for real), so the
    saved model is the untrained one, evaluated for real."""
    calls = []

    def recording_train(self, train, val, learning_rate, epochs, layers, **kwargs):
        calls.append((learning_rate, epochs, layers, val, train.num_images))
        self.epoch = epochs

    monkeypatch.setattr(MaskRCNN, "train", recording_train)
    config = SmallDemo()
    out = str(tmp_path / "out")
    metrics = demo.run_demo(out, epochs=2, steps_per_epoch=3, train_images=4, val_images=2,
                            config=config, verbose=0)
    lr = config.LEARNING_RATE
    assert calls == [(lr, 1, "all", None, 4), (pytest.approx(lr / 10), 2, "all", None, 4)]
    with open(os.path.join(out, "metrics.json")) as f:
        written = json.load(f)
    assert written == json.loads(json.dumps(metrics))
    assert (written["epochs"], written["steps"], written["batch_size"]) == (2, 6, 2)
    assert written["train_images"] == 4 and written["backbone"] == "resnet18"
    assert written["num_images"] == 2 and 0 <= written["mAP50"] <= 1
    picture = Image.open(os.path.join(out, "predictions.png"))
    assert picture.size == (6 * 80, 2 * 3 * 80)             # the 2 validation images
    model = MaskRCNN.from_directory(os.path.join(out, "model"))
    assert model.class_names == ["BG", "square", "circle", "triangle"]
    assert model.config.IMAGES_PER_GPU == 1 and model.config.POST_NMS_ROIS_INFERENCE == 32
    assert model.config.STEPS_PER_EPOCH == 3


def test_run_demo_single_epoch_keeps_the_learning_rate(tmp_path, monkeypatch):
    """epochs=1: one train() call, at the full learning rate (stopped
    there)."""
    calls = []

    class Stop(Exception):
        pass

    def recording_train(self, train, val, learning_rate, epochs, layers, **kwargs):
        calls.append((learning_rate, epochs, layers))
        raise Stop

    monkeypatch.setattr(MaskRCNN, "train", recording_train)
    config = SmallDemo()
    with pytest.raises(Stop):
        demo.run_demo(str(tmp_path), epochs=1, train_images=2, val_images=1, config=config,
                      verbose=0)
    assert calls == [(config.LEARNING_RATE, 1, "all")]
