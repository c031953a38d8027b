"""Training inputs: ground truth of an image, RPN targets, batches.

`load_image_gt`, `build_rpn_targets`, `generate_random_rois`,
`build_detection_targets` and `data_generator` keep matterport's names and
semantics; `make_tf_dataset` feeds `keras.Model.fit` through
`tf.data` with parallel workers.

A training batch is a tuple of 7 arrays:
    images: float32 [B, H, W, C] molded (resized, padded, mean subtracted)
    image_meta: float32 [B, IMAGE_META_SIZE]
    rpn_match: int32 [B, anchors, 1] (1 positive, -1 negative, 0 neutral)
    rpn_bbox: float32 [B, RPN_TRAIN_ANCHORS_PER_IMAGE, 4]
    gt_class_ids: int32 [B, MAX_GT_INSTANCES]
    gt_boxes: int32 [B, MAX_GT_INSTANCES, (y1, x1, y2, x2)] pixels
    gt_masks: bool [B, h, w, MAX_GT_INSTANCES] (MINI_MASK_SHAPE or image size)
and, when config.KEYPOINT_NAMES is set (Keypoint R-CNN), an 8th:
    gt_keypoints: float32 [B, MAX_GT_INSTANCES, K, (x, y, v)] in pixels of
        the molded image (mrcnn.data.keypoints), v = 0 for padding
"""

import logging
import warnings

import numpy as np

from mrcnn import utils
from mrcnn.data import keypoints as kp
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


def has_keypoints(config):
    """Whether the config has a keypoint head (config.KEYPOINT_NAMES)."""
    return bool(getattr(config, "KEYPOINT_NAMES", ()))


def load_keypoints(dataset, config, image_id, num_instances):
    """dataset.load_keypoints checked and in config.KEYPOINT_NAMES order:
    float32 [num_instances, K, 3] (zeros, unlabelled, when the dataset has
    none). Errors name the image."""
    names = list(config.KEYPOINT_NAMES)
    raw = dataset.load_keypoints(image_id) if hasattr(dataset, "load_keypoints") else None
    if raw is None:
        return np.zeros((num_instances, len(names), 3), np.float32)
    where = _image_name(dataset, image_id)
    dataset_names = getattr(dataset, "keypoint_names", None)
    if dataset_names:
        keypoints = kp.check_keypoints(raw, num_instances, len(dataset_names), where,
                                       names_from="the dataset's keypoint_names")
    else:
        keypoints = kp.check_keypoints(raw, num_instances, len(names), where)
    if dataset_names:
        keypoints = kp.reorder_keypoints(keypoints, dataset_names, names, where)
    return np.asarray(keypoints, np.float32)


def check_keypoint_augmentation(config, augmentation):
    """Raise a TypeError when config has keypoints and `augmentation`
    cannot move them (see mrcnn.data.keypoints.keypoint_support)."""
    if has_keypoints(config) and augmentation is not None:
        kp.keypoint_support(augmentation)


def load_image_gt(dataset, config, image_id, augment=False, augmentation=None,
                  use_mini_mask=False, return_keypoints=False):
    """Load an image and its ground truth, resized like the network's input.

    augment: deprecated matterport flag: random horizontal flip.
    augmentation: an albumentations Compose (or transform), or a callable
        taking ``image=``, ``masks=[...]`` and returning a dict with both
        (see mrcnn.data.augment); it sees the resized image and must keep
        its size. Boxes are computed from the augmented masks.
    use_mini_mask: return masks cropped to their boxes and resized to
        config.MINI_MASK_SHAPE.
    return_keypoints: also return the instances' keypoints (config with
        KEYPOINT_NAMES, dataset.load_keypoints), moved with the image:
        resized, cropped, flipped and augmented (a mirroring swaps
        config.KEYPOINT_FLIP_PAIRS); those that leave the image get v = 0.

    The dataset's image is converted to uint8 [H, W, IMAGE_CHANNEL_COUNT]
    with mrcnn.data.images.to_model_image (8-bit images of the right
    channel count pass unchanged).

    Returns:
        image: uint8 [height, width, channels] resized, not yet molded.
        image_meta: see compose_image_meta.
        class_ids: int32 [instances].
        bbox: int32 [instances, (y1, x1, y2, x2)].
        mask: bool [height, width, instances] (mini-mask size if asked).
        keypoints (with return_keypoints): float32 [instances, K, (x, y, v)]
            in pixels of the resized image (mini-masks do not change them).
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
    keypoints = permutation = None
    if return_keypoints:
        keypoints = load_keypoints(dataset, config, image_id, class_ids.shape[0])
        permutation = kp.flip_permutation(config.KEYPOINT_NAMES, config.KEYPOINT_FLIP_PAIRS)
    original_shape = image.shape
    image, window, scale, padding, crop = resize_image(
        image,
        min_dim=config.IMAGE_MIN_DIM,
        min_scale=config.IMAGE_MIN_SCALE,
        max_dim=config.IMAGE_MAX_DIM,
        mode=config.IMAGE_RESIZE_MODE)
    mask = utils.resize_mask(mask, scale, padding, crop)
    if keypoints is not None:
        keypoints = kp.resize_keypoints(keypoints, original_shape, scale, padding, crop)

    if augment:
        warnings.warn("'augment' is deprecated: use augmentation=RandomFlip(0.5) "
                      "(mrcnn.data.augment) or an albumentations flip", DeprecationWarning,
                      stacklevel=2)
        if np.random.randint(0, 2):
            image = np.fliplr(image)
            mask = np.fliplr(mask)
            if keypoints is not None:
                keypoints = kp.flip_keypoints(keypoints, image.shape[1], permutation)
    if augmentation is not None:
        if keypoints is not None:
            image, mask, keypoints = kp.augment_with_keypoints(
                augmentation, image, mask, keypoints, permutation, name=name)
        else:
            image, mask = augment_image_and_masks(augmentation, image, mask, name=name)

    keep = np.sum(mask, axis=(0, 1)) > 0
    mask = mask[:, :, keep]
    class_ids = class_ids[keep]
    bbox = utils.extract_bboxes(mask)
    if keypoints is not None:
        keypoints = kp.clip_to_image(keypoints[keep], image.shape)

    active_class_ids = np.zeros([dataset.num_classes], dtype=np.int32)
    source_class_ids = dataset.source_class_ids[dataset.image_info[image_id]["source"]]
    active_class_ids[source_class_ids] = 1

    if use_mini_mask:
        mask = utils.minimize_mask(bbox, mask, config.MINI_MASK_SHAPE)
    image_meta = compose_image_meta(image_id, original_shape, image.shape,
                                    window, scale, active_class_ids)
    if return_keypoints:
        return image, image_meta, class_ids, bbox, mask, keypoints
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


def _distinct_pairs(low, high, shape):
    """Sorted pairs (a < b) of distinct integers drawn uniformly from
    [low, high) (high exclusive; arrays broadcast against `shape` [..., 1]):
    the distribution of drawing two and rejecting equal ones."""
    span = high - low
    a = np.floor(np.random.random_sample(shape) * span).astype(np.int64)
    b = np.floor(np.random.random_sample(shape) * (span - 1)).astype(np.int64)
    b += b >= a
    return low + np.minimum(a, b), low + np.maximum(a, b)


def generate_random_rois(image_shape, count, gt_class_ids, gt_boxes):
    """matterport's random proposals, to look at detection targets without
    an RPN: 90% of `count` spread over the ground-truth boxes (for each box,
    boxes with corners anywhere in the box enlarged by its own height and
    width on each side, clipped to the image), the rest anywhere in the
    image. Every RoI has integer corners and at least one pixel of height
    and width. Drawn with `np.random`.

    image_shape: [height, width(, channels)].
    count: number of RoIs.
    gt_class_ids: [N] (unused, kept for matterport's signature).
    gt_boxes: [N, (y1, x1, y2, x2)] pixels.
    Returns: int32 [count, (y1, x1, y2, x2)] pixels.
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    if height < 2 or width < 2:
        raise ValueError("generate_random_rois: the image ({}x{}) needs at least 2x2 pixels "
                         "for RoIs of nonzero size".format(height, width))
    count = int(count)
    gt_boxes = np.asarray(gt_boxes, dtype=np.int64).reshape(-1, 4)
    n = gt_boxes.shape[0]
    per_box = int(0.9 * count / n) if n else 0
    rois = np.zeros((count, 4), dtype=np.int32)
    if per_box:
        h = gt_boxes[:, 2] - gt_boxes[:, 0]
        w = gt_boxes[:, 3] - gt_boxes[:, 1]
        y_low = np.maximum(gt_boxes[:, 0] - h, 0)[:, None]
        y_high = np.minimum(gt_boxes[:, 2] + h, height)[:, None]
        x_low = np.maximum(gt_boxes[:, 1] - w, 0)[:, None]
        x_high = np.minimum(gt_boxes[:, 3] + w, width)[:, None]
        narrow = np.where((y_high - y_low < 2) | (x_high - x_low < 2))[0]
        if len(narrow):
            raise ValueError("generate_random_rois: ground-truth box {} ({}) leaves no room "
                             "for RoIs of nonzero size".format(narrow[0],
                                                               gt_boxes[narrow[0]].tolist()))
        y1, y2 = _distinct_pairs(y_low, y_high, (n, per_box))
        x1, x2 = _distinct_pairs(x_low, x_high, (n, per_box))
        rois[:n * per_box] = np.stack([y1, x1, y2, x2], axis=-1).reshape(-1, 4)
    rest = count - n * per_box
    if rest:
        y1, y2 = _distinct_pairs(0, height, (rest,))
        x1, x2 = _distinct_pairs(0, width, (rest,))
        rois[n * per_box:] = np.stack([y1, x1, y2, x2], axis=-1)
    return rois


def build_detection_targets(rpn_rois, gt_class_ids, gt_boxes, gt_masks, config):
    """matterport's NumPy detection targets (what DetectionTargetLayer does
    in the graph), for inspecting them or training the heads without an RPN.

    A RoI is positive when its best IoU with a ground-truth box is > 0.5
    (it gets that box's class, deltas and mask), negative when it is < 0.5.
    Up to TRAIN_ROIS_PER_IMAGE * ROI_POSITIVE_RATIO positives are drawn
    (`np.random`), negatives fill up to TRAIN_ROIS_PER_IMAGE; if there are
    too few, drawn negatives are repeated (positives when there is no
    negative; with neither, RoIs at IoU 0.5 as background).

    rpn_rois: [R, (y1, x1, y2, x2)] pixels.
    gt_class_ids: [N] (crowds, class id < 0, and padding 0 are ignored).
    gt_boxes: [N, (y1, x1, y2, x2)] pixels.
    gt_masks: bool [height, width, N], full size or config.MINI_MASK_SHAPE
        mini masks (config.USE_MINI_MASK).

    Returns (T = TRAIN_ROIS_PER_IMAGE):
        rois: [T, (y1, x1, y2, x2)] the kept RoIs (rpn_rois' dtype).
        class_ids: int32 [T], 0 for background RoIs.
        bboxes: float32 [T, NUM_CLASSES, (dy, dx, log(dh), log(dw))], the
            deltas from the RoI to its box divided by BBOX_STD_DEV, at the
            RoI's class (zero elsewhere and for background RoIs).
        masks: float32 [T, MASK_H, MASK_W, NUM_CLASSES], the ground-truth
            mask inside the RoI resized to MASK_SHAPE (bilinear, values in
            [0, 1]) at the RoI's class.
    """
    rpn_rois = np.asarray(rpn_rois)
    gt_class_ids = np.asarray(gt_class_ids)
    gt_boxes = np.asarray(gt_boxes).reshape(-1, 4)
    gt_masks = np.asarray(gt_masks, dtype=bool)
    if rpn_rois.ndim != 2 or rpn_rois.shape[0] == 0 or rpn_rois.shape[1] != 4:
        raise ValueError("build_detection_targets: rpn_rois has shape {}; expected "
                         "[rois > 0, 4]".format(rpn_rois.shape))
    instances = np.where(gt_class_ids > 0)[0]
    if len(instances) == 0:
        raise ValueError("build_detection_targets: the image has no instance (class id > 0)")
    gt_class_ids = gt_class_ids[instances].astype(np.int32)
    gt_boxes = gt_boxes[instances]
    gt_masks = gt_masks[:, :, instances]
    total = int(config.TRAIN_ROIS_PER_IMAGE)

    overlaps = utils.compute_overlaps(rpn_rois.astype(np.float64), gt_boxes.astype(np.float64))
    best = np.argmax(overlaps, axis=1)
    best_iou = overlaps[np.arange(len(best)), best]
    fg_ids = np.where(best_iou > 0.5)[0]
    bg_ids = np.where(best_iou < 0.5)[0]
    fg_count = int(total * config.ROI_POSITIVE_RATIO)
    if len(fg_ids) > fg_count:
        fg_ids = np.random.choice(fg_ids, fg_count, replace=False)
    if len(bg_ids) > total - len(fg_ids):
        bg_ids = np.random.choice(bg_ids, total - len(fg_ids), replace=False)
    keep = np.concatenate([fg_ids, bg_ids]).astype(np.int64)
    missing = total - len(keep)
    if missing > 0:
        pool = bg_ids if len(bg_ids) else keep if len(keep) else np.arange(len(rpn_rois))
        keep = np.concatenate([keep, np.random.choice(pool, missing, replace=True)])

    rois = rpn_rois[keep]
    positive = best_iou[keep] > 0.5
    assigned = best[keep]
    class_ids = np.where(positive, gt_class_ids[assigned], 0).astype(np.int32)
    pos = np.where(positive)[0]

    bboxes = np.zeros((total, config.NUM_CLASSES, 4), dtype=np.float32)
    if len(pos):
        deltas = utils.box_refinement(rois[pos], gt_boxes[assigned[pos]])
        bboxes[pos, class_ids[pos]] = deltas / np.asarray(config.BBOX_STD_DEV, np.float32)

    mask_shape = tuple(int(v) for v in config.MASK_SHAPE)
    masks = np.zeros((total,) + mask_shape + (config.NUM_CLASSES,), dtype=np.float32)
    full_masks = {}
    for i in pos:
        gt_id = int(assigned[i])
        if gt_id not in full_masks:
            full_masks[gt_id] = _full_image_mask(gt_masks[:, :, gt_id], gt_boxes[gt_id],
                                                 rois, config)
        y1, x1, y2, x2 = rois[i].astype(np.int32)
        crop = full_masks[gt_id][max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)]
        if crop.size:
            masks[i, :, :, class_ids[i]] = utils.resize(crop, mask_shape)
    return rois, class_ids, bboxes, masks


def _full_image_mask(mask, box, rois, config):
    """A ground-truth mask in image coordinates: a mini mask
    (config.USE_MINI_MASK) is resized into its box, as matterport did."""
    if not config.USE_MINI_MASK:
        return mask
    y1, x1, y2, x2 = (int(v) for v in box)
    height = max(int(config.IMAGE_SHAPE[0]), y2, int(np.max(rois[:, 2])))
    width = max(int(config.IMAGE_SHAPE[1]), x2, int(np.max(rois[:, 3])))
    full = np.zeros((height, width), dtype=bool)
    if y2 > y1 and x2 > x1:
        full[y1:y2, x1:x2] = np.round(utils.resize(mask, (y2 - y1, x2 - x1))).astype(bool)
    return full


def training_anchors(config):
    """Pixel anchors of a training image of config.IMAGE_SHAPE
    (mrcnn.molding.pyramid_anchors)."""
    return pyramid_anchors(config, config.IMAGE_SHAPE)


def build_training_sample(dataset, config, image_id, anchors, augmentation=None,
                          augment=False):
    """One training sample as the tuple of the module docstring (unbatched:
    7 arrays, 8 with keypoints), or None when the image has no instance
    left."""
    parts = _training_sample(dataset, config, image_id, anchors, augmentation, augment)
    return None if parts is None else parts[0]


def _training_sample(dataset, config, image_id, anchors, augmentation=None, augment=False,
                     random_rois=0, detection_targets=False):
    """(inputs, outputs) of one image for data_generator, or None when the
    image has no instance left: inputs are the 7 arrays of the module
    docstring, then with `random_rois` the random RoIs and with
    `detection_targets` the kept RoIs; outputs are [] or the class ids
    [T, 1], deltas and masks of build_detection_targets."""
    with_keypoints = has_keypoints(config)
    gt = load_image_gt(dataset, config, image_id, augment=augment, augmentation=augmentation,
                       use_mini_mask=config.USE_MINI_MASK, return_keypoints=with_keypoints)
    image, image_meta, gt_class_ids, gt_boxes, gt_masks = gt[:5]
    gt_keypoints = gt[5] if with_keypoints else None
    if not np.any(gt_class_ids > 0):
        return None
    rpn_match, rpn_bbox = build_rpn_targets(image.shape, anchors, gt_class_ids, gt_boxes, config)
    extra_inputs, outputs = [], []
    if random_rois:
        # matterport draws the RoIs and targets before capping MAX_GT_INSTANCES.
        rpn_rois = generate_random_rois(image.shape, random_rois, gt_class_ids, gt_boxes)
        extra_inputs.append(rpn_rois)
        if detection_targets:
            rois, mrcnn_class_ids, mrcnn_bbox, mrcnn_mask = build_detection_targets(
                rpn_rois, gt_class_ids, gt_boxes, gt_masks, config)
            extra_inputs.append(rois)
            outputs = [mrcnn_class_ids[:, None], mrcnn_bbox, mrcnn_mask]
    if gt_boxes.shape[0] > config.MAX_GT_INSTANCES:
        ids = np.random.choice(np.arange(gt_boxes.shape[0]), config.MAX_GT_INSTANCES,
                               replace=False)
        gt_class_ids, gt_boxes, gt_masks = gt_class_ids[ids], gt_boxes[ids], gt_masks[:, :, ids]
        if with_keypoints:
            gt_keypoints = gt_keypoints[ids]
    n = gt_boxes.shape[0]
    class_ids = np.zeros([config.MAX_GT_INSTANCES], np.int32)
    boxes = np.zeros([config.MAX_GT_INSTANCES, 4], np.int32)
    masks = np.zeros(gt_masks.shape[:2] + (config.MAX_GT_INSTANCES,), bool)
    class_ids[:n], boxes[:n], masks[:, :, :n] = gt_class_ids, gt_boxes, gt_masks
    inputs = (mold_image(image.astype(np.float32), config).astype(np.float32),
              image_meta.astype(np.float32),
              rpn_match[:, None].astype(np.int32),
              rpn_bbox.astype(np.float32),
              class_ids, boxes, masks)
    if with_keypoints:
        keypoints = np.zeros((config.MAX_GT_INSTANCES, len(config.KEYPOINT_NAMES), 3),
                             np.float32)
        keypoints[:n] = gt_keypoints
        inputs += (keypoints,)
    return inputs + tuple(extra_inputs), outputs


def data_generator(dataset, config, shuffle=True, augment=False, augmentation=None,
                   random_rois=0, batch_size=1, detection_targets=False,
                   no_augmentation_sources=None):
    """matterport's generator: yields (inputs, outputs) batches forever.
    Images without instances are skipped.

    inputs: the 7 batch arrays of the module docstring; with random_rois=N
        also rpn_rois, int32 [B, N, (y1, x1, y2, x2)] pixels
        (generate_random_rois), and with detection_targets=True also rois,
        int32 [B, TRAIN_ROIS_PER_IMAGE, 4], the RoIs kept by
        build_detection_targets.
    outputs: [] or, with detection_targets=True, the targets of those rois:
        mrcnn_class_ids int32 [B, TRAIN_ROIS_PER_IMAGE, 1], mrcnn_bbox
        float32 [B, TRAIN_ROIS_PER_IMAGE, NUM_CLASSES, 4] and mrcnn_mask
        float32 [B, TRAIN_ROIS_PER_IMAGE, MASK_H, MASK_W, NUM_CLASSES].
    They serve to look at the heads' targets (inspect_data.ipynb); training
    builds them in the graph (Config.USE_RPN_ROIS = False is not supported).

    augmentation: see load_image_gt; not applied to images whose source is
    in no_augmentation_sources. augment (deprecated, matterport): a random
    left-right flip of every image, whatever its source."""
    if (isinstance(random_rois, bool) or not isinstance(random_rois, (int, np.integer))
            or random_rois < 0):
        raise ValueError("data_generator: random_rois must be a number of RoIs >= 0, got "
                         "{!r}".format(random_rois))
    if detection_targets and not random_rois:
        raise ValueError("data_generator: detection_targets=True needs random_rois > 0 (the "
                         "RoIs whose targets are built), e.g. random_rois=2000")
    augmentation = check_augmentation(augmentation)
    check_keypoint_augmentation(config, augmentation)
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
        sample = _training_sample(dataset, config, image_id, anchors, aug, augment=augment,
                                  random_rois=int(random_rois),
                                  detection_targets=detection_targets)
        if sample is None:
            continue
        batch.append(sample)
        if len(batch) == batch_size:
            inputs = [np.stack(x) for x in zip(*[b[0] for b in batch])]
            outputs = [np.stack(x) for x in zip(*[b[1] for b in batch])]
            yield inputs, outputs
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
    repeat: repeat forever (training). Then a dataset without a single
        instance to train on is a ValueError (see `check_trainable`), and
        so is an input that yields no sample with instances in
        MAX_EMPTY_PASSES passes over the images (e.g. an augmentation that
        crops every instance away), where it would otherwise wait forever.
    """
    if dataset.num_images == 0:
        raise ValueError("the dataset has no images (did you call prepare()?)")
    check_classes(dataset, config)
    augmentation = check_augmentation(augmentation)
    check_keypoint_augmentation(config, augmentation)
    batch_size = batch_size or config.BATCH_SIZE
    anchors = training_anchors(config)
    no_augmentation_sources = set(no_augmentation_sources or [])
    image_ids = np.asarray(dataset.image_ids)
    if repeat:
        # Images without instances are filtered out of the repeated input:
        # with none to train on, the filter would wait forever.
        check_trainable(dataset, image_ids)
    import tensorflow as tf  # after the checks: they fail fast without it

    empty = [np.zeros(s, d) for s, d in _sample_specs(config, anchors.shape[0])]
    # Samples in a row without instances (e.g. all removed by augmentation);
    # MAX_EMPTY_PASSES passes over the images without one is an error.
    empty_run = [0]

    def load(image_id):
        image_id = int(image_id)
        source = dataset.image_info[image_id]["source"]
        aug = None if source in no_augmentation_sources else augmentation
        sample = build_training_sample(dataset, config, image_id, anchors, aug)
        if sample is None:
            empty_run[0] += 1
            if repeat and empty_run[0] > MAX_EMPTY_PASSES * len(image_ids):
                raise ValueError(
                    "{} images in a row ({} passes over the dataset) had no instance left "
                    "to train on after resizing{}: the training input would never yield "
                    "a batch".format(empty_run[0], MAX_EMPTY_PASSES,
                                     " and augmentation" if augmentation is not None else ""))
            return tuple(empty) + (False,)
        empty_run[0] = 0
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


# make_tf_dataset gives up after this many passes over the images in a row
# without a single trainable sample.
MAX_EMPTY_PASSES = 10


def check_trainable(dataset, image_ids=None):
    """Raise a ValueError when no image of `dataset` has an instance to train
    on (a positive class id from load_mask with a non-empty mask): training
    would wait forever for a batch. The message says when all the instances are crowd regions
    (negative ids, e.g. a CVAT "COCO 1.0" export, which writes masks as
    iscrowd: 1). Stops at the first image with an instance."""
    image_ids = dataset.image_ids if image_ids is None else image_ids
    crowd = images_with_crowd = 0
    for image_id in image_ids:
        masks, class_ids = dataset.load_mask(int(image_id))
        class_ids, masks = np.asarray(class_ids), np.asarray(masks)
        if masks.ndim == 3 and masks.shape[-1] == class_ids.shape[0]:
            class_ids = class_ids[np.any(masks, axis=(0, 1))]  # drop empty masks
        if np.any(class_ids > 0):
            return
        n = int(np.sum(class_ids < 0))
        crowd += n
        images_with_crowd += n > 0
    message = "the dataset ({}) has no instance to train on in its {} images".format(
        type(dataset).__name__, len(image_ids))
    if crowd:
        message += (": all {} of its instances (in {} images) are crowd regions (COCO "
                    "iscrowd: 1), which training ignores. Exporters such as CVAT write "
                    "masks as crowd RLE; load them as instances with "
                    "load_coco_json(..., crowd_as_instances=True) or mrcnn train "
                    "--crowd-as-instances".format(crowd, images_with_crowd))
    else:
        message += " (every image has no annotation, or only ones without pixels)"
    raise ValueError(message)


def _has_instances(*sample):
    return sample[-1]


def _drop_flag(*sample):
    return sample[:-1]


def _sample_specs(config, num_anchors):
    h, w = (config.MINI_MASK_SHAPE if config.USE_MINI_MASK else config.IMAGE_SHAPE[:2])
    keypoints = ([((config.MAX_GT_INSTANCES, len(config.KEYPOINT_NAMES), 3), np.float32)]
                 if has_keypoints(config) else [])
    return [
        (tuple(int(v) for v in config.IMAGE_SHAPE), np.float32),
        ((config.IMAGE_META_SIZE,), np.float32),
        ((num_anchors, 1), np.int32),
        ((config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4), np.float32),
        ((config.MAX_GT_INSTANCES,), np.int32),
        ((config.MAX_GT_INSTANCES, 4), np.int32),
        ((int(h), int(w), config.MAX_GT_INSTANCES), bool),
    ] + keypoints
