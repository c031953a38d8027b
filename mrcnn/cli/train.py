"""`mrcnn train`: train on a dataset."""

import os

from mrcnn.cli.arguments import _dataset_arguments, _dataset_options, _subcommand
from mrcnn.cli.common import _labelme_keypoint_names, load_dataset, make_config, parse_overrides
from mrcnn.pretrained import CLASS_SPECIFIC_LAYERS


def _train(args):
    from mrcnn.model import MaskRCNN
    output = args.output
    from mrcnn.modeldir import WEIGHTS_FILE
    if output and os.path.exists(os.path.join(output, WEIGHTS_FILE)) and not args.force:
        raise FileExistsError("{} already holds a model; pick another --output or pass "
                              "--force".format(output))
    from mrcnn.data.pipeline import check_trainable
    overrides = parse_overrides(args.set)
    keypoint_names = _labelme_keypoint_names(args.format, overrides, args.config)
    if keypoint_names:
        print("reading the LabelMe point shapes of {} as keypoints".format(
            ", ".join(keypoint_names)))
    train = load_dataset(args.format, args.train, args.train_images, pngs=args.train_pngs,
                         keypoint_names=keypoint_names, **_dataset_options(args))
    val = load_dataset(args.format, args.val, args.val_images, class_names=train.class_names,
                       pngs=args.val_pngs, keypoint_names=keypoint_names,
                       **_dataset_options(args)) if args.val else None
    # Before building the model: with nothing to train on, training would
    # wait forever for a first batch.
    for flag, path, dataset in (("--train", args.train, train), ("--val", args.val, val)):
        if dataset is not None:
            try:
                check_trainable(dataset)
            except ValueError as e:
                raise ValueError("{} {}: {}".format(flag, path, e)) from None
    # NUM_CLASSES follows the data unless --set says otherwise (a config file
    # from another dataset keeps everything else).
    overrides.setdefault("NUM_CLASSES", train.num_classes)
    if args.format == "coco-panoptic":
        # The semantic branch follows the data's stuff categories.
        stuff = [int(i) for i in train.stuff_class_ids]
        overrides.setdefault("NUM_STUFF_CLASSES", len(stuff))
        if stuff != list(range(train.num_classes - len(stuff), train.num_classes)):
            overrides.setdefault("STUFF_CLASS_IDS", stuff)
    config = make_config(args.config, overrides, {"NAME": args.name})
    from mrcnn.data.keypoints import keypoint_attributes
    if (not config.KEYPOINT_NAMES and "KEYPOINT_NAMES" not in overrides
            and keypoint_attributes(train)):
        # A keypoints dataset (COCO's "keypoints"/"skeleton"): the head trains.
        overrides = dict(keypoint_attributes(train), **overrides)
        config = make_config(args.config, overrides, {"NAME": args.name})
        print("training the keypoint head: {}".format(", ".join(config.KEYPOINT_NAMES)))
    if args.format == "coco-panoptic" and config.stuff_class_ids() != stuff:
        raise ValueError("the semantic branch's stuff classes {} are not the training data's "
                         "stuff categories {} (internal class ids)".format(
                             config.stuff_class_ids(), stuff))
    if config.NUM_CLASSES != train.num_classes:
        raise ValueError("NUM_CLASSES = {} but the training data has {} classes (with BG): "
                         "{}".format(config.NUM_CLASSES, train.num_classes,
                                     ", ".join(train.class_names)))
    model = MaskRCNN("training", config, model_dir=args.logs)
    # Weight files must fill every layer but the excluded heads (strict);
    # ImageNet weights are a backbone only.
    if args.resume:
        last = model.find_last()
        print("resuming from {}".format(last))
        model.load_weights(last, strict=True)
    elif args.weights == "coco":
        from mrcnn.pretrained import coco_weights_path
        exclude = CLASS_SPECIFIC_LAYERS if config.NUM_CLASSES != 81 else None
        model.load_weights(coco_weights_path(), strict=True, exclude=exclude)
    elif args.weights == "imagenet":
        model.load_weights(model.get_imagenet_weights(), by_name=True)
    elif args.weights not in (None, "none"):
        model.load_weights(args.weights, strict=True,
                           exclude=CLASS_SPECIFIC_LAYERS if args.exclude_heads else None)
    augmentation = None
    if args.flip:
        import albumentations as A
        augmentation = A.HorizontalFlip(p=0.5)
    model.train(train, val, learning_rate=args.learning_rate or config.LEARNING_RATE,
                epochs=args.epochs, layers=args.layers, augmentation=augmentation,
                verbose=0 if args.quiet else 1)
    output = output or os.path.join(model.log_dir, "model")
    model.save(output, class_names=train.class_names)
    print("wrote the trained model to {} (use it with mrcnn detect/evaluate/export "
          "--model {})".format(output, output))
    return 0


def add_parser(sub):
    """Add the `train` subcommand to the subparsers `sub`."""
    train = _subcommand(
        sub, "train", _train,
        help="train on a dataset (COCO JSON, VIA, LabelMe, mask folder, shapes)",
        description="Train Mask R-CNN. The config comes from --config (a Config JSON) or "
                    "the defaults, with NUM_CLASSES taken from the data; --set overrides "
                    "single attributes. Checkpoints go to LOGS/<name><date>/ each epoch; "
                    "the final model directory is written to --output.")
    _dataset_arguments(train)
    train.add_argument("--train", required=True,
                       help="training annotations: a JSON file (coco, via), a folder "
                            "(labelme, folder) or COUNT[:SEED] for shapes")
    train.add_argument("--train-images", help="image folder (default: beside the annotations)")
    train.add_argument("--val", help="validation annotations, like --train (same classes)")
    train.add_argument("--val-images", help="validation image folder")
    train.add_argument("--train-pngs", help="coco-panoptic: the training panoptic PNG folder "
                                            "(default: the JSON's path without .json)")
    train.add_argument("--val-pngs", help="coco-panoptic: the validation panoptic PNG folder")
    train.add_argument("--config", help="Config JSON (Config.save) to start from; "
                                        "NUM_CLASSES follows the data unless --set")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a config attribute (repeatable)")
    train.add_argument("--name", default="mrcnn", help="config NAME when no --config (default "
                                                       "mrcnn): names the log directory")
    train.add_argument("--weights", default="none",
                       help="initial weights: coco, imagenet, none (default) or an .h5 path")
    train.add_argument("--exclude-heads", action="store_true",
                       help="with an .h5 --weights: skip the class-specific head layers")
    train.add_argument("--resume", action="store_true",
                       help="continue the last run of this config in --logs")
    train.add_argument("--layers", default="heads",
                       help="heads, 3+, 4+, 5+, all or a regex (default heads)")
    train.add_argument("--epochs", type=int, required=True,
                       help="train up to this epoch number (counting a resumed run's)")
    train.add_argument("--learning-rate", type=float, help="default: config LEARNING_RATE")
    train.add_argument("--flip", action="store_true", help="random horizontal flips")
    train.add_argument("--logs", default="logs", help="log and checkpoint root (default logs)")
    train.add_argument("--output", help="model directory to write at the end "
                                        "(default: LOGS/<run>/model)")
    train.add_argument("--force", action="store_true", help="overwrite an existing --output")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    return train
