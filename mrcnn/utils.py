"""NumPy helpers of Mask R-CNN: boxes, masks, image resizing, anchors, AP.

Names, signatures, dtypes and rounding follow matterport's `mrcnn.utils`, so
numbers computed with these helpers match the ones users had before.

Conventions
-----------
* Boxes are ``[N, (y1, x1, y2, x2)]``. In pixel coordinates ``(y2, x2)`` lies
  just outside the box; in normalised coordinates (``norm_boxes``) it is the
  last pixel inside it, divided by ``(height - 1, width - 1)``.
* Masks are ``[height, width, instances]`` arrays of bool.
"""

import logging
import warnings

import numpy as np
import scipy.ndimage
import skimage.transform

from mrcnn.fileio import download_file, write_json_atomic, write_text_atomic  # noqa: F401

# matterport's released COCO weights.
COCO_MODEL_URL = "https://github.com/matterport/Mask_RCNN/releases/download/v2.0/mask_rcnn_coco.h5"

logger = logging.getLogger(__name__)


def __getattr__(name):
    # matterport's utils.Dataset, imported on first use: importing
    # mrcnn.data.dataset runs mrcnn/data/__init__.py, which loads every
    # annotation format (and the input pipeline, which imports this module).
    if name == "Dataset":
        from mrcnn.data.dataset import Dataset
        globals()["Dataset"] = Dataset
        return Dataset
    raise AttributeError("module {!r} has no attribute {!r}".format(__name__, name))


def __dir__():
    return sorted(list(globals()) + ["Dataset"])


############################################################
#  Bounding boxes
############################################################

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


############################################################
#  Image and mask resizing
############################################################

def resize(image, output_shape, order=1, mode="constant", cval=0, clip=True,
           preserve_range=False, anti_aliasing=False, anti_aliasing_sigma=None):
    """scikit-image's resize with matterport's defaults (no anti-aliasing).

    Bool input is resized as float32 0/1 (scikit-image refuses bilinear
    interpolation of bool arrays).
    """
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.float32)
    return skimage.transform.resize(
        image, output_shape, order=order, mode=mode, cval=cval, clip=clip,
        preserve_range=preserve_range, anti_aliasing=anti_aliasing,
        anti_aliasing_sigma=anti_aliasing_sigma)


def resize_image(image, min_dim=None, max_dim=None, min_scale=None, mode="square"):
    """Resize an image keeping its aspect ratio, and pad ("square", "pad64")
    or crop ("crop") it; returns (image, window, scale, padding, crop).

    matterport's name for mrcnn.molding.resize_image, which lives beside its
    TensorFlow twin (the export's in-graph resizing); see it for the details.
    """
    from mrcnn.molding.resize import resize_image as _resize_image
    return _resize_image(image, min_dim=min_dim, max_dim=max_dim, min_scale=min_scale,
                         mode=mode)


def resize_mask(mask, scale, padding, crop=None):
    """Resize [height, width, N] masks with the scale and padding (or crop)
    that `resize_image` returned, so masks stay aligned with the image.
    Nearest-neighbour zoom; output size is round(size * scale)."""
    mask = np.asarray(mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mask = scipy.ndimage.zoom(mask, zoom=[scale, scale, 1], order=0)
    if crop is not None:
        y, x, h, w = crop
        mask = mask[y:y + h, x:x + w]
    else:
        mask = np.pad(mask, padding, mode="constant", constant_values=0)
    return mask


def minimize_mask(bbox, mask, mini_shape):
    """Crop each mask to its box and resize it to `mini_shape` (bilinear,
    rounded). Returns bool [mini_h, mini_w, N]. Undo with `expand_mask`."""
    mask = np.asarray(mask)
    mini_shape = tuple(mini_shape)
    mini_mask = np.zeros(mini_shape + (mask.shape[-1],), dtype=bool)
    for i in range(mask.shape[-1]):
        y1, x1, y2, x2 = bbox[i][:4]
        m = mask[y1:y2, x1:x2, i].astype(bool).astype(np.float32)
        if m.size == 0:
            raise ValueError("minimize_mask: instance {} has an empty box {}".format(
                i, list(bbox[i][:4])))
        mini_mask[:, :, i] = np.around(resize(m, mini_shape)).astype(bool)
    return mini_mask


def expand_mask(bbox, mini_mask, image_shape):
    """Resize mini-masks back into full-size masks at their boxes (the
    inverse of `minimize_mask`). Returns bool [height, width, N]."""
    mask = np.zeros(tuple(image_shape[:2]) + (mini_mask.shape[-1],), dtype=bool)
    for i in range(mask.shape[-1]):
        y1, x1, y2, x2 = bbox[i][:4]
        m = resize(mini_mask[:, :, i].astype(np.float32), (y2 - y1, x2 - x1))
        mask[y1:y2, x1:x2, i] = np.around(m).astype(bool)
    return mask


def unmold_mask(mask, bbox, image_shape):
    """Paste a small float mask (e.g. the 28x28 head output) into a full-size
    bool mask: resize it to the box (bilinear) and threshold at 0.5.

    mask: [height, width] float; bbox: [y1, x1, y2, x2] in pixels;
    image_shape: (height, width[, channels]) of the full image.
    """
    y1, x1, y2, x2 = bbox
    full_mask = np.zeros(tuple(image_shape[:2]), dtype=bool)
    full_mask[y1:y2, x1:x2] = mask_to_box(mask, bbox)
    return full_mask


def mask_to_box(mask, bbox, threshold=0.5):
    """The bool mask of the box area: `mask` [h, w] float resized
    (bilinear) to the size of bbox [y1, x1, y2, x2] and thresholded."""
    y1, x1, y2, x2 = bbox
    return resize(mask, (y2 - y1, x2 - x1)) >= threshold


############################################################
#  Anchors
############################################################

def generate_anchors(scales, ratios, shape, feature_stride, anchor_stride):
    """Anchors of one feature map, in pixels.

    scales: anchor side lengths (e.g. [32]); ratios: widths/heights
    (e.g. [0.5, 1, 2]); shape: [height, width] of the feature map;
    feature_stride: its stride in pixels; anchor_stride: anchors at every
    `anchor_stride`-th cell.

    Returns float64 [cells * len(scales) * len(ratios), (y1, x1, y2, x2)],
    cells in row-major order, the anchor shapes of a cell contiguous
    (ratio-major, then scale).
    """
    scales, ratios = np.meshgrid(np.array(scales), np.array(ratios))
    scales = scales.flatten()
    ratios = ratios.flatten()
    heights = scales / np.sqrt(ratios)
    widths = scales * np.sqrt(ratios)

    shifts_y = np.arange(0, shape[0], anchor_stride) * feature_stride
    shifts_x = np.arange(0, shape[1], anchor_stride) * feature_stride
    shifts_x, shifts_y = np.meshgrid(shifts_x, shifts_y)

    # [cells, anchors per cell] grids of centers and sizes.
    box_widths, box_centers_x = np.meshgrid(widths, shifts_x)
    box_heights, box_centers_y = np.meshgrid(heights, shifts_y)
    box_centers = np.stack([box_centers_y, box_centers_x], axis=2).reshape([-1, 2])
    box_sizes = np.stack([box_heights, box_widths], axis=2).reshape([-1, 2])
    return np.concatenate([box_centers - 0.5 * box_sizes,
                           box_centers + 0.5 * box_sizes], axis=1)


def generate_pyramid_anchors(scales, ratios, feature_shapes, feature_strides,
                             anchor_stride):
    """Anchors of all pyramid levels, one scale per level, concatenated in
    level order (all anchors of scales[0] first)."""
    if not (len(scales) == len(feature_shapes) == len(feature_strides)):
        raise ValueError("generate_pyramid_anchors: {} scales, {} feature shapes and "
                         "{} strides; need one of each per level".format(
                             len(scales), len(feature_shapes), len(feature_strides)))
    anchors = [generate_anchors(scales[i], ratios, feature_shapes[i],
                                feature_strides[i], anchor_stride)
               for i in range(len(scales))]
    return np.concatenate(anchors, axis=0)


############################################################
#  Evaluation
############################################################

def trim_zeros(x):
    """Drop the all-zero rows of a 2-D array (zero padding)."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError("trim_zeros: expected a 2-D array, got shape {}".format(x.shape))
    return x[~np.all(x == 0, axis=1)]


def compute_matches(gt_boxes, gt_class_ids, gt_masks,
                    pred_boxes, pred_class_ids, pred_scores, pred_masks,
                    iou_threshold=0.5, score_threshold=0.0):
    """Match predictions to ground truth by mask IoU, best score first.

    Zero-padded rows of the boxes are dropped first. A prediction matches the
    unmatched ground truth of the same class with the highest IoU, if that
    IoU is >= iou_threshold; overlaps below `score_threshold` are ignored.

    Returns:
        gt_match: [num_gt] index of the matched prediction or -1.
        pred_match: [num_pred] index of the matched ground truth or -1,
            predictions sorted by descending score.
        overlaps: [num_pred, num_gt] mask IoUs (predictions sorted).
    """
    gt_boxes = trim_zeros(gt_boxes)
    gt_masks = gt_masks[..., :gt_boxes.shape[0]]
    pred_boxes = trim_zeros(pred_boxes)
    pred_scores = pred_scores[:pred_boxes.shape[0]]
    indices = np.argsort(pred_scores)[::-1]
    pred_boxes = pred_boxes[indices]
    pred_class_ids = pred_class_ids[indices]
    pred_scores = pred_scores[indices]
    pred_masks = pred_masks[..., indices]

    overlaps = compute_overlaps_masks(pred_masks, gt_masks)

    pred_match = -1 * np.ones([pred_boxes.shape[0]])
    gt_match = -1 * np.ones([gt_boxes.shape[0]])
    for i in range(len(pred_boxes)):
        candidates = np.argsort(overlaps[i])[::-1]
        low = np.where(overlaps[i, candidates] < score_threshold)[0]
        if low.size > 0:
            candidates = candidates[:low[0]]
        for j in candidates:
            if gt_match[j] > -1:
                continue
            if overlaps[i, j] < iou_threshold:
                break
            if pred_class_ids[i] == gt_class_ids[j]:
                gt_match[j] = i
                pred_match[i] = j
                break
    return gt_match, pred_match, overlaps


def compute_ap(gt_boxes, gt_class_ids, gt_masks,
               pred_boxes, pred_class_ids, pred_scores, pred_masks,
               iou_threshold=0.5):
    """Average precision at one mask-IoU threshold (VOC-style: precision made
    monotonic, area under the precision/recall steps).

    Returns:
        mAP: the average precision.
        precisions, recalls: the curve, padded with (0, 0) at the start and
            (precision 0, recall 1) at the end.
        overlaps: [num_pred, num_gt] mask IoUs.
    """
    gt_match, pred_match, overlaps = compute_matches(
        gt_boxes, gt_class_ids, gt_masks,
        pred_boxes, pred_class_ids, pred_scores, pred_masks,
        iou_threshold)

    matched = np.cumsum(pred_match > -1)
    precisions = matched / (np.arange(len(pred_match)) + 1)
    recalls = matched.astype(np.float32) / len(gt_match)

    precisions = np.concatenate([[0], precisions, [0]])
    recalls = np.concatenate([[0], recalls, [1]])
    # Each precision becomes the best precision at this or a higher recall.
    precisions = np.maximum.accumulate(precisions[::-1])[::-1]

    steps = np.where(recalls[:-1] != recalls[1:])[0] + 1
    mAP = np.sum((recalls[steps] - recalls[steps - 1]) * precisions[steps])
    return mAP, precisions, recalls, overlaps


def compute_ap_range(gt_box, gt_class_id, gt_mask,
                     pred_box, pred_class_id, pred_score, pred_mask,
                     iou_thresholds=None, verbose=1):
    """Mean of `compute_ap` over IoU thresholds (default 0.5:0.95:0.05)."""
    if iou_thresholds is None or len(iou_thresholds) == 0:
        iou_thresholds = np.arange(0.5, 1.0, 0.05)
    AP = []
    for iou_threshold in iou_thresholds:
        ap, _, _, _ = compute_ap(gt_box, gt_class_id, gt_mask,
                                 pred_box, pred_class_id, pred_score, pred_mask,
                                 iou_threshold=iou_threshold)
        if verbose:
            print("AP @{:.2f}:\t {:.3f}".format(iou_threshold, ap))
        AP.append(ap)
    AP = np.array(AP).mean()
    if verbose:
        print("AP @{:.2f}-{:.2f}:\t {:.3f}".format(
            iou_thresholds[0], iou_thresholds[-1], AP))
    return AP


def compute_recall(pred_boxes, gt_boxes, iou):
    """Fraction of ground-truth boxes that some prediction overlaps with
    IoU >= `iou`.

    Returns (recall, positive_ids): positive_ids are the indices of the
    predictions whose best IoU reaches `iou`.
    """
    overlaps = compute_overlaps(pred_boxes, gt_boxes)
    iou_max = np.max(overlaps, axis=1)
    iou_argmax = np.argmax(overlaps, axis=1)
    positive_ids = np.where(iou_max >= iou)[0]
    matched_gt_boxes = iou_argmax[positive_ids]
    recall = len(set(matched_gt_boxes)) / gt_boxes.shape[0]
    return recall, positive_ids


def batch_slice(inputs, graph_fn, batch_size, names=None):
    """Run `graph_fn` on each of the first `batch_size` slices of `inputs`
    (a tensor or list of tensors) and stack the results (matterport's helper
    for graph code written for one image; this package's own layers are
    batched instead)."""
    import tensorflow as tf

    if not isinstance(inputs, list):
        inputs = [inputs]
    outputs = []
    for i in range(batch_size):
        output_slice = graph_fn(*[x[i] for x in inputs])
        if not isinstance(output_slice, (tuple, list)):
            output_slice = [output_slice]
        outputs.append(output_slice)
    outputs = list(zip(*outputs))
    names = names or [None] * len(outputs)
    result = [tf.stack(o, axis=0, name=n) for o, n in zip(outputs, names)]
    return result[0] if len(result) == 1 else result


############################################################
#  Files and downloads (mrcnn.fileio; re-exported under their old names)
############################################################

def download_trained_weights(coco_model_path, verbose=1, url=COCO_MODEL_URL, sha256=None,
                             validate=None):
    """Download matterport's COCO-trained weights to `coco_model_path`
    (atomically, with a progress bar when verbose; see download_file)."""
    if verbose > 0:
        print("Downloading pretrained model to " + coco_model_path + " ...")
    download_file(url, coco_model_path, verbose=verbose, sha256=sha256, validate=validate)
    if verbose > 0:
        print("... done downloading pretrained model!")
    return coco_model_path
