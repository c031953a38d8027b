"""mrcnn.config.Config: matterport defaults, derived values, validation, JSON."""
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


@pytest.mark.parametrize("attr, value, words", [
    ("MEAN_PIXEL", np.array([1.0, 2.0]), "IMAGE_CHANNEL_COUNT"),
    ("IMAGE_MAX_DIM", 100, "multiple of 64"),
    ("NUM_CLASSES", 1, "NUM_CLASSES"),
    ("NUM_CLASSES", 0, "NUM_CLASSES"),
    ("IMAGE_RESIZE_MODE", "stretch", "IMAGE_RESIZE_MODE"),
    ("BACKBONE", "vgg16", "BACKBONE"),
    ("RPN_ANCHOR_SCALES", (32, 64), "one scale per pyramid level"),
    ("IMAGES_PER_GPU", 0, "IMAGES_PER_GPU"),
    ("ROI_POSITIVE_RATIO", 1.5, "ROI_POSITIVE_RATIO"),
    ("MASK_SHAPE", [56, 56], "MASK_POOL_SIZE"),
    ("LOSS_WEIGHTS", {"rpn_class_loss": 1.0}, "LOSS_WEIGHTS"),
    ("IMAGE_MIN_DIM", 256, "IMAGE_MAX_DIM"),
    ("TRAIN_BN", "yes", "TRAIN_BN"),
    ("BBOX_STD_DEV", [0.1, 0.1, 0.2], "BBOX_STD_DEV"),
])
def test_validation_names_attribute_and_value(attr, value, words):
    bad = type("Bad", (SmallConfig,), {attr: value})
    with pytest.raises(ValueError) as info:
        bad()
    message = str(info.value)
    assert "Bad." + attr in message and words in message
    assert repr(value)[:10] in message


def test_callable_backbone_needs_shape_function():
    bad = type("Bad", (SmallConfig,), {"BACKBONE": lambda x: x})
    with pytest.raises(ValueError, match="COMPUTE_BACKBONE_SHAPE"):
        bad()


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


def test_xla_is_refused_with_the_reason():
    class C(Config):
        NAME = "x"
        NUM_CLASSES = 2
        XLA = True
    with pytest.raises(ValueError, match=r"C\.XLA = True: .*no XLA kernels"):
        C()


@pytest.mark.parametrize("attr, value, words", [
    ("NUM_CLASSES", "3", "write the number without quotes"),
    ("IMAGES_PER_GPU", "2", "integer"),
    ("IMAGE_MAX_DIM", "128", "integer"),
    ("LEARNING_RATE", float("nan"), "finite"),
    ("LEARNING_RATE", float("inf"), "finite"),
    ("LEARNING_RATE", "0.01", "finite number"),
    ("WEIGHT_DECAY", float("nan"), "finite"),
    ("GRADIENT_CLIP_NORM", float("nan"), "finite"),
    ("GRADIENT_CLIP_NORM", float("inf"), "finite"),
    ("DETECTION_MIN_CONFIDENCE", float("nan"), "[0, 1]"),
    ("IMAGE_MIN_SCALE", "2", "number"),
    ("RPN_ANCHOR_SCALES", (8, 16, 32, 64, "128"), "anchor sizes"),
    ("RPN_ANCHOR_RATIOS", [0.5, "1", 2], "ratios"),
    ("BBOX_STD_DEV", [0.1, 0.1, 0.2, float("nan")], "finite"),
    ("MEAN_PIXEL", ["123", "116", "103"], "number per channel"),
    ("MINI_MASK_SHAPE", 56, "height, width"),
    ("MASK_SHAPE", 28, "MASK_POOL_SIZE"),
    ("LOSS_WEIGHTS", {"rpn_class_loss": float("nan"), "rpn_bbox_loss": 1.,
                      "mrcnn_class_loss": 1., "mrcnn_bbox_loss": 1., "mrcnn_mask_loss": 1.},
     "finite"),
])
def test_wrong_types_and_non_finite_numbers_name_the_attribute(attr, value, words):
    """Strings where numbers belong (e.g. from --set 'NUM_CLASSES="3"') and
    NaN/inf are a ValueError naming the attribute, never a raw TypeError or
    a config that trains on NaN."""
    bad = type("Bad", (SmallConfig,), {attr: value})
    with pytest.raises(ValueError) as info:
        bad()
    message = str(info.value)
    assert "Bad." + attr in message and words in message


def test_from_dict_with_a_string_number_names_the_attribute():
    values = SmallConfig().to_dict()
    values["NUM_CLASSES"] = "3"
    with pytest.raises(ValueError, match=r"NUM_CLASSES = '3'.*without quotes.*NUM_CLASSES=3"):
        SmallConfig.from_dict(values)
