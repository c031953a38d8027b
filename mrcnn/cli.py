"""The `mrcnn` command line.

    mrcnn demo --output-dir DIR                    train on shapes, evaluate, draw
    mrcnn train --format coco --train ann.json ... train on your data
    mrcnn evaluate --model DIR --format coco --dataset ann.json
    mrcnn evaluate --model DIR --format coco-panoptic --dataset panoptic.json   PQ too
    mrcnn detect --model DIR image.jpg ... [--json out.json] [--save-dir DIR]
    mrcnn export --model DIR --output EXPORT_DIR [--version N]
    mrcnn export --model DIR --format onnx|tflite --output FILE [--quantize ...]
    mrcnn download-weights coco

MODEL is a directory written by `MaskRCNN.save` (config.json + mask_rcnn.h5,
as `mrcnn demo` and `mrcnn train` write), `coco` (matterport's released COCO
model; `mrcnn download-weights coco` fetches it), or an .h5 weight file with
`--config CONFIG.json` (a training checkpoint finds the config.json its run
wrote beside it).

Exit status: 0 success, 1 bad input (the message names the file or field),
2 bad command line.
"""

import argparse
import json
import os
import sys

from mrcnn.demo import DEMO_TASKS
from mrcnn.pretrained import CLASS_SPECIFIC_LAYERS

DATASET_FORMATS = ("coco", "coco-panoptic", "via", "labelme", "folder", "shapes")


class UsageError(ValueError):
    """A bad combination of arguments (exit status 2)."""


############################################################
#  Configs, models and datasets from arguments
############################################################

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


############################################################
#  Subcommands
############################################################

def _demo(args):
    from mrcnn.demo import demo_task
    run_demo, metric = demo_task(args.task)
    # Options left out take the task's own defaults.
    options = {k: getattr(args, k) for k in ("epochs", "steps_per_epoch", "train_images",
                                              "val_images") if getattr(args, k) is not None}
    metrics = run_demo(args.output_dir, seed=args.seed, verbose=0 if args.quiet else 1,
                       **options)
    print("wrote {}/metrics.json, predictions.png and model/ ({} {:.3f})".format(
        args.output_dir, metric, metrics[metric]))
    return 0


def _detect(args):
    import numpy as np

    from mrcnn.data.images import read_image
    from mrcnn.evaluate import encode_mask
    overrides = parse_overrides(args.set)
    if args.min_confidence is not None:
        overrides["DETECTION_MIN_CONFIDENCE"] = args.min_confidence
    from mrcnn.data.images import check_image_file
    for path in args.images:  # before the model loads: a named pipe would block
        if os.path.lexists(path):  # (missing files are reported as before)
            check_image_file(path)
    model, names = load_model(args.model, args.config, overrides)
    if args.panoptic and not model.config.NUM_STUFF_CLASSES:
        raise UsageError("--panoptic needs a panoptic model (config.NUM_STUFF_CLASSES > 0, "
                         "e.g. trained with --format coco-panoptic)")
    channels = int(model.config.IMAGE_CHANNEL_COUNT)
    images = [read_image(path, channels=channels) for path in args.images]
    results = model.detect(images)
    report = []
    for path, image, r in zip(args.images, images, results):
        detections = []
        for i in range(len(r["class_ids"])):
            class_id = int(r["class_ids"][i])
            detections.append({
                "box": [int(v) for v in r["rois"][i]],
                "class_id": class_id,
                "class_name": names[class_id] if names and class_id < len(names) else None,
                "score": round(float(r["scores"][i]), 6),
                "mask": encode_mask(r["masks"][..., i]),
            })
            if "keypoints" in r:  # [K, (x, y, score)], original pixels
                detections[-1]["keypoints"] = np.round(r["keypoints"][i], 3).tolist()
        report.append({"image": path, "height": int(image.shape[0]),
                       "width": int(image.shape[1]), "detections": detections})
        print("{}: {} detections{}".format(path, len(detections), "".join(
            "\n  {} {:.3f} {}".format(d["class_name"] or d["class_id"], d["score"], d["box"])
            for d in detections)))
    if args.json:
        from mrcnn.fileio import write_json_atomic
        write_json_atomic(args.json, report)
        print("wrote {}".format(args.json))
    if args.panoptic:
        from mrcnn.panoptic.writer import write_image_results
        config = model.config
        labels = names or ["class {}".format(i) for i in range(config.NUM_CLASSES)]
        png_dir = write_image_results(args.panoptic, results, args.images, labels,
                                      config.stuff_class_ids())
        print("wrote {} and {} PNG(s) in {}".format(args.panoptic, len(results), png_dir))
    if args.save_dir:
        from mrcnn import visualize
        os.makedirs(args.save_dir, exist_ok=True)
        labels = names or ["class {}".format(i) for i in range(model.config.NUM_CLASSES)]
        stems = [os.path.splitext(os.path.basename(p))[0] for p in args.images]
        if len(set(stems)) < len(stems):  # same file names in several folders
            stems = ["{:03d}_{}".format(i, stem) for i, stem in enumerate(stems)]
        from mrcnn.fileio import atomic_path
        for stem, image, r in zip(stems, images, results):
            out = os.path.join(args.save_dir, stem + ".png")
            shown = image if image.shape[-1] == 3 else np.repeat(image[..., :1], 3, axis=-1)
            # Through a temporary file renamed into place: never a partial PNG.
            # Its name ends in .png: matplotlib picks the format from it.
            with atomic_path(out, suffix=".tmp.png") as tmp:
                if "panoptic" in r:  # a panoptic model: stuff and things
                    visualize.display_panoptic(shown, r["panoptic"], r["segments"], labels,
                                               title=stem, save_path=tmp)
                elif "keypoints" in r:
                    visualize.display_keypoints(
                        shown, r["rois"], r["masks"], r["class_ids"], labels, r["keypoints"],
                        skeleton=model.config.KEYPOINT_SKELETON,
                        keypoint_names=model.config.KEYPOINT_NAMES, scores=r["scores"],
                        title=stem, save_path=tmp)
                else:
                    visualize.display_instances(shown, r["rois"], r["masks"], r["class_ids"],
                                                labels, r["scores"], title=stem, save_path=tmp)
        print("wrote {} overlay(s) to {}".format(len(images), args.save_dir))
    return 0


def _export(args):
    import time
    model, names = load_model(args.model, args.config, parse_overrides(args.set))
    start = time.time()
    if args.format == "saved_model":
        if args.quantize or args.tflite_select_tf_ops or args.opset is not None:
            raise UsageError("--quantize, --tflite-select-tf-ops and --opset apply to "
                             "--format onnx/tflite")
        path = model.export(args.output, version=args.version, full_masks=args.full_masks,
                            force=args.force, class_names=names, verbose=0)
        print("exported {} in {:.0f} s (signatures serving_default: encoded images, "
              "serving_images: uint8 batch)".format(path, time.time() - start))
        return 0
    if args.full_masks:
        raise UsageError("--full-masks applies to --format saved_model")
    if args.format == "onnx" and args.tflite_select_tf_ops:
        raise UsageError("--tflite-select-tf-ops applies to --format tflite")
    if args.format == "tflite" and args.opset is not None:
        raise UsageError("--opset applies to --format onnx")
    if args.format == "onnx" and args.quantize == "float16":
        raise UsageError("--quantize float16 applies to --format tflite (onnx: dynamic-int8)")
    path = model.export(args.output, format=args.format, quantize=args.quantize,
                        opset=17 if args.opset is None else args.opset,
                        select_tf_ops=args.tflite_select_tf_ops, force=args.force,
                        class_names=names)
    print("exported {} ({:.1f} MB, sidecar {}.json) in {:.0f} s: input images uint8 "
          "[{}, H, W, C]".format(path, os.path.getsize(path) / 1e6, path,
                                 time.time() - start, "B" if args.format == "onnx" else 1))
    return 0


def _evaluate(args):
    from mrcnn.evaluate import evaluate_model, format_metrics
    model, names = load_model(args.model, args.config, parse_overrides(args.set))
    dataset = load_dataset(args.format, args.dataset, args.images, class_names=names,
                           pngs=args.pngs, **_dataset_options(args),
                           keypoint_names=_labelme_keypoint_names(args.format, model.config))
    if model.config.NUM_CLASSES != dataset.num_classes:
        raise ValueError("the model has NUM_CLASSES = {} but {} has {} classes (with BG)".format(
            model.config.NUM_CLASSES, args.dataset, dataset.num_classes))
    metrics = evaluate_model(model, dataset, limit=args.limit, results_json=args.results,
                             verbose=0 if args.quiet else 1,
                             panoptic_dir=args.panoptic_output)
    print(format_metrics(metrics))
    if args.metrics:
        from mrcnn.fileio import write_json_atomic
        write_json_atomic(args.metrics, metrics)
        print("wrote {}".format(args.metrics))
    return 0


def _train(args):
    from mrcnn.model import MaskRCNN
    output = args.output
    from mrcnn.modeldir import WEIGHTS_FILE
    if output and os.path.exists(os.path.join(output, WEIGHTS_FILE)) and not args.force:
        raise FileExistsError("{} already holds a model; pick another --output or pass "
                              "--force".format(output))
    from mrcnn.data.pipeline import check_trainable
    overrides = parse_overrides(args.set)
    keypoint_names = _labelme_keypoint_names(args.format, overrides, args.config)
    if keypoint_names:
        print("reading the LabelMe point shapes of {} as keypoints".format(
            ", ".join(keypoint_names)))
    train = load_dataset(args.format, args.train, args.train_images, pngs=args.train_pngs,
                         keypoint_names=keypoint_names, **_dataset_options(args))
    val = load_dataset(args.format, args.val, args.val_images, class_names=train.class_names,
                       pngs=args.val_pngs, keypoint_names=keypoint_names,
                       **_dataset_options(args)) if args.val else None
    # Before building the model: with nothing to train on, training would
    # wait forever for a first batch.
    for flag, path, dataset in (("--train", args.train, train), ("--val", args.val, val)):
        if dataset is not None:
            try:
                check_trainable(dataset)
            except ValueError as e:
                raise ValueError("{} {}: {}".format(flag, path, e)) from None
    # NUM_CLASSES follows the data unless --set says otherwise (a config file
    # from another dataset keeps everything else).
    overrides.setdefault("NUM_CLASSES", train.num_classes)
    if args.format == "coco-panoptic":
        # The semantic branch follows the data's stuff categories.
        stuff = [int(i) for i in train.stuff_class_ids]
        overrides.setdefault("NUM_STUFF_CLASSES", len(stuff))
        if stuff != list(range(train.num_classes - len(stuff), train.num_classes)):
            overrides.setdefault("STUFF_CLASS_IDS", stuff)
    config = make_config(args.config, overrides, {"NAME": args.name})
    from mrcnn.data.keypoints import keypoint_attributes
    if (not config.KEYPOINT_NAMES and "KEYPOINT_NAMES" not in overrides
            and keypoint_attributes(train)):
        # A keypoints dataset (COCO's "keypoints"/"skeleton"): the head trains.
        overrides = dict(keypoint_attributes(train), **overrides)
        config = make_config(args.config, overrides, {"NAME": args.name})
        print("training the keypoint head: {}".format(", ".join(config.KEYPOINT_NAMES)))
    if args.format == "coco-panoptic" and config.stuff_class_ids() != stuff:
        raise ValueError("the semantic branch's stuff classes {} are not the training data's "
                         "stuff categories {} (internal class ids)".format(
                             config.stuff_class_ids(), stuff))
    if config.NUM_CLASSES != train.num_classes:
        raise ValueError("NUM_CLASSES = {} but the training data has {} classes (with BG): "
                         "{}".format(config.NUM_CLASSES, train.num_classes,
                                     ", ".join(train.class_names)))
    model = MaskRCNN("training", config, model_dir=args.logs)
    # Weight files must fill every layer but the excluded heads (strict);
    # ImageNet weights are a backbone only.
    if args.resume:
        last = model.find_last()
        print("resuming from {}".format(last))
        model.load_weights(last, strict=True)
    elif args.weights == "coco":
        from mrcnn.pretrained import coco_weights_path
        exclude = CLASS_SPECIFIC_LAYERS if config.NUM_CLASSES != 81 else None
        model.load_weights(coco_weights_path(), strict=True, exclude=exclude)
    elif args.weights == "imagenet":
        model.load_weights(model.get_imagenet_weights(), by_name=True)
    elif args.weights not in (None, "none"):
        model.load_weights(args.weights, strict=True,
                           exclude=CLASS_SPECIFIC_LAYERS if args.exclude_heads else None)
    augmentation = None
    if args.flip:
        import albumentations as A
        augmentation = A.HorizontalFlip(p=0.5)
    model.train(train, val, learning_rate=args.learning_rate or config.LEARNING_RATE,
                epochs=args.epochs, layers=args.layers, augmentation=augmentation,
                verbose=0 if args.quiet else 1)
    output = output or os.path.join(model.log_dir, "model")
    model.save(output, class_names=train.class_names)
    print("wrote the trained model to {} (use it with mrcnn detect/evaluate/export "
          "--model {})".format(output, output))
    return 0


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


def _download_weights(args):
    from mrcnn.pretrained import (COCO_MODEL_URL, COCO_WEIGHTS_FILE, COCO_WEIGHTS_SHA256,
                                  cache_dir, check_coco_weights, download_trained_weights)
    target = args.output or os.path.join(cache_dir(), COCO_WEIGHTS_FILE)
    if os.path.isdir(target) or target.endswith(os.sep):
        target = os.path.join(target, COCO_WEIGHTS_FILE)
    if os.path.exists(target) and not args.force:
        try:
            check_coco_weights(target)
        except ValueError as e:
            raise ValueError("{} exists but is not usable ({}); pass --force to download it "
                             "again".format(target, e)) from None
        print("{} already exists (--force downloads it again)".format(target))
        return 0
    download_trained_weights(target, verbose=0 if args.quiet else 1,
                             url=args.url or COCO_MODEL_URL,
                             sha256=args.sha256 or COCO_WEIGHTS_SHA256,
                             validate=check_coco_weights)
    print(target)
    return 0


############################################################
#  Parser
############################################################

def _label_list(text):
    labels = [label.strip() for label in text.split(",") if label.strip()]
    if not labels:
        raise argparse.ArgumentTypeError("expected LABEL[,LABEL...], e.g. __ignore__")
    return labels


def _dataset_arguments(parser):
    """The options that say how to read a dataset (train and evaluate);
    `_dataset_options` gives them to load_dataset."""
    parser.add_argument("--format", required=True, choices=DATASET_FORMATS,
                        help="annotation format")
    parser.add_argument("--class-attribute",
                        help="via: the region attribute that holds the class name (default: "
                             "one class, 'object')")
    parser.add_argument("--ignore-labels", type=_label_list, metavar="LABEL[,LABEL...]",
                        help="labelme: drop the shapes of these labels (comma-separated, "
                             "e.g. __ignore__,_background_)")
    parser.add_argument("--crowd-as-instances", action="store_true",
                        help="coco: read iscrowd annotations as ordinary instances (CVAT "
                             "exports mask annotations as crowd RLE)")


def _dataset_options(args):
    """load_dataset's keyword arguments from the options of _dataset_arguments."""
    return {"class_attribute": args.class_attribute, "ignore_labels": args.ignore_labels,
            "crowd_as_instances": args.crowd_as_instances}


def _subcommand(sub, name, func, help, description):
    """A subcommand's parser; running it calls func(args)."""
    parser = sub.add_parser(name, help=help, description=description)
    parser.set_defaults(func=func)
    return parser


def _model_arguments(parser):
    parser.add_argument("--model", required=True,
                        help="model directory (from mrcnn train/demo or MaskRCNN.save), "
                             "'coco', or an .h5 weight file with --config")
    parser.add_argument("--config", help="Config JSON (Config.save) to build the model with")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config attribute (repeatable), e.g. --set "
                             "DETECTION_MIN_CONFIDENCE=0.5")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mrcnn", description="Mask R-CNN for TensorFlow 2 / Keras 3",
        epilog="Run `mrcnn COMMAND --help` for a command's options.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = _subcommand(
        sub, "demo", _demo, help="train on synthetic shapes, evaluate, draw the masks",
        description="Train a small Mask R-CNN on synthetic shapes from scratch (CPU, no "
                    "download), evaluate it on a separate seeded set and write metrics.json, "
                    "predictions.png and model/ to the output directory.")
    demo.add_argument("--output-dir", required=True, help="where to write the results")
    demo.add_argument("--task", default="instances", choices=sorted(DEMO_TASKS),
                      help="instances (shapes: masks, mAP), keypoints (shapes with named "
                           "keypoints: OKS AP) or panoptic (shapes on stuff regions: PQ); "
                           "default instances")
    demo.add_argument("--epochs", type=int, default=None,
                      help="training epochs, the last at a tenth of the learning rate "
                           "(default: the task's; 7 for instances)")
    demo.add_argument("--steps-per-epoch", type=int, default=None,
                      help="training steps per epoch (default: the demo config's)")
    demo.add_argument("--train-images", type=int, default=None,
                      help="synthetic training images (default: the task's; 1000 for instances)")
    demo.add_argument("--val-images", type=int, default=None,
                      help="synthetic validation images, another seed (default: the task's; "
                           "50 for instances)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the training")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")

    train = _subcommand(
        sub, "train", _train,
        help="train on a dataset (COCO JSON, VIA, LabelMe, mask folder, shapes)",
        description="Train Mask R-CNN. The config comes from --config (a Config JSON) or "
                    "the defaults, with NUM_CLASSES taken from the data; --set overrides "
                    "single attributes. Checkpoints go to LOGS/<name><date>/ each epoch; "
                    "the final model directory is written to --output.")
    _dataset_arguments(train)
    train.add_argument("--train", required=True,
                       help="training annotations: a JSON file (coco, via), a folder "
                            "(labelme, folder) or COUNT[:SEED] for shapes")
    train.add_argument("--train-images", help="image folder (default: beside the annotations)")
    train.add_argument("--val", help="validation annotations, like --train (same classes)")
    train.add_argument("--val-images", help="validation image folder")
    train.add_argument("--train-pngs", help="coco-panoptic: the training panoptic PNG folder "
                                            "(default: the JSON's path without .json)")
    train.add_argument("--val-pngs", help="coco-panoptic: the validation panoptic PNG folder")
    train.add_argument("--config", help="Config JSON (Config.save) to start from; "
                                        "NUM_CLASSES follows the data unless --set")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a config attribute (repeatable)")
    train.add_argument("--name", default="mrcnn", help="config NAME when no --config (default "
                                                       "mrcnn): names the log directory")
    train.add_argument("--weights", default="none",
                       help="initial weights: coco, imagenet, none (default) or an .h5 path")
    train.add_argument("--exclude-heads", action="store_true",
                       help="with an .h5 --weights: skip the class-specific head layers")
    train.add_argument("--resume", action="store_true",
                       help="continue the last run of this config in --logs")
    train.add_argument("--layers", default="heads",
                       help="heads, 3+, 4+, 5+, all or a regex (default heads)")
    train.add_argument("--epochs", type=int, required=True,
                       help="train up to this epoch number (counting a resumed run's)")
    train.add_argument("--learning-rate", type=float, help="default: config LEARNING_RATE")
    train.add_argument("--flip", action="store_true", help="random horizontal flips")
    train.add_argument("--logs", default="logs", help="log and checkpoint root (default logs)")
    train.add_argument("--output", help="model directory to write at the end "
                                        "(default: LOGS/<run>/model)")
    train.add_argument("--force", action="store_true", help="overwrite an existing --output")
    train.add_argument("--quiet", action="store_true", help="no progress bars")

    evaluate = _subcommand(
        sub, "evaluate", _evaluate, help="COCO AP and mAP50 of a model on a dataset",
        description="Detect on every image of a dataset and report pycocotools' segm/bbox "
                    "AP, AP50, AP75, APs/m/l, per-class AP and matterport's mAP50; with "
                    "--format coco-panoptic and a panoptic model also PQ, SQ and RQ (all, "
                    "things, stuff).")
    _model_arguments(evaluate)
    _dataset_arguments(evaluate)
    evaluate.add_argument("--dataset", required=True,
                          help="annotations: JSON file, folder, or COUNT[:SEED] for shapes")
    evaluate.add_argument("--images", help="image folder (default: beside the annotations)")
    evaluate.add_argument("--pngs", help="coco-panoptic: the panoptic PNG folder (default: "
                                         "the JSON's path without .json)")
    evaluate.add_argument("--panoptic-output",
                          help="coco-panoptic with a panoptic model: keep the ground truth and "
                               "predicted COCO panoptic files PQ is computed on in this folder "
                               "(default: a temporary one)")
    evaluate.add_argument("--limit", type=int, help="evaluate only the first N images")
    evaluate.add_argument("--results", help="write the detections as COCO results JSON")
    evaluate.add_argument("--metrics", help="write the metrics as JSON")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")

    detect = _subcommand(
        sub, "detect", _detect, help="detect instances in image files",
        description="Detect instances and print them; --json writes boxes, class ids and "
                    "names, scores and COCO RLE masks; --save-dir writes overlay PNGs.")
    _model_arguments(detect)
    detect.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    detect.add_argument("--json", help="write the detections to this JSON file")
    detect.add_argument("--save-dir", help="write an overlay PNG per image here")
    detect.add_argument("--panoptic", metavar="PATH.json",
                        help="a panoptic model: write the panoptic segmentation in the COCO "
                             "panoptic format, PATH.json and one PNG per image in PATH/")
    detect.add_argument("--min-confidence", type=float,
                        help="DETECTION_MIN_CONFIDENCE (default: the model's config)")

    export = _subcommand(
        sub, "export", _export, help="write a SavedModel, ONNX or TFLite file",
        description="Export the model with its pre- and post-processing. saved_model "
                    "(default): OUTPUT/VERSION/ with the signatures serving_default (encoded "
                    "images, tf.string [B]) and serving_images (uint8 [B, H, W, C]). onnx / "
                    "tflite: one file OUTPUT (input images uint8 [B, H, W, C], B = 1 for "
                    "tflite) and OUTPUT.json (class names, config); docs/deployment.md.")
    _model_arguments(export)
    export.add_argument("--output", required=True,
                        help="export base directory (saved_model) or file (onnx, tflite)")
    export.add_argument("--format", choices=["saved_model", "onnx", "tflite"],
                        default="saved_model", help="default saved_model")
    export.add_argument("--version", type=int, default=1,
                        help="saved_model version number (default 1)")
    export.add_argument("--force", action="store_true",
                        help="replace an existing version or file")
    export.add_argument("--full-masks", action="store_true",
                        help="saved_model: full-size masks [B, N, H, W] instead of 28x28 ones")
    export.add_argument("--quantize", choices=["float16", "dynamic-int8"],
                        help="tflite: float16 or dynamic-range int8 weights; onnx: "
                             "dynamic-int8 (onnxruntime.quantization)")
    export.add_argument("--tflite-select-tf-ops", action="store_true",
                        help="tflite: allow TensorFlow (Flex) ops; the runtime then needs the "
                             "Flex delegate (not needed for this package's models)")
    export.add_argument("--opset", type=int, help="onnx opset (default 17, at least 17)")

    download = _subcommand(
        sub, "download-weights", _download_weights, help="download pretrained weights",
        description="Download matterport's COCO weights (mask_rcnn_coco.h5) to $MRCNN_HOME "
                    "(default ~/.cache/mrcnn) or --output.")
    download.add_argument("name", choices=["coco"], help="which weights")
    download.add_argument("--output", help="file or directory to write to")
    download.add_argument("--url", help="download from this URL instead (a mirror)")
    download.add_argument("--sha256", help="expected SHA-256 of the file")
    download.add_argument("--force", action="store_true", help="download even if present")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv=None):
    # TensorFlow's C++ info/warning logs drown the progress bars; errors still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except UsageError as e:
        print("mrcnn {}: error: {}".format(args.command, e), file=sys.stderr)
        return 2
    except (ValueError, OSError, NotImplementedError) as e:
        print("mrcnn {}: error: {}".format(args.command, e), file=sys.stderr)
        return 1
    except Exception as e:
        # A full disk reported as another error type (TensorFlow's
        # ResourceExhaustedError from TensorBoard's writer or an export,
        # h5py's RuntimeError on close): a message, not a traceback.
        from mrcnn.fileio import is_disk_full
        if not is_disk_full(e):
            raise
        print("mrcnn {}: error: no space left on the device: {}".format(args.command, e),
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
