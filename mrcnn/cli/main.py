"""The `mrcnn` parser, assembled from the subcommands' modules, and main()."""

import argparse
import os
import sys

from mrcnn.cli import demo, detect, download, evaluate, export, train
from mrcnn.cli.common import UsageError


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mrcnn", description="Mask R-CNN for TensorFlow 2 / Keras 3",
        epilog="Run `mrcnn COMMAND --help` for a command's options.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for command in (demo, train, evaluate, detect, export, download):
        command.add_parser(sub)
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
    except UsageError as e:
        print("mrcnn {}: error: {}".format(args.command, e), file=sys.stderr)
        return 2
    except (ValueError, OSError, NotImplementedError) as e:
        print("mrcnn {}: error: {}".format(args.command, e), file=sys.stderr)
        return 1
    except Exception as e:
        # A full disk reported as another error type (TensorFlow's
        # ResourceExhaustedError from TensorBoard's writer or an export,
        # h5py's RuntimeError on close): a message, not a traceback.
        from mrcnn.fileio import is_disk_full
        if not is_disk_full(e):
            raise
        print("mrcnn {}: error: no space left on the device: {}".format(args.command, e),
              file=sys.stderr)
        return 1
