"""mrcnn.config.Config: matterport defaults, derived values, JSON (validation:
tests/test_config_checks.py)."""
import json

import numpy as np
import pytest

from mrcnn.config import Config


class SmallConfig(Config):
    NAME = "small"
    NUM_CLASSES = 1 + 3
    IMAGES_PER_GPU = 3
    GPU_COUNT = 2
    IMAGE_MIN_DIM = 96
    IMAGE_MAX_DIM = 128


def test_matterport_defaults():
    c = Config()
    assert c.NAME is None and c.NUM_CLASSES == 1 and c.BACKBONE == "resnet101"
    assert c.BACKBONE_STRIDES == [4, 8, 16, 32, 64]
    assert c.RPN_ANCHOR_SCALES == (32, 64, 128, 256, 512)
    assert c.RPN_ANCHOR_RATIOS == [0.5, 1, 2]
    assert (c.PRE_NMS_LIMIT, c.POST_NMS_ROIS_TRAINING, c.POST_NMS_ROIS_INFERENCE) == (6000, 2000, 1000)
    assert (c.IMAGE_MIN_DIM, c.IMAGE_MAX_DIM, c.IMAGE_RESIZE_MODE) == (800, 1024, "square")
    assert (c.TRAIN_ROIS_PER_IMAGE, c.ROI_POSITIVE_RATIO) == (200, 0.33)
    assert (c.DETECTION_MIN_CONFIDENCE, c.DETECTION_NMS_THRESHOLD) == (0.7, 0.3)
    assert (c.LEARNING_RATE, c.LEARNING_MOMENTUM, c.WEIGHT_DECAY) == (0.001, 0.9, 0.0001)
    np.testing.assert_allclose(c.MEAN_PIXEL, [123.7, 116.8, 103.9])
    np.testing.assert_allclose(c.BBOX_STD_DEV, [0.1, 0.1, 0.2, 0.2])
    assert c.MASK_SHAPE == [28, 28] and c.MINI_MASK_SHAPE == (56, 56)
    assert c.TRAIN_BN is False and c.GRADIENT_CLIP_NORM == 5.0
    assert c.BATCH_SIZE == 2
    np.testing.assert_array_equal(c.IMAGE_SHAPE, [1024, 1024, 3])
    assert c.IMAGE_META_SIZE == 1 + 3 + 3 + 4 + 1 + 1


def test_derived_attributes_of_subclass():
    c = SmallConfig()
    assert c.BATCH_SIZE == 6
    np.testing.assert_array_equal(c.IMAGE_SHAPE, [128, 128, 3])
    assert c.IMAGE_META_SIZE == 16

    class Crop(SmallConfig):
        IMAGE_RESIZE_MODE = "crop"
        IMAGE_MIN_DIM = 64
    np.testing.assert_array_equal(Crop().IMAGE_SHAPE, [64, 64, 3])


def test_mean_pixel_for_other_channel_counts():
    class Gray(SmallConfig):
        IMAGE_CHANNEL_COUNT = 1
        MEAN_PIXEL = np.array([100.0])
    np.testing.assert_array_equal(Gray().IMAGE_SHAPE, [128, 128, 1])


def test_json_round_trip(tmp_path):
    c = SmallConfig()
    path = tmp_path / "model" / "config.json"
    c.save(str(path))
    assert not [p for p in path.parent.iterdir() if p.name != "config.json"]
    loaded = SmallConfig.load(str(path))
    assert loaded.to_dict().keys() == c.to_dict().keys()
    for key, value in c.to_dict().items():
        other = getattr(loaded, key)
        if isinstance(value, np.ndarray):
            assert isinstance(other, np.ndarray)
            np.testing.assert_array_equal(other, value)
        else:
            assert other == value and type(other) is type(value), key
    # The base class can load it too (e.g. a model directory opened without the subclass).
    generic = Config.load(str(path))
    assert generic.NUM_CLASSES == 4 and generic.BATCH_SIZE == 6 and generic.NAME == "small"


def test_load_errors_name_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"NAME": "x", ')
    with pytest.raises(ValueError, match="config.json.*line 1"):
        Config.load(str(path))
    path.write_text(json.dumps({"NUM_CLASSES": 3, "NOT_AN_ATTRIBUTE": 1}))
    with pytest.raises(ValueError, match="config.json.*NOT_AN_ATTRIBUTE"):
        Config.load(str(path))
    path.write_text(json.dumps({"NUM_CLASSES": 3, "IMAGE_MAX_DIM": 1000}))
    with pytest.raises(ValueError, match="config.json.*IMAGE_MAX_DIM = 1000"):
        Config.load(str(path))
    with pytest.raises(FileNotFoundError, match="missing.json"):
        Config.load(str(tmp_path / "missing.json"))


def test_to_json_refuses_callable_backbone():
    class Custom(SmallConfig):
        BACKBONE = staticmethod(lambda image, stage5, train_bn: None)
        COMPUTE_BACKBONE_SHAPE = staticmethod(lambda shape: shape)
    with pytest.raises(ValueError, match="BACKBONE"):
        Custom().to_json()


def test_display_prints_every_attribute(capsys):
    SmallConfig().display()
    out = capsys.readouterr().out
    assert "NUM_CLASSES" in out and "IMAGE_META_SIZE" in out and "BATCH_SIZE" in out
    line = [l for l in out.splitlines() if l.startswith("NUM_CLASSES")][0]
    assert line == "{:30} {}".format("NUM_CLASSES", 4)


def test_saved_config_is_readable_by_others(tmp_path):
    import os
    import stat
    path = tmp_path / "config.json"
    old = os.umask(0o022)
    try:
        SmallConfig().save(str(path))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_from_dict_with_a_string_number_names_the_attribute():
    values = SmallConfig().to_dict()
    values["NUM_CLASSES"] = "3"
    with pytest.raises(ValueError, match=r"NUM_CLASSES = '3'.*without quotes.*NUM_CLASSES=3"):
        SmallConfig.from_dict(values)
