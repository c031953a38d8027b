"""What the subcommands share: config overrides, configs, models and
datasets from command-line arguments, and the bad-usage error."""

import json
import os

DATASET_FORMATS = ("coco", "coco-panoptic", "via", "labelme", "folder", "shapes")


class UsageError(ValueError):
    """A bad combination of arguments (exit status 2)."""


def parse_overrides(pairs):
    """["KEY=VALUE", ...] -> dict; VALUE is JSON when it parses (numbers,
    lists, true/false/null), else a string."""
    values = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UsageError("--set {!r}: expected KEY=VALUE, e.g. --set "
                             "IMAGES_PER_GPU=2".format(pair))
        key, value = pair.split("=", 1)
        key = key.strip()
        if not key.isupper():
            raise UsageError("--set {!r}: config attributes are upper case, e.g. "
                             "DETECTION_MIN_CONFIDENCE".format(pair))
        try:
            values[key] = json.loads(value)
        except json.JSONDecodeError:
            values[key] = value
    return values


def make_config(config_file=None, overrides=None, defaults=None):
    """A Config from a JSON file (Config.save's format) or the defaults,
    then `defaults` for attributes the file does not set, then `overrides`."""
    from mrcnn.config import Config
    values = Config.load(config_file).to_dict() if config_file else {}
    for key, value in (defaults or {}).items():
        if not config_file or key not in values:
            values[key] = value
    values.update(overrides or {})
    return Config.from_dict(values)


def load_model(spec, config_file=None, overrides=None, mode="inference"):
    """A MaskRCNN from a model directory, `coco`, or an .h5 file (see the
    module docstring). Returns (model, class_names or None)."""
    from mrcnn.model import MaskRCNN
    from mrcnn.modeldir import CLASS_NAMES_FILE, CONFIG_FILE, read_class_names
    overrides = dict(overrides or {})
    if mode == "inference":
        overrides.setdefault("GPU_COUNT", 1)
        overrides.setdefault("IMAGES_PER_GPU", 1)
    if spec == "coco":
        from mrcnn.pretrained import COCO_CLASS_NAMES, CocoInferenceConfig, coco_weights_path
        config = make_config(config_file, overrides, CocoInferenceConfig().to_dict())
        weights = coco_weights_path()
        model = MaskRCNN(mode, config, model_dir=os.getcwd())
        model.load_weights(weights, strict=True)
        return model, list(COCO_CLASS_NAMES)
    if os.path.isdir(spec):
        if not os.path.exists(os.path.join(spec, CONFIG_FILE)) and not config_file:
            raise FileNotFoundError("{} has no {}: pass --config, or give a directory "
                                    "written by MaskRCNN.save / mrcnn train".format(
                                        spec, CONFIG_FILE))
        config = make_config(config_file or os.path.join(spec, CONFIG_FILE), overrides)
        model = MaskRCNN(mode, config, model_dir=spec)
        model.load_weights(spec, strict=True)
        return model, read_class_names(spec, num_classes=config.NUM_CLASSES)
    if not os.path.exists(spec):
        raise FileNotFoundError("model not found: {} (expected a model directory, an .h5 "
                                "file or 'coco')".format(spec))
    directory = os.path.dirname(os.path.abspath(spec))
    if not config_file:
        beside = os.path.join(directory, CONFIG_FILE)
        if not os.path.exists(beside):
            raise UsageError("{} is a weight file: pass --config CONFIG.json (a Config "
                             "saved with Config.save) to say how to build the "
                             "model".format(spec))
        config_file = beside
    config = make_config(config_file, overrides)
    model = MaskRCNN(mode, config, model_dir=directory)
    model.load_weights(spec, strict=True)
    names = read_class_names(directory, num_classes=config.NUM_CLASSES) if os.path.exists(
        os.path.join(directory, CLASS_NAMES_FILE)) else None
    return model, names


def load_dataset(fmt, path, images=None, class_names=None, class_attribute=None,
                 ignore_labels=None, crowd_as_instances=False, pngs=None, keypoint_names=None):
    """A prepared Dataset of `fmt` (one of DATASET_FORMATS) from `path`: an
    annotation JSON file (coco, via; `images` is the image folder, default
    the JSON's), a folder of LabelMe JSON files, a folder of instance-label
    PNGs (folder; `images` is required, PATH/classes.json is the optional
    class map) or, for shapes, a number of images ("200" or "200:SEED").

    class_names: the names the dataset must have, by class id with BG first
        (e.g. the training set's or the model's): VIA and LabelMe classes are
        put in that order; for any format a dataset with other classes is
        refused, so validation and evaluation never compare mislabelled ids.
    class_attribute: VIA region attribute holding the class name.
    ignore_labels: LabelMe labels whose shapes are dropped (e.g. "__ignore__").
    crowd_as_instances: coco: load iscrowd annotations as instances (CVAT's
        mask annotations).
    pngs: coco-panoptic: the folder of the panoptic PNGs (default: the
        JSON's path without .json, COCO's layout).
    keypoint_names: labelme: read the point shapes of these labels as
        keypoints (config.KEYPOINT_NAMES; COCO files name their own).
    """
    if pngs and fmt != "coco-panoptic":
        raise UsageError("the panoptic PNG folder (--pngs, --train-pngs, --val-pngs) is for "
                         "--format coco-panoptic (got --format {})".format(fmt))
    if ignore_labels and fmt != "labelme":
        raise UsageError("--ignore-labels is for --format labelme (got --format {})".format(fmt))
    if crowd_as_instances and fmt != "coco":
        raise UsageError("--crowd-as-instances applies to --format coco only (crowd "
                         "regions are a COCO notion)")
    if keypoint_names and fmt != "labelme":
        raise UsageError("keypoint names are read from the files for --format {}; only "
                         "labelme takes them from the config".format(fmt))
    dataset = _load_dataset(fmt, path, images, class_names, class_attribute, ignore_labels,
                            crowd_as_instances, pngs, keypoint_names)
    if class_names is not None and list(dataset.class_names) != list(class_names):
        raise ValueError("{} has the classes {} but {} are expected (the training data's or "
                         "the model's, in class id order)".format(
                             path, list(dataset.class_names), list(class_names)))
    return dataset


def _load_dataset(fmt, path, images, class_names, class_attribute, ignore_labels=None,
                  crowd_as_instances=False, pngs=None, keypoint_names=None):
    names = list(class_names[1:]) if class_names is not None else None
    if fmt not in DATASET_FORMATS:
        raise UsageError("--format {!r}: expected one of {}".format(fmt, ", ".join(
            DATASET_FORMATS)))
    if fmt == "shapes":
        from mrcnn.data.shapes import ShapesDataset
        count, _, seed = str(path).partition(":")
        try:
            count, seed = int(count), int(seed or 0)
        except ValueError:
            raise UsageError("shapes dataset {!r}: expected COUNT or COUNT:SEED".format(
                path)) from None
        dataset = ShapesDataset()
        dataset.load_shapes(count, 128, 128, seed=seed)
        dataset.prepare()
        return dataset
    if not os.path.exists(path):
        raise FileNotFoundError("{} dataset not found: {}".format(fmt, path))
    if fmt == "coco":
        from mrcnn.data.coco import load_coco_json
        return load_coco_json(path, image_dir=images, crowd_as_instances=crowd_as_instances)
    if fmt == "coco-panoptic":
        from mrcnn.data.panoptic import load_coco_panoptic
        return load_coco_panoptic(path, panoptic_png_dir=pngs, image_dir=images)
    if fmt == "via":
        from mrcnn.data.via import load_via_json
        return load_via_json(path, image_dir=images, class_attribute=class_attribute,
                             class_names=names)
    if fmt == "labelme":
        from mrcnn.data.labelme import load_labelme_folder
        return load_labelme_folder(path, class_names=names, ignore_labels=ignore_labels or (),
                                   keypoint_names=list(keypoint_names or ()) or None)
    # folder: PATH holds the instance-label PNGs, --images the images; an
    # optional classes.json beside the masks is the class map.
    from mrcnn.data.folder import load_image_folder
    if not images:
        raise UsageError("--format folder: give the mask folder as the dataset and the "
                         "image folder with --images / --train-images / --val-images")
    class_map = os.path.join(path, "classes.json")
    return load_image_folder(images, path,
                             class_map=class_map if os.path.exists(class_map) else None)


def _labelme_keypoint_names(fmt, config_or_overrides, config_file=None):
    """The KEYPOINT_NAMES a LabelMe dataset reads its point shapes as: those
    of a Config, or of --set (a dict of overrides) else the --config file;
    None for other formats (COCO files name their own keypoints)."""
    if fmt != "labelme":
        return None
    if isinstance(config_or_overrides, dict):
        names = config_or_overrides.get("KEYPOINT_NAMES")
        if names is None and config_file:
            from mrcnn.config import Config
            names = Config.load(config_file).KEYPOINT_NAMES
    else:
        names = config_or_overrides.KEYPOINT_NAMES
    if names and (isinstance(names, str) or not isinstance(names, (list, tuple))):
        raise ValueError("KEYPOINT_NAMES = {!r}: expected a list of names, e.g. --set "
                         "'KEYPOINT_NAMES=[\"head\", \"tail\"]'".format(names))
    return list(names) if names else None
