"""The main job: train on synthetic shapes from scratch, evaluate, draw.

    mrcnn demo --output-dir out

writes out/metrics.json, out/predictions.png and out/model/ (weights and
config, loadable with MaskRCNN.load_weights or MaskRCNN.from_directory).
Runs on a CPU in minutes and downloads nothing.
"""

import json
import os
import time

import numpy as np

from mrcnn.data.shapes import ShapesConfig, ShapesDataset

TRAIN_SEED = 1
VAL_SEED = 2

# `mrcnn demo --task NAME`: module, function (same arguments as run_demo, its
# own defaults) and the metric the command prints.
DEMO_TASKS = {
    "instances": ("mrcnn.demo", "run_demo", "mAP50"),
    "keypoints": ("mrcnn.demo_keypoints", "run_demo", "keypoints_AP"),
    "panoptic": ("mrcnn.demo_panoptic", "run_demo", "PQ"),
}


def demo_task(task):
    """(run function, headline metric name) of a DEMO_TASKS entry."""
    import importlib
    if task not in DEMO_TASKS:
        raise ValueError("unknown demo task {!r}; choose from {}".format(
            task, ", ".join(DEMO_TASKS)))
    module, function, metric = DEMO_TASKS[task]
    try:
        run = getattr(importlib.import_module(module), function)
    except ImportError as e:
        raise ValueError("demo task {!r} is not available: {}".format(task, e)) from None
    return run, metric


class DemoConfig(ShapesConfig):
    """A light Mask R-CNN for 128x128 shapes, trained from scratch on a CPU:
    ResNet-18, 64-channel pyramid, small heads, Adam."""
    NAME = "shapes_demo"
    BACKBONE = "resnet18"
    IMAGES_PER_GPU = 8
    TOP_DOWN_PYRAMID_SIZE = 64
    FPN_CLASSIF_FC_LAYERS_SIZE = 256
    TRAIN_BN = None  # from scratch: BatchNorm learns
    PRE_NMS_LIMIT = 2000
    POST_NMS_ROIS_TRAINING = 500
    POST_NMS_ROIS_INFERENCE = 250
    RPN_TRAIN_ANCHORS_PER_IMAGE = 64
    MAX_GT_INSTANCES = 10
    DETECTION_MAX_INSTANCES = 20
    DETECTION_MIN_CONFIDENCE = 0.5
    OPTIMIZER = "Adam"
    LEARNING_RATE = 0.002
    STEPS_PER_EPOCH = 100
    VALIDATION_STEPS = 0


def draw_predictions(dataset, results, image_ids, path):
    """Ground truth (left) beside predictions (right) for a few images."""
    from mrcnn import visualize  # picks a headless backend when there is no display
    from mrcnn.boxes import extract_bboxes

    import matplotlib.pyplot as plt

    n = len(image_ids)
    fig, axes = plt.subplots(n, 2, figsize=(6, 3 * n), squeeze=False)
    for row, (image_id, r) in enumerate(zip(image_ids, results)):
        image = dataset.load_image(image_id)
        masks, class_ids = dataset.load_mask(image_id)
        visualize.display_instances(image, extract_bboxes(masks), masks, class_ids,
                                    dataset.class_names, ax=axes[row, 0],
                                    title="ground truth" if row == 0 else "")
        visualize.display_instances(image, r["rois"], r["masks"], r["class_ids"],
                                    dataset.class_names, r["scores"], ax=axes[row, 1],
                                    title="prediction" if row == 0 else "")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def train_demo_model(config, train, output_dir, epochs, seed, verbose):
    """The demos' schedule: all layers from scratch for `epochs` epochs, the
    last one at a tenth of the learning rate; the model saved to
    output_dir/model and loaded back for inference.
    Returns (inference MaskRCNN, training seconds)."""
    import keras
    from mrcnn.model import MaskRCNN

    keras.utils.set_random_seed(seed)
    model = MaskRCNN(mode="training", config=config, model_dir=os.path.join(output_dir, "logs"))
    start = time.time()
    if epochs > 1:
        model.train(train, None, learning_rate=config.LEARNING_RATE, epochs=epochs - 1,
                    layers="all", verbose=verbose)
    model.train(train, None, learning_rate=config.LEARNING_RATE / (10 if epochs > 1 else 1),
                epochs=epochs, layers="all", verbose=verbose)
    train_seconds = time.time() - start
    model_dir = model.save(os.path.join(output_dir, "model"), class_names=train.class_names)

    inference = MaskRCNN.from_directory(model_dir, mode="inference")
    return inference, train_seconds


def run_demo(output_dir, epochs=7, steps_per_epoch=None, train_images=1000, val_images=50,
             config=None, seed=0, verbose=1):
    """Train, evaluate and draw; returns the metrics dict (also written to
    output_dir/metrics.json).

    All layers train for `epochs` epochs, the last one at a tenth of the
    learning rate. With the defaults (7 x 100 steps of 8 images) this takes
    about 6 minutes on 2 CPU cores and reaches mAP50 > 0.9.
    """
    from mrcnn.evaluate import evaluate_dataset

    config = config or DemoConfig()
    if steps_per_epoch:
        config.STEPS_PER_EPOCH = int(steps_per_epoch)
    os.makedirs(output_dir, exist_ok=True)
    train = ShapesDataset()
    train.load_shapes(train_images, config.IMAGE_SHAPE[0], config.IMAGE_SHAPE[1], seed=TRAIN_SEED)
    train.prepare()
    val = ShapesDataset()
    val.load_shapes(val_images, config.IMAGE_SHAPE[0], config.IMAGE_SHAPE[1], seed=VAL_SEED)
    val.prepare()

    inference, train_seconds = train_demo_model(config, train, output_dir, epochs, seed, verbose)
    start = time.time()
    metrics, results = evaluate_dataset(inference, val, verbose=verbose)
    metrics.update(train_seconds=round(train_seconds, 1),
                   eval_seconds=round(time.time() - start, 1),
                   train_images=train_images, epochs=epochs,
                   steps=epochs * config.STEPS_PER_EPOCH, batch_size=config.BATCH_SIZE,
                   backbone=config.BACKBONE)
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
    shown = list(val.image_ids[:4])
    draw_predictions(val, results[:len(shown)], shown, os.path.join(output_dir, "predictions.png"))
    if verbose:
        print(json.dumps({k: metrics[k] for k in ("mAP50", "segm_AP", "train_seconds")}))
    return metrics
