"""Mask R-CNN on the nuclei of the 2018 Data Science Bowl (matterport's
nucleus sample, on this package).

The dataset is Kaggle's layout: ``stage1_train/<image_id>/images/<image_id>.png``
with one PNG per nucleus in ``stage1_train/<image_id>/masks/`` (white on black),
and ``stage1_test/<image_id>/images/<image_id>.png`` without masks.
Kaggle's files have no validation split; like matterport, `VAL_IMAGE_IDS`
names 25 training images that form "val", and "train" is the rest.

Command line, from this folder::

    # Train from ImageNet weights, from a weights file, or resume the last run
    python nucleus.py train --dataset=/path/to/dataset --subset=train --weights=imagenet
    python nucleus.py train --dataset=/path/to/dataset --subset=train --weights=/path/to/weights.h5
    python nucleus.py train --dataset=/path/to/dataset --subset=train --weights=last
    # Kaggle submission (submit.csv, run-length encoded) and a picture per image
    python nucleus.py detect --dataset=/path/to/dataset --subset=stage1_test --weights=last

From a notebook (with samples/nucleus on sys.path)::

    import nucleus
    dataset = nucleus.NucleusDataset()
    dataset.load_nucleus("/path/to/dataset", "val")
    dataset.prepare()

What changed from matterport's script: imgaug's augmentation is the
albumentations pipeline of `augmentation()`; `train` reads the learning rate
from the model's config instead of a global; a subset whose folders hold no
images, or a "val" with none of `VAL_IMAGE_IDS` present, is an error naming the
folder; images without masks (the test stages) load with zero instances.
"""

import argparse
import datetime
import os
import sys
import warnings

import numpy as np

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow C++ logs
    import matplotlib
    matplotlib.use("Agg")  # no display needed

ROOT_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if ROOT_DIR not in sys.path:
    sys.path.append(ROOT_DIR)  # to find this checkout's mrcnn when it is not installed

from mrcnn import utils  # noqa: E402
from mrcnn.pretrained import CLASS_SPECIFIC_LAYERS, load_weights_for  # noqa: E402,F401
from mrcnn.config import Config  # noqa: E402
from mrcnn.data.folder import read_label_png  # noqa: E402

# COCO-trained weights (downloaded on first use).
COCO_WEIGHTS_PATH = os.path.join(ROOT_DIR, "mask_rcnn_coco.h5")
# Checkpoints and TensorBoard logs unless --logs says otherwise.
DEFAULT_LOGS_DIR = os.path.join(ROOT_DIR, "logs")
# Submissions (submit_<time>/submit.csv and pictures) go here.
RESULTS_DIR = os.path.join(ROOT_DIR, "results", "nucleus")

# Layers whose shapes depend on the number of classes: not loaded from COCO weights.

# The training images held out as the validation set (matterport's choice, so
# that results compare with its sample's).
VAL_IMAGE_IDS = [
    "0c2550a23b8a0f29a7575de8c61690d3c31bc897dd5ba66caec201d201a278c2",
    "92f31f591929a30e4309ab75185c96ff4314ce0a7ead2ed2c2171897ad1da0c7",
    "1e488c42eb1a54a3e8412b1f12cde530f950f238d71078f2ede6a85a02168e1f",
    "c901794d1a421d52e5734500c0a2a8ca84651fb93b19cec2f411855e70cae339",
    "8e507d58f4c27cd2a82bee79fe27b069befd62a46fdaed20970a95a2ba819c7b",
    "60cb718759bff13f81c4055a7679e81326f78b6a193a2d856546097c949b20ff",
    "da5f98f2b8a64eee735a398de48ed42cd31bf17a6063db46a9e0783ac13cd844",
    "9ebcfaf2322932d464f15b5662cae4d669b2d785b8299556d73fffcae8365d32",
    "1b44d22643830cd4f23c9deadb0bd499fb392fb2cd9526d81547d93077d983df",
    "97126a9791f0c1176e4563ad679a301dac27c59011f579e808bbd6e9f4cd1034",
    "e81c758e1ca177b0942ecad62cf8d321ffc315376135bcbed3df932a6e5b40c0",
    "f29fd9c52e04403cd2c7d43b6fe2479292e53b2f61969d25256d2d2aca7c6a81",
    "0ea221716cf13710214dcd331a61cea48308c3940df1d28cfc7fd817c83714e1",
    "3ab9cab6212fabd723a2c5a1949c2ded19980398b56e6080978e796f45cbbc90",
    "ebc18868864ad075548cc1784f4f9a237bb98335f9645ee727dac8332a3e3716",
    "bb61fc17daf8bdd4e16fdcf50137a8d7762bec486ede9249d92e511fcb693676",
    "e1bcb583985325d0ef5f3ef52957d0371c96d4af767b13e48102bca9d5351a9b",
    "947c0d94c8213ac7aaa41c4efc95d854246550298259cf1bb489654d0e969050",
    "cbca32daaae36a872a11da4eaff65d1068ff3f154eedc9d3fc0c214a4e5d32bd",
    "f4c4db3df4ff0de90f44b027fc2e28c16bf7e5c75ea75b0a9762bbb7ac86e7a3",
    "4193474b2f1c72f735b13633b219d9cabdd43c21d9c2bb4dfc4809f104ba4c06",
    "f73e37957c74f554be132986f38b6f1d75339f636dfe2b681a0cf3f88d2733af",
    "a4c44fc5f5bf213e2be6091ccaed49d8bf039d78f6fbd9c4d7b7428cfcb2eda4",
    "cab4875269f44a701c5e58190a1d2f6fcb577ea79d842522dcab20ccb39b7ad2",
    "8ecdb93582b2d5270457b36651b62776256ade3aaa2d7432ae65c14f07432d49",
]

SUBSETS = ("train", "val", "stage1_train", "stage1_test", "stage2_test")


############################################################
#  Configurations
############################################################

class NucleusConfig(Config):
    """Training on nuclei: one class, random 512x512 crops of images scaled
    up at least 2x, small anchors, many instances per image."""
    NAME = "nucleus"
    IMAGES_PER_GPU = 6  # fits a 12 GB GPU at 512x512
    NUM_CLASSES = 1 + 1  # background + nucleus
    # 657 stage-1 training images, less the validation ones
    STEPS_PER_EPOCH = (657 - len(VAL_IMAGE_IDS)) // IMAGES_PER_GPU
    VALIDATION_STEPS = max(1, len(VAL_IMAGE_IDS) // IMAGES_PER_GPU)
    # With one class every detection already beats background (score >= 0.5).
    DETECTION_MIN_CONFIDENCE = 0
    BACKBONE = "resnet50"
    IMAGE_RESIZE_MODE = "crop"
    IMAGE_MIN_DIM = 512
    IMAGE_MAX_DIM = 512
    IMAGE_MIN_SCALE = 2.0
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)  # nuclei are small
    POST_NMS_ROIS_TRAINING = 1000
    POST_NMS_ROIS_INFERENCE = 2000
    RPN_NMS_THRESHOLD = 0.9  # more proposals while training
    RPN_TRAIN_ANCHORS_PER_IMAGE = 64
    MEAN_PIXEL = np.array([43.53, 39.56, 48.22])  # the stage-1 images are dark
    USE_MINI_MASK = True
    MINI_MASK_SHAPE = (56, 56)
    TRAIN_ROIS_PER_IMAGE = 128
    MAX_GT_INSTANCES = 200
    DETECTION_MAX_INSTANCES = 400


class NucleusInferenceConfig(NucleusConfig):
    """One image at a time, at its own size (padded to a multiple of 64)."""
    GPU_COUNT = 1
    IMAGES_PER_GPU = 1
    IMAGE_RESIZE_MODE = "pad64"
    RPN_NMS_THRESHOLD = 0.7


############################################################
#  Dataset
############################################################

class NucleusDataset(utils.Dataset):
    """Kaggle's nucleus folders: an image and a masks/ folder per image id."""

    def load_nucleus(self, dataset_dir, subset, val_image_ids=None):
        """Add the images of `subset` of the dataset in `dataset_dir`.

        subset: a folder of the dataset ("stage1_train", "stage1_test",
            "stage2_test"), or "train" (stage1_train less the validation
            images) or "val" (the validation images of stage1_train).
        val_image_ids: the validation ids (default `VAL_IMAGE_IDS`).
        """
        if subset not in SUBSETS:
            raise ValueError("load_nucleus: subset must be one of {}, got {!r}".format(
                ", ".join(SUBSETS), subset))
        val_ids = list(VAL_IMAGE_IDS if val_image_ids is None else val_image_ids)
        self.add_class("nucleus", 1, "nucleus")
        subset_dir = os.path.join(dataset_dir,
                                  "stage1_train" if subset in ("train", "val") else subset)
        if not os.path.isdir(subset_dir):
            raise FileNotFoundError("load_nucleus: no folder {}".format(subset_dir))
        # One folder per image, named by its id; sorted so that runs agree.
        found = sorted(name for name in os.listdir(subset_dir)
                       if os.path.isdir(os.path.join(subset_dir, name)))
        if subset == "val":
            image_ids = [i for i in val_ids if i in set(found)]
            missing = len(val_ids) - len(image_ids)
            if not image_ids:
                raise FileNotFoundError(
                    "load_nucleus: none of the {} validation images is in {}".format(
                        len(val_ids), subset_dir))
            if missing:
                warnings.warn("load_nucleus: {} of the {} validation images are not in {}"
                              .format(missing, len(val_ids), subset_dir))
        elif subset == "train":
            image_ids = [i for i in found if i not in set(val_ids)]
        else:
            image_ids = found
        if not image_ids:
            raise FileNotFoundError("load_nucleus: no image folders in {}".format(subset_dir))
        for image_id in image_ids:
            self.add_image("nucleus", image_id=image_id,
                           path=os.path.join(subset_dir, image_id, "images",
                                             image_id + ".png"))

    def load_mask(self, image_id):
        """Masks of an image: bool [height, width, instances], one per PNG of
        its masks/ folder (file-name order), and int32 class ids (all 1).
        An image without a masks/ folder has zero instances."""
        info = self.image_info[image_id]
        if info["source"] != "nucleus":
            return super().load_mask(image_id)
        mask_dir = os.path.join(os.path.dirname(os.path.dirname(info["path"])), "masks")
        names = sorted(n for n in os.listdir(mask_dir) if n.lower().endswith(".png")) \
            if os.path.isdir(mask_dir) else []
        if not names:
            from PIL import Image
            with Image.open(info["path"]) as image:
                width, height = image.size
            return np.zeros((height, width, 0), bool), np.zeros((0,), np.int32)
        masks = np.stack([read_label_png(os.path.join(mask_dir, n)) != 0 for n in names],
                         axis=-1)
        return masks, np.ones([masks.shape[-1]], dtype=np.int32)

    def image_reference(self, image_id):
        """The image id (Kaggle's name of the image)."""
        info = self.image_info[image_id]
        if info["source"] == "nucleus":
            return info["id"]
        return super().image_reference(image_id)


############################################################
#  Training
############################################################

def augmentation():
    """Up to two of: flips, a multiple of 90 degrees, brightness, blur
    (matterport's imgaug ``SomeOf((0, 2), ...)`` in albumentations). The
    crops are square, so the rotations keep the size."""
    import albumentations as A

    return A.Compose([A.SomeOf([
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.5),
        A.RandomRotate90(p=0.5),
        A.MultiplicativeNoise(multiplier=(0.8, 1.5), per_channel=False, elementwise=False,
                              p=0.5),
        A.GaussianBlur(blur_limit=0, sigma_limit=(0.1, 5.0), p=0.5),
    ], n=2, p=1.0)])


def train(model, dataset_dir, subset, heads_epochs=20, all_epochs=40, augmentation=None):
    """Train `model` (training mode) on `subset` ("train" or "stage1_train")
    of `dataset_dir`, validating on "val": the heads up to epoch
    `heads_epochs`, then all layers up to `all_epochs` (matterport's
    schedule). `augmentation` defaults to `augmentation()`; pass False for
    none."""
    if augmentation is None:
        augmentation = globals()["augmentation"]()
    elif augmentation is False:
        augmentation = None
    dataset_train = NucleusDataset()
    dataset_train.load_nucleus(dataset_dir, subset)
    dataset_train.prepare()
    dataset_val = NucleusDataset()
    dataset_val.load_nucleus(dataset_dir, "val")
    dataset_val.prepare()
    learning_rate = model.config.LEARNING_RATE
    print("Train network heads")
    model.train(dataset_train, dataset_val, learning_rate=learning_rate, epochs=heads_epochs,
                augmentation=augmentation, layers="heads")
    print("Train all layers")
    model.train(dataset_train, dataset_val, learning_rate=learning_rate, epochs=all_epochs,
                augmentation=augmentation, layers="all")


############################################################
#  Run-length encoding (Kaggle's submission format)
############################################################

def rle_encode(mask):
    """A [height, width] mask as Kaggle's run-length string: pairs of
    "start length", starts 1-based, pixels numbered down the columns first
    (top to bottom, then left to right)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError("rle_encode: mask must be [height, width], got shape {}".format(
            mask.shape))
    pixels = np.concatenate([[False], mask.T.ravel() != 0, [False]])
    edges = np.flatnonzero(pixels[1:] != pixels[:-1])  # run starts and ends, 0-based
    starts, ends = edges[0::2], edges[1::2]
    return " ".join("{} {}".format(s + 1, e - s) for s, e in zip(starts, ends))


def rle_decode(rle, shape):
    """The bool [height, width] mask of a run-length string (rle_encode's
    inverse). Runs outside the image raise ValueError."""
    height, width = shape[:2]
    values = [int(v) for v in rle.split()]
    if len(values) % 2:
        raise ValueError("rle_decode: odd number of values in {!r}".format(rle))
    flat = np.zeros(height * width, bool)
    for start, length in zip(values[0::2], values[1::2]):
        if start < 1 or length < 1 or start - 1 + length > flat.size:
            raise ValueError("rle_decode: run ({}, {}) outside a {}x{} mask".format(
                start, length, height, width))
        flat[start - 1:start - 1 + length] = True
    return flat.reshape(width, height).T


def mask_to_rle(image_id, mask, scores):
    """Submission lines ("image_id, rle") of the instance masks
    [height, width, N] of one image. Overlaps go to the higher-scored
    instance; instances left empty are skipped; no instances at all give the
    line "image_id,"."""
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError("mask_to_rle: mask must be [height, width, count], got shape {}"
                         .format(mask.shape))
    if mask.shape[-1] == 0:
        return "{},".format(image_id)
    # Label each pixel with its best-scored instance: rank 1 is the lowest
    # score, so the maximum over instances is the best one covering it.
    order = np.argsort(scores)[::-1]  # best first
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order), 0, -1)
    labels = np.max((mask != 0) * rank[None, None, :], axis=-1)
    lines = []
    for i in order:
        m = labels == rank[i]
        if m.any():
            lines.append("{}, {}".format(image_id, rle_encode(m)))
    return "\n".join(lines)


############################################################
#  Detection
############################################################

def detect(model, dataset_dir, subset, results_dir=RESULTS_DIR):
    """Detect nuclei in the images of `subset`; write
    `results_dir`/submit_<time>/submit.csv (Kaggle's ImageId,EncodedPixels)
    and a picture of the masks per image. Returns the folder written."""
    from mrcnn import visualize

    print("Running on {}".format(dataset_dir))
    submit_dir = os.path.join(results_dir,
                              "submit_{:%Y%m%dT%H%M%S}".format(datetime.datetime.now()))
    os.makedirs(submit_dir)
    dataset = NucleusDataset()
    dataset.load_nucleus(dataset_dir, subset)
    dataset.prepare()
    submission = []
    for image_id in dataset.image_ids:
        image = dataset.load_image(image_id)
        r = model.detect([image], verbose=0)[0]
        source_id = dataset.image_info[image_id]["id"]
        submission.append(mask_to_rle(source_id, r["masks"], r["scores"]))
        visualize.display_instances(
            image, r["rois"], r["masks"], r["class_ids"], dataset.class_names, r["scores"],
            show_bbox=False, show_mask=False, title="Predictions",
            save_path=os.path.join(submit_dir, "{}.png".format(source_id)))
    path = os.path.join(submit_dir, "submit.csv")
    utils.write_text_atomic(path, "ImageId,EncodedPixels\n" + "\n".join(submission) + "\n")
    print("Saved to ", submit_dir)
    return submit_dir


############################################################
#  Command line
############################################################

def build_parser():
    parser = argparse.ArgumentParser(
        description="Mask R-CNN for nuclei counting and segmentation")
    parser.add_argument("command", metavar="<command>", choices=["train", "detect"],
                        help="'train' or 'detect'")
    parser.add_argument("--dataset", metavar="/path/to/dataset/",
                        help="root directory of the dataset")
    parser.add_argument("--weights", required=True, metavar="/path/to/weights.h5",
                        help="weights .h5 file, or 'coco', 'last' or 'imagenet'")
    parser.add_argument("--logs", default=DEFAULT_LOGS_DIR, metavar="/path/to/logs/",
                        help="logs and checkpoints directory (default: logs/)")
    parser.add_argument("--subset", metavar="Dataset sub-directory",
                        help="subset to train on or to run detection on")
    parser.add_argument("--results", default=RESULTS_DIR, metavar="/path/to/results/",
                        help="where detect writes its submission (default: results/nucleus/)")
    return parser


def main(argv=None):
    import mrcnn.model as modellib

    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.dataset:
        parser.error("{} needs --dataset".format(args.command))
    if args.command == "train" and args.subset is None:
        args.subset = "train"
    if args.command == "detect" and not args.subset:
        parser.error("detect needs --subset")
    if args.subset not in SUBSETS:
        parser.error("--subset must be one of {}".format(", ".join(SUBSETS)))
    print("Weights: ", args.weights)
    print("Dataset: ", args.dataset)
    print("Subset: ", args.subset)
    print("Logs: ", args.logs)

    config = NucleusConfig() if args.command == "train" else NucleusInferenceConfig()
    config.display()
    mode = "training" if args.command == "train" else "inference"
    model = modellib.MaskRCNN(mode=mode, config=config, model_dir=args.logs)

    load_weights_for(model, args.weights, coco_path=COCO_WEIGHTS_PATH)

    if args.command == "train":
        train(model, args.dataset, args.subset)
    else:
        detect(model, args.dataset, args.subset, results_dir=args.results)
    return model


if __name__ == "__main__":
    main()
