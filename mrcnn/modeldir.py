"""The files of a model directory and of training runs.

A model directory (``MaskRCNN.save``, ``mrcnn train --output``) holds::

    config.json         the Config (Config.save)
    mask_rcnn.h5        the weights, matterport's HDF5 layout
    class_names.json    optional: the class names by class id, BG first

Training runs (``MaskRCNN.train``) write into a run directory
``MODEL_DIR/<name><YYYYMMDDTHHMMSS>-<NN>/`` (`run_dir_name`): a checkpoint
``mask_rcnn_<name>_<epoch:04d>.h5`` and config.json per epoch, and
TensorBoard's event files. <name> is config.NAME in lower case; NN (01,
02, ...) makes the name unique: `create_run_dir` creates it exclusively
(mkdir), taking the next number when another run started in the same
second, so two runs never share a directory. matterport named run
directories ``<name><YYYYMMDDTHHMM>`` (minutes, no suffix): two runs of one
name started in the same minute shared one and overwrote each other's
checkpoints. Both namings are read: `parse_checkpoint_path` turns a
checkpoint path of either back into its run directory and epoch, so that
a resumed training continues there (matterport's `set_log_dir`), and
`find_last` finds the newest checkpoint, in the newest run that has one.
"""

import datetime
import os
import re

from mrcnn import fileio

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "mask_rcnn.h5"
CLASS_NAMES_FILE = "class_names.json"

# The time stamp and suffix of a run directory name: matterport's
# YYYYMMDDTHHMM, or YYYYMMDDTHHMMSS-NN.
_STAMP = r"(?P<stamp>\d{8}T\d{4}(?:\d{2}-\d+)?)"
# A checkpoint path: .../<name><stamp>/mask_rcnn_<name>_<epoch>.h5 (matterport's
# regex, which still matches its own names, widened to the new suffix).
_CHECKPOINT = re.compile(
    r".*[/\\][\w-]+?" + _STAMP + r"[/\\]mask_rcnn_[\w-]+?(?P<epoch>\d{4})\.h5$")
_CHECKPOINT_FILE = re.compile(r"^mask_rcnn_[\w-]*?(?P<epoch>\d{4})\.h5$")


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
    or None if there are none. num_classes: the model's NUM_CLASSES; a
    file with another number of names is an error (ValueError naming it)."""
    from mrcnn.data.annotations import read_json
    path = os.path.join(directory, CLASS_NAMES_FILE)
    if not os.path.exists(path):
        return None
    names = read_json(path, what="class names file")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("{}: expected a JSON list of class names".format(path))
    if num_classes is not None and len(names) != int(num_classes):
        raise ValueError("{}: {} class names but the model has NUM_CLASSES = {} (the names "
                         "belong to another model; fix or delete the file)".format(
                             path, len(names), num_classes))
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


def run_dir_name(name, when, number=1):
    """The run directory name of the `number`-th run of `name` started in
    the second `when`: ``<name><YYYYMMDDTHHMMSS>-<NN>``."""
    return "{}{:%Y%m%dT%H%M%S}-{:02d}".format(name, when, int(number))


def parse_run_dir(dir_name, name=None):
    """(start time, number) of a run directory name of either naming
    (number 0 for matterport's), or None. With `name`, only runs of that
    name (``<name><stamp>`` exactly, so "coco" does not take "cocotiny"
    runs)."""
    prefix = re.escape(name) if name is not None else r"[\w-]+?"
    m = re.match(r"^" + prefix + _STAMP + r"$", dir_name)
    if not m:
        return None
    stamp = m.group("stamp")
    try:
        if "-" in stamp:
            stamp, number = stamp.split("-")
            return datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%S"), int(number)
        return datetime.datetime.strptime(stamp, "%Y%m%dT%H%M"), 0
    except ValueError:  # e.g. month 13: not a time stamp
        return None


def checkpoint_path(log_dir, name):
    """The checkpoint path template of a run directory: format it with
    epoch= (the epoch just finished, counted from 1)."""
    return os.path.join(log_dir, "mask_rcnn_{}_".format(name) + "{epoch:04d}.h5")


def parse_checkpoint_path(path):
    """(run directory stamp, epoch) of a checkpoint path of this package's
    or matterport's naming (``.../<name><stamp>/mask_rcnn_<name>_NNNN.h5``,
    stamp YYYYMMDDTHHMMSS-NN or matterport's YYYYMMDDTHHMM), else None."""
    m = _CHECKPOINT.match(str(path))
    if not m:
        return None
    return m.group("stamp"), int(m.group("epoch"))


def log_dir_for(model_dir, name, model_path=None, now=None):
    """(log_dir, checkpoint_path, epoch, resumed) of a run.

    A checkpoint `model_path` of this package's (or matterport's) naming
    gives its run directory (under `model_dir`) and epoch, resumed=True:
    training continues there. Otherwise a new run started `now` (default:
    the current time) at epoch 0, resumed=False: the name of the first
    free run directory now; `create_run_dir` takes it (or the next free
    one) when training starts.
    """
    parsed = parse_checkpoint_path(model_path) if model_path else None
    if parsed:
        stamp, epoch = parsed
        log_dir = os.path.join(model_dir, name + stamp)
        return log_dir, checkpoint_path(log_dir, name), epoch, True
    when = now or datetime.datetime.now()
    number = 1
    while os.path.lexists(os.path.join(model_dir, run_dir_name(name, when, number))):
        number += 1
    log_dir = os.path.join(model_dir, run_dir_name(name, when, number))
    return log_dir, checkpoint_path(log_dir, name), 0, False


def claim_run_dir(path):
    """Create the run directory `path` exclusively (mkdir) and return it;
    when it exists (another run took the name), the next number of the same
    second (``...-02``, ``-03``, ...) instead."""
    parent, base = os.path.split(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    m = re.match(r"^(?P<head>.*\d{8}T\d{6}-)(?P<number>\d+)$", base)
    number = int(m.group("number")) if m else None
    path = os.path.join(parent, base)
    while True:
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            if m is None:
                raise
            number += 1
            path = os.path.join(parent, "{}{:02d}".format(m.group("head"), number))


def create_run_dir(model_dir, name, now=None):
    """Create a new run directory of `name` exclusively and return its
    path: ``<name><YYYYMMDDTHHMMSS>-01``, or -02, -03, ... when another run
    (another process) took the name first."""
    when = now or datetime.datetime.now()
    return claim_run_dir(os.path.join(model_dir, run_dir_name(name, when, 1)))


def _checkpoints(run_dir):
    """{epoch: file name} of the checkpoints in a run directory."""
    out = {}
    for f in next(os.walk(run_dir))[2]:
        m = _CHECKPOINT_FILE.match(f)
        if m:
            out[int(m.group("epoch"))] = f
    return out


def list_runs(model_dir, name):
    """The run directories of `name` in `model_dir`, newest first (by start
    time, then number), either naming."""
    runs = []
    for d in next(os.walk(model_dir))[1]:
        parsed = parse_run_dir(d, name)
        if parsed:
            runs.append((parsed, d))
    return [os.path.join(model_dir, d) for _, d in sorted(runs, reverse=True)]


def find_last(model_dir, name):
    """Path of the last checkpoint (highest epoch) of the newest training
    run of `name` in `model_dir` that has one: a newer run killed before its
    first checkpoint is passed over. FileNotFoundError when there is none."""
    if not os.path.isdir(model_dir):
        raise FileNotFoundError("Could not find model directory under {}".format(model_dir))
    runs = list_runs(model_dir, name)
    if not runs:
        raise FileNotFoundError("Could not find model directory under {}".format(model_dir))
    for run in runs:
        checkpoints = _checkpoints(run)
        if checkpoints:
            return os.path.join(run, checkpoints[max(checkpoints)])
    raise FileNotFoundError("Could not find weight files in {}{}".format(
        runs[0], " (nor in the {} older run(s) of {!r})".format(len(runs) - 1, name)
        if len(runs) > 1 else ""))
