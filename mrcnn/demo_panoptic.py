"""The panoptic demo: train Mask R-CNN with the semantic branch on synthetic
panoptic shapes from scratch, score its panoptic quality on a separate
seeded set, draw it.

    mrcnn demo --task panoptic --output-dir out

writes out/metrics.json ("PQ", "SQ", "RQ", their Things / Stuff parts,
the mask AP of the things), out/predictions.png (ground truth beside the
fused prediction, drawn with mrcnn.visualize.display_panoptic), out/model/
(weights and config) and out/panoptic/ (the COCO panoptic ground truth and
predictions PQ was computed on). CPU only, nothing downloaded.
"""

import json
import os
import time

from mrcnn.demo import DemoConfig, train_demo_model
from mrcnn.fileio import write_json_atomic

TRAIN_SEED = 11
VAL_SEED = 12


class PanopticDemoConfig(DemoConfig):
    """DemoConfig (ResNet-18, 64-channel pyramid, Adam, 128 px) with the
    semantic branch: 3 shapes (things) and 3 stuff classes (sky, grass,
    sea), 64-channel branch."""
    NAME = "panoptic_demo"
    NUM_CLASSES = 1 + 3 + 3
    NUM_STUFF_CLASSES = 3
    SEMANTIC_CONV_CHANNELS = 64
    SEMANTIC_GROUPS = 16
    # The images are 128 x 128: a stuff segment needs 1/64 of them (COCO's
    # 4096 pixels are 1/75 of a 640 x 480 image).
    PANOPTIC_STUFF_AREA_LIMIT = 256


def draw_panoptic_predictions(dataset, results, image_ids, path):
    """Ground truth (left) beside the fused prediction (right), one row per
    image, drawn with display_panoptic."""
    from mrcnn import visualize  # picks a headless backend when there is no display

    import matplotlib.pyplot as plt

    n = len(image_ids)
    fig, axes = plt.subplots(n, 2, figsize=(6, 3 * n), squeeze=False)
    for row, (image_id, r) in enumerate(zip(image_ids, results)):
        image = dataset.load_image(image_id)
        ids, segments = dataset.load_panoptic(image_id)
        source = dataset.image_info[image_id]["source"]
        gt = [dict(s, category_id=dataset.map_source_class_id(
            "{}.{}".format(source, s["category_id"])),
            isthing=int(dataset.class_info[dataset.map_source_class_id(
                "{}.{}".format(source, s["category_id"]))].get("isthing", 1)))
            for s in segments]
        visualize.display_panoptic(image, ids, gt, dataset.class_names, ax=axes[row, 0],
                                   title="ground truth" if row == 0 else "")
        visualize.display_panoptic(image, r["panoptic"], r["segments"], dataset.class_names,
                                   ax=axes[row, 1], title="prediction" if row == 0 else "")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run_demo(output_dir, epochs=6, steps_per_epoch=None, train_images=1000, val_images=50,
             config=None, seed=0, verbose=1):
    """Train, evaluate (PQ and mask AP) and draw; returns the metrics dict
    (also written to output_dir/metrics.json).

    All layers train for `epochs` epochs, the last one at a tenth of the
    learning rate (mrcnn.demo.run_demo's schedule).
    """

    from mrcnn.data.panoptic import load_panoptic_shapes
    from mrcnn.evaluate import evaluate_dataset
    from mrcnn.panoptic.evaluate import panoptic_metrics

    config = config or PanopticDemoConfig()
    if steps_per_epoch:
        config.STEPS_PER_EPOCH = int(steps_per_epoch)
    os.makedirs(output_dir, exist_ok=True)
    size = int(config.IMAGE_SHAPE[0])
    train = load_panoptic_shapes(train_images, size, size, seed=TRAIN_SEED)
    val = load_panoptic_shapes(val_images, size, size, seed=VAL_SEED)

    inference, train_seconds = train_demo_model(config, train, output_dir, epochs, seed, verbose)
    start = time.time()
    instance_metrics, results = evaluate_dataset(inference, val, verbose=verbose)
    metrics = panoptic_metrics(val, list(val.image_ids), results,
                               os.path.join(output_dir, "panoptic"), verbose=bool(verbose))
    metrics.update({"mAP50": instance_metrics["mAP50"],
                    "segm_AP": instance_metrics["segm_AP"],
                    "segm_AP50": instance_metrics["segm_AP50"]})
    metrics.update(train_seconds=round(train_seconds, 1),
                   eval_seconds=round(time.time() - start, 1),
                   train_images=train_images, val_images=val_images, epochs=epochs,
                   steps=epochs * config.STEPS_PER_EPOCH, batch_size=config.BATCH_SIZE,
                   backbone=config.BACKBONE, cpu_count=os.cpu_count(),
                   load_average=[round(v, 2) for v in os.getloadavg()])
    write_json_atomic(os.path.join(output_dir, "metrics.json"), metrics, indent=2)
    shown = list(val.image_ids[:4])
    draw_panoptic_predictions(val, results[:len(shown)], shown,
                              os.path.join(output_dir, "predictions.png"))
    if verbose:
        print(json.dumps({k: metrics[k] for k in ("PQ", "SQ", "RQ", "PQ_things", "PQ_stuff",
                                                   "segm_AP", "train_seconds")}))
    return metrics
