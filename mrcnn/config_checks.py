"""Validation of a `mrcnn.config.Config`: every attribute checked, and a
ValueError that names the config class, the attribute and its value.

`Config.__init__` calls `check_base_attributes` before it derives
BATCH_SIZE, IMAGE_SHAPE and IMAGE_META_SIZE, then `Config.validate`, which
is `validate_config`. The checks run group by group in a fixed order
(counts and fractions, backbone and anchors, image geometry, masks and box
deltas, losses and heads, keypoints, semantic branch, optimisation), so a
config with several bad attributes always reports the same one first.

A string where a number belongs (e.g. ``--set 'NUM_CLASSES="3"'``) gets a
hint to write the number without quotes; NaN and infinity are refused
wherever a finite number is expected. NumPy only: `mrcnn.config` must
import without TensorFlow.
"""

import math
import numbers
import sys

import numpy as np

from mrcnn.config import (BUILTIN_BACKBONES, LOSS_NAMES, OPTIMIZERS, OPTIONAL_LOSS_NAMES,
                          RESIZE_MODES)
from mrcnn.molding.divisor import BACKBONE_DIVISOR


def check_base_attributes(config):
    """The attributes the derived ones come from must be integers first
    (NUM_CLASSES = "3" would otherwise fail in a sum)."""
    for name, minimum in (("GPU_COUNT", 1), ("IMAGES_PER_GPU", 1), ("NUM_CLASSES", 1),
                          ("IMAGE_CHANNEL_COUNT", 1)):
        check_integer(config, name, minimum)
    for name in ("IMAGE_MIN_DIM", "IMAGE_MAX_DIM"):
        check_integer(config, name, 0, allow_none=True)


def validate_config(config, require_classes=True):
    """Check every attribute of `config`; raise ValueError naming the bad
    one. Returns `config`. See `Config.validate`."""
    _check_counts(config, require_classes)
    _check_backbone(config)
    _check_image_geometry(config)
    _check_masks(config)
    _check_losses_and_heads(config)
    check_keypoints(config)
    check_semantic(config)
    _check_optimisation(config)
    return config


# ----------------------------------------------------------------------
# The groups of checks, in the order validate_config runs them
# ----------------------------------------------------------------------
def _check_counts(config, require_classes):
    for name in ("GPU_COUNT", "IMAGES_PER_GPU", "STEPS_PER_EPOCH",
                 "RPN_ANCHOR_STRIDE", "RPN_TRAIN_ANCHORS_PER_IMAGE",
                 "PRE_NMS_LIMIT", "POST_NMS_ROIS_TRAINING",
                 "POST_NMS_ROIS_INFERENCE", "TRAIN_ROIS_PER_IMAGE",
                 "POOL_SIZE", "MASK_POOL_SIZE", "MAX_GT_INSTANCES",
                 "DETECTION_MAX_INSTANCES", "TOP_DOWN_PYRAMID_SIZE",
                 "FPN_CLASSIF_FC_LAYERS_SIZE", "IMAGE_CHANNEL_COUNT"):
        check_integer(config, name, 1)
    check_integer(config, "VALIDATION_STEPS", 0)
    check_integer(config, "NUM_CLASSES", 2 if require_classes else 1)
    if require_classes and config.NUM_CLASSES < 2:
        fail(config, "NUM_CLASSES", "must count the background and at least one class")

    for name in ("RPN_NMS_THRESHOLD", "DETECTION_NMS_THRESHOLD",
                 "DETECTION_MIN_CONFIDENCE"):
        _check_fraction(config, name)
    _check_fraction(config, "ROI_POSITIVE_RATIO", low_open=True)


def _check_fraction(config, name, low_open=False):
    value = getattr(config, name)
    if not is_real(value) or not (0 <= value <= 1) or (low_open and value == 0):
        fail(config, name, "must be a number in {}0, 1]".format("(" if low_open else "["))


def _check_backbone(config):
    if callable(config.BACKBONE):
        if not callable(config.COMPUTE_BACKBONE_SHAPE):
            fail(config, "COMPUTE_BACKBONE_SHAPE",
                 "must be a callable when BACKBONE is a callable")
    elif config.BACKBONE not in BUILTIN_BACKBONES:
        fail(config, "BACKBONE", "must be one of {} or a callable".format(
            ", ".join(BUILTIN_BACKBONES)))
    strides = config.BACKBONE_STRIDES
    if (not isinstance(strides, (list, tuple, np.ndarray)) or len(strides) == 0
            or any(not is_integer(s) or s < 1 for s in strides)):
        fail(config, "BACKBONE_STRIDES", "must be a list of positive integers")
    scales = number_array(config.RPN_ANCHOR_SCALES)
    if scales is None or scales.ndim != 1:
        fail(config, "RPN_ANCHOR_SCALES", "must be a list of anchor sizes (numbers), one per "
             "pyramid level")
    if len(scales) != len(strides):
        fail(config, "RPN_ANCHOR_SCALES", "needs one scale per pyramid level: "
             "{} levels in BACKBONE_STRIDES".format(len(strides)))
    if np.any(scales <= 0):
        fail(config, "RPN_ANCHOR_SCALES", "anchor sizes must be positive")
    ratios = number_array(config.RPN_ANCHOR_RATIOS)
    if ratios is None or ratios.ndim != 1 or len(ratios) == 0 or np.any(ratios <= 0):
        fail(config, "RPN_ANCHOR_RATIOS", "must be a non-empty list of positive ratios")


def _check_image_geometry(config):
    if config.IMAGE_RESIZE_MODE not in RESIZE_MODES:
        fail(config, "IMAGE_RESIZE_MODE", "must be one of {}".format(", ".join(RESIZE_MODES)))
    mode = config.IMAGE_RESIZE_MODE
    if mode == "square":
        check_integer(config, "IMAGE_MAX_DIM", BACKBONE_DIVISOR)
        if config.IMAGE_MAX_DIM % BACKBONE_DIVISOR:
            fail(config, "IMAGE_MAX_DIM", "must be a multiple of {} in 'square' mode "
                 "(the image is halved 6 times by the backbone and FPN), "
                 "e.g. 256, 320, 384, 448, 512".format(BACKBONE_DIVISOR))
        if config.IMAGE_MIN_DIM and config.IMAGE_MIN_DIM > config.IMAGE_MAX_DIM:
            fail(config, "IMAGE_MIN_DIM", "must not exceed IMAGE_MAX_DIM ({})".format(
                config.IMAGE_MAX_DIM))
    elif mode in ("crop", "pad64"):
        check_integer(config, "IMAGE_MIN_DIM", BACKBONE_DIVISOR)
        if config.IMAGE_MIN_DIM % BACKBONE_DIVISOR:
            fail(config, "IMAGE_MIN_DIM", "must be a multiple of {} in '{}' mode".format(
                BACKBONE_DIVISOR, mode))
    if config.IMAGE_MIN_SCALE is not None and (not is_real(config.IMAGE_MIN_SCALE)
                                               or config.IMAGE_MIN_SCALE < 0):
        fail(config, "IMAGE_MIN_SCALE", "must be a number >= 0 (or None)")
    mean = number_array(config.MEAN_PIXEL, finite=False)
    if mean is None or mean.ndim != 1 or mean.shape[0] != config.IMAGE_CHANNEL_COUNT:
        fail(config, "MEAN_PIXEL", "needs one number per channel: IMAGE_CHANNEL_COUNT is "
             "{}".format(config.IMAGE_CHANNEL_COUNT))
    if not np.all(np.isfinite(mean)):
        fail(config, "MEAN_PIXEL", "values must be finite")


def _check_masks(config):
    """Mini masks, the mask head's output and the box-delta deviations."""
    if config.USE_MINI_MASK:
        shape = config.MINI_MASK_SHAPE
        if (not isinstance(shape, (list, tuple, np.ndarray)) or len(shape) != 2
                or any(not is_integer(s) or s < 1 for s in shape)):
            fail(config, "MINI_MASK_SHAPE", "must be (height, width) of positive integers")
    expected = [2 * config.MASK_POOL_SIZE] * 2
    if (not isinstance(config.MASK_SHAPE, (list, tuple, np.ndarray))
            or len(config.MASK_SHAPE) != 2
            or any(not is_integer(s) for s in config.MASK_SHAPE)
            or list(config.MASK_SHAPE) != expected):
        fail(config, "MASK_SHAPE", "must be [2 * MASK_POOL_SIZE] * 2 = {}: the mask head "
             "upsamples its RoIAlign output once".format(expected))

    for name in ("RPN_BBOX_STD_DEV", "BBOX_STD_DEV"):
        value = number_array(getattr(config, name))
        if value is None or value.shape != (4,) or np.any(value <= 0):
            fail(config, name, "must be 4 positive finite numbers (dy, dx, dh, dw)")


def _check_losses_and_heads(config):
    """The names of LOSS_WEIGHTS and ROI_HEADS (the weights' values are
    checked after the keypoints, in _check_optimisation)."""
    weights = config.LOSS_WEIGHTS
    if not isinstance(weights, dict):
        fail(config, "LOSS_WEIGHTS", "must be a dict of loss name -> weight")
    # Losses registered by added heads (mrcnn.losses.register_loss);
    # mrcnn.losses is not imported here (it imports TensorFlow).
    registered = getattr(sys.modules.get("mrcnn.losses"), "LOSSES", {})
    missing = [n for n in LOSS_NAMES if n not in weights]
    if missing:
        fail(config, "LOSS_WEIGHTS", "must have a weight for each of {} (missing: {}); losses "
             "of added heads may be left out (they weigh 1)".format(
                 ", ".join(LOSS_NAMES), ", ".join(missing)))
    unknown = sorted(set(weights) - set(LOSS_NAMES) - set(OPTIONAL_LOSS_NAMES)
                     - set(registered))
    if unknown:
        fail(config, "LOSS_WEIGHTS", "unknown loss(es) {}; the losses are {} and those of "
             "registered heads".format(", ".join(unknown), ", ".join(LOSS_NAMES)))
    heads = config.ROI_HEADS
    if (not isinstance(heads, (list, tuple)) or not heads
            or not all(isinstance(h, str) for h in heads) or len(set(heads)) != len(heads)):
        fail(config, "ROI_HEADS", "must be a list of distinct head names, e.g. ['box', 'mask']")
    if heads[0] != "box":
        fail(config, "ROI_HEADS", "must start with 'box' (the other heads work on its "
             "detections)")


def _check_optimisation(config):
    if any(not is_real(v) or v < 0 for v in config.LOSS_WEIGHTS.values()):
        fail(config, "LOSS_WEIGHTS", "weights must be finite numbers >= 0")
    for name in ("LEARNING_RATE", "LEARNING_MOMENTUM", "WEIGHT_DECAY"):
        value = getattr(config, name)
        if not is_real(value) or value < 0:
            fail(config, name, "must be a finite number >= 0")
    if not isinstance(config.OPTIMIZER, str) or config.OPTIMIZER not in OPTIMIZERS:
        fail(config, "OPTIMIZER", "must be one of {}".format(", ".join(OPTIMIZERS)))
    clip = config.GRADIENT_CLIP_NORM
    if clip is not None and (not is_real(clip) or not clip > 0):
        fail(config, "GRADIENT_CLIP_NORM", "must be a positive finite number or None")
    if config.TRAIN_BN not in (None, True, False):
        fail(config, "TRAIN_BN", "must be None (train), False (frozen) or True")
    if config.MIXED_PRECISION not in (None, "float32", "mixed_float16", "mixed_bfloat16"):
        fail(config, "MIXED_PRECISION", "must be None, 'float32', 'mixed_float16' or "
             "'mixed_bfloat16'")
    for name in ("SYNC_BATCH_NORM", "XLA"):
        if not isinstance(getattr(config, name), bool):
            fail(config, name, "must be True or False")
    if config.XLA:
        fail(config, "XLA", "the training step cannot be compiled with XLA in TensorFlow 2.21 "
             "(NMS, crop_and_resize and data-dependent shapes have no XLA kernels); "
             "leave it False (mixed precision is the way to a faster step on CPU)")


# ----------------------------------------------------------------------
# Keypoints
# ----------------------------------------------------------------------
def check_keypoints(config):
    """The KEYPOINT_* attributes: consistent lists of names, one OKS sigma
    per keypoint, valid class ids and head sizes."""
    names = config.KEYPOINT_NAMES
    if (not isinstance(names, (list, tuple))
            or not all(isinstance(n, str) and n for n in names)):
        fail(config, "KEYPOINT_NAMES", "must be a list of keypoint names (strings), or empty "
             "for no keypoint head")
    if len(set(names)) != len(names):
        fail(config, "KEYPOINT_NAMES", "names must be distinct (repeated: {})".format(
            ", ".join(sorted({n for n in names if list(names).count(n) > 1}))))
    if not names:
        if "keypoint" in config.ROI_HEADS:
            fail(config, "ROI_HEADS", "has the 'keypoint' head but KEYPOINT_NAMES is empty")
        return
    if "keypoint" not in config.ROI_HEADS:
        fail(config, "ROI_HEADS", "must include 'keypoint' when KEYPOINT_NAMES is set (Config "
             "adds it when KEYPOINT_NAMES is a class attribute; set on an instance, add "
             "it yourself)")
    _check_keypoint_pairs(config, "KEYPOINT_FLIP_PAIRS", names, distinct=True)
    _check_keypoint_pairs(config, "KEYPOINT_SKELETON", names, distinct=False)
    sigmas = config.KEYPOINT_OKS_SIGMAS
    if sigmas is not None:
        try:
            values = np.asarray(sigmas, dtype=np.float64)
        except (TypeError, ValueError):
            fail(config, "KEYPOINT_OKS_SIGMAS", "must be one positive number per keypoint, "
                 "or None")
        if values.shape != (len(names),) or not np.all(values > 0):
            fail(config, "KEYPOINT_OKS_SIGMAS", "must be one positive number per keypoint of "
                 "KEYPOINT_NAMES ({}), or None".format(len(names)))
    ids = config.KEYPOINT_CLASS_IDS
    if ids is not None:
        if (not isinstance(ids, (list, tuple)) or not ids
                or not all(is_integer(i) and 1 <= i < config.NUM_CLASSES for i in ids)):
            fail(config, "KEYPOINT_CLASS_IDS", "must be None (all classes) or a non-empty list "
                 "of internal class ids in 1..NUM_CLASSES - 1 = {}".format(
                     config.NUM_CLASSES - 1))
    for attr in ("KEYPOINT_POOL_SIZE", "KEYPOINT_CONV_LAYERS", "KEYPOINT_CONV_CHANNELS",
                 "KEYPOINT_MASK_SHAPE"):
        value = getattr(config, attr)
        if not is_integer(value) or value < 1:
            fail(config, attr, "must be an integer >= 1")
    if config.KEYPOINT_MASK_SHAPE != 4 * config.KEYPOINT_POOL_SIZE:
        fail(config, "KEYPOINT_MASK_SHAPE", "must be 4 * KEYPOINT_POOL_SIZE = {}: the head "
             "upsamples its RoIAlign output twice (deconvolution, then bilinear)".format(
                 4 * config.KEYPOINT_POOL_SIZE))


def _check_keypoint_pairs(config, attr, names, distinct):
    """A list of (name, name) pairs of KEYPOINT_NAMES, no name paired with
    itself; with `distinct`, no name in two pairs."""
    pairs = getattr(config, attr)
    if not isinstance(pairs, (list, tuple)):
        fail(config, attr, "must be a list of (name, name) pairs")
    seen = set()
    for pair in pairs:
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(n, str) for n in pair)):
            fail(config, attr, "must be a list of (name, name) pairs; {!r} is not one".format(
                pair))
        unknown = [n for n in pair if n not in names]
        if unknown:
            fail(config, attr, "{} not in KEYPOINT_NAMES".format(", ".join(map(repr, unknown))))
        if pair[0] == pair[1]:
            fail(config, attr, "pair {!r} joins a keypoint to itself".format(tuple(pair)))
        if distinct:
            again = [n for n in pair if n in seen]
            if again:
                fail(config, attr, "{} is in more than one pair".format(repr(again[0])))
            seen.update(pair)


# ----------------------------------------------------------------------
# Semantic branch and panoptic fusion
# ----------------------------------------------------------------------
def check_semantic(config):
    """NUM_STUFF_CLASSES, STUFF_CLASS_IDS, the branch's sizes and the
    fusion thresholds."""
    check_integer(config, "NUM_STUFF_CLASSES", 0)
    count = config.NUM_STUFF_CLASSES
    if not count:
        if "semantic" in config.ROI_HEADS:
            fail(config, "ROI_HEADS", "has the 'semantic' head but NUM_STUFF_CLASSES is 0")
        return
    if count > config.NUM_CLASSES - 1:
        fail(config, "NUM_STUFF_CLASSES", "the stuff classes are among the NUM_CLASSES - 1 = "
             "{} classes (the background is none of them)".format(config.NUM_CLASSES - 1))
    if "semantic" not in config.ROI_HEADS:
        fail(config, "ROI_HEADS", "must include 'semantic' when NUM_STUFF_CLASSES > 0 (Config "
             "adds it when NUM_STUFF_CLASSES is a class attribute; set on an instance, add "
             "it to ROI_HEADS too)")
    ids = config.STUFF_CLASS_IDS
    if ids is not None:
        if (not isinstance(ids, (list, tuple, np.ndarray)) or len(ids) != count
                or not all(is_integer(i) and 1 <= i < config.NUM_CLASSES for i in ids)
                or len(set(int(i) for i in ids)) != len(ids)):
            fail(config, "STUFF_CLASS_IDS", "must be None (the last NUM_STUFF_CLASSES class "
                 "ids) or NUM_STUFF_CLASSES = {} distinct class ids in 1..{}".format(
                     count, config.NUM_CLASSES - 1))
    for name in ("SEMANTIC_CONV_CHANNELS", "SEMANTIC_GROUPS"):
        check_integer(config, name, 1)
    if config.SEMANTIC_CONV_CHANNELS % config.SEMANTIC_GROUPS:
        fail(config, "SEMANTIC_GROUPS", "must divide SEMANTIC_CONV_CHANNELS = {} (GroupNorm "
             "splits the channels into equal groups)".format(config.SEMANTIC_CONV_CHANNELS))
    for name in ("PANOPTIC_SCORE_THRESHOLD", "PANOPTIC_OVERLAP_THRESHOLD"):
        _check_fraction(config, name)
    check_integer(config, "PANOPTIC_STUFF_AREA_LIMIT", 0)


# ----------------------------------------------------------------------
# Types and finiteness
# ----------------------------------------------------------------------
def fail(config, name, message):
    """Raise the ValueError "<Class>.<NAME> = <value>: <message>"; a string
    that parses as a number gets the hint to write it without quotes."""
    value = getattr(config, name, None)
    if isinstance(value, str) and _parses_as_number(value):
        number = value.strip()
        message += (" (the string {!r}: write the number without quotes, e.g. {} = {} or "
                    "--set {}={})".format(value, name, number, name, number))
    raise ValueError("{}.{} = {!r}: {}".format(type(config).__name__, name, value, message))


def _parses_as_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_integer(value):
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value):
    """A finite real number (not a bool, not a string)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def check_integer(config, name, minimum, allow_none=False):
    """config.<name> is an integer >= minimum (or None with allow_none)."""
    value = getattr(config, name)
    if allow_none and value is None:
        return
    if not is_integer(value) or value < minimum:
        fail(config, name, "must be an integer >= {}".format(minimum))


def number_array(value, finite=True):
    """float64 array of a list/tuple/array of real numbers (finite unless
    finite=False), or None when it is anything else (strings, bools,
    ragged nested lists)."""
    if isinstance(value, (str, bytes, dict)):
        return None
    try:  # a ragged list is a ValueError of np.ndim as of np.asarray
        if np.ndim(value) == 0 and not isinstance(value, np.ndarray):
            return None
        array = np.asarray(value)
    except (TypeError, ValueError):
        return None
    if array.dtype.kind not in "iuf":
        return None
    array = array.astype(np.float64)
    if finite and not np.all(np.isfinite(array)):
        return None
    return array
