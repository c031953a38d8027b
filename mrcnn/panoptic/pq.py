"""The panoptic quality metric (PQ, SQ, RQ) of COCO panoptic files
(`pq_compute`), following panopticapi's ``evaluation.py``: the same
matching rules and the same return value. The computation is vectorised
(one ``np.unique`` over ground truth / prediction id pairs per image) and
runs in one process.
"""

import os

import numpy as np

from mrcnn.panoptic.format import (OFFSET, VOID, PanopticError, _list_field, _read_json,
                                   check_segments, parse_annotation, parse_categories,
                                   read_panoptic_png)


def pq_image_stats(gt_ids, gt_segments, pred_ids, pred_segments, category_index):
    """Per-category PQ sums of one image (panopticapi's
    ``pq_compute_single_core`` for one image).

    gt_ids, pred_ids: int ``[H, W]`` segment id maps (0 = void).
    gt_segments: ``segments_info`` of the ground truth (``id``,
        ``category_id``, ``iscrowd``, optional ``area``: the JSON's area is
        used as panopticapi does, else the PNG's pixel count).
    pred_segments: ``segments_info`` of the prediction (areas come from the
        PNG).
    category_index: {category id: row}.

    Returns float64 ``[K, 4]``: summed IoU of matches, TP, FP, FN per row.
    Both maps must agree with their segments (`check_segments`).
    """
    stats = np.zeros((len(category_index), 4), np.float64)
    gt_ids = np.asarray(gt_ids, np.int64)
    pred_ids = np.asarray(pred_ids, np.int64)

    gt_order = sorted(gt_segments, key=lambda s: s["id"])
    g_id = np.array([s["id"] for s in gt_order], np.int64)
    g_cat = np.array([category_index[s["category_id"]] for s in gt_order], np.int64)
    g_crowd = np.array([s.get("iscrowd", 0) == 1 for s in gt_order], bool)
    p_order = sorted(pred_segments, key=lambda s: s["id"])
    p_id = np.array([s["id"] for s in p_order], np.int64)
    p_cat = np.array([category_index[s["category_id"]] for s in p_order], np.int64)

    # One pass over the pixels: every (gt id, pred id) pair and its count.
    pairs, counts = np.unique(gt_ids * OFFSET + pred_ids, return_counts=True)
    pair_g, pair_p = pairs // OFFSET, pairs % OFFSET
    gi = np.searchsorted(g_id, pair_g).clip(0, max(len(g_id) - 1, 0))
    pi = np.searchsorted(p_id, pair_p).clip(0, max(len(p_id) - 1, 0))
    g_ok = (pair_g != VOID) & (g_id[gi] == pair_g) if len(g_id) else np.zeros(len(pairs), bool)
    p_ok = (pair_p != VOID) & (p_id[pi] == pair_p) if len(p_id) else np.zeros(len(pairs), bool)

    p_area = np.zeros(len(p_id), np.int64)
    np.add.at(p_area, pi[p_ok], counts[p_ok])
    g_area = np.zeros(len(g_id), np.int64)
    np.add.at(g_area, gi[g_ok], counts[g_ok])
    for k, seg in enumerate(gt_order):
        if seg.get("area") is not None:
            g_area[k] = seg["area"]
    p_void = np.zeros(len(p_id), np.int64)  # pixels of each prediction on gt void
    on_void = (pair_g == VOID) & p_ok
    np.add.at(p_void, pi[on_void], counts[on_void])

    # Matches: same category, not crowd, IoU > 0.5 with the prediction's
    # void pixels left out of the union. Such matches are unique.
    cand = g_ok & p_ok
    cand[cand] = ~g_crowd[gi[cand]] & (g_cat[gi[cand]] == p_cat[pi[cand]])
    inter = counts[cand]
    union = p_area[pi[cand]] + g_area[gi[cand]] - inter - p_void[pi[cand]]
    iou = inter / union
    hit = iou > 0.5
    g_matched = np.zeros(len(g_id), bool)
    p_matched = np.zeros(len(p_id), bool)
    g_matched[gi[cand][hit]] = True
    p_matched[pi[cand][hit]] = True
    np.add.at(stats[:, 0], g_cat[gi[cand][hit]], iou[hit])
    np.add.at(stats[:, 1], g_cat[gi[cand][hit]], 1)

    # False negatives: unmatched non-crowd ground truth.
    fn = ~g_matched & ~g_crowd
    np.add.at(stats[:, 3], g_cat[fn], 1)

    # False positives: unmatched predictions, unless more than half of them
    # lies on void or on the crowd region of their category (the last crowd
    # segment of a category in segments_info, as panopticapi keeps).
    crowd_of = {}
    for seg in gt_segments:
        if seg.get("iscrowd", 0) == 1:
            crowd_of[category_index[seg["category_id"]]] = seg["id"]
    chosen = np.array([crowd_of.get(c) == i for c, i in zip(g_cat, g_id)], bool)
    p_crowd = np.zeros(len(p_id), np.int64)
    on_crowd = g_ok & p_ok
    on_crowd[on_crowd] = chosen[gi[on_crowd]] & (g_cat[gi[on_crowd]] == p_cat[pi[on_crowd]])
    np.add.at(p_crowd, pi[on_crowd], counts[on_crowd])
    with np.errstate(divide="ignore", invalid="ignore"):
        ignored = (p_void + p_crowd) / p_area > 0.5
    fp = ~p_matched & ~ignored
    np.add.at(stats[:, 2], p_cat[fp], 1)
    return stats


def pq_average(stats, categories, isthing=None):
    """PQ, SQ, RQ averaged over the categories (all, things with
    ``isthing=True``, stuff with False) that have TP + FP + FN > 0.

    stats: ``[K, 4]`` sums (IoU, TP, FP, FN) in the order of `categories`,
    a list of category dicts. Returns ({"pq", "sq", "rq", "n"}, {category
    id: {"pq", "sq", "rq"}}); with n = 0 the averages are 0.0 (panopticapi
    divides by zero there).
    """
    total = {"pq": 0.0, "sq": 0.0, "rq": 0.0}
    per_class, n = {}, 0
    for row, cat in enumerate(categories):
        if isthing is not None and (cat["isthing"] == 1) != isthing:
            continue
        iou, tp, fp, fn = stats[row]
        if tp + fp + fn == 0:
            per_class[cat["id"]] = {"pq": 0.0, "sq": 0.0, "rq": 0.0}
            continue
        n += 1
        denominator = tp + 0.5 * fp + 0.5 * fn
        scores = {"pq": float(iou / denominator), "sq": float(iou / tp) if tp else 0.0,
                  "rq": float(tp / denominator)}
        per_class[cat["id"]] = scores
        for key in total:
            total[key] += scores[key]
    averages = {key: (value / n if n else 0.0) for key, value in total.items()}
    averages["n"] = n
    return averages, per_class


def pq_compute(gt_json_file, pred_json_file, gt_folder=None, pred_folder=None, verbose=False):
    """Panoptic quality of COCO panoptic predictions against ground truth,
    with panopticapi's ``pq_compute`` semantics and return value.

    Per image, a ground truth and a predicted segment of the same category
    match when their IoU is > 0.5, the union leaving out the prediction's
    pixels on ground-truth void: TP (adding the IoU). Unmatched non-crowd
    ground truth segments are FN. Unmatched predictions are FP unless more
    than half of their pixels lie on void or on the crowd segment of their
    category. Crowd ground truth never matches. Per category PQ = sum IoU /
    (TP + FP/2 + FN/2), SQ = sum IoU / TP, RQ = TP / (TP + FP/2 + FN/2);
    "All", "Things" and "Stuff" average them over the categories (from the
    ground truth's ``categories``) with TP + FP + FN > 0.

    Args:
        gt_json_file: the ground truth's COCO panoptic JSON file.
        pred_json_file: the predictions' COCO panoptic JSON file. Every
            image of the ground truth needs a prediction (same
            ``image_id``); extra predictions are ignored.
        gt_folder: the folder of the ground truth PNGs; default: the JSON's
            path without ``.json``.
        pred_folder: the folder of the predicted PNGs; default likewise.
        verbose: print panopticapi's table.

    Returns:
        {"All", "Things", "Stuff": {"pq", "sq", "rq", "n"}, "per_class":
        {category id: {"pq", "sq", "rq"}}}.

    Raises:
        FileNotFoundError: a JSON file, a folder or a PNG is missing.
        PanopticError: malformed JSON, a PNG that disagrees with its
            segments_info, an unknown category, a missing prediction, PNGs
            of different sizes; the message names file, image and segment.
    """
    gt_json = _read_json(gt_json_file, "ground truth panoptic JSON")
    pred_json = _read_json(pred_json_file, "predicted panoptic JSON")
    if gt_folder is None:
        gt_folder = os.path.splitext(gt_json_file)[0]
    if pred_folder is None:
        pred_folder = os.path.splitext(pred_json_file)[0]
    for folder, what in ((gt_folder, "ground truth"), (pred_folder, "prediction")):
        if not os.path.isdir(folder):
            raise FileNotFoundError("folder of the {} PNGs not found: {}".format(what, folder))
    categories = parse_categories(gt_json, gt_json_file)
    cat_list = [categories[k] for k in sorted(categories)]
    category_index = {cat["id"]: row for row, cat in enumerate(cat_list)}

    gt_anns = [parse_annotation(a, i, gt_json_file)
               for i, a in enumerate(_list_field(gt_json, "annotations", gt_json_file))]
    preds = {}
    for i, ann in enumerate(_list_field(pred_json, "annotations", pred_json_file)):
        ann = parse_annotation(ann, i, pred_json_file)
        if ann["image_id"] in preds:
            raise PanopticError("{}: image {!r} has two predictions ({} and {})".format(
                pred_json_file, ann["image_id"], preds[ann["image_id"]]["file_name"],
                ann["file_name"]))
        preds[ann["image_id"]] = ann

    stats = np.zeros((len(cat_list), 4), np.float64)
    for gt_ann in gt_anns:
        image_id = gt_ann["image_id"]
        if image_id not in preds:
            raise PanopticError("{}: no prediction for image {!r} ({}) of {}".format(
                pred_json_file, image_id, gt_ann["file_name"], gt_json_file))
        pred_ann = preds[image_id]
        gt_png = os.path.join(gt_folder, gt_ann["file_name"])
        pred_png = os.path.join(pred_folder, pred_ann["file_name"])
        gt_ids = read_panoptic_png(gt_png, "ground truth PNG of image {!r}".format(image_id))
        pred_ids = read_panoptic_png(pred_png, "predicted PNG of image {!r}".format(image_id))
        if gt_ids.shape != pred_ids.shape:
            raise PanopticError("image {!r}: the predicted PNG {} is {}x{} but the ground truth "
                                "{} is {}x{} (height x width)".format(
                                    image_id, pred_png, pred_ids.shape[0], pred_ids.shape[1],
                                    gt_png, gt_ids.shape[0], gt_ids.shape[1]))
        check_segments(gt_ids, gt_ann["segments_info"], gt_png, image_id, gt_json_file,
                       categories)
        check_segments(pred_ids, pred_ann["segments_info"], pred_png, image_id,
                       pred_json_file, categories)
        stats += pq_image_stats(gt_ids, gt_ann["segments_info"], pred_ids,
                                pred_ann["segments_info"], category_index)

    results = {}
    for name, isthing in (("All", None), ("Things", True), ("Stuff", False)):
        results[name], per_class = pq_average(stats, cat_list, isthing)
        if name == "All":
            results["per_class"] = per_class
    if verbose:
        print(format_pq_table(results))
    return results


def format_pq_table(results):
    """panopticapi's printed table of `pq_compute` results (percentages)."""
    lines = ["{:10s}| {:>5s}  {:>5s}  {:>5s} {:>5s}".format("", "PQ", "SQ", "RQ", "N"),
             "-" * (10 + 7 * 4)]
    for name in ("All", "Things", "Stuff"):
        r = results[name]
        lines.append("{:10s}| {:5.1f}  {:5.1f}  {:5.1f} {:5d}".format(
            name, 100 * r["pq"], 100 * r["sq"], 100 * r["rq"], r["n"]))
    return "\n".join(lines)
