"""The files of a model directory and of training runs.

A model directory (``MaskRCNN.save``, ``mrcnn train --output``) holds::

    config.json         the Config (Config.save)
    mask_rcnn.h5        the weights, matterport's HDF5 layout
    class_names.json    optional: the class names by class id, BG first

Training runs (``MaskRCNN.train``) write into
``MODEL_DIR/<name><YYYYMMDDTHHMM>/`` (the run directory, `run_dir_name`):
a checkpoint ``mask_rcnn_<name>_<epoch:04d>.h5`` and config.json per
epoch, and TensorBoard's event files. <name> is config.NAME in lower case.
`find_last` finds the newest checkpoint of a model_dir; `log_dir_for`
turns a checkpoint path back into its run directory and epoch so that a
resumed training continues there (matterport's `set_log_dir`).
"""

import datetime
import os
import re

from mrcnn import fileio

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "mask_rcnn.h5"
CLASS_NAMES_FILE = "class_names.json"

# matterport's checkpoint path: <run dir name><YYYYMMDDTHHMM>/mask_rcnn_<name>_<epoch>.h5
_MATTERPORT_CHECKPOINT = re.compile(
    r".*[/\\][\w-]+(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})[/\\]mask\_rcnn\_[\w-]+(\d{4})\.h5")


############################################################
#  Class names
############################################################

def check_class_names(names, num_classes=None, where="class names"):
    """`names` as a list of str, checked: a list (or other sequence) of
    strings, `num_classes` of them when given. ValueError names `where`."""
    if isinstance(names, (str, bytes)) or not hasattr(names, "__len__"):
        raise ValueError("{}: expected a list of class names, got {}".format(
            where, type(names).__name__))
    names = list(names)
    if not all(isinstance(n, str) for n in names):
        names = [str(n) for n in names]
    if num_classes is not None and len(names) != int(num_classes):
        raise ValueError("{}: {} class names for NUM_CLASSES = {}".format(
            where, len(names), num_classes))
    return names


def read_class_names(directory, num_classes=None):
    """The class names saved beside a model (`MaskRCNN.save(class_names=)`),
    or None if there are none."""
    from mrcnn.data.annotations import read_json
    path = os.path.join(directory, CLASS_NAMES_FILE)
    if not os.path.exists(path):
        return None
    names = read_json(path, what="class names file")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("{}: expected a JSON list of class names".format(path))
    return names


def write_class_names(directory, names):
    """Write `names` to directory/class_names.json (atomically), or remove
    an earlier file when `names` is None (it would not belong to the new
    model)."""
    path = os.path.join(directory, CLASS_NAMES_FILE)
    if names is not None:
        fileio.write_json_atomic(path, list(names))
    elif os.path.exists(path):
        os.remove(path)
    return path


############################################################
#  Model directories
############################################################

def save_model(keras_model, config, directory, class_names=None):
    """Write a model directory: weights, config and (optionally) class
    names, each atomically. Returns `directory`."""
    from mrcnn import weights as weight_io
    if class_names is not None:
        class_names = check_class_names(class_names, config.NUM_CLASSES, where="save")
    os.makedirs(directory, exist_ok=True)
    weight_io.save_weights(keras_model, os.path.join(directory, WEIGHTS_FILE))
    config.save(os.path.join(directory, CONFIG_FILE))
    write_class_names(directory, class_names)
    return directory


def load_config(directory, mode="inference", **overrides):
    """The Config saved in a model directory; inference uses one image per
    batch unless `overrides` say otherwise (attributes in `overrides`
    replace the saved ones)."""
    from mrcnn.config import Config
    values = Config.load(os.path.join(directory, CONFIG_FILE)).to_dict()
    if mode == "inference":
        values.update(GPU_COUNT=1, IMAGES_PER_GPU=1)
    values.update(overrides)
    return Config.from_dict(values)


def weights_path(path):
    """The weight file of `path`: path/mask_rcnn.h5 for a model directory,
    else `path` itself."""
    if os.path.isdir(path):
        return os.path.join(path, WEIGHTS_FILE)
    return path


############################################################
#  Training runs
############################################################

def run_name(config):
    """The <name> of run directories and checkpoints: config.NAME in lower
    case ("mrcnn" when unset)."""
    return (getattr(config, "NAME", None) or "mrcnn").lower()


def run_dir_name(name, when):
    """The run directory name of a run of `name` started at `when`."""
    return "{}{:%Y%m%dT%H%M}".format(name, when)


def checkpoint_path(log_dir, name):
    """The checkpoint path template of a run directory: format it with
    epoch= (the epoch just finished, counted from 1)."""
    return os.path.join(log_dir, "mask_rcnn_{}_".format(name) + "{epoch:04d}.h5")


def parse_checkpoint_path(path):
    """(start time, epoch) of a checkpoint path of matterport's naming
    (``.../<name>YYYYMMDDTHHMM/mask_rcnn_<name>_NNNN.h5``), else None."""
    m = _MATTERPORT_CHECKPOINT.match(str(path))
    if not m:
        return None
    when = datetime.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)),
                             int(m.group(4)), int(m.group(5)))
    return when, int(m.group(6))


def log_dir_for(model_dir, name, model_path=None, now=None):
    """(log_dir, checkpoint_path, epoch) of a run: the run directory of the
    checkpoint `model_path` and its epoch when it has this package's
    (matterport's) naming, else a new run directory started `now` (default:
    the current time) at epoch 0."""
    when = now or datetime.datetime.now()
    epoch = 0
    parsed = parse_checkpoint_path(model_path) if model_path else None
    if parsed:
        when, epoch = parsed
    log_dir = os.path.join(model_dir, run_dir_name(name, when))
    return log_dir, checkpoint_path(log_dir, name), epoch


def find_last(model_dir, name):
    """Path of the last checkpoint of the last training run of `name` in
    `model_dir`. FileNotFoundError when there is none."""
    if not os.path.isdir(model_dir):
        raise FileNotFoundError("Could not find model directory under {}".format(model_dir))
    dir_names = sorted(d for d in next(os.walk(model_dir))[1] if d.startswith(name))
    if not dir_names:
        raise FileNotFoundError("Could not find model directory under {}".format(model_dir))
    dir_name = os.path.join(model_dir, dir_names[-1])
    checkpoints = sorted(f for f in next(os.walk(dir_name))[2]
                         if f.startswith("mask_rcnn") and f.endswith(".h5"))
    if not checkpoints:
        raise FileNotFoundError("Could not find weight files in {}".format(dir_name))
    return os.path.join(dir_name, checkpoints[-1])
