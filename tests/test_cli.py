"""The `mrcnn` command line and the demo job (on a few steps)."""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from mrcnn.cli import main


def test_help_and_usage_errors(capsys):
    assert main([]) == 2
    out = subprocess.run([sys.executable, "-m", "mrcnn", "demo", "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "--output-dir" in out.stdout
    out = subprocess.run([sys.executable, "-m", "mrcnn", "demo"], capture_output=True, text=True)
    assert out.returncode == 2 and "--output-dir" in out.stderr


def test_demo_writes_metrics_picture_and_loadable_model(tmp_path):
    out_dir = str(tmp_path / "out")
    assert main(["demo", "--output-dir", out_dir, "--epochs", "1", "--steps-per-epoch", "2",
                 "--train-images", "16", "--val-images", "3", "--quiet"]) == 0
    with open(os.path.join(out_dir, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["num_images"] == 3 and metrics["steps"] == 2
    for key in ("mAP50", "segm_AP", "segm_AP50", "bbox_AP", "train_seconds"):
        assert 0 <= metrics[key] and np.isfinite(metrics[key]), key
    picture = np.asarray(Image.open(os.path.join(out_dir, "predictions.png")))
    assert picture.shape[0] > 100 and picture.std() > 10
    assert sorted(os.listdir(os.path.join(out_dir, "model"))) == ["config.json", "mask_rcnn.h5"]

    from mrcnn.model import MaskRCNN
    model = MaskRCNN.from_directory(os.path.join(out_dir, "model"))
    assert model.config.BACKBONE == "resnet18" and model.config.BATCH_SIZE == 1
    result = model.detect([np.zeros((128, 128, 3), np.uint8)])[0]
    assert result["masks"].shape[:2] == (128, 128)
