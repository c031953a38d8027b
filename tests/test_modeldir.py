"""mrcnn.modeldir: model-directory files, class names, run directories,
checkpoint names and find_last (no model is built here)."""

import datetime
import json
import os

import keras
import pytest

from mrcnn import modeldir
from mrcnn.config import Config


class SmallConfig(Config):
    NAME = "Small"
    NUM_CLASSES = 3
    GPU_COUNT = 1
    IMAGES_PER_GPU = 1


def _dense_model():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x")
    return path


def test_file_names_are_importable_where_they_were():
    import mrcnn.model
    import mrcnn.training
    assert mrcnn.model.WEIGHTS_FILE == modeldir.WEIGHTS_FILE == "mask_rcnn.h5"
    assert mrcnn.model.CONFIG_FILE == mrcnn.training.CONFIG_FILE == "config.json"
    assert mrcnn.model.CLASS_NAMES_FILE == "class_names.json"
    assert mrcnn.model.read_class_names is modeldir.read_class_names


def test_matterport_checkpoint_path_gives_run_dir_and_epoch(tmp_path):
    log_dir, checkpoint, epoch = modeldir.log_dir_for(
        str(tmp_path), "coco", "/old/logs/coco20180410T1607/mask_rcnn_coco_0006.h5")
    assert epoch == 6
    assert log_dir == os.path.join(str(tmp_path), "coco20180410T1607")
    assert checkpoint == os.path.join(log_dir, "mask_rcnn_coco_{epoch:04d}.h5")
    assert checkpoint.format(epoch=7).endswith("coco20180410T1607/mask_rcnn_coco_0007.h5")
    # Windows separators too (matterport's regex accepts both).
    assert modeldir.parse_checkpoint_path(
        r"C:\logs\coco20180410T1607\mask_rcnn_coco_0012.h5")[1] == 12


def test_other_paths_start_a_new_run_at_epoch_0(tmp_path):
    now = datetime.datetime(2024, 1, 2, 3, 4, 5)
    for path in (None, "/weights/mask_rcnn_coco.h5", "/a/b/model/mask_rcnn.h5"):
        log_dir, checkpoint, epoch = modeldir.log_dir_for(str(tmp_path), "small", path, now=now)
        assert epoch == 0
        assert os.path.dirname(log_dir) == str(tmp_path)
        assert os.path.basename(log_dir).startswith("small20240102T0304")
        assert os.path.basename(checkpoint) == "mask_rcnn_small_{epoch:04d}.h5"


def test_run_name_is_the_lower_case_config_name():
    assert modeldir.run_name(SmallConfig()) == "small"


def test_find_last_takes_the_newest_run_and_its_last_checkpoint(tmp_path):
    root = str(tmp_path)
    with pytest.raises(FileNotFoundError, match="model directory"):
        modeldir.find_last(os.path.join(root, "missing"), "small")
    with pytest.raises(FileNotFoundError, match="model directory"):
        modeldir.find_last(root, "small")
    _touch(os.path.join(root, "small20240101T0000", "mask_rcnn_small_0003.h5"))
    _touch(os.path.join(root, "small20240102T0900", "mask_rcnn_small_0001.h5"))
    _touch(os.path.join(root, "small20240102T0900", "mask_rcnn_small_0002.h5"))
    _touch(os.path.join(root, "other20250101T0000", "mask_rcnn_other_0009.h5"))
    assert modeldir.find_last(root, "small") == os.path.join(
        root, "small20240102T0900", "mask_rcnn_small_0002.h5")


def test_check_class_names():
    assert modeldir.check_class_names(("BG", "a", "b"), 3) == ["BG", "a", "b"]
    assert modeldir.check_class_names(["BG", 1], None) == ["BG", "1"]
    with pytest.raises(ValueError, match="save: 2 class names for NUM_CLASSES = 3"):
        modeldir.check_class_names(["BG", "a"], 3, where="save")
    with pytest.raises(ValueError, match="expected a list"):
        modeldir.check_class_names("BG,a,b", 3)


def test_read_class_names_errors_name_the_file(tmp_path):
    assert modeldir.read_class_names(str(tmp_path)) is None
    path = tmp_path / modeldir.CLASS_NAMES_FILE
    path.write_text('{"BG": 0}')
    with pytest.raises(ValueError, match="class_names.json: expected a JSON list"):
        modeldir.read_class_names(str(tmp_path))
    path.write_text('["BG", "a"')
    with pytest.raises(ValueError, match="class_names.json"):
        modeldir.read_class_names(str(tmp_path))


def test_save_model_writes_the_three_files_and_drops_stale_names(tmp_path):
    directory = str(tmp_path / "model")
    config = SmallConfig()
    modeldir.save_model(_dense_model(), config, directory, class_names=["BG", "a", "b"])
    assert sorted(os.listdir(directory)) == ["class_names.json", "config.json", "mask_rcnn.h5"]
    assert modeldir.read_class_names(directory) == ["BG", "a", "b"]
    assert modeldir.load_config(directory).NUM_CLASSES == 3
    with pytest.raises(ValueError, match="2 class names for NUM_CLASSES = 3"):
        modeldir.save_model(_dense_model(), config, directory, class_names=["BG", "a"])
    assert modeldir.read_class_names(directory) == ["BG", "a", "b"]  # refused before writing
    # Saved again without names: the old names would not belong to this model.
    modeldir.save_model(_dense_model(), config, directory)
    assert sorted(os.listdir(directory)) == ["config.json", "mask_rcnn.h5"]


def test_load_config_for_inference_and_overrides(tmp_path):
    config = SmallConfig()
    config.IMAGES_PER_GPU = 4
    config.save(str(tmp_path / "config.json"))
    assert modeldir.load_config(str(tmp_path)).BATCH_SIZE == 1
    assert modeldir.load_config(str(tmp_path), mode="training").BATCH_SIZE == 4
    loaded = modeldir.load_config(str(tmp_path), DETECTION_MIN_CONFIDENCE=0.1)
    assert loaded.DETECTION_MIN_CONFIDENCE == 0.1
    assert json.loads((tmp_path / "config.json").read_text())["NAME"] == "Small"


def test_weights_path_of_a_directory(tmp_path):
    assert modeldir.weights_path(str(tmp_path)) == os.path.join(str(tmp_path), "mask_rcnn.h5")
    assert modeldir.weights_path("x/y.h5") == "x/y.h5"
