"""Mask R-CNN on the balloon dataset (matterport's sample, on this package).

The dataset is a folder with ``train/`` and ``val/`` subfolders, each holding
the images and the VGG Image Annotator export ``via_region_data.json`` of
their balloon outlines (matterport's release: balloon_dataset.zip).

Command line, from this folder::

    # Train the heads starting from COCO weights (downloaded if missing)
    python balloon.py train --dataset=/path/to/balloon --weights=coco
    # Resume the last training run / start from ImageNet weights
    python balloon.py train --dataset=/path/to/balloon --weights=last
    python balloon.py train --dataset=/path/to/balloon --weights=imagenet
    # Colour splash: the balloons keep their colours, the rest turns gray
    python balloon.py splash --weights=/path/to/weights.h5 --image=photo.jpg
    python balloon.py splash --weights=last --video=clip.mp4

From a notebook (with samples/balloon on sys.path)::

    import balloon
    dataset = balloon.BalloonDataset()
    dataset.load_balloon("/path/to/balloon", "val")
    dataset.prepare()
"""

import argparse
import datetime
import os
import sys

import numpy as np

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow C++ logs

ROOT_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if ROOT_DIR not in sys.path:
    sys.path.append(ROOT_DIR)  # to find this checkout's mrcnn when it is not installed

from mrcnn import utils  # noqa: E402,F401  (matterport samples import it)
from mrcnn.pretrained import CLASS_SPECIFIC_LAYERS, load_weights_for  # noqa: E402,F401
from mrcnn.config import Config  # noqa: E402
from mrcnn.data.images import read_image  # noqa: E402
from mrcnn.data.via import ViaDataset  # noqa: E402

# COCO-trained weights (downloaded on first use).
COCO_WEIGHTS_PATH = os.path.join(ROOT_DIR, "mask_rcnn_coco.h5")
# Checkpoints and TensorBoard logs unless --logs says otherwise.
DEFAULT_LOGS_DIR = os.path.join(ROOT_DIR, "logs")

# Layers whose shapes depend on the number of classes: not loaded from COCO weights.


############################################################
#  Configurations
############################################################

class BalloonConfig(Config):
    """Training on the balloon dataset: one class, COCO's other settings."""
    NAME = "balloon"
    IMAGES_PER_GPU = 2  # a 12 GB GPU holds two images of 1024x1024
    NUM_CLASSES = 1 + 1  # background + balloon
    STEPS_PER_EPOCH = 100
    DETECTION_MIN_CONFIDENCE = 0.9  # keep confident detections only


class BalloonInferenceConfig(BalloonConfig):
    """One image at a time for splash and notebooks."""
    GPU_COUNT = 1
    IMAGES_PER_GPU = 1


############################################################
#  Dataset
############################################################

class BalloonDataset(ViaDataset):
    """The balloon images and their VIA polygons (class "balloon")."""

    def load_balloon(self, dataset_dir, subset):
        """Add the images of `subset` ("train" or "val") of the dataset in
        `dataset_dir` (`dataset_dir`/`subset`/via_region_data.json and the
        images next to it). Images without balloons are skipped, as
        matterport's loader did."""
        if subset not in ("train", "val"):
            raise ValueError("load_balloon: subset must be 'train' or 'val', got {!r}".format(
                subset))
        subset_dir = os.path.join(dataset_dir, subset)
        return self.load_via(os.path.join(subset_dir, "via_region_data.json"),
                             image_dir=subset_dir, class_attribute=None,
                             default_class="balloon", source="balloon", skip_empty=True)

    def load_mask(self, image_id):
        """Balloon masks: bool [height, width, instances] and int32 class
        ids (all 1). Images of other sources use their own loader."""
        return super().load_mask(image_id)

    def image_reference(self, image_id):
        """The image file's path."""
        return super().image_reference(image_id)


############################################################
#  Training
############################################################

def train(model, dataset_dir, epochs=30, layers="heads", learning_rate=None,
          augmentation=None):
    """Train `model` (training mode) on `dataset_dir`'s train subset,
    validating on val. matterport trained the heads only for 30 epochs
    starting from COCO weights: a small dataset does not need more."""
    dataset_train = BalloonDataset()
    dataset_train.load_balloon(dataset_dir, "train")
    dataset_train.prepare()
    dataset_val = BalloonDataset()
    dataset_val.load_balloon(dataset_dir, "val")
    dataset_val.prepare()
    print("Training network heads")
    return model.train(dataset_train, dataset_val,
                       learning_rate=learning_rate or model.config.LEARNING_RATE,
                       epochs=epochs, layers=layers, augmentation=augmentation)


############################################################
#  Colour splash
############################################################

def color_splash(image, mask):
    """Keep the colours of the masked pixels, turn the rest gray.

    image: uint8 [height, width, 3] RGB.
    mask: bool [height, width, instances].
    Returns uint8 [height, width, 3].
    """
    import skimage.color

    image = np.asarray(image)
    gray = (skimage.color.gray2rgb(skimage.color.rgb2gray(image)) * 255).astype(np.uint8)
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] > 0:
        covered = np.sum(mask, axis=-1, keepdims=True) >= 1
        return np.where(covered, image, gray).astype(np.uint8)
    return gray


def detect_and_color_splash(model, image_path=None, video_path=None, output_dir="."):
    """Detect balloons in an image or a video and write its colour splash to
    `output_dir` (splash_<timestamp>.png, or .avi for a video). Returns the
    path written."""
    import skimage.io

    if bool(image_path) == bool(video_path):
        raise ValueError("detect_and_color_splash: give either image_path or video_path")
    stamp = "{:%Y%m%dT%H%M%S}".format(datetime.datetime.now())
    os.makedirs(output_dir, exist_ok=True)
    if image_path:
        print("Running on {}".format(image_path))
        image = read_image(image_path)  # any image kind -> 8-bit RGB
        r = model.detect([image], verbose=1)[0]
        file_name = os.path.join(output_dir, "splash_{}.png".format(stamp))
        skimage.io.imsave(file_name, color_splash(image, r["masks"]), check_contrast=False)
    else:
        import cv2

        capture = cv2.VideoCapture(video_path)
        if not capture.isOpened():
            raise FileNotFoundError("cannot open video {}".format(video_path))
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = capture.get(cv2.CAP_PROP_FPS) or 25
        file_name = os.path.join(output_dir, "splash_{}.avi".format(stamp))
        writer = cv2.VideoWriter(file_name, cv2.VideoWriter_fourcc(*"MJPG"), fps,
                                 (width, height))
        count = 0
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                rgb = frame[..., ::-1]  # OpenCV gives BGR
                r = model.detect([rgb], verbose=0)[0]
                writer.write(color_splash(rgb, r["masks"])[..., ::-1].copy())
                count += 1
        finally:
            capture.release()
            writer.release()
        print("{} frames".format(count))
    print("Saved to ", file_name)
    return file_name


############################################################
#  Command line
############################################################

def build_parser():
    parser = argparse.ArgumentParser(description="Train Mask R-CNN to detect balloons.")
    parser.add_argument("command", metavar="<command>", choices=["train", "splash"],
                        help="'train' or 'splash'")
    parser.add_argument("--dataset", metavar="/path/to/balloon/dataset/",
                        help="directory of the balloon dataset (train/ and val/)")
    parser.add_argument("--weights", required=True, metavar="/path/to/weights.h5",
                        help="weights .h5 file, or 'coco', 'last' or 'imagenet'")
    parser.add_argument("--logs", default=DEFAULT_LOGS_DIR, metavar="/path/to/logs/",
                        help="logs and checkpoints directory (default: logs/)")
    parser.add_argument("--image", metavar="path or URL to image",
                        help="image to apply the colour splash to")
    parser.add_argument("--video", metavar="path or URL to video",
                        help="video to apply the colour splash to")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    parser.add_argument("--output-dir", default=".", help="where splash writes its file")
    return parser


def main(argv=None):
    import mrcnn.model as modellib

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train" and not args.dataset:
        parser.error("train needs --dataset")
    if args.command == "splash" and not (args.image or args.video):
        parser.error("splash needs --image or --video")
    print("Weights: ", args.weights)
    print("Dataset: ", args.dataset)
    print("Logs: ", args.logs)

    config = BalloonConfig() if args.command == "train" else BalloonInferenceConfig()
    config.display()
    mode = "training" if args.command == "train" else "inference"
    model = modellib.MaskRCNN(mode=mode, config=config, model_dir=args.logs)

    load_weights_for(model, args.weights, coco_path=COCO_WEIGHTS_PATH)

    if args.command == "train":
        train(model, args.dataset, epochs=args.epochs)
    else:
        detect_and_color_splash(model, image_path=args.image, video_path=args.video,
                                output_dir=args.output_dir)
    return model


if __name__ == "__main__":
    main()
