"""`mrcnn detect`: detect instances in image files."""

import os

from mrcnn.cli.arguments import _model_arguments, _subcommand
from mrcnn.cli.common import UsageError, load_model, parse_overrides


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


def add_parser(sub):
    """Add the `detect` subcommand to the subparsers `sub`."""
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
    return detect
