"""mrcnn.config_checks: Config validation, its messages and their order."""
import subprocess
import sys

import numpy as np
import pytest

from mrcnn import config_checks
from mrcnn.config import Config
from test_config import SmallConfig


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




def test_groups_report_their_first_bad_attribute_in_a_fixed_order():
    """Several bad attributes: the error names the one of the earliest group
    (counts, backbone, image geometry, masks, losses and heads, keypoints,
    optimisation); fixing it reveals the next."""
    bad = {"ROI_POSITIVE_RATIO": 0, "BACKBONE": "vgg16", "IMAGE_MAX_DIM": 100,
           "BBOX_STD_DEV": [0.1, 0.1, 0.2], "ROI_HEADS": ("mask", "box"),
           "KEYPOINT_NAMES": ("a", "a"), "TRAIN_BN": "yes"}
    order = []
    while bad:
        with pytest.raises(ValueError) as info:
            type("Bad", (SmallConfig,), dict(bad))()
        named = str(info.value).split(" = ")[0].split(".")[1]
        order.append(named)
        del bad[named]
    assert order == ["ROI_POSITIVE_RATIO", "BACKBONE", "IMAGE_MAX_DIM", "BBOX_STD_DEV",
                     "ROI_HEADS", "KEYPOINT_NAMES", "TRAIN_BN"]


def test_validate_delegates_and_checks_instances():
    config = SmallConfig()
    assert config.validate() is config
    assert config_checks.validate_config(config) is config
    config.LEARNING_RATE = float("nan")
    with pytest.raises(ValueError, match=r"SmallConfig\.LEARNING_RATE = nan: must be a finite"):
        config.validate()
    config.LEARNING_RATE = 0.01
    config.NUM_CLASSES = 1
    config.validate(require_classes=False)  # the base class's placeholder
    with pytest.raises(ValueError, match="NUM_CLASSES = 1: must be an integer >= 2"):
        config_checks.validate_config(config)


def test_base_attributes_are_checked_before_the_derived_ones_are_computed():
    # IMAGE_MAX_DIM = "128" would make IMAGE_SHAPE an array of strings.
    for attr, value in (("IMAGE_MAX_DIM", "128"), ("GPU_COUNT", 1.0), ("IMAGES_PER_GPU", None)):
        with pytest.raises(ValueError, match="Bad.{} = .*must be an integer".format(attr)):
            type("Bad", (SmallConfig,), {attr: value})()
    config = SmallConfig()
    config.IMAGE_MIN_DIM = None
    config_checks.check_base_attributes(config)  # None: no minimum side


def test_number_helpers():
    assert config_checks.is_integer(np.int64(3)) and not config_checks.is_integer(True)
    assert not config_checks.is_integer(3.0)
    assert config_checks.is_real(np.float32(0.5)) and config_checks.is_real(2)
    for value in (True, "1", float("nan"), float("-inf"), None):
        assert not config_checks.is_real(value), value
    np.testing.assert_array_equal(config_checks.number_array((1, 2.5)), [1.0, 2.5])
    assert config_checks.number_array([1, float("nan")]) is None
    assert config_checks.number_array([1, float("nan")], finite=False).shape == (2,)
    for value in ("12", 3, [1, "2"], [True, False], {"a": 1}, [[1], [2, 3]]):
        assert config_checks.number_array(value) is None, value


def test_imports_without_tensorflow_even_first():
    """mrcnn.config_checks imports mrcnn.config's names and mrcnn.config
    imports it on use: either may be imported first, neither loads TF."""
    code = ("import sys, mrcnn.config_checks as k, mrcnn.config as c; "
            "k.validate_config(c.Config(), require_classes=False); "
            "assert 'tensorflow' not in sys.modules, 'config_checks imported TensorFlow'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("attr, words", [
    ("RPN_ANCHOR_SCALES", "anchor sizes"), ("RPN_ANCHOR_RATIOS", "ratios"),
    ("MEAN_PIXEL", "number per channel"), ("BBOX_STD_DEV", "4 positive finite numbers"),
    ("RPN_BBOX_STD_DEV", "4 positive finite numbers"),
])
def test_ragged_lists_name_the_attribute(attr, words):
    """A ragged list (e.g. --set 'RPN_ANCHOR_SCALES=[[32], [64, 128]]') is the
    attribute's own error, not NumPy's "inhomogeneous shape"."""
    with pytest.raises(ValueError) as info:
        type("Bad", (SmallConfig,), {attr: [[32], [64, 128]]})()
    assert "Bad.{} = [[32], [64, 128]]".format(attr) in str(info.value)
    assert words in str(info.value)
