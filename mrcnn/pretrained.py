"""matterport's released COCO model: its config, class names and weight file.

    from mrcnn.pretrained import CocoInferenceConfig, coco_weights_path
    model = MaskRCNN("inference", CocoInferenceConfig(), "logs")
    model.load_weights(coco_weights_path(download=True), by_name=True)

The weight file (mask_rcnn_coco.h5, 246 MB, ResNet-101, 80 classes + BG) is
cached in $MRCNN_HOME (default ~/.cache/mrcnn).
"""

import os

from mrcnn import utils
from mrcnn.config import Config

COCO_WEIGHTS_FILE = "mask_rcnn_coco.h5"

# Heads whose shapes depend on NUM_CLASSES: excluded when loading weights
# trained for another number of classes (e.g. the COCO weights).
CLASS_SPECIFIC_LAYERS = ["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"]

# Class names by class id of the COCO model (id 0 is the background), in the
# order of the COCO category ids, as matterport's demo lists them.
COCO_CLASS_NAMES = [
    "BG", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
    "boat", "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird",
    "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush"]


class CocoInferenceConfig(Config):
    """The config matterport's COCO weights were trained with (ResNet-101,
    1024x1024 square images), for detection one image at a time."""
    NAME = "coco"
    NUM_CLASSES = 1 + 80
    GPU_COUNT = 1
    IMAGES_PER_GPU = 1


def cache_dir():
    """Where downloaded weights live: $MRCNN_HOME or ~/.cache/mrcnn."""
    return os.environ.get("MRCNN_HOME") or os.path.join(os.path.expanduser("~"), ".cache",
                                                        "mrcnn")


def coco_weights_path(path=None, download=False, url=utils.COCO_MODEL_URL, sha256=None,
                      verbose=1):
    """Path of mask_rcnn_coco.h5 (`path` or the cache's). With download=True a
    missing file is downloaded first; otherwise a missing file raises
    FileNotFoundError saying how to get it."""
    path = path or os.path.join(cache_dir(), COCO_WEIGHTS_FILE)
    if not os.path.exists(path):
        if not download:
            raise FileNotFoundError(
                "{} not found: run `mrcnn download-weights coco` (or download {} "
                "yourself and pass its path)".format(path, url))
        utils.download_trained_weights(path, verbose=verbose, url=url, sha256=sha256,
                                       validate=check_weight_file)
    return path


def check_weight_file(path):
    """Raise ValueError unless `path` is a Keras HDF5 weight file."""
    import h5py
    try:
        with h5py.File(path, "r") as f:
            ok = "layer_names" in f.attrs or "model_weights" in f
    except OSError as e:
        raise ValueError("the download is not an HDF5 weight file ({})".format(e)) from None
    if not ok:
        raise ValueError("the download is an HDF5 file without Keras layer weights")


def resolve_weights(model, spec, coco_path=None):
    """The weight file meant by a samples' --weights/--model value: "coco"
    (matterport's COCO weights at `coco_path`, default the cache's,
    downloaded when missing), "last" (model.find_last()), "imagenet"
    (model.get_imagenet_weights()) or a path, returned unchanged."""
    name = str(spec).lower()
    if name == "coco":
        return coco_weights_path(coco_path, download=True)
    if name == "last":
        return model.find_last()
    if name == "imagenet":
        return model.get_imagenet_weights()
    return spec


def load_weights_for(model, spec, coco_path=None):
    """Load, by layer name, the weights a samples' --weights/--model value
    names (see `resolve_weights`) and return their path. matterport's COCO
    weights loaded into a model with another NUM_CLASSES skip the
    CLASS_SPECIFIC_LAYERS, as matterport's samples do."""
    path = resolve_weights(model, spec, coco_path=coco_path)
    print("Loading weights ", path)
    exclude = None
    if str(spec).lower() == "coco" and model.config.NUM_CLASSES != CocoInferenceConfig.NUM_CLASSES:
        exclude = CLASS_SPECIFIC_LAYERS
    model.load_weights(path, by_name=True, exclude=exclude)
    return path
