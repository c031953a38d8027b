"""Box helpers in NumPy: extraction from masks, IoU, NMS, box deltas,
normalisation (matterport's names, dtypes and rounding; also importable from
`mrcnn.utils`).

Boxes are ``[N, (y1, x1, y2, x2)]``. In pixel coordinates ``(y2, x2)`` lies
just outside the box; in normalised coordinates (``norm_boxes``) it is the
last pixel inside it, divided by ``(height - 1, width - 1)``. Masks are
``[height, width, instances]``.
"""

import numpy as np


def extract_bboxes(mask):
    """Bounding boxes of instance masks.

    mask: [height, width, num_instances], pixels 0/1 (or bool).
    Returns int32 [num_instances, (y1, x1, y2, x2)], (y2, x2) exclusive. An
    empty mask gives an all-zero box.
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError("extract_bboxes: mask must be [height, width, instances], "
                         "got shape {}".format(mask.shape))
    boxes = np.zeros([mask.shape[-1], 4], dtype=np.int32)
    if mask.shape[-1] == 0:
        return boxes
    filled = mask != 0
    rows = np.any(filled, axis=1)  # [height, N]
    cols = np.any(filled, axis=0)  # [width, N]
    present = np.any(rows, axis=0)
    h, w = mask.shape[:2]
    y1 = np.argmax(rows, axis=0)
    y2 = h - np.argmax(rows[::-1], axis=0)
    x1 = np.argmax(cols, axis=0)
    x2 = w - np.argmax(cols[::-1], axis=0)
    boxes[present] = np.stack([y1, x1, y2, x2], axis=1)[present]
    return boxes


def compute_iou(box, boxes, box_area, boxes_area):
    """IoU of one box with each of `boxes`.

    box: [y1, x1, y2, x2]; boxes: [N, (y1, x1, y2, x2)];
    box_area: area of `box`; boxes_area: [N] areas of `boxes` (passed in so a
    caller comparing many pairs computes them once).
    """
    y1 = np.maximum(box[0], boxes[:, 0])
    y2 = np.minimum(box[2], boxes[:, 2])
    x1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[3], boxes[:, 3])
    intersection = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    union = box_area + boxes_area[:] - intersection[:]
    return intersection / union


def _box_areas(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def compute_overlaps(boxes1, boxes2):
    """IoU matrix of two box sets: float64 [len(boxes1), len(boxes2)]."""
    boxes1 = np.asarray(boxes1)
    boxes2 = np.asarray(boxes2)
    area1 = _box_areas(boxes1)
    area2 = _box_areas(boxes2)
    overlaps = np.zeros((boxes1.shape[0], boxes2.shape[0]))
    if overlaps.size == 0:
        return overlaps
    y1 = np.maximum(boxes1[:, None, 0], boxes2[None, :, 0])
    y2 = np.minimum(boxes1[:, None, 2], boxes2[None, :, 2])
    x1 = np.maximum(boxes1[:, None, 1], boxes2[None, :, 1])
    x2 = np.minimum(boxes1[:, None, 3], boxes2[None, :, 3])
    intersection = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    union = area2[None, :] + area1[:, None] - intersection
    overlaps[:] = intersection / union
    return overlaps


def compute_overlaps_masks(masks1, masks2):
    """IoU matrix of two mask sets [height, width, N1] and [height, width, N2].

    Pixels count as set where the mask is > 0.5. Returns [N1, N2]; empty when
    either set has no instances.
    """
    masks1 = np.asarray(masks1)
    masks2 = np.asarray(masks2)
    if masks1.shape[-1] == 0 or masks2.shape[-1] == 0:
        return np.zeros((masks1.shape[-1], masks2.shape[-1]))
    if masks1.shape[:-1] != masks2.shape[:-1]:
        raise ValueError("compute_overlaps_masks: mask sizes differ: {} vs {}".format(
            masks1.shape[:-1], masks2.shape[:-1]))
    masks1 = np.reshape(masks1 > .5, (-1, masks1.shape[-1])).astype(np.float32)
    masks2 = np.reshape(masks2 > .5, (-1, masks2.shape[-1])).astype(np.float32)
    area1 = np.sum(masks1, axis=0)
    area2 = np.sum(masks2, axis=0)
    intersections = np.dot(masks1.T, masks2)
    union = area1[:, None] + area2[None, :] - intersections
    return intersections / union


def non_max_suppression(boxes, scores, threshold):
    """Greedy NMS; returns int32 indices of the kept boxes, best first.

    boxes: [N, (y1, x1, y2, x2)]; scores: [N]; threshold: boxes whose IoU with
    an already kept box is above it are dropped.
    """
    boxes = np.asarray(boxes)
    scores = np.asarray(scores)
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError("non_max_suppression: boxes must be [N, 4], got {}".format(boxes.shape))
    if scores.shape != (boxes.shape[0],):
        raise ValueError("non_max_suppression: {} scores for {} boxes".format(
            scores.shape, boxes.shape[0]))
    if boxes.shape[0] == 0:
        return np.zeros([0], dtype=np.int32)
    if boxes.dtype.kind != "f":
        boxes = boxes.astype(np.float32)
    area = _box_areas(boxes)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        iou = compute_iou(boxes[best], boxes[rest], area[best], area[rest])
        order = rest[~(iou > threshold)]
    return np.array(keep, dtype=np.int32)


def apply_box_deltas(boxes, deltas):
    """Apply [N, (dy, dx, log(dh), log(dw))] deltas to [N, (y1, x1, y2, x2)] boxes.

    Returns float32 boxes.
    """
    boxes = np.asarray(boxes).astype(np.float32)
    deltas = np.asarray(deltas)
    height = boxes[:, 2] - boxes[:, 0]
    width = boxes[:, 3] - boxes[:, 1]
    center_y = boxes[:, 0] + 0.5 * height
    center_x = boxes[:, 1] + 0.5 * width
    # In-place updates keep float32 whatever the deltas' dtype.
    center_y += deltas[:, 0] * height
    center_x += deltas[:, 1] * width
    height *= np.exp(deltas[:, 2])
    width *= np.exp(deltas[:, 3])
    y1 = center_y - 0.5 * height
    x1 = center_x - 0.5 * width
    return np.stack([y1, x1, y1 + height, x1 + width], axis=1)


def box_refinement(box, gt_box):
    """Deltas [N, (dy, dx, log(dh), log(dw))] that turn `box` into `gt_box`.

    Both are [N, (y1, x1, y2, x2)], (y2, x2) exclusive. The inverse of
    `apply_box_deltas`. Returns float32.
    """
    box = np.asarray(box).astype(np.float32)
    gt_box = np.asarray(gt_box).astype(np.float32)
    height = box[:, 2] - box[:, 0]
    width = box[:, 3] - box[:, 1]
    center_y = box[:, 0] + 0.5 * height
    center_x = box[:, 1] + 0.5 * width
    gt_height = gt_box[:, 2] - gt_box[:, 0]
    gt_width = gt_box[:, 3] - gt_box[:, 1]
    gt_center_y = gt_box[:, 0] + 0.5 * gt_height
    gt_center_x = gt_box[:, 1] + 0.5 * gt_width
    dy = (gt_center_y - center_y) / height
    dx = (gt_center_x - center_x) / width
    dh = np.log(gt_height / height)
    dw = np.log(gt_width / width)
    return np.stack([dy, dx, dh, dw], axis=1)


def box_refinement_graph(box, gt_box):
    """TensorFlow version of `box_refinement` (see mrcnn.ops)."""
    from mrcnn.ops import box_refinement_graph as graph_fn
    return graph_fn(box, gt_box)


def norm_boxes(boxes, shape):
    """Pixel boxes -> normalised float32 boxes for an image of `shape` (h, w)."""
    h, w = shape
    scale = np.array([h - 1, w - 1, h - 1, w - 1])
    shift = np.array([0, 0, 1, 1])
    return np.divide((boxes - shift), scale).astype(np.float32)


def denorm_boxes(boxes, shape):
    """Normalised boxes -> int32 pixel boxes (rounded) for an image of (h, w)."""
    h, w = shape
    scale = np.array([h - 1, w - 1, h - 1, w - 1])
    shift = np.array([0, 0, 1, 1])
    return np.around(np.multiply(boxes, scale) + shift).astype(np.int32)
