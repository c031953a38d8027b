"""Matching and average precision in NumPy: matterport's `compute_matches`,
`compute_ap`, `compute_ap_range` and `compute_recall` (mask IoU,
VOC-style AP; also importable from `mrcnn.utils`). `mrcnn.evaluate` builds
dataset-level metrics on them.
"""

import numpy as np

from mrcnn.boxes import compute_overlaps, compute_overlaps_masks


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
