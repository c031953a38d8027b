"""One training sample: an image's ground truth, resized like the network's
input, and its RPN targets.

`load_image_gt` and `build_rpn_targets` keep matterport's names and
semantics (also importable from mrcnn.data.pipeline and mrcnn.model);
`build_training_sample` assembles them into the arrays the training model
takes, which mrcnn.data.pipeline.make_tf_dataset and
mrcnn.data.generator.data_generator batch. A sample is a tuple of 7 arrays:
    images: float32 [H, W, C] molded (resized, padded, mean subtracted)
    image_meta: float32 [IMAGE_META_SIZE]
    rpn_match: int32 [anchors, 1] (1 positive, -1 negative, 0 neutral)
    rpn_bbox: float32 [RPN_TRAIN_ANCHORS_PER_IMAGE, 4]
    gt_class_ids: int32 [MAX_GT_INSTANCES]
    gt_boxes: int32 [MAX_GT_INSTANCES, (y1, x1, y2, x2)] pixels
    gt_masks: bool [h, w, MAX_GT_INSTANCES] (MINI_MASK_SHAPE or image size)
and, when config.KEYPOINT_NAMES is set (Keypoint R-CNN), an 8th:
    gt_keypoints: float32 [MAX_GT_INSTANCES, K, (x, y, v)] in pixels of
        the molded image (mrcnn.data.keypoints), v = 0 for padding
and, when config.NUM_STUFF_CLASSES > 0 (the semantic head), one more:
    gt_semantic: int32 [H, W] labels of the molded image (mrcnn.data.semantic:
        k the k-th stuff class, 0 thing/other, -1 void and padding)
(the heads' extra arrays in the order of config.ROI_HEADS).
A batch stacks B samples along a new first axis.
"""

import warnings

import numpy as np

from mrcnn.boxes import compute_overlaps, extract_bboxes
from mrcnn.masks import minimize_mask, resize_mask
from mrcnn.data import keypoints as kp
from mrcnn.data import semantic as sem
from mrcnn.data.augment import augment_image_and_masks, check_augmentation
from mrcnn.data.images import to_model_image
from mrcnn.molding import compose_image_meta, mold_image, pyramid_anchors, resize_image


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
    cannot move them (see mrcnn.data.keypoints.keypoint_support), or
    keypoints and a semantic map together
    (mrcnn.data.semantic.check_semantic_augmentation)."""
    sem.check_semantic_augmentation(config, augmentation)
    if has_keypoints(config) and augmentation is not None:
        kp.keypoint_support(augmentation)


def load_image_gt(dataset, config, image_id, augment=False, augmentation=None,
                  use_mini_mask=False, return_keypoints=False, return_semantic=False):
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
    return_semantic: also return the semantic head's labels (config with
        NUM_STUFF_CLASSES, dataset.load_semantic; mrcnn.data.semantic),
        moved with the image like a mask: resized, padded (void), cropped,
        flipped and augmented.

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
        semantic (with return_semantic): int32 [height, width] labels.
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
    semantic = None
    if return_semantic:
        semantic = sem.load_semantic_labels(dataset, config, image_id, image.shape, name)
    original_shape = image.shape
    image, window, scale, padding, crop = resize_image(
        image,
        min_dim=config.IMAGE_MIN_DIM,
        min_scale=config.IMAGE_MIN_SCALE,
        max_dim=config.IMAGE_MAX_DIM,
        mode=config.IMAGE_RESIZE_MODE)
    mask = resize_mask(mask, scale, padding, crop)
    if keypoints is not None:
        keypoints = kp.resize_keypoints(keypoints, original_shape, scale, padding, crop)
    if semantic is not None:
        semantic = sem.resize_labels(semantic, scale, padding, crop)

    if augment:
        warnings.warn("'augment' is deprecated: use augmentation=RandomFlip(0.5) "
                      "(mrcnn.data.augment) or an albumentations flip", DeprecationWarning,
                      stacklevel=2)
        if np.random.randint(0, 2):
            image = np.fliplr(image)
            mask = np.fliplr(mask)
            if semantic is not None:
                semantic = np.ascontiguousarray(np.fliplr(semantic))
            if keypoints is not None:
                keypoints = kp.flip_keypoints(keypoints, image.shape[1], permutation)
    if augmentation is not None:
        if keypoints is not None:
            image, mask, keypoints = kp.augment_with_keypoints(
                augmentation, image, mask, keypoints, permutation, name=name)
        elif semantic is not None:
            image, mask, semantic = sem.augment_with_semantic(augmentation, image, mask,
                                                              semantic, name=name)
        else:
            image, mask = augment_image_and_masks(augmentation, image, mask, name=name)

    keep = np.sum(mask, axis=(0, 1)) > 0
    mask = mask[:, :, keep]
    class_ids = class_ids[keep]
    bbox = extract_bboxes(mask)
    if keypoints is not None:
        keypoints = kp.clip_to_image(keypoints[keep], image.shape)

    active_class_ids = np.zeros([dataset.num_classes], dtype=np.int32)
    source_class_ids = dataset.source_class_ids[dataset.image_info[image_id]["source"]]
    active_class_ids[source_class_ids] = 1

    if use_mini_mask:
        mask = minimize_mask(bbox, mask, config.MINI_MASK_SHAPE)
    image_meta = compose_image_meta(image_id, original_shape, image.shape,
                                    window, scale, active_class_ids)
    out = (image, image_meta, class_ids, bbox, mask)
    if return_keypoints:
        out += (keypoints,)
    if return_semantic:
        out += (semantic,)
    return out


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
        crowd_overlaps = compute_overlaps(anchors, crowd_boxes)
        no_crowd_bool = np.amax(crowd_overlaps, axis=1) < 0.001
    else:
        no_crowd_bool = np.ones([anchors.shape[0]], dtype=bool)
    if gt_boxes.shape[0] == 0:
        return rpn_match, rpn_bbox

    overlaps = compute_overlaps(anchors, gt_boxes)
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
    """One training sample as the tuple of the module docstring (unbatched:
    7 arrays, 8 with keypoints or the semantic map, 9 with both), or None when the image has no instance
    left."""
    parts = training_sample(dataset, config, image_id, anchors, augmentation, augment)
    return None if parts is None else parts[0]


def training_sample(dataset, config, image_id, anchors, augmentation=None, augment=False,
                    extras=None):
    """(inputs, outputs) of one image, or None when the image has no
    instance left: inputs are the arrays of the module docstring, outputs
    [] unless `extras` says otherwise.

    extras: optional callable(image_shape, gt_class_ids, gt_boxes, gt_masks)
        -> (extra_inputs, outputs), called on the image's ground truth after
        the RPN targets and before the MAX_GT_INSTANCES subsampling (the
        order in which matterport's generator drew its random numbers); the
        extra inputs are appended to the inputs (see
        mrcnn.data.generator.data_generator).
    """
    with_keypoints = has_keypoints(config)
    with_semantic = sem.has_semantic(config)
    gt = load_image_gt(dataset, config, image_id, augment=augment, augmentation=augmentation,
                       use_mini_mask=config.USE_MINI_MASK, return_keypoints=with_keypoints,
                       return_semantic=with_semantic)
    image, image_meta, gt_class_ids, gt_boxes, gt_masks = gt[:5]
    gt_keypoints = gt[5] if with_keypoints else None
    gt_semantic = gt[-1] if with_semantic else None
    if not np.any(gt_class_ids > 0):
        return None
    rpn_match, rpn_bbox = build_rpn_targets(image.shape, anchors, gt_class_ids, gt_boxes, config)
    extra_inputs, outputs = [], []
    if extras is not None:
        extra_inputs, outputs = extras(image.shape, gt_class_ids, gt_boxes, gt_masks)
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
    heads = {}
    if with_keypoints:
        keypoints = np.zeros((config.MAX_GT_INSTANCES, len(config.KEYPOINT_NAMES), 3),
                             np.float32)
        keypoints[:n] = gt_keypoints
        heads["keypoint"] = keypoints
    if with_semantic:
        heads["semantic"] = gt_semantic.astype(np.int32)
    inputs += tuple(heads[h] for h in config.ROI_HEADS if h in heads)
    return inputs + tuple(extra_inputs), outputs


def sample_specs(config, num_anchors):
    """(shape, dtype) of each array of a sample (the module docstring), for a
    training image of config.IMAGE_SHAPE with `num_anchors` anchors."""
    h, w = (config.MINI_MASK_SHAPE if config.USE_MINI_MASK else config.IMAGE_SHAPE[:2])
    heads = {}
    if has_keypoints(config):
        heads["keypoint"] = ((config.MAX_GT_INSTANCES, len(config.KEYPOINT_NAMES), 3),
                             np.float32)
    if sem.has_semantic(config):
        heads["semantic"] = (tuple(int(v) for v in config.IMAGE_SHAPE[:2]), np.int32)
    return [
        (tuple(int(v) for v in config.IMAGE_SHAPE), np.float32),
        ((config.IMAGE_META_SIZE,), np.float32),
        ((num_anchors, 1), np.int32),
        ((config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4), np.float32),
        ((config.MAX_GT_INSTANCES,), np.int32),
        ((config.MAX_GT_INSTANCES, 4), np.int32),
        ((int(h), int(w), config.MAX_GT_INSTANCES), bool),
    ] + [heads[h] for h in config.ROI_HEADS if h in heads]
