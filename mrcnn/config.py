"""Mask R-CNN configuration.

`Config` keeps the attribute names and defaults of matterport's Mask_RCNN so
existing code keeps working: subclass it, override the attributes you need and
instantiate it::

    class ShapesConfig(Config):
        NAME = "shapes"
        NUM_CLASSES = 1 + 3
        IMAGE_MIN_DIM = 128
        IMAGE_MAX_DIM = 128

    config = ShapesConfig()

On top of matterport's behaviour a config validates itself (`validate`, called
by the constructor) and round-trips through JSON (`to_dict` / `from_dict`,
`save` / `load`) so that a trained model's directory can carry its config.
"""

import json
import numbers

import numpy as np

from mrcnn.molding.divisor import BACKBONE_DIVISOR
from mrcnn.molding.meta import image_meta_size

# Attributes computed by Config.__init__ from the others.
DERIVED_ATTRIBUTES = ("BATCH_SIZE", "IMAGE_SHAPE", "IMAGE_META_SIZE")

RESIZE_MODES = ("none", "square", "pad64", "crop")
LOSS_NAMES = ("rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss",
              "mrcnn_bbox_loss", "mrcnn_mask_loss")
OPTIMIZERS = ("SGD", "Adam", "AdamW")
BUILTIN_BACKBONES = ("resnet50", "resnet101", "resnet18", "resnet34")


class Config(object):
    """Base configuration. Subclass it and override attributes.

    Every hyper-parameter of the method is an upper-case class attribute.
    `BATCH_SIZE`, `IMAGE_SHAPE` and `IMAGE_META_SIZE` are derived in
    `__init__`; change the attributes they come from, not them.
    """
    # Name of the configuration, e.g. "coco". Used in log directory names.
    NAME = None  # Override in sub-classes

    # Replicas (devices) per worker. 1 on a CPU-only machine.
    GPU_COUNT = 1

    # Images per replica. A 12 GB GPU holds about two 1024x1024 images.
    IMAGES_PER_GPU = 2

    # Training steps per epoch and validation steps at the end of each epoch.
    STEPS_PER_EPOCH = 1000
    VALIDATION_STEPS = 50

    # "resnet50", "resnet101" (matterport's), "resnet18", "resnet34" (lighter,
    # basic blocks), or a callable with the signature of
    # mrcnn.backbone.resnet_graph. A callable needs COMPUTE_BACKBONE_SHAPE too.
    BACKBONE = "resnet101"

    # Callable(image_shape) -> [N, (height, width)] feature map shapes, only
    # used when BACKBONE is a callable. See model.compute_backbone_shapes.
    COMPUTE_BACKBONE_SHAPE = None

    # Strides of the pyramid levels P2..P6 relative to the input image.
    BACKBONE_STRIDES = [4, 8, 16, 32, 64]

    # Width of the two fully connected layers of the box/class head.
    FPN_CLASSIF_FC_LAYERS_SIZE = 1024

    # Channels of the feature pyramid.
    TOP_DOWN_PYRAMID_SIZE = 256

    # Number of classes, background included.
    NUM_CLASSES = 1  # Override in sub-classes

    # Anchor side length in pixels, one per pyramid level.
    RPN_ANCHOR_SCALES = (32, 64, 128, 256, 512)

    # Anchor aspect ratios (width / height) used at every level.
    RPN_ANCHOR_RATIOS = [0.5, 1, 2]

    # Anchor stride on the feature maps (1: an anchor set at every cell).
    RPN_ANCHOR_STRIDE = 1

    # IoU threshold of the NMS that filters RPN proposals.
    RPN_NMS_THRESHOLD = 0.7

    # Anchors per image sampled to train the RPN.
    RPN_TRAIN_ANCHORS_PER_IMAGE = 256

    # Proposals kept by score before NMS.
    PRE_NMS_LIMIT = 6000

    # Proposals kept after NMS, in training and in inference.
    POST_NMS_ROIS_TRAINING = 2000
    POST_NMS_ROIS_INFERENCE = 1000

    # Store ground-truth masks cropped to their box and resized to
    # MINI_MASK_SHAPE to save memory.
    USE_MINI_MASK = True
    MINI_MASK_SHAPE = (56, 56)  # (height, width) of the mini-mask

    # Input image resizing, see utils.resize_image:
    # none:   no resizing or padding.
    # square: scale so the short side is IMAGE_MIN_DIM but the long side at
    #         most IMAGE_MAX_DIM, then pad to IMAGE_MAX_DIM x IMAGE_MAX_DIM.
    # pad64:  scale up (IMAGE_MIN_DIM / IMAGE_MIN_SCALE) then pad each side to
    #         a multiple of 64. IMAGE_MAX_DIM is ignored.
    # crop:   scale (IMAGE_MIN_DIM / IMAGE_MIN_SCALE), then a random
    #         IMAGE_MIN_DIM x IMAGE_MIN_DIM crop. Training only.
    IMAGE_RESIZE_MODE = "square"
    IMAGE_MIN_DIM = 800
    IMAGE_MAX_DIM = 1024
    # Minimum scale factor, checked after IMAGE_MIN_DIM (in square mode it
    # can be overruled by IMAGE_MAX_DIM).
    IMAGE_MIN_SCALE = 0
    # Channels per image: 3 for RGB, 1 for grayscale, 4 for RGB-D or RGB+NIR.
    IMAGE_CHANNEL_COUNT = 3

    # Per-channel mean subtracted from the image (RGB order).
    MEAN_PIXEL = np.array([123.7, 116.8, 103.9])

    # RoIs per image sampled to train the box and mask heads, and the
    # fraction of them that are positive.
    TRAIN_ROIS_PER_IMAGE = 200
    ROI_POSITIVE_RATIO = 0.33

    # RoIAlign output sizes of the box head and the mask head.
    POOL_SIZE = 7
    MASK_POOL_SIZE = 14

    # Output mask size of the mask head (2 x MASK_POOL_SIZE).
    MASK_SHAPE = [28, 28]

    # Ground-truth instances kept per image.
    MAX_GT_INSTANCES = 100

    # Standard deviations that scale the box deltas of the RPN and the head.
    RPN_BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])
    BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])

    # Final detections kept per image.
    DETECTION_MAX_INSTANCES = 100

    # Detections with a lower class probability are dropped.
    DETECTION_MIN_CONFIDENCE = 0.7

    # IoU threshold of the per-class NMS of the detections.
    DETECTION_NMS_THRESHOLD = 0.3

    # Learning rate and momentum (matterport's SGD).
    LEARNING_RATE = 0.001
    LEARNING_MOMENTUM = 0.9

    # Optimizer of MaskRCNN.train: "SGD" (with LEARNING_MOMENTUM, as in the
    # paper and matterport), "Adam" or "AdamW" (WEIGHT_DECAY is then applied
    # by the optimizer instead of the L2 loss term). Not in matterport.
    OPTIMIZER = "SGD"

    # L2 weight decay.
    WEIGHT_DECAY = 0.0001

    # Weight of each of the five losses.
    LOSS_WEIGHTS = {
        "rpn_class_loss": 1.,
        "rpn_bbox_loss": 1.,
        "mrcnn_class_loss": 1.,
        "mrcnn_bbox_loss": 1.,
        "mrcnn_mask_loss": 1.
    }

    # Train the heads on the RPN's proposals (True) or on RoIs supplied with
    # the data (False, for debugging the heads without an RPN).
    USE_RPN_ROIS = True

    # BatchNorm: None trains it, False freezes it (the default: batches are
    # small), True runs it in training mode even when predicting.
    TRAIN_BN = False

    # Gradient norm clipping.
    GRADIENT_CLIP_NORM = 5.0

    # Keras mixed precision of training and inference: None (float32, the
    # default), "mixed_bfloat16" (fast on CPUs with AVX512_BF16/AMX and on
    # TPUs/Ampere+ GPUs) or "mixed_float16" (GPUs; training uses dynamic loss
    # scaling). Box math, NMS, the heads' outputs and the losses stay
    # float32. Not in matterport.
    MIXED_PRECISION = None

    # With several replicas and BatchNorm in training mode (TRAIN_BN None or
    # True), compute the batch statistics over all replicas
    # (keras BatchNormalization(synchronized=True)). Frozen BN (TRAIN_BN
    # False) needs no synchronisation. Not in matterport.
    SYNC_BATCH_NORM = False

    # Compile the training step with XLA (Keras jit_compile). Reserved: with
    # TensorFlow 2.21 the step cannot be compiled (NMS, crop_and_resize and
    # the data-dependent shapes of the proposal/target layers have no XLA
    # kernels; measured in bench train-fit-1rep-xla), so True is refused
    # with that explanation rather than failing inside fit(). Not in matterport.
    XLA = False

    def __init__(self):
        """Compute the derived attributes, then validate the whole config."""
        self.BATCH_SIZE = self.IMAGES_PER_GPU * self.GPU_COUNT
        if self.IMAGE_RESIZE_MODE == "crop":
            self.IMAGE_SHAPE = np.array([self.IMAGE_MIN_DIM, self.IMAGE_MIN_DIM,
                                         self.IMAGE_CHANNEL_COUNT])
        else:
            self.IMAGE_SHAPE = np.array([self.IMAGE_MAX_DIM, self.IMAGE_MAX_DIM,
                                         self.IMAGE_CHANNEL_COUNT])
        # Length of the image meta vector, see mrcnn.molding.meta.
        self.IMAGE_META_SIZE = image_meta_size(self.NUM_CLASSES)
        self.validate(require_classes=type(self) is not Config)

    # ------------------------------------------------------------------
    # Validation
    # ------------------------------------------------------------------
    def validate(self, require_classes=True):
        """Check every attribute; raise ValueError naming the bad one.

        require_classes: also demand NUM_CLASSES >= 2 (background plus at
            least one class). The bare base class, with its placeholder
            NUM_CLASSES = 1, is exempt so that `Config()` shows the defaults.
        """
        def fail(name, message):
            raise ValueError("{}.{} = {!r}: {}".format(
                type(self).__name__, name, getattr(self, name, None), message))

        def check_int(name, minimum):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                    or value < minimum):
                fail(name, "must be an integer >= {}".format(minimum))

        def check_fraction(name, low_open=False):
            value = getattr(self, name)
            if (not isinstance(value, numbers.Real) or isinstance(value, bool)
                    or not (0 <= value <= 1) or (low_open and value == 0)):
                fail(name, "must be a number in {}0, 1]".format("(" if low_open else "["))

        for name in ("GPU_COUNT", "IMAGES_PER_GPU", "STEPS_PER_EPOCH",
                     "RPN_ANCHOR_STRIDE", "RPN_TRAIN_ANCHORS_PER_IMAGE",
                     "PRE_NMS_LIMIT", "POST_NMS_ROIS_TRAINING",
                     "POST_NMS_ROIS_INFERENCE", "TRAIN_ROIS_PER_IMAGE",
                     "POOL_SIZE", "MASK_POOL_SIZE", "MAX_GT_INSTANCES",
                     "DETECTION_MAX_INSTANCES", "TOP_DOWN_PYRAMID_SIZE",
                     "FPN_CLASSIF_FC_LAYERS_SIZE", "IMAGE_CHANNEL_COUNT"):
            check_int(name, 1)
        check_int("VALIDATION_STEPS", 0)
        check_int("NUM_CLASSES", 2 if require_classes else 1)
        if require_classes and self.NUM_CLASSES < 2:
            fail("NUM_CLASSES", "must count the background and at least one class")

        for name in ("RPN_NMS_THRESHOLD", "DETECTION_NMS_THRESHOLD",
                     "DETECTION_MIN_CONFIDENCE"):
            check_fraction(name)
        check_fraction("ROI_POSITIVE_RATIO", low_open=True)

        # Backbone
        if callable(self.BACKBONE):
            if not callable(self.COMPUTE_BACKBONE_SHAPE):
                fail("COMPUTE_BACKBONE_SHAPE",
                     "must be a callable when BACKBONE is a callable")
        elif self.BACKBONE not in BUILTIN_BACKBONES:
            fail("BACKBONE", "must be one of {} or a callable".format(
                ", ".join(BUILTIN_BACKBONES)))
        strides = list(self.BACKBONE_STRIDES)
        if not strides or any(not isinstance(s, numbers.Integral) or s < 1 for s in strides):
            fail("BACKBONE_STRIDES", "must be a list of positive integers")
        if len(self.RPN_ANCHOR_SCALES) != len(strides):
            fail("RPN_ANCHOR_SCALES", "needs one scale per pyramid level: "
                 "{} levels in BACKBONE_STRIDES".format(len(strides)))
        if any(s <= 0 for s in self.RPN_ANCHOR_SCALES):
            fail("RPN_ANCHOR_SCALES", "anchor sizes must be positive")
        if len(self.RPN_ANCHOR_RATIOS) == 0 or any(r <= 0 for r in self.RPN_ANCHOR_RATIOS):
            fail("RPN_ANCHOR_RATIOS", "must be a non-empty list of positive ratios")

        # Image geometry
        if self.IMAGE_RESIZE_MODE not in RESIZE_MODES:
            fail("IMAGE_RESIZE_MODE", "must be one of {}".format(", ".join(RESIZE_MODES)))
        mode = self.IMAGE_RESIZE_MODE
        if mode == "square":
            check_int("IMAGE_MAX_DIM", BACKBONE_DIVISOR)
            if self.IMAGE_MAX_DIM % BACKBONE_DIVISOR:
                fail("IMAGE_MAX_DIM", "must be a multiple of {} in 'square' mode "
                     "(the image is halved 6 times by the backbone and FPN), "
                     "e.g. 256, 320, 384, 448, 512".format(BACKBONE_DIVISOR))
            if self.IMAGE_MIN_DIM and self.IMAGE_MIN_DIM > self.IMAGE_MAX_DIM:
                fail("IMAGE_MIN_DIM", "must not exceed IMAGE_MAX_DIM ({})".format(
                    self.IMAGE_MAX_DIM))
        elif mode in ("crop", "pad64"):
            check_int("IMAGE_MIN_DIM", BACKBONE_DIVISOR)
            if self.IMAGE_MIN_DIM % BACKBONE_DIVISOR:
                fail("IMAGE_MIN_DIM", "must be a multiple of {} in '{}' mode".format(
                    BACKBONE_DIVISOR, mode))
        if self.IMAGE_MIN_SCALE is not None and self.IMAGE_MIN_SCALE < 0:
            fail("IMAGE_MIN_SCALE", "must be >= 0")
        mean = np.asarray(self.MEAN_PIXEL, dtype=np.float64)
        if mean.ndim != 1 or mean.shape[0] != self.IMAGE_CHANNEL_COUNT:
            fail("MEAN_PIXEL", "needs one value per channel: IMAGE_CHANNEL_COUNT is {}".format(
                self.IMAGE_CHANNEL_COUNT))
        if not np.all(np.isfinite(mean)):
            fail("MEAN_PIXEL", "values must be finite")

        # Masks
        if self.USE_MINI_MASK:
            if (len(self.MINI_MASK_SHAPE) != 2
                    or any(not isinstance(s, numbers.Integral) or s < 1
                           for s in self.MINI_MASK_SHAPE)):
                fail("MINI_MASK_SHAPE", "must be (height, width) of positive integers")
        if list(self.MASK_SHAPE) != [2 * self.MASK_POOL_SIZE] * 2:
            fail("MASK_SHAPE", "must be [2 * MASK_POOL_SIZE] * 2 = {}: the mask head "
                 "upsamples its RoIAlign output once".format([2 * self.MASK_POOL_SIZE] * 2))

        for name in ("RPN_BBOX_STD_DEV", "BBOX_STD_DEV"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != (4,) or np.any(value <= 0):
                fail(name, "must be 4 positive numbers (dy, dx, dh, dw)")

        # Optimisation
        if not isinstance(self.LOSS_WEIGHTS, dict) or set(self.LOSS_WEIGHTS) != set(LOSS_NAMES):
            fail("LOSS_WEIGHTS", "must be a dict with exactly the keys {}".format(
                ", ".join(LOSS_NAMES)))
        if any(not isinstance(v, numbers.Real) or v < 0 for v in self.LOSS_WEIGHTS.values()):
            fail("LOSS_WEIGHTS", "weights must be numbers >= 0")
        for name in ("LEARNING_RATE", "LEARNING_MOMENTUM", "WEIGHT_DECAY"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or value < 0:
                fail(name, "must be a number >= 0")
        if self.OPTIMIZER not in OPTIMIZERS:
            fail("OPTIMIZER", "must be one of {}".format(", ".join(OPTIMIZERS)))
        if self.GRADIENT_CLIP_NORM is not None and not self.GRADIENT_CLIP_NORM > 0:
            fail("GRADIENT_CLIP_NORM", "must be a positive number or None")
        if self.TRAIN_BN not in (None, True, False):
            fail("TRAIN_BN", "must be None (train), False (frozen) or True")
        if self.MIXED_PRECISION not in (None, "float32", "mixed_float16", "mixed_bfloat16"):
            fail("MIXED_PRECISION", "must be None, 'float32', 'mixed_float16' or "
                 "'mixed_bfloat16'")
        for name in ("SYNC_BATCH_NORM", "XLA"):
            if not isinstance(getattr(self, name), bool):
                fail(name, "must be True or False")
        if self.XLA:
            fail("XLA", "the training step cannot be compiled with XLA in TensorFlow 2.21 "
                 "(NMS, crop_and_resize and data-dependent shapes have no XLA kernels); "
                 "leave it False (mixed precision is the way to a faster step on CPU)")
        return self

    # ------------------------------------------------------------------
    # Inspection and serialisation
    # ------------------------------------------------------------------
    def to_dict(self):
        """All upper-case attributes (derived ones included), sorted by name."""
        return {a: getattr(self, a) for a in sorted(dir(self))
                if a.isupper() and not a.startswith("_")}

    def display(self):
        """Print the configuration values, one per line."""
        print("\nConfigurations:")
        for key in sorted(dir(self)):
            value = getattr(self, key)
            if not key.startswith("__") and not callable(value):
                print("{:30} {}".format(key, value))
        print("\n")

    def to_json(self, indent=2):
        """JSON text of `to_dict()`. A callable BACKBONE cannot be stored."""
        data = {}
        for key, value in self.to_dict().items():
            if callable(value):
                raise ValueError(
                    "{}.{} = {!r}: a callable cannot be stored in JSON; set it again "
                    "after loading the config".format(type(self).__name__, key, value))
            data[key] = _to_jsonable(value)
        return json.dumps(data, indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        """Build a config from a dict such as `to_dict()` returned.

        Attributes the class does not define are rejected (ValueError naming
        them); derived attributes in `values` are ignored and recomputed.
        """
        if not isinstance(values, dict):
            raise ValueError("Config.from_dict needs a dict, got {}".format(type(values).__name__))
        unknown = sorted(k for k in values
                         if k not in DERIVED_ATTRIBUTES and not hasattr(cls, k))
        if unknown:
            raise ValueError("unknown config attribute(s) for {}: {}".format(
                cls.__name__, ", ".join(unknown)))
        attrs = {}
        for key, value in values.items():
            if key in DERIVED_ATTRIBUTES:
                continue
            attrs[key] = _like_default(getattr(cls, key), value)
        name = "{}FromDict".format(cls.__name__)
        return type(name, (cls,), attrs)()

    def save(self, path):
        """Write `to_json()` to `path` atomically (temporary file, then rename)."""
        from mrcnn.utils import write_text_atomic
        write_text_atomic(path, self.to_json())

    @classmethod
    def load(cls, path):
        """Read a config written by `save`. Errors name the file."""
        try:
            with open(path) as f:
                values = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError("config file not found: {}".format(path)) from None
        except json.JSONDecodeError as e:
            raise ValueError("{}: not valid JSON (line {}, column {}): {}".format(
                path, e.lineno, e.colno, e.msg)) from None
        try:
            return cls.from_dict(values)
        except ValueError as e:
            raise ValueError("{}: {}".format(path, e)) from None


def _to_jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    return value


def _like_default(default, value):
    """Give a JSON value the container type of the class default."""
    if isinstance(default, np.ndarray) and isinstance(value, list):
        return np.array(value)
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    return value
