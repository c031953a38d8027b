"""`mrcnn demo`: train on synthetic data, evaluate, draw."""

from mrcnn.cli.arguments import _subcommand
from mrcnn.demo import DEMO_TASKS


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


def add_parser(sub):
    """Add the `demo` subcommand to the subparsers `sub`."""
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
    return demo
