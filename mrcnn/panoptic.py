"""Panoptic segmentation on the NumPy side: fusing instances with a semantic
map, the panoptic quality (PQ) metric and writing predictions in the COCO
panoptic format.

    from mrcnn import panoptic

    r = model.detect([image])[0]
    pan, segments = panoptic.fuse(r["masks"], r["class_ids"], r["scores"],
                                  semantic, stuff_class_ids=dataset.stuff_class_ids)
    results = panoptic.pq_compute("gt.json", "pred.json")
    results["All"]["pq"], results["Things"]["rq"], results["per_class"][17]["sq"]

The COCO panoptic format
------------------------
One JSON file and one RGB PNG per image. A pixel's segment id is
``R + 256 * G + 256**2 * B`` (`rgb2id`); 0 is void (unlabelled). The JSON's
``annotations`` list has per image ``image_id``, ``file_name`` (the PNG) and
``segments_info``: ``id``, ``category_id``, ``iscrowd``, ``area``, ``bbox``;
``categories`` have ``id``, ``name`` and ``isthing`` (1 for countable
objects, 0 for amorphous "stuff").

Fusion (`fuse`) follows the heuristic of the panoptic segmentation paper as
cocodataset's panopticapi implements it
(``combine_semantic_and_instance_predictions.py``); `pq_compute` follows
panopticapi's ``evaluation.py`` (see the functions for the exact rules). The
results agree with panopticapi's; the computation is vectorised (one
``np.unique`` over ground truth / prediction id pairs per image) and runs in
one process.
"""

import json
import os
import tempfile

import numpy as np

from mrcnn.data.annotations import AnnotationError, read_json

VOID = 0
"""Segment id of unlabelled pixels."""

OFFSET = 256 * 256 * 256
"""One more than the largest segment id an RGB PNG can hold; pairs of ids
are encoded as ``gt_id * OFFSET + pred_id``."""


class PanopticError(AnnotationError):
    """A COCO panoptic file or PNG that is malformed or disagrees with its
    JSON; the message names the file, the image and the segment. An
    `mrcnn.data.annotations.AnnotationError` (so a ValueError)."""


############################################################
#  Segment ids <-> RGB
############################################################

def rgb2id(rgb):
    """Segment ids of an RGB array ``[..., 3]`` (uint8): ``R + 256 G +
    256**2 B`` as int64 ``[...]``; a 3-sequence gives one int."""
    arr = np.asarray(rgb)
    if arr.ndim == 1:
        if arr.shape[0] != 3:
            raise ValueError("rgb2id: expected 3 components, got {}".format(arr.shape[0]))
        return int(arr[0]) + 256 * int(arr[1]) + 256 * 256 * int(arr[2])
    if arr.shape[-1] != 3:
        raise ValueError("rgb2id: expected an [..., 3] array, got shape {}".format(arr.shape))
    arr = arr.astype(np.int64)
    return arr[..., 0] + 256 * arr[..., 1] + 256 * 256 * arr[..., 2]


def id2rgb(ids):
    """uint8 ``[..., 3]`` colours of segment ids (the inverse of `rgb2id`);
    ids must lie in ``[0, 256**3)``."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= OFFSET):
        raise ValueError("id2rgb: segment ids must be in [0, {}), got {}..{}".format(
            OFFSET, ids.min(), ids.max()))
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)


def read_panoptic_png(path, what="panoptic PNG"):
    """int64 ``[H, W]`` segment ids of a COCO panoptic PNG. A missing file
    raises FileNotFoundError, an unreadable or non-RGB one PanopticError,
    both naming the file."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise FileNotFoundError("{} not found: {}".format(what, path))
    try:
        with Image.open(path) as image:
            mode = image.mode
            array = np.asarray(image.convert("RGB") if mode == "RGBA" else image)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise PanopticError("{} {} cannot be read: {}".format(what, path, e)) from None
    if mode not in ("RGB", "RGBA"):
        raise PanopticError("{} {} is a {!r} image; COCO panoptic PNGs are RGB (segment id = "
                            "R + 256*G + 256^2*B)".format(what, path, mode))
    return rgb2id(array)


############################################################
#  Fusion
############################################################

def fuse(masks, class_ids, scores, semantic, stuff_class_ids, score_threshold=0.5,
         overlap_threshold=0.5, stuff_area_limit=4096):
    """Combine instance detections and a semantic map into one panoptic map.

    The rules of panopticapi's ``combine_semantic_and_instance_predictions``:

    1. Instances with ``score < score_threshold`` are dropped; the others
       are visited by descending score (ties keep their order). An empty
       mask is skipped. An instance more than ``overlap_threshold`` of whose
       pixels are already taken by better instances is dropped; otherwise it
       becomes a segment of its free pixels.
    2. Then each class of ``stuff_class_ids`` becomes one segment of its
       ``semantic`` pixels that no instance took, unless fewer than
       ``stuff_area_limit`` pixels are left. Pixels of other classes in
       ``semantic`` (things, background 0) are ignored.

    Args:
        masks: bool (or 0/1) ``[H, W, N]`` instance masks, as
            ``MaskRCNN.detect`` returns them.
        class_ids: int ``[N]`` class ids of the instances.
        scores: float ``[N]`` confidences.
        semantic: int ``[H, W]`` class id of each pixel.
        stuff_class_ids: the class ids of ``semantic`` that are stuff.
        score_threshold: the lowest score kept (see above; the defaults are
            panopticapi's).
        overlap_threshold: the largest fraction of an instance already
            taken for it to be kept.
        stuff_area_limit: the fewest free pixels a stuff segment needs.

    Returns:
        panoptic: int32 ``[H, W]`` segment ids, 0 for void.
        segments: list of ``{"id", "category_id", "isthing", "area",
            "score"}`` in the order made (instances, then stuff); ids are
            1, 2, ...; ``category_id`` is the class id given; ``isthing`` 1
            or 0; ``area`` the segment's pixels; ``score`` the instance's
            score (None for stuff).
    """
    masks = np.asarray(masks)
    semantic = np.asarray(semantic)
    if masks.ndim != 3:
        raise ValueError("fuse: masks must be [H, W, N], got shape {}".format(masks.shape))
    n = masks.shape[2]
    class_ids = np.asarray(class_ids).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if class_ids.shape[0] != n or scores.shape[0] != n:
        raise ValueError("fuse: {} masks but {} class_ids and {} scores".format(
            n, class_ids.shape[0], scores.shape[0]))
    if semantic.shape != masks.shape[:2]:
        raise ValueError("fuse: semantic is {} but the masks are {}x{} (H, W)".format(
            semantic.shape, masks.shape[0], masks.shape[1]))
    if semantic.size and not np.issubdtype(semantic.dtype, np.integer):
        raise ValueError("fuse: semantic must hold integer class ids, got dtype {}".format(
            semantic.dtype))

    panoptic = np.zeros(masks.shape[:2], np.int32)
    segments = []
    keep = np.flatnonzero(scores >= score_threshold)
    order = keep[np.argsort(-scores[keep], kind="stable")]
    for i in order:
        mask = masks[:, :, i].astype(bool)
        area = int(mask.sum())
        if area == 0:
            continue
        free = mask & (panoptic == VOID)
        free_area = int(free.sum())
        if (area - free_area) / area > overlap_threshold:
            continue
        segment_id = len(segments) + 1
        panoptic[free] = segment_id
        segments.append({"id": segment_id, "category_id": int(class_ids[i]), "isthing": 1,
                         "area": free_area, "score": float(scores[i])})

    free = panoptic == VOID
    stuff = []
    for c in np.asarray(stuff_class_ids, dtype=np.int64).reshape(-1):
        if int(c) not in stuff:
            stuff.append(int(c))
    for c in stuff:
        left = free & (semantic == c)
        area = int(left.sum())
        if area == 0 or area < stuff_area_limit:
            continue
        segment_id = len(segments) + 1
        panoptic[left] = segment_id
        segments.append({"id": segment_id, "category_id": c, "isthing": 0, "area": area,
                         "score": None})
    return panoptic, segments


def segment_bbox(panoptic, segment_id):
    """COCO ``[x, y, width, height]`` of a segment's pixels ([0, 0, 0, 0]
    when it has none)."""
    rows = np.flatnonzero(np.any(panoptic == segment_id, axis=1))
    cols = np.flatnonzero(np.any(panoptic == segment_id, axis=0))
    if not rows.size:
        return [0, 0, 0, 0]
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1),
            int(rows[-1] - rows[0] + 1)]


############################################################
#  Panoptic quality
############################################################

def _read_json(path, what):
    try:
        return read_json(path, what)
    except AnnotationError as e:
        raise PanopticError(str(e)) from None


def _list_field(data, key, path):
    if not isinstance(data, dict):
        raise PanopticError("{}: the top level is a {}; a COCO panoptic file is an object with "
                            "'annotations' (and 'categories')".format(path, type(data).__name__))
    if key not in data:
        raise PanopticError("{}: no {!r} list; is it a COCO panoptic file? (top-level keys: "
                            "{})".format(path, key, ", ".join(sorted(data)) or "none"))
    if not isinstance(data[key], list):
        raise PanopticError("{}: {!r} is a {}, expected a list".format(
            path, key, type(data[key]).__name__))
    return data[key]


def parse_categories(data, path):
    """{category id: category dict} of a panoptic file's ``categories``;
    each needs an int ``id`` and ``isthing`` 0/1."""
    categories = {}
    for i, cat in enumerate(_list_field(data, "categories", path)):
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) \
                or isinstance(cat.get("id"), bool):
            raise PanopticError("{}: categories[{}] needs an integer 'id', got {!r}".format(
                path, i, cat))
        if cat.get("isthing") not in (0, 1) or isinstance(cat.get("isthing"), float):
            raise PanopticError("{}: category {} ({!r}) needs 'isthing' 0 or 1, got {!r}".format(
                path, cat["id"], cat.get("name"), cat.get("isthing")))
        if cat["id"] in categories:
            raise PanopticError("{}: category id {} is declared twice".format(path, cat["id"]))
        categories[cat["id"]] = cat
    return categories


def parse_annotation(ann, index, path):
    """Check one entry of ``annotations``: a dict with ``image_id``,
    ``file_name`` and ``segments_info`` of dicts with distinct non-zero int
    ``id`` and an int ``category_id``. Returns it."""
    where = "annotations[{}]".format(index)
    if not isinstance(ann, dict):
        raise PanopticError("{}: {} is a {}, expected an object".format(
            path, where, type(ann).__name__))
    for key, kinds in (("image_id", (int, str)), ("file_name", str), ("segments_info", list)):
        if key not in ann:
            raise PanopticError("{}: {} has no {!r}".format(path, where, key))
        if not isinstance(ann[key], kinds) or isinstance(ann[key], bool):
            raise PanopticError("{}: {} has {} {!r}, expected {}".format(
                path, where, key, _short(ann[key]),
                "a list" if kinds is list else "a string" if kinds is str else "an id"))
    where = "image {!r} ({})".format(ann["image_id"], ann["file_name"])
    seen = set()
    for k, seg in enumerate(ann["segments_info"]):
        if not isinstance(seg, dict):
            raise PanopticError("{}: {}: segments_info[{}] is a {}, expected an object".format(
                path, where, k, type(seg).__name__))
        for key in ("id", "category_id"):
            value = seg.get(key)
            if not isinstance(value, int) or isinstance(value, bool):
                raise PanopticError("{}: {}: segments_info[{}] has {} {!r}, expected an "
                                    "integer".format(path, where, k, key, value))
        if not 0 < seg["id"] < OFFSET:
            raise PanopticError("{}: {}: segment id {} is outside 1..{} (0 is void)".format(
                path, where, seg["id"], OFFSET - 1))
        if seg["id"] in seen:
            raise PanopticError("{}: {}: segment id {} is listed twice".format(
                path, where, seg["id"]))
        seen.add(seg["id"])
    return ann


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_segments(ids, segments, png_path, image_id, json_path, categories=None):
    """Match a PNG's segment ids with its JSON ``segments_info``.

    Returns (sorted present ids, their pixel counts). Raises PanopticError
    naming the PNG, the image and the segment when the PNG has an id the
    JSON lacks, the JSON lists a segment the PNG lacks, or (with
    ``categories``) a segment has an unknown ``category_id``.
    """
    labels, counts = np.unique(ids, return_counts=True)
    known = {seg["id"]: seg for seg in segments}
    present = labels[labels != VOID]
    extra = [int(v) for v in present if int(v) not in known]
    if extra:
        raise PanopticError("{}: image {!r}: segment id(s) {} are in the PNG but not in "
                            "segments_info of {}".format(png_path, image_id, extra[:10],
                                                         json_path))
    missing = sorted(set(known) - set(int(v) for v in present))
    if missing:
        raise PanopticError("{}: image {!r}: segment id(s) {} are listed in segments_info but "
                            "absent from the PNG {}".format(json_path, image_id, missing[:10],
                                                            png_path))
    if categories is not None:
        for seg in segments:
            if seg["category_id"] not in categories:
                raise PanopticError("{}: image {!r}: segment {} has category_id {} which is not "
                                    "among the categories (known: {})".format(
                                        json_path, image_id, seg["id"], seg["category_id"],
                                        sorted(categories)[:20]))
    nonvoid = labels != VOID
    return labels[nonvoid].astype(np.int64), counts[nonvoid].astype(np.int64)


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


############################################################
#  Writing COCO panoptic files
############################################################

def _atomic_write(path, write, suffix):
    """Call ``write(file object)`` on a temporary file beside `path`, then
    rename it to `path`: readers see the old file or the whole new one."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_panoptic_png(path, panoptic):
    """Write an id map ``[H, W]`` as a COCO panoptic RGB PNG, atomically."""
    from PIL import Image
    image = Image.fromarray(id2rgb(panoptic))
    _atomic_write(path, lambda f: image.save(f, format="PNG"), ".png")


def write_json(path, data):
    """Write `data` as JSON, atomically."""
    text = json.dumps(data).encode("utf-8")
    _atomic_write(path, lambda f: f.write(text), ".json")


def png_name(file_name):
    """The PNG name of an image file name: its base name with ``.png``."""
    base = os.path.basename(str(file_name).replace("\\", "/"))
    return os.path.splitext(base)[0] + ".png"


class PanopticWriter(object):
    """Writes COCO panoptic files: one PNG per image as it is added, the
    JSON file when closed. Every file is written to a temporary name and
    renamed, so none is ever half-written; the JSON appears only when all
    images were added (leaving a ``with`` block by an exception writes no
    JSON).

        with PanopticWriter("pred.json", dataset=dataset) as writer:
            for image_id in dataset.image_ids:
                r = model.detect([dataset.load_image(image_id)])[0]
                writer.add_detections(image_id, r, semantic, dataset.stuff_class_ids)
        panoptic.pq_compute("gt.json", "pred.json")

    json_path: the JSON file; png_dir: the PNG folder (default: the JSON's
        path without ``.json``, panopticapi's default), created if needed.
    dataset: maps the internal class ids of segments to the source's
        category ids (``get_source_class_id``) and image ids to the
        source's ids and file names; without it, ids are written as given.
    source: the source of the dataset's classes (default "coco").
    categories: the JSON's ``categories`` list (default: the dataset's
        classes of `source`, with ``isthing`` when they have one).
    images: write an ``images`` list too (id, file_name, height, width).
    """

    def __init__(self, json_path, png_dir=None, dataset=None, source="coco", categories=None,
                 images=True):
        self.json_path = json_path
        self.png_dir = png_dir if png_dir is not None else os.path.splitext(json_path)[0]
        if os.path.abspath(self.png_dir) == os.path.abspath(json_path):
            raise ValueError("PanopticWriter: the PNG folder would be the JSON file itself "
                             "({}); give png_dir or a .json path".format(json_path))
        self.dataset = dataset
        self.source = source
        self.annotations = []
        self.images = [] if images else None
        self._names = set()
        if categories is None and dataset is not None:
            categories = [{"id": c["id"], "name": c["name"],
                           **({"isthing": int(c["isthing"])} if "isthing" in c else {})}
                          for c in dataset.class_info if c["source"] == source]
        self.categories = categories
        parent = os.path.dirname(os.path.abspath(json_path))
        if not os.path.isdir(parent):
            raise FileNotFoundError("PanopticWriter: the folder of {} does not exist".format(
                json_path))
        os.makedirs(self.png_dir, exist_ok=True)
        self.closed = False

    def _category_id(self, class_id):
        if self.dataset is None:
            return int(class_id)
        return int(self.dataset.get_source_class_id(int(class_id), self.source))

    def add(self, image_id, panoptic, segments, file_name=None):
        """Write the PNG of one image and keep its annotation.

        image_id: the dataset's internal image id when the writer has a
            dataset (its source id and file name are written), else the id
            to write.
        panoptic: int ``[H, W]`` segment ids; segments: `fuse`'s list (or
            any dicts with ``id``, ``category_id``, optional ``score``).
        file_name: the PNG's name (default: the image's file name with
            ``.png``, or ``<image_id>.png``).
        Returns the annotation dict.
        """
        if self.closed:
            raise ValueError("PanopticWriter: add() after close()")
        panoptic = np.asarray(panoptic)
        if panoptic.ndim != 2:
            raise ValueError("PanopticWriter.add: panoptic must be [H, W], got shape {}".format(
                panoptic.shape))
        written_id, info = image_id, {}
        if self.dataset is not None:
            info = self.dataset.image_info[image_id]
            written_id = info["id"]
        if isinstance(written_id, np.generic):
            written_id = written_id.item()
        if file_name is None:
            source_name = info.get("file_name") or info.get("path")
            file_name = png_name(source_name) if source_name else "{}.png".format(written_id)
        if file_name in self._names:
            raise ValueError("PanopticWriter: two images would write {} (image {!r}); give "
                             "file_name".format(file_name, written_id))
        by_id = {int(s["id"]): s for s in segments}
        labels, counts = np.unique(panoptic, return_counts=True)
        area = dict(zip(labels.tolist(), counts.tolist()))
        unknown = [v for v in area if v != VOID and v not in by_id]
        if unknown:
            raise ValueError("PanopticWriter.add: image {!r}: segment id(s) {} are in the map "
                             "but not in segments".format(written_id, unknown[:10]))
        segments_info = []
        for seg in segments:
            sid = int(seg["id"])
            if sid not in area:
                continue  # a segment left without pixels
            entry = {"id": sid, "category_id": self._category_id(seg["category_id"]),
                     "iscrowd": 0, "area": int(area[sid]), "bbox": segment_bbox(panoptic, sid)}
            if seg.get("score") is not None:
                entry["score"] = float(seg["score"])
            segments_info.append(entry)
        write_panoptic_png(os.path.join(self.png_dir, file_name), panoptic)
        self._names.add(file_name)
        annotation = {"image_id": written_id, "file_name": file_name,
                      "segments_info": segments_info}
        self.annotations.append(annotation)
        if self.images is not None:
            image_name = info.get("file_name") or (
                os.path.basename(info["path"]) if info.get("path") else file_name)
            self.images.append({"id": written_id, "file_name": image_name,
                                "height": int(panoptic.shape[0]),
                                "width": int(panoptic.shape[1])})
        return annotation

    def add_detections(self, image_id, detections, semantic, stuff_class_ids, file_name=None,
                       **fuse_options):
        """Fuse one image's ``detect()`` result (``masks``, ``class_ids``,
        ``scores``) with its semantic map (`fuse`, with `fuse_options`) and
        `add` it. Returns the annotation dict."""
        panoptic, segments = fuse(detections["masks"], detections["class_ids"],
                                  detections["scores"], semantic, stuff_class_ids,
                                  **fuse_options)
        return self.add(image_id, panoptic, segments, file_name=file_name)

    def close(self):
        """Write the JSON file (atomically). Returns its path."""
        if self.closed:
            return self.json_path
        data = {"annotations": self.annotations}
        if self.images is not None:
            data["images"] = self.images
        if self.categories is not None:
            data["categories"] = self.categories
        write_json(self.json_path, data)
        self.closed = True
        return self.json_path

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:
            self.closed = True  # no JSON for an interrupted run
        return False
