"""Mask R-CNN on MS COCO (matterport's sample, on this package).

The dataset directory has matterport's layout::

    DIR/annotations/instances_train2014.json, instances_minival2014.json, ...
    DIR/train2014/*.jpg, DIR/val2014/*.jpg, ...

("minival" and "valminusminival" are two parts of val2014; their images live
in val2014/.) ``--download=true`` fetches what is missing from
cocodataset.org first.

Command line, from this folder::

    # Train a new model starting from COCO / ImageNet weights, or resume
    python coco.py train --dataset=/path/to/coco/ --model=coco
    python coco.py train --dataset=/path/to/coco/ --model=imagenet
    python coco.py train --dataset=/path/to/coco/ --model=last
    # COCO box (or mask, --eval-type=segm) AP of a model on 500 images
    python coco.py evaluate --dataset=/path/to/coco/ --model=last --limit=500

From a notebook (with samples/coco on sys.path)::

    import coco
    dataset = coco.CocoDataset()
    cocoapi = dataset.load_coco("/path/to/coco", "minival", return_coco=True)
    dataset.prepare()

The generic loader of any COCO-format file is `mrcnn.data.coco`; this module
adds COCO's directory layout, download and training schedule.
"""

import argparse
import os
import sys
import zipfile

import numpy as np

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow C++ logs

ROOT_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if ROOT_DIR not in sys.path:
    sys.path.append(ROOT_DIR)  # to find this checkout's mrcnn when it is not installed

from mrcnn import utils  # noqa: E402
from mrcnn.pretrained import load_weights_for  # noqa: E402
from mrcnn.config import Config  # noqa: E402
from mrcnn.data.coco import (CocoFormatDataset, ann_to_mask, ann_to_rle,  # noqa: E402,F401
                             build_coco_results, evaluate_coco)

# COCO-trained weights (downloaded on first use).
COCO_MODEL_PATH = os.path.join(ROOT_DIR, "mask_rcnn_coco.h5")
# Checkpoints and TensorBoard logs unless --logs says otherwise.
DEFAULT_LOGS_DIR = os.path.join(ROOT_DIR, "logs")
DEFAULT_DATASET_YEAR = "2014"

# Where auto_download fetches from (module attributes so a mirror can be set).
# COCO publishes no checksums of its zips: a download is checked against
# the server's Content-Length and every member's CRC-32 (`check_zip`).
COCO_IMAGES_URL = "https://images.cocodataset.org/zips/"
COCO_ANNOTATIONS_URL = "https://images.cocodataset.org/annotations/"
# The 2014 minival split (5k val images) and the rest of val2014, as matterport published them.
SPLIT_ANNOTATION_URLS = {
    "minival": "https://dl.dropboxusercontent.com/s/o43o90bna78omob/"
               "instances_minival2014.json.zip?dl=0",
    "valminusminival": "https://dl.dropboxusercontent.com/s/s3tw5zcg7395368/"
                       "instances_valminusminival2014.json.zip?dl=0",
}


############################################################
#  Configurations
############################################################

class CocoConfig(Config):
    """Training on MS COCO: 80 classes, two images per GPU."""
    NAME = "coco"
    IMAGES_PER_GPU = 2  # a 12 GB GPU holds two 1024x1024 images
    NUM_CLASSES = 1 + 80  # background + 80 COCO classes


class CocoInferenceConfig(CocoConfig):
    """Evaluation: one image at a time, all detections kept."""
    GPU_COUNT = 1
    IMAGES_PER_GPU = 1
    DETECTION_MIN_CONFIDENCE = 0


############################################################
#  Dataset
############################################################

def image_folder(subset):
    """The image folder prefix of a subset: minival and valminusminival are
    parts of val."""
    return "val" if subset in ("minival", "valminusminival") else subset


def check_zip(path, name=None):
    """Raise ValueError unless `path` is a complete zip archive whose
    members all match their CRC-32 (zipfile.testzip reads them all)."""
    name = name or path
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError("{} is not a readable zip archive ({}); it was not "
                         "unpacked".format(name, e)) from None
    if bad is not None:
        raise ValueError("{} is corrupt: member {} does not match its CRC-32; it was not "
                         "unpacked".format(name, bad))


def _download_and_unzip(url, zip_path, target_dir):
    """Download a zip, check it (size against Content-Length, every
    member's CRC: `check_zip`) and unpack it into target_dir. Unpacking
    goes to a temporary folder first and its entries are renamed into
    place, so an interrupted run never leaves a half-filled image folder
    that the next run would take as complete."""
    import shutil
    import uuid
    print("Downloading " + url)
    utils.download_file(url, zip_path, verbose=0,
                        validate=lambda tmp: check_zip(tmp, name="{} (from {})".format(
                            os.path.basename(zip_path), url)))
    print("Unzipping " + zip_path)
    tmp = os.path.join(target_dir, ".unzip-{}".format(uuid.uuid4().hex[:8]))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(tmp)  # zipfile drops absolute and ".." path parts
        for name in os.listdir(tmp):
            dest = os.path.join(target_dir, name)
            if os.path.isdir(dest) and os.path.isdir(os.path.join(tmp, name)):
                # e.g. annotations/ already there: move the new files into it
                for inner in os.listdir(os.path.join(tmp, name)):
                    os.replace(os.path.join(tmp, name, inner), os.path.join(dest, inner))
            else:
                if os.path.isdir(dest):
                    shutil.rmtree(dest)  # an empty or partial folder of an earlier run
                os.replace(os.path.join(tmp, name), dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    os.remove(zip_path)


def auto_download(data_dir, subset, year):
    """Download and unpack the images and annotations of `subset` `year`
    into `data_dir` unless they are there (matterport's layout). Returns
    (image folder, annotation file)."""
    folder = image_folder(subset)
    image_dir = os.path.join(data_dir, "{}{}".format(folder, year))
    if not os.path.isdir(image_dir) or not os.listdir(image_dir):
        os.makedirs(data_dir, exist_ok=True)
        name = "{}{}.zip".format(folder, year)
        _download_and_unzip(COCO_IMAGES_URL + name, os.path.join(data_dir, name), data_dir)
    annotation_dir = os.path.join(data_dir, "annotations")
    annotation_file = os.path.join(annotation_dir, "instances_{}{}.json".format(subset, year))
    if not os.path.exists(annotation_file):
        os.makedirs(annotation_dir, exist_ok=True)
        if subset in SPLIT_ANNOTATION_URLS:
            if str(year) != "2014":
                raise ValueError("{} exists for 2014 only, not {}".format(subset, year))
            # These archives hold the JSON file alone.
            _download_and_unzip(SPLIT_ANNOTATION_URLS[subset],
                                annotation_file + ".zip", annotation_dir)
        else:
            # annotations_trainval<year>.zip holds annotations/instances_*.json
            name = "annotations_trainval{}.zip".format(year)
            _download_and_unzip(COCO_ANNOTATIONS_URL + name, os.path.join(data_dir, name),
                                data_dir)
        if not os.path.exists(annotation_file):
            raise FileNotFoundError("the download did not contain {}".format(annotation_file))
    return image_dir, annotation_file


class CocoDataset(CocoFormatDataset):
    """MS COCO in matterport's directory layout (source "coco")."""

    def load_coco(self, dataset_dir, subset, year=DEFAULT_DATASET_YEAR, class_ids=None,
                  class_map=None, return_coco=False, auto_download=False):
        """Add a subset of COCO.

        dataset_dir: the COCO directory (see the module docstring).
        subset: "train", "val", "minival", "valminusminival" (2014), "test"...
        year: "2014" or "2017" (as a string or int).
        class_ids: COCO category ids to load (default: all 80).
        class_map: unused, kept for matterport's signature.
        return_coco: return the pycocotools COCO object (for evaluate_coco).
        auto_download: fetch missing images and annotations first.
        As in matterport, only images with annotations of the selected
        classes are added.
        """
        if auto_download:
            self.auto_download(dataset_dir, subset, year)
        annotation_file = os.path.join(dataset_dir, "annotations",
                                       "instances_{}{}.json".format(subset, year))
        image_dir = os.path.join(dataset_dir, "{}{}".format(image_folder(subset), year))
        coco = self.load_coco_json(annotation_file, image_dir, class_ids=class_ids,
                                   skip_empty=True, source="coco")
        if return_coco:
            return coco

    def auto_download(self, dataDir, dataType, dataYear):
        """matterport's name for `auto_download` (module function)."""
        return auto_download(dataDir, dataType, dataYear)

    def image_reference(self, image_id):
        """A link to the image on the COCO website."""
        info = self._info(image_id)
        if info["source"] == "coco":
            return "http://cocodataset.org/#explore?id={}".format(info["id"])
        return super().image_reference(image_id)


# matterport's function names (the methods annToRLE/annToMask are inherited).
annToRLE = ann_to_rle
annToMask = ann_to_mask


############################################################
#  Training schedule and command line
############################################################

def fliplr(image, masks):
    """Horizontal flip with probability 0.5 (an `augmentation` callable)."""
    if np.random.rand() < 0.5:
        return dict(image=np.ascontiguousarray(image[:, ::-1]),
                    masks=[np.ascontiguousarray(m[:, ::-1]) for m in masks])
    return dict(image=image, masks=masks)


def train_schedule(model, dataset_train, dataset_val, config, augmentation=fliplr,
                   epochs=(40, 120, 160)):
    """matterport's COCO schedule: heads until epoch 40, ResNet stage 4 and
    up until 120, everything at a tenth of the learning rate until 160."""
    print("Training network heads")
    model.train(dataset_train, dataset_val, learning_rate=config.LEARNING_RATE,
                epochs=epochs[0], layers="heads", augmentation=augmentation)
    print("Fine tune Resnet stage 4 and up")
    model.train(dataset_train, dataset_val, learning_rate=config.LEARNING_RATE,
                epochs=epochs[1], layers="4+", augmentation=augmentation)
    print("Fine tune all layers")
    model.train(dataset_train, dataset_val, learning_rate=config.LEARNING_RATE / 10,
                epochs=epochs[2], layers="all", augmentation=augmentation)


def _bool(text):
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "y", "on"):
        return True
    if value in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError("expected true or false, got {!r}".format(text))


def build_parser():
    parser = argparse.ArgumentParser(description="Train Mask R-CNN on MS COCO.")
    parser.add_argument("command", metavar="<command>", choices=["train", "evaluate"],
                        help="'train' or 'evaluate' on MS COCO")
    parser.add_argument("--dataset", required=True, metavar="/path/to/coco/",
                        help="directory of the MS-COCO dataset")
    parser.add_argument("--year", default=DEFAULT_DATASET_YEAR, metavar="<year>",
                        help="year of the dataset, 2014 or 2017 (default 2014)")
    parser.add_argument("--model", required=True, metavar="/path/to/weights.h5",
                        help="weights .h5 file, or 'coco', 'last' or 'imagenet'")
    parser.add_argument("--logs", default=DEFAULT_LOGS_DIR, metavar="/path/to/logs/",
                        help="logs and checkpoints directory (default: logs/)")
    parser.add_argument("--limit", type=int, default=500, metavar="<image count>",
                        help="images to evaluate (default 500, 0 for all)")
    parser.add_argument("--download", type=_bool, default=False, metavar="<true|false>",
                        help="download and unzip the MS-COCO files (default false)")
    parser.add_argument("--eval-type", choices=["bbox", "segm"], default="bbox",
                        help="COCO metric of evaluate: boxes (default) or masks")
    return parser


def main(argv=None):
    """Run the command line; returns the evaluation stats for `evaluate`."""
    import mrcnn.model as modellib

    args = build_parser().parse_args(argv)
    print("Command: ", args.command)
    print("Model: ", args.model)
    print("Dataset: ", args.dataset)
    print("Year: ", args.year)
    print("Logs: ", args.logs)
    print("Auto Download: ", args.download)

    config = CocoConfig() if args.command == "train" else CocoInferenceConfig()
    config.display()
    mode = "training" if args.command == "train" else "inference"
    model = modellib.MaskRCNN(mode=mode, config=config, model_dir=args.logs)
    load_weights_for(model, args.model, coco_path=COCO_MODEL_PATH)

    year = str(args.year)
    val_type = "val" if year == "2017" else "minival"
    if args.command == "train":
        dataset_train = CocoDataset()
        dataset_train.load_coco(args.dataset, "train", year=year, auto_download=args.download)
        if year == "2014":
            dataset_train.load_coco(args.dataset, "valminusminival", year=year,
                                    auto_download=args.download)
        dataset_train.prepare()
        dataset_val = CocoDataset()
        dataset_val.load_coco(args.dataset, val_type, year=year, auto_download=args.download)
        dataset_val.prepare()
        train_schedule(model, dataset_train, dataset_val, config)
        return None
    dataset_val = CocoDataset()
    coco = dataset_val.load_coco(args.dataset, val_type, year=year, return_coco=True,
                                 auto_download=args.download)
    dataset_val.prepare()
    count = min(args.limit, dataset_val.num_images) if args.limit else dataset_val.num_images
    print("Running COCO evaluation on {} images.".format(count))
    return evaluate_coco(model, dataset_val, coco, args.eval_type, limit=args.limit)


if __name__ == "__main__":
    main()
