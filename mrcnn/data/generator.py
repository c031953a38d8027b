"""matterport's Python generator of training batches, with the NumPy
versions of the heads' targets for looking at them.

`data_generator` yields (inputs, outputs) batches forever, as
matterport's model.data_generator did; `generate_random_rois` and
`build_detection_targets` give it random proposals and their targets (what
DetectionTargetLayer computes in the graph), for inspect_data.ipynb or for
training the heads without an RPN. Training itself feeds
`keras.Model.fit` through mrcnn.data.pipeline.make_tf_dataset. All names
are importable from mrcnn.data.pipeline and mrcnn.model as before.
"""

import numpy as np

from mrcnn.boxes import box_refinement, compute_overlaps
from mrcnn.masks import resize
from mrcnn.data.augment import check_augmentation
from mrcnn.data.sample import (check_classes, check_keypoint_augmentation, training_anchors,
                               training_sample)


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

    overlaps = compute_overlaps(rpn_rois.astype(np.float64), gt_boxes.astype(np.float64))
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
        deltas = box_refinement(rois[pos], gt_boxes[assigned[pos]])
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
            masks[i, :, :, class_ids[i]] = resize(crop, mask_shape)
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
        full[y1:y2, x1:x2] = np.round(resize(mask, (y2 - y1, x2 - x1))).astype(bool)
    return full


def data_generator(dataset, config, shuffle=True, augment=False, augmentation=None,
                   random_rois=0, batch_size=1, detection_targets=False,
                   no_augmentation_sources=None):
    """matterport's generator: yields (inputs, outputs) batches forever.
    Images without instances are skipped.

    inputs: the 7 batch arrays of mrcnn.data.sample (8 with keypoints);
        with random_rois=N
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
    extras = (_random_roi_inputs(config, int(random_rois), detection_targets)
              if random_rois else None)
    index = -1
    batch = []
    while True:
        index = (index + 1) % len(image_ids)
        if shuffle and index == 0:
            np.random.shuffle(image_ids)
        image_id = image_ids[index]
        source = dataset.image_info[image_id]["source"]
        aug = None if source in no_augmentation_sources else augmentation
        sample = training_sample(dataset, config, image_id, anchors, aug, augment=augment,
                                 extras=extras)
        if sample is None:
            continue
        batch.append(sample)
        if len(batch) == batch_size:
            inputs = [np.stack(x) for x in zip(*[b[0] for b in batch])]
            outputs = [np.stack(x) for x in zip(*[b[1] for b in batch])]
            yield inputs, outputs
            batch = []


def _random_roi_inputs(config, count, detection_targets):
    """The `extras` of mrcnn.data.sample.training_sample for data_generator:
    `count` random RoIs as an extra input, and with `detection_targets` the
    RoIs kept by build_detection_targets as another, their targets as the
    outputs."""
    def extras(image_shape, gt_class_ids, gt_boxes, gt_masks):
        rpn_rois = generate_random_rois(image_shape, count, gt_class_ids, gt_boxes)
        if not detection_targets:
            return [rpn_rois], []
        rois, mrcnn_class_ids, mrcnn_bbox, mrcnn_mask = build_detection_targets(
            rpn_rois, gt_class_ids, gt_boxes, gt_masks, config)
        return [rpn_rois, rois], [mrcnn_class_ids[:, None], mrcnn_bbox, mrcnn_mask]
    return extras
