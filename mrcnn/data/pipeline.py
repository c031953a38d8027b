"""Training inputs: ground truth of an image, RPN targets, batches.

`load_image_gt`, `build_rpn_targets` and `data_generator` keep matterport's
names and semantics; `make_tf_dataset` feeds `keras.Model.fit` through
`tf.data` with parallel workers.

A training batch is a tuple of 7 arrays:
    images: float32 [B, H, W, C] molded (resized, padded, mean subtracted)
    image_meta: float32 [B, IMAGE_META_SIZE]
    rpn_match: int32 [B, anchors, 1] (1 positive, -1 negative, 0 neutral)
    rpn_bbox: float32 [B, RPN_TRAIN_ANCHORS_PER_IMAGE, 4]
    gt_class_ids: int32 [B, MAX_GT_INSTANCES]
    gt_boxes: int32 [B, MAX_GT_INSTANCES, (y1, x1, y2, x2)] pixels
    gt_masks: bool [B, h, w, MAX_GT_INSTANCES] (MINI_MASK_SHAPE or image size)
"""

import logging
import warnings

import numpy as np

from mrcnn import utils
from mrcnn.data.augment import augment_image_and_masks, check_augmentation
from mrcnn.data.images import to_model_image
from mrcnn.molding import compose_image_meta, mold_image, pyramid_anchors, resize_image

logger = logging.getLogger(__name__)


def check_mask(dataset, image_id, image, mask, class_ids):
    """Raise a ValueError naming the image when load_mask's output does not
    fit the image."""
    mask = np.asarray(mask)
    class_ids = np.asarray(class_ids)
    where = _image_name(dataset, image_id)
    if mask.ndim != 3:
        raise ValueError("{}: load_mask returned masks of shape {}; expected "
                         "[height, width, instances]".format(where, mask.shape))
    if mask.shape[-1] != class_ids.shape[0]:
        raise ValueError("{}: load_mask returned {} masks but {} class ids".format(
            where, mask.shape[-1], class_ids.shape[0]))
    if mask.shape[-1] and mask.shape[:2] != image.shape[:2]:
        hint = ""
        if mask.shape[:2] == image.shape[1::-1]:
            hint = ("; width and height are swapped: was the image rotated by its EXIF "
                    "orientation (Dataset.exif_transpose) while the masks were not, or the "
                    "other way round?")
        raise ValueError("{}: masks are {}x{} but the image is {}x{}{}".format(
            where, mask.shape[0], mask.shape[1], image.shape[0], image.shape[1], hint))


def check_classes(dataset, config):
    """Raise a ValueError when the dataset's class count (background
    included) is not config.NUM_CLASSES: image metas would not fit the
    network."""
    if dataset.num_classes != config.NUM_CLASSES:
        raise ValueError("the dataset has {} classes (background included: {}) but "
                         "config.NUM_CLASSES is {}; they must match".format(
                             dataset.num_classes, ", ".join(map(str, dataset.class_names[:8])) +
                             (" ..." if dataset.num_classes > 8 else ""), config.NUM_CLASSES))


def _image_name(dataset, image_id):
    """"image <id> (<reference or path>)" for error messages."""
    if hasattr(dataset, "image_name"):
        return dataset.image_name(image_id)
    return "image {}".format(image_id)


def load_image_gt(dataset, config, image_id, augment=False, augmentation=None,
                  use_mini_mask=False):
    """Load an image and its ground truth, resized like the network's input.

    augment: deprecated matterport flag: random horizontal flip.
    augmentation: an albumentations Compose (or transform), or a callable
        taking ``image=``, ``masks=[...]`` and returning a dict with both
        (see mrcnn.data.augment); it sees the resized image and must keep
        its size. Boxes are computed from the augmented masks.
    use_mini_mask: return masks cropped to their boxes and resized to
        config.MINI_MASK_SHAPE.

    The dataset's image is converted to uint8 [H, W, IMAGE_CHANNEL_COUNT]
    with mrcnn.data.images.to_model_image (8-bit images of the right
    channel count pass unchanged).

    Returns:
        image: uint8 [height, width, channels] resized, not yet molded.
        image_meta: see compose_image_meta.
        class_ids: int32 [instances].
        bbox: int32 [instances, (y1, x1, y2, x2)].
        mask: bool [height, width, instances] (mini-mask size if asked).
    Instances whose mask is empty after resizing or augmentation are dropped.
    """
    augmentation = check_augmentation(augmentation)
    name = _image_name(dataset, image_id)
    image = to_model_image(dataset.load_image(image_id), config.IMAGE_CHANNEL_COUNT, name=name)
    mask, class_ids = dataset.load_mask(image_id)
    check_mask(dataset, image_id, image, mask, class_ids)
    class_ids = np.asarray(class_ids, dtype=np.int32)
    if mask.shape[-1] == 0:
        mask = np.zeros(image.shape[:2] + (0,), dtype=bool)
    original_shape = image.shape
    image, window, scale, padding, crop = resize_image(
        image,
        min_dim=config.IMAGE_MIN_DIM,
        min_scale=config.IMAGE_MIN_SCALE,
        max_dim=config.IMAGE_MAX_DIM,
        mode=config.IMAGE_RESIZE_MODE)
    mask = utils.resize_mask(mask, scale, padding, crop)

    if augment:
        warnings.warn("'augment' is deprecated: use augmentation=RandomFlip(0.5) "
                      "(mrcnn.data.augment) or an albumentations flip", DeprecationWarning,
                      stacklevel=2)
        if np.random.randint(0, 2):
            image = np.fliplr(image)
            mask = np.fliplr(mask)
    if augmentation is not None:
        image, mask = augment_image_and_masks(augmentation, image, mask, name=name)

    keep = np.sum(mask, axis=(0, 1)) > 0
    mask = mask[:, :, keep]
    class_ids = class_ids[keep]
    bbox = utils.extract_bboxes(mask)

    active_class_ids = np.zeros([dataset.num_classes], dtype=np.int32)
    source_class_ids = dataset.source_class_ids[dataset.image_info[image_id]["source"]]
    active_class_ids[source_class_ids] = 1

    if use_mini_mask:
        mask = utils.minimize_mask(bbox, mask, config.MINI_MASK_SHAPE)
    image_meta = compose_image_meta(image_id, original_shape, image.shape,
                                    window, scale, active_class_ids)
    return image, image_meta, class_ids, bbox, mask


def build_rpn_targets(image_shape, anchors, gt_class_ids, gt_boxes, config):
    """Label anchors for RPN training and compute their target deltas.

    An anchor is positive when its IoU with a ground-truth box is >= 0.7 or
    it is the best anchor of some box; negative when its best IoU is < 0.3
    (and it does not touch a crowd box, class id < 0). Positives are
    subsampled to half of RPN_TRAIN_ANCHORS_PER_IMAGE, negatives fill the rest.

    Returns:
        rpn_match: int32 [anchors]: 1 positive, -1 negative, 0 neutral.
        rpn_bbox: [RPN_TRAIN_ANCHORS_PER_IMAGE, (dy, dx, log(dh), log(dw))]
            targets of the positives in anchor order, divided by
            RPN_BBOX_STD_DEV, zero-padded.
    """
    rpn_match = np.zeros([anchors.shape[0]], dtype=np.int32)
    rpn_bbox = np.zeros((config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4))

    crowd_ix = np.where(gt_class_ids < 0)[0]
    if crowd_ix.shape[0] > 0:
        non_crowd_ix = np.where(gt_class_ids > 0)[0]
        crowd_boxes = gt_boxes[crowd_ix]
        gt_class_ids = gt_class_ids[non_crowd_ix]
        gt_boxes = gt_boxes[non_crowd_ix]
        crowd_overlaps = utils.compute_overlaps(anchors, crowd_boxes)
        no_crowd_bool = np.amax(crowd_overlaps, axis=1) < 0.001
    else:
        no_crowd_bool = np.ones([anchors.shape[0]], dtype=bool)
    if gt_boxes.shape[0] == 0:
        return rpn_match, rpn_bbox

    overlaps = utils.compute_overlaps(anchors, gt_boxes)
    anchor_iou_argmax = np.argmax(overlaps, axis=1)
    anchor_iou_max = overlaps[np.arange(overlaps.shape[0]), anchor_iou_argmax]
    rpn_match[(anchor_iou_max < 0.3) & no_crowd_bool] = -1
    # Every ground-truth box gets its best anchor(s), whatever the IoU.
    gt_iou_argmax = np.argwhere(overlaps == np.max(overlaps, axis=0))[:, 0]
    rpn_match[gt_iou_argmax] = 1
    rpn_match[anchor_iou_max >= 0.7] = 1

    ids = np.where(rpn_match == 1)[0]
    extra = len(ids) - (config.RPN_TRAIN_ANCHORS_PER_IMAGE // 2)
    if extra > 0:
        rpn_match[np.random.choice(ids, extra, replace=False)] = 0
    ids = np.where(rpn_match == -1)[0]
    extra = len(ids) - (config.RPN_TRAIN_ANCHORS_PER_IMAGE - np.sum(rpn_match == 1))
    if extra > 0:
        rpn_match[np.random.choice(ids, extra, replace=False)] = 0

    ids = np.where(rpn_match == 1)[0]
    gt = gt_boxes[anchor_iou_argmax[ids]].astype(np.float64)
    a = anchors[ids]
    gt_h = gt[:, 2] - gt[:, 0]
    gt_w = gt[:, 3] - gt[:, 1]
    a_h = a[:, 2] - a[:, 0]
    a_w = a[:, 3] - a[:, 1]
    deltas = np.stack([
        (gt[:, 0] + 0.5 * gt_h - (a[:, 0] + 0.5 * a_h)) / a_h,
        (gt[:, 1] + 0.5 * gt_w - (a[:, 1] + 0.5 * a_w)) / a_w,
        np.log(gt_h / a_h),
        np.log(gt_w / a_w),
    ], axis=1)
    rpn_bbox[:len(ids)] = deltas / config.RPN_BBOX_STD_DEV
    return rpn_match, rpn_bbox


def training_anchors(config):
    """Pixel anchors of a training image of config.IMAGE_SHAPE
    (mrcnn.molding.pyramid_anchors)."""
    return pyramid_anchors(config, config.IMAGE_SHAPE)


def build_training_sample(dataset, config, image_id, anchors, augmentation=None,
                          augment=False):
    """One training sample as the tuple of the module docstring (unbatched),
    or None when the image has no instance left."""
    image, image_meta, gt_class_ids, gt_boxes, gt_masks = load_image_gt(
        dataset, config, image_id, augment=augment, augmentation=augmentation,
        use_mini_mask=config.USE_MINI_MASK)
    if not np.any(gt_class_ids > 0):
        return None
    rpn_match, rpn_bbox = build_rpn_targets(image.shape, anchors, gt_class_ids, gt_boxes, config)
    if gt_boxes.shape[0] > config.MAX_GT_INSTANCES:
        ids = np.random.choice(np.arange(gt_boxes.shape[0]), config.MAX_GT_INSTANCES,
                               replace=False)
        gt_class_ids, gt_boxes, gt_masks = gt_class_ids[ids], gt_boxes[ids], gt_masks[:, :, ids]
    n = gt_boxes.shape[0]
    class_ids = np.zeros([config.MAX_GT_INSTANCES], np.int32)
    boxes = np.zeros([config.MAX_GT_INSTANCES, 4], np.int32)
    masks = np.zeros(gt_masks.shape[:2] + (config.MAX_GT_INSTANCES,), bool)
    class_ids[:n], boxes[:n], masks[:, :, :n] = gt_class_ids, gt_boxes, gt_masks
    return (mold_image(image.astype(np.float32), config).astype(np.float32),
            image_meta.astype(np.float32),
            rpn_match[:, None].astype(np.int32),
            rpn_bbox.astype(np.float32),
            class_ids, boxes, masks)


def data_generator(dataset, config, shuffle=True, augment=False, augmentation=None,
                   random_rois=0, batch_size=1, detection_targets=False,
                   no_augmentation_sources=None):
    """matterport's generator: yields (inputs, []) with the 7 batch arrays of
    the module docstring as `inputs`, forever. Images without instances are
    skipped. random_rois / detection_targets are not supported (they served
    to debug the heads without an RPN).

    augmentation: see load_image_gt; not applied to images whose source is
    in no_augmentation_sources. augment (deprecated, matterport): a random
    left-right flip of every image, whatever its source."""
    if random_rois or detection_targets:
        raise NotImplementedError("random_rois and detection_targets are not supported; "
                                  "use Config.USE_RPN_ROIS=True")
    augmentation = check_augmentation(augmentation)
    anchors = training_anchors(config)
    no_augmentation_sources = no_augmentation_sources or []
    image_ids = np.copy(dataset.image_ids)
    if len(image_ids) == 0:
        raise ValueError("data_generator: the dataset has no images (did you call prepare()?)")
    check_classes(dataset, config)
    index = -1
    batch = []
    while True:
        index = (index + 1) % len(image_ids)
        if shuffle and index == 0:
            np.random.shuffle(image_ids)
        image_id = image_ids[index]
        source = dataset.image_info[image_id]["source"]
        aug = None if source in no_augmentation_sources else augmentation
        sample = build_training_sample(dataset, config, image_id, anchors, aug,
                                       augment=augment)
        if sample is None:
            continue
        batch.append(sample)
        if len(batch) == batch_size:
            yield [np.stack(x) for x in zip(*batch)], []
            batch = []


def make_tf_dataset(dataset, config, shuffle=True, augmentation=None,
                    no_augmentation_sources=None, batch_size=None, repeat=True,
                    num_parallel_calls=None, seed=None):
    """A `tf.data.Dataset` of training batches (tuples of the 7 arrays),
    built with parallel workers and prefetching. Images whose instances all
    vanish are skipped.

    augmentation: an albumentations Compose, mrcnn.data.augment.RandomFlip
        or a callable (see load_image_gt); it runs in the NumPy map (in
        parallel workers), never on images whose source is in
        no_augmentation_sources.
    seed: shuffling seed (augmentation draws from its own generator).
    """
    import tensorflow as tf

    if dataset.num_images == 0:
        raise ValueError("the dataset has no images (did you call prepare()?)")
    check_classes(dataset, config)
    augmentation = check_augmentation(augmentation)
    batch_size = batch_size or config.BATCH_SIZE
    anchors = training_anchors(config)
    no_augmentation_sources = set(no_augmentation_sources or [])
    image_ids = np.asarray(dataset.image_ids)
    empty = [np.zeros(s, d) for s, d in _sample_specs(config, anchors.shape[0])]

    def load(image_id):
        image_id = int(image_id)
        source = dataset.image_info[image_id]["source"]
        aug = None if source in no_augmentation_sources else augmentation
        sample = build_training_sample(dataset, config, image_id, anchors, aug)
        if sample is None:
            return tuple(empty) + (False,)
        return tuple(sample) + (True,)

    specs = _sample_specs(config, anchors.shape[0])
    tout = [tf.as_dtype(d) for _, d in specs] + [tf.bool]

    def tf_load(image_id):
        out = tf.numpy_function(load, [image_id], tout, stateful=True)
        for tensor, (shape, _) in zip(out, specs):
            tensor.set_shape(shape)
        out[-1].set_shape([])
        return tuple(out)

    ds = tf.data.Dataset.from_tensor_slices(image_ids)
    if repeat:
        ds = ds.repeat()
    if shuffle:
        ds = ds.shuffle(max(len(image_ids), 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(tf_load, num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE,
                deterministic=not shuffle)
    ds = ds.filter(_has_instances).map(_drop_flag)
    ds = ds.batch(batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _has_instances(*sample):
    return sample[-1]


def _drop_flag(*sample):
    return sample[:-1]


def _sample_specs(config, num_anchors):
    h, w = (config.MINI_MASK_SHAPE if config.USE_MINI_MASK else config.IMAGE_SHAPE[:2])
    return [
        (tuple(int(v) for v in config.IMAGE_SHAPE), np.float32),
        ((config.IMAGE_META_SIZE,), np.float32),
        ((num_anchors, 1), np.int32),
        ((config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4), np.float32),
        ((config.MAX_GT_INSTANCES,), np.int32),
        ((config.MAX_GT_INSTANCES, 4), np.int32),
        ((int(h), int(w), config.MAX_GT_INSTANCES), bool),
    ]
