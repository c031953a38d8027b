"""`mrcnn evaluate`: COCO AP, mAP50 (and PQ, OKS AP) of a model on a dataset."""

from mrcnn.cli.arguments import (_dataset_arguments, _dataset_options, _model_arguments,
                                 _subcommand)
from mrcnn.cli.common import _labelme_keypoint_names, load_dataset, load_model, parse_overrides


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


def add_parser(sub):
    """Add the `evaluate` subcommand to the subparsers `sub`."""
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
    return evaluate
