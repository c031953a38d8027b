"""argparse options shared by several subcommands."""

import argparse

from mrcnn.cli.common import DATASET_FORMATS


def _label_list(text):
    labels = [label.strip() for label in text.split(",") if label.strip()]
    if not labels:
        raise argparse.ArgumentTypeError("expected LABEL[,LABEL...], e.g. __ignore__")
    return labels


def _dataset_arguments(parser):
    """The options that say how to read a dataset (train and evaluate);
    `_dataset_options` gives them to load_dataset."""
    parser.add_argument("--format", required=True, choices=DATASET_FORMATS,
                        help="annotation format")
    parser.add_argument("--class-attribute",
                        help="via: the region attribute that holds the class name (default: "
                             "one class, 'object')")
    parser.add_argument("--ignore-labels", type=_label_list, metavar="LABEL[,LABEL...]",
                        help="labelme: drop the shapes of these labels (comma-separated, "
                             "e.g. __ignore__,_background_)")
    parser.add_argument("--crowd-as-instances", action="store_true",
                        help="coco: read iscrowd annotations as ordinary instances (CVAT "
                             "exports mask annotations as crowd RLE)")


def _dataset_options(args):
    """load_dataset's keyword arguments from the options of _dataset_arguments."""
    return {"class_attribute": args.class_attribute, "ignore_labels": args.ignore_labels,
            "crowd_as_instances": args.crowd_as_instances}


def _subcommand(sub, name, func, help, description):
    """A subcommand's parser; running it calls func(args)."""
    parser = sub.add_parser(name, help=help, description=description)
    parser.set_defaults(func=func)
    return parser


def _model_arguments(parser):
    parser.add_argument("--model", required=True,
                        help="model directory (from mrcnn train/demo or MaskRCNN.save), "
                             "'coco', or an .h5 weight file with --config")
    parser.add_argument("--config", help="Config JSON (Config.save) to build the model with")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config attribute (repeatable), e.g. --set "
                             "DETECTION_MIN_CONFIDENCE=0.5")
