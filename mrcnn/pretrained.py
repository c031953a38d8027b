"""matterport's released COCO model: its config, class names and weight file.

    from mrcnn.pretrained import CocoInferenceConfig, coco_weights_path
    model = MaskRCNN("inference", CocoInferenceConfig(), "logs")
    model.load_weights(coco_weights_path(download=True), by_name=True)

The weight file (mask_rcnn_coco.h5, 246 MB, ResNet-101, 80 classes + BG) is
cached in $MRCNN_HOME (default ~/.cache/mrcnn).
"""

import os

from mrcnn.config import Config
from mrcnn.fileio import download_file

# matterport's released COCO weights.
COCO_MODEL_URL = "https://github.com/matterport/Mask_RCNN/releases/download/v2.0/mask_rcnn_coco.h5"

COCO_WEIGHTS_FILE = "mask_rcnn_coco.h5"
# The release publishes no checksum of the file, and none is recorded here:
# a download is checked by its content (`check_coco_weights`) and, when the
# caller gives one (`sha256=`, `--sha256`), by its SHA-256.
COCO_WEIGHTS_SHA256 = None

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


def download_trained_weights(coco_model_path, verbose=1, url=COCO_MODEL_URL, sha256=None,
                             validate=None):
    """Download matterport's COCO-trained weights to `coco_model_path`
    (atomically, with a progress bar when verbose; see download_file)."""
    if verbose > 0:
        print("Downloading pretrained model to " + coco_model_path + " ...")
    download_file(url, coco_model_path, verbose=verbose, sha256=sha256, validate=validate)
    if verbose > 0:
        print("... done downloading pretrained model!")
    return coco_model_path


def coco_weights_path(path=None, download=False, url=COCO_MODEL_URL, sha256=None,
                      verbose=1):
    """Path of mask_rcnn_coco.h5 (`path` or the cache's). With download=True a
    missing file is downloaded first; otherwise a missing file raises
    FileNotFoundError saying how to get it. A download must pass
    `check_coco_weights` (and match `sha256` when given) before it is
    renamed into place."""
    path = path or os.path.join(cache_dir(), COCO_WEIGHTS_FILE)
    if not os.path.exists(path):
        if not download:
            raise FileNotFoundError(
                "{} not found: run `mrcnn download-weights coco` (or download {} "
                "yourself and pass its path)".format(path, url))
        download_trained_weights(path, verbose=verbose, url=url,
                                 sha256=sha256 or COCO_WEIGHTS_SHA256,
                                 validate=check_coco_weights)
    return path


# ResNet-101 stage depths of matterport's COCO model (stages 2-5).
_RESNET101_BLOCKS = {2: 3, 3: 4, 4: 23, 5: 3}


def coco_weighted_layers():
    """{layer name: number of weights} of every layer of matterport's COCO
    model (ResNet-101, FPN, RPN, 81-class heads) that holds weights: the
    layers its weight file must have."""
    layers = {"conv1": 2, "bn_conv1": 4}
    for stage, blocks in _RESNET101_BLOCKS.items():
        for b in range(blocks):
            block = "{}{}".format(stage, chr(ord("a") + b))
            branches = ["2a", "2b", "2c"] + (["1"] if b == 0 else [])
            for branch in branches:
                layers["res{}_branch{}".format(block, branch)] = 2
                layers["bn{}_branch{}".format(block, branch)] = 4
    for name in ("fpn_c5p5", "fpn_c4p4", "fpn_c3p3", "fpn_c2p2",
                 "fpn_p2", "fpn_p3", "fpn_p4", "fpn_p5"):
        layers[name] = 2
    layers["rpn_model"] = 6
    for head in ("mrcnn_class_conv1", "mrcnn_class_conv2", "mrcnn_class_logits",
                 "mrcnn_bbox_fc", "mrcnn_mask_conv1", "mrcnn_mask_conv2", "mrcnn_mask_conv3",
                 "mrcnn_mask_conv4", "mrcnn_mask_deconv", "mrcnn_mask"):
        layers[head] = 2
    for bn in ("mrcnn_class_bn1", "mrcnn_class_bn2", "mrcnn_mask_bn1", "mrcnn_mask_bn2",
               "mrcnn_mask_bn3", "mrcnn_mask_bn4"):
        layers[bn] = 4
    return layers


# Shapes that identify the released COCO model: RGB input and the 81-class heads.
COCO_WEIGHT_SHAPES = {
    "conv1": [(7, 7, 3, 64), (64,)],
    "mrcnn_class_logits": [(1024, 81), (81,)],
    "mrcnn_bbox_fc": [(1024, 324), (324,)],
    "mrcnn_mask": [(1, 1, 256, 81), (81,)],
}


def check_coco_weights(path):
    """Raise ValueError unless `path` holds matterport's COCO weights: a
    Keras HDF5 weight file with every weighted layer of the COCO model
    (ResNet-101 backbone, FPN, RPN, heads; `coco_weighted_layers`) and the
    81-class head shapes (COCO_WEIGHT_SHAPES). Only the layout is read,
    not the 246 MB of values."""
    from mrcnn.weights import open_layer_group, stored_layer_names, stored_weight_names

    with open_layer_group(path) as group:
        present = set(stored_layer_names(group))
        expected = coco_weighted_layers()
        missing = [n for n in expected if n not in present or n not in group]
        if missing:
            raise ValueError(
                "{} is not matterport's COCO weight file: {} of its {} weighted layers are "
                "missing ({}{}){}".format(
                    path, len(missing), len(expected), ", ".join(missing[:8]),
                    ", ..." if len(missing) > 8 else "",
                    "; it looks like a ResNet-50 model" if "res4f_branch2a" in present
                    and "res4g_branch2a" not in present else ""))
        for name, count in expected.items():
            g = group[name]
            weight_names = stored_weight_names(g)
            if len(weight_names) != count:
                raise ValueError("{} is not matterport's COCO weight file: layer {} has {} "
                                 "weights, expected {}".format(path, name, len(weight_names),
                                                               count))
            for weight_name, shape in zip(weight_names, COCO_WEIGHT_SHAPES.get(name, [])):
                actual = tuple(g[weight_name].shape)
                if actual != shape:
                    raise ValueError(
                        "{} is not matterport's COCO weight file: {} has shape {}, expected "
                        "{}{}".format(path, weight_name, actual, shape,
                                      " (81 classes: BG + 80)" if name != "conv1" else ""))


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


IMAGENET_WEIGHTS_URL = ("https://github.com/fchollet/deep-learning-models/releases/download/v0.2/"
                        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")


def imagenet_weights_path():
    """Keras' ImageNet ResNet-50 weights (no top), downloaded once into
    Keras' cache (MD5-checked); returns the path."""
    import keras
    return keras.utils.get_file(IMAGENET_WEIGHTS_URL.rsplit("/", 1)[1], IMAGENET_WEIGHTS_URL,
                                cache_subdir="models",
                                file_hash="a268eb855778b3df3c7506639542a6af")


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
