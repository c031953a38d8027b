"""`mrcnn download-weights`: pretrained weights."""

import os

from mrcnn.cli.arguments import _subcommand


def _download_weights(args):
    from mrcnn.pretrained import (COCO_MODEL_URL, COCO_WEIGHTS_FILE, COCO_WEIGHTS_SHA256,
                                  cache_dir, check_coco_weights, download_trained_weights)
    target = args.output or os.path.join(cache_dir(), COCO_WEIGHTS_FILE)
    if os.path.isdir(target) or target.endswith(os.sep):
        target = os.path.join(target, COCO_WEIGHTS_FILE)
    if os.path.exists(target) and not args.force:
        try:
            check_coco_weights(target)
        except ValueError as e:
            raise ValueError("{} exists but is not usable ({}); pass --force to download it "
                             "again".format(target, e)) from None
        print("{} already exists (--force downloads it again)".format(target))
        return 0
    download_trained_weights(target, verbose=0 if args.quiet else 1,
                             url=args.url or COCO_MODEL_URL,
                             sha256=args.sha256 or COCO_WEIGHTS_SHA256,
                             validate=check_coco_weights)
    print(target)
    return 0


def add_parser(sub):
    """Add the `download-weights` subcommand to the subparsers `sub`."""
    download = _subcommand(
        sub, "download-weights", _download_weights, help="download pretrained weights",
        description="Download matterport's COCO weights (mask_rcnn_coco.h5) to $MRCNN_HOME "
                    "(default ~/.cache/mrcnn) or --output.")
    download.add_argument("name", choices=["coco"], help="which weights")
    download.add_argument("--output", help="file or directory to write to")
    download.add_argument("--url", help="download from this URL instead (a mirror)")
    download.add_argument("--sha256", help="expected SHA-256 of the file")
    download.add_argument("--force", action="store_true", help="download even if present")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    return download
