"""The `mrcnn` command line: `mrcnn demo --output-dir DIR`."""

import argparse
import os
import sys


def _demo(args):
    from mrcnn.demo import run_demo
    metrics = run_demo(args.output_dir, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                       train_images=args.train_images, val_images=args.val_images,
                       seed=args.seed,
                       verbose=0 if args.quiet else 1)
    print("wrote {}/metrics.json, predictions.png and model/ (mAP50 {:.3f})".format(
        args.output_dir, metrics["mAP50"]))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="mrcnn", description="Mask R-CNN for TensorFlow 2 / Keras 3")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="train on synthetic shapes, evaluate, draw the masks",
                          description="Train a small Mask R-CNN on synthetic shapes from "
                                      "scratch (CPU, no download), evaluate it on a separate "
                                      "seeded set and write metrics.json, predictions.png and "
                                      "model/ to the output directory.")
    demo.add_argument("--output-dir", required=True, help="where to write the results")
    demo.add_argument("--epochs", type=int, default=7,
                      help="training epochs, the last at a tenth of the learning rate (default 7)")
    demo.add_argument("--steps-per-epoch", type=int, default=None,
                      help="training steps per epoch (default: the demo config's)")
    demo.add_argument("--train-images", type=int, default=1000,
                      help="synthetic training images (default 1000)")
    demo.add_argument("--val-images", type=int, default=50,
                      help="synthetic validation images, another seed (default 50)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the training")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)
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
    except (ValueError, FileNotFoundError) as e:
        print("mrcnn {}: error: {}".format(args.command, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
