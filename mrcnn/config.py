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
by the constructor; the checks live in `mrcnn.config_checks`) and round-trips
through JSON (`to_dict` / `from_dict`, `save` / `load`) so that a trained
model's directory can carry its config.
"""

import json

import numpy as np

from mrcnn.molding.meta import image_meta_size

# Attributes computed by Config.__init__ from the others.
DERIVED_ATTRIBUTES = ("BATCH_SIZE", "IMAGE_SHAPE", "IMAGE_META_SIZE")

RESIZE_MODES = ("none", "square", "pad64", "crop")
LOSS_NAMES = ("rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss",
              "mrcnn_bbox_loss", "mrcnn_mask_loss")
# Losses of the package's optional heads: known to LOSS_WEIGHTS without being
# required (absent: weight 1).
OPTIONAL_LOSS_NAMES = ("keypoint_loss", "semantic_loss")

# COCO's 17 person keypoints and their OKS sigmas (pycocotools' COCOeval
# defaults, its kpt_oks_sigmas: [.26, .25, ...] / 10), used when KEYPOINT_NAMES
# are COCO's and KEYPOINT_OKS_SIGMAS is None.
COCO_KEYPOINT_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear",
                       "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                       "left_wrist", "right_wrist", "left_hip", "right_hip",
                       "left_knee", "right_knee", "left_ankle", "right_ankle")
COCO_KEYPOINT_OKS_SIGMAS = (.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062,
                            .107, .107, .087, .087, .089, .089)
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

    # The second-stage heads, in order (mrcnn.heads: "box" classifies and
    # refines the RoIs into detections, "mask" predicts their masks; a head
    # registered with mrcnn.heads.register_head can be added by name).
    ROI_HEADS = ("box", "mask")

    # Keypoints (Keypoint R-CNN, docs/keypoints.md). KEYPOINT_NAMES empty: no
    # keypoint head (the model is plain Mask R-CNN). Non-empty: Config adds
    # the "keypoint" head to ROI_HEADS, the data pipeline feeds the datasets'
    # keypoints (Dataset.load_keypoints) and detect() returns "keypoints".
    KEYPOINT_NAMES = ()
    # Pairs of names that swap under a mirroring augmentation (a horizontal
    # flip), e.g. (("left_eye", "right_eye"), ...).
    KEYPOINT_FLIP_PAIRS = ()
    # Pairs of names joined by a line when drawing.
    KEYPOINT_SKELETON = ()
    # One OKS sigma per keypoint (COCO keypoint evaluation); None: COCO's 17
    # person sigmas when KEYPOINT_NAMES are COCO's, else unset.
    KEYPOINT_OKS_SIGMAS = None
    # Internal class ids whose instances carry keypoints (None: all classes).
    # Detections of other classes get zero keypoints; their RoIs no loss.
    KEYPOINT_CLASS_IDS = None
    # The keypoint head: RoIAlign KEYPOINT_POOL_SIZE, KEYPOINT_CONV_LAYERS
    # 3x3 convs of KEYPOINT_CONV_CHANNELS, a 2x deconvolution and a 2x
    # bilinear upsampling to KEYPOINT_MASK_SHAPE x KEYPOINT_MASK_SHAPE
    # heatmaps (4 * KEYPOINT_POOL_SIZE), as in the Mask R-CNN paper.
    KEYPOINT_POOL_SIZE = 14
    KEYPOINT_CONV_LAYERS = 8
    KEYPOINT_CONV_CHANNELS = 512
    KEYPOINT_MASK_SHAPE = 56

    # Panoptic segmentation (docs/panoptic.md). NUM_STUFF_CLASSES 0: no
    # semantic branch (the model is plain Mask R-CNN). > 0: Config adds the
    # "semantic" head to ROI_HEADS (Panoptic FPN's branch on P2..P5), the
    # data pipeline feeds the datasets' semantic maps (load_semantic) and
    # detect() returns "semantic", "panoptic" and "segments".
    NUM_STUFF_CLASSES = 0
    # The internal class ids of the stuff classes, in the branch's order
    # (None: the last NUM_STUFF_CLASSES class ids, as COCO panoptic and the
    # synthetic panoptic shapes number them). Its loss: "semantic_loss" in
    # LOSS_WEIGHTS (absent: 1; Panoptic FPN used 0.5 on COCO).
    STUFF_CLASS_IDS = None
    # The branch: SEMANTIC_CONV_CHANNELS 3x3 convs, GroupNorm of
    # SEMANTIC_GROUPS groups.
    SEMANTIC_CONV_CHANNELS = 128
    SEMANTIC_GROUPS = 32
    # Fusion of the detections with the semantic map (mrcnn.panoptic.fuse,
    # panopticapi's defaults): instances below PANOPTIC_SCORE_THRESHOLD or
    # with more than PANOPTIC_OVERLAP_THRESHOLD of their area already taken
    # are dropped; a stuff segment needs PANOPTIC_STUFF_AREA_LIMIT pixels
    # (of the original image).
    PANOPTIC_SCORE_THRESHOLD = 0.5
    PANOPTIC_OVERLAP_THRESHOLD = 0.5
    PANOPTIC_STUFF_AREA_LIMIT = 4096

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
        # mrcnn.config_checks imports this module's names: imported on use.
        from mrcnn.config_checks import check_base_attributes
        check_base_attributes(self)
        self.BATCH_SIZE = self.IMAGES_PER_GPU * self.GPU_COUNT
        if self.IMAGE_RESIZE_MODE == "crop":
            self.IMAGE_SHAPE = np.array([self.IMAGE_MIN_DIM, self.IMAGE_MIN_DIM,
                                         self.IMAGE_CHANNEL_COUNT])
        else:
            self.IMAGE_SHAPE = np.array([self.IMAGE_MAX_DIM, self.IMAGE_MAX_DIM,
                                         self.IMAGE_CHANNEL_COUNT])
        # Length of the image meta vector, see mrcnn.molding.meta.
        self.IMAGE_META_SIZE = image_meta_size(self.NUM_CLASSES)
        self._derive_keypoint_attributes()
        self._derive_semantic_attributes()
        self.validate(require_classes=type(self) is not Config)

    def _derive_keypoint_attributes(self):
        """With KEYPOINT_NAMES: add the "keypoint" head to ROI_HEADS, and
        COCO's OKS sigmas when the names are COCO's and no sigmas are set."""
        names = self.KEYPOINT_NAMES
        if not isinstance(names, (list, tuple)) or not names:
            return
        heads = self.ROI_HEADS
        if isinstance(heads, (list, tuple)) and "keypoint" not in heads:
            self.ROI_HEADS = tuple(heads) + ("keypoint",)
        if self.KEYPOINT_OKS_SIGMAS is None and tuple(names) == COCO_KEYPOINT_NAMES:
            self.KEYPOINT_OKS_SIGMAS = COCO_KEYPOINT_OKS_SIGMAS

    def _derive_semantic_attributes(self):
        """With NUM_STUFF_CLASSES > 0: add the "semantic" head to ROI_HEADS."""
        count = self.NUM_STUFF_CLASSES
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count <= 0:
            return
        heads = self.ROI_HEADS
        if isinstance(heads, (list, tuple)) and "semantic" not in heads:
            self.ROI_HEADS = tuple(heads) + ("semantic",)

    def validate(self, require_classes=True):
        """Check every attribute; raise ValueError naming the bad one.
        Returns the config. The checks are in mrcnn.config_checks.

        require_classes: also demand NUM_CLASSES >= 2 (background plus at
            least one class). The bare base class, with its placeholder
            NUM_CLASSES = 1, is exempt so that `Config()` shows the defaults.
        """
        from mrcnn.config_checks import validate_config
        return validate_config(self, require_classes=require_classes)

    def keypoint_class_ids(self):
        """The internal class ids that carry keypoints (KEYPOINT_CLASS_IDS,
        or every class but the background)."""
        if self.KEYPOINT_CLASS_IDS is None:
            return list(range(1, self.NUM_CLASSES))
        return [int(i) for i in self.KEYPOINT_CLASS_IDS]

    def stuff_class_ids(self):
        """The internal class ids of the semantic branch's stuff classes, in
        its order (channel k + 1 is the k-th): STUFF_CLASS_IDS, or the last
        NUM_STUFF_CLASSES class ids."""
        if self.STUFF_CLASS_IDS is None:
            return list(range(self.NUM_CLASSES - self.NUM_STUFF_CLASSES, self.NUM_CLASSES))
        return [int(i) for i in self.STUFF_CLASS_IDS]

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
        from mrcnn.fileio import write_text_atomic
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
