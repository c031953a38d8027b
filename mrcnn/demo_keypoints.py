"""`mrcnn demo --task keypoints`: train a small Keypoint R-CNN on the
synthetic keypoint shapes from scratch, evaluate its OKS keypoint AP on a
separate seeded set, draw the skeletons.

    mrcnn demo --task keypoints --output-dir out

writes out/metrics.json (keypoints_AP, keypoints_AP50, ... with the mask
and box metrics of mrcnn.evaluate), out/predictions.png (ground truth
beside predictions, with skeletons) and out/model/. Runs on a CPU and
downloads nothing.
"""

import json
import os
import time

from mrcnn.data.keypoints import (SHAPE_KEYPOINT_FLIP_PAIRS, SHAPE_KEYPOINT_NAMES,
                                  SHAPE_KEYPOINT_SKELETON, keypoint_shapes)
from mrcnn.demo import TRAIN_SEED, VAL_SEED, DemoConfig, train_demo_model


class KeypointDemoConfig(DemoConfig):
    """DemoConfig (ResNet-18, 64-channel pyramid, 128 px, Adam) with the
    shapes' four keypoints and a light keypoint head: four 3x3 convs of
    64 channels instead of eight of 512, the paper's 14x14 RoIAlign and
    56x56 heatmaps."""
    NAME = "shape_keypoints_demo"
    KEYPOINT_NAMES = SHAPE_KEYPOINT_NAMES
    KEYPOINT_FLIP_PAIRS = SHAPE_KEYPOINT_FLIP_PAIRS
    KEYPOINT_SKELETON = SHAPE_KEYPOINT_SKELETON
    # The shapes' keypoints are exact corners, as sharp as COCO's eyes
    # (0.025) to shoulders (0.079).
    KEYPOINT_OKS_SIGMAS = (0.05, 0.05, 0.05, 0.05)
    KEYPOINT_CONV_LAYERS = 4
    KEYPOINT_CONV_CHANNELS = 64


def draw_keypoint_predictions(dataset, config, results, image_ids, path):
    """Ground truth (left) beside predictions (right), with keypoints and
    skeletons, for a few images."""
    from mrcnn import visualize  # picks a headless backend when there is no display
    from mrcnn.boxes import extract_bboxes
    from mrcnn.data.sample import load_keypoints

    import matplotlib.pyplot as plt

    n = len(image_ids)
    fig, axes = plt.subplots(n, 2, figsize=(6, 3 * n), squeeze=False)
    style = dict(skeleton=config.KEYPOINT_SKELETON, keypoint_names=config.KEYPOINT_NAMES,
                 point_size=3.5, line_width=1.2)
    for row, (image_id, r) in enumerate(zip(image_ids, results)):
        image = dataset.load_image(image_id)
        masks, class_ids = dataset.load_mask(image_id)
        points = load_keypoints(dataset, config, image_id, masks.shape[-1])
        visualize.display_keypoints(image, extract_bboxes(masks), masks, class_ids,
                                    dataset.class_names, points, ax=axes[row, 0],
                                    title="ground truth" if row == 0 else "", **style)
        visualize.display_keypoints(image, r["rois"], r["masks"], r["class_ids"],
                                    dataset.class_names, r["keypoints"], scores=r["scores"],
                                    ax=axes[row, 1], title="prediction" if row == 0 else "",
                                    **style)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run_demo(output_dir, epochs=6, steps_per_epoch=None, train_images=1000, val_images=50,
             config=None, seed=0, verbose=1):
    """Train, evaluate and draw; returns the metrics dict (also written to
    output_dir/metrics.json).

    All layers train for `epochs` epochs of config.STEPS_PER_EPOCH steps
    (8 images each), the last one at a tenth of the learning rate. The
    validation set is another seed of the same generator.
    """
    from mrcnn.evaluate import evaluate_dataset
    from mrcnn.fileio import write_text_atomic

    config = config or KeypointDemoConfig()
    if steps_per_epoch:
        config.STEPS_PER_EPOCH = int(steps_per_epoch)
    os.makedirs(output_dir, exist_ok=True)
    height, width = int(config.IMAGE_SHAPE[0]), int(config.IMAGE_SHAPE[1])
    train = keypoint_shapes(train_images, height, width, seed=TRAIN_SEED)
    val = keypoint_shapes(val_images, height, width, seed=VAL_SEED)

    inference, train_seconds = train_demo_model(config, train, output_dir, epochs, seed, verbose)
    start = time.time()
    metrics, results = evaluate_dataset(inference, val, verbose=verbose)
    metrics.update(train_seconds=round(train_seconds, 1),
                   eval_seconds=round(time.time() - start, 1),
                   train_images=train_images, val_images=val_images, epochs=epochs,
                   steps=epochs * config.STEPS_PER_EPOCH, batch_size=config.BATCH_SIZE,
                   backbone=config.BACKBONE, keypoint_names=list(config.KEYPOINT_NAMES))
    write_text_atomic(os.path.join(output_dir, "metrics.json"),
                      json.dumps(metrics, indent=2, sort_keys=True))
    shown = list(val.image_ids[:4])
    draw_keypoint_predictions(val, inference.config, results[:len(shown)], shown,
                              os.path.join(output_dir, "predictions.png"))
    if verbose:
        print(json.dumps({k: metrics[k] for k in ("keypoints_AP", "keypoints_AP50", "segm_AP",
                                                  "train_seconds")}))
    return metrics
