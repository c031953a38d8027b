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
    log_dir, checkpoint, epoch, resumed = modeldir.log_dir_for(
        str(tmp_path), "coco", "/old/logs/coco20180410T1607/mask_rcnn_coco_0006.h5")
    assert epoch == 6 and resumed
    assert log_dir == os.path.join(str(tmp_path), "coco20180410T1607")
    assert checkpoint == os.path.join(log_dir, "mask_rcnn_coco_{epoch:04d}.h5")
    assert checkpoint.format(epoch=7).endswith("coco20180410T1607/mask_rcnn_coco_0007.h5")
    # Windows separators too (matterport's regex accepts both).
    assert modeldir.parse_checkpoint_path(
        r"C:\logs\coco20180410T1607\mask_rcnn_coco_0012.h5")[1] == 12


def test_other_paths_start_a_new_run_at_epoch_0(tmp_path):
    now = datetime.datetime(2024, 1, 2, 3, 4, 5)
    for path in (None, "/weights/mask_rcnn_coco.h5", "/a/b/model/mask_rcnn.h5"):
        log_dir, checkpoint, epoch, resumed = modeldir.log_dir_for(str(tmp_path), "small", path,
                                                                   now=now)
        assert epoch == 0 and not resumed
        assert os.path.basename(log_dir) == "small20240102T030405-01"
        assert not os.path.exists(log_dir)  # created when training starts
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


# ----------------------------------------------------------------------
# Unique run directories and resuming (issue #15, item 12)
# ----------------------------------------------------------------------

def test_two_runs_started_in_the_same_second_get_their_own_directory(tmp_path):
    now = datetime.datetime(2024, 1, 2, 3, 4, 5)
    first = modeldir.create_run_dir(str(tmp_path), "shapes", now=now)
    second = modeldir.create_run_dir(str(tmp_path), "shapes", now=now)
    assert first != second and os.path.isdir(first) and os.path.isdir(second)
    assert os.path.basename(first) == "shapes20240102T030405-01"
    assert os.path.basename(second) == "shapes20240102T030405-02"
    # A proposed name another process took meanwhile: the next free one.
    proposed, _, _, _ = modeldir.log_dir_for(str(tmp_path), "shapes", now=now)
    assert os.path.basename(proposed) == "shapes20240102T030405-03"
    os.mkdir(proposed)
    claimed = modeldir.claim_run_dir(proposed)
    assert os.path.basename(claimed) == "shapes20240102T030405-04" and os.path.isdir(claimed)


def test_new_and_matterport_checkpoint_names_resume_their_run(tmp_path):
    root = str(tmp_path)
    for path, run, epoch in [
            ("/x/logs/tiny20240102T0304/mask_rcnn_tiny_0006.h5", "tiny20240102T0304", 6),
            ("/x/logs/tiny20240102T030405-02/mask_rcnn_tiny_0011.h5",
             "tiny20240102T030405-02", 11)]:
        log_dir, checkpoint, got, resumed = modeldir.log_dir_for(root, "tiny", path)
        assert (got, resumed) == (epoch, True)
        assert log_dir == os.path.join(root, run)
        assert checkpoint == os.path.join(root, run, "mask_rcnn_tiny_{epoch:04d}.h5")


def test_find_last_skips_a_newer_run_without_checkpoint(tmp_path):
    """A run killed in its first epoch leaves an empty run directory; resume
    takes the newest run that has a checkpoint."""
    root = str(tmp_path)
    for epoch in range(1, 7):
        _touch(os.path.join(root, "shapes20240101T120000-01",
                            "mask_rcnn_shapes_{:04d}.h5".format(epoch)))
    os.makedirs(os.path.join(root, "shapes20240102T080000-01"))  # killed in epoch 1
    _touch(os.path.join(root, "shapes20240102T080000-01", "events.out.tfevents.1"))
    assert modeldir.find_last(root, "shapes") == os.path.join(
        root, "shapes20240101T120000-01", "mask_rcnn_shapes_0006.h5")
    empty = tmp_path / "only"
    os.makedirs(str(empty / "shapes20240102T080000-01"))
    with pytest.raises(FileNotFoundError, match="weight files"):
        modeldir.find_last(str(empty), "shapes")


def test_find_last_orders_both_namings_by_time_and_number(tmp_path):
    root = str(tmp_path)
    _touch(os.path.join(root, "coco20240102T0305", "mask_rcnn_coco_0002.h5"))  # matterport's
    _touch(os.path.join(root, "coco20240102T030459-01", "mask_rcnn_coco_0009.h5"))
    assert os.path.basename(os.path.dirname(modeldir.find_last(root, "coco"))) == \
        "coco20240102T0305"
    _touch(os.path.join(root, "coco20240102T030500-01", "mask_rcnn_coco_0001.h5"))
    _touch(os.path.join(root, "coco20240102T030500-02", "mask_rcnn_coco_0001.h5"))
    assert os.path.basename(os.path.dirname(modeldir.find_last(root, "coco"))) == \
        "coco20240102T030500-02"
    # The run's highest epoch.
    _touch(os.path.join(root, "coco20240102T030500-02", "mask_rcnn_coco_0010.h5"))
    assert modeldir.find_last(root, "coco").endswith("mask_rcnn_coco_0010.h5")
    # Another config whose name starts the same is not this one's run.
    _touch(os.path.join(root, "cocotiny20250101T000000-01", "mask_rcnn_cocotiny_0001.h5"))
    assert "cocotiny" not in modeldir.find_last(root, "coco")


def test_class_names_of_the_wrong_length_are_an_error(tmp_path):
    """(issue #15, item 10) class_names.json with another number of names
    than the model's NUM_CLASSES would label every detection wrongly."""
    (tmp_path / modeldir.CLASS_NAMES_FILE).write_text('["BG", "cat"]')
    assert modeldir.read_class_names(str(tmp_path)) == ["BG", "cat"]
    with pytest.raises(ValueError, match=r"class_names.json: 2 class names but the model has "
                                         r"NUM_CLASSES = 3"):
        modeldir.read_class_names(str(tmp_path), num_classes=3)
