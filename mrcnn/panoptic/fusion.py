"""Fusing instance detections with a semantic map into one panoptic map
(`fuse`), following the heuristic of the panoptic segmentation paper as
cocodataset's panopticapi implements it
(``combine_semantic_and_instance_predictions.py``).
"""

import numpy as np

from mrcnn.panoptic.format import VOID


def fuse(masks, class_ids, scores, semantic, stuff_class_ids, score_threshold=0.5,
         overlap_threshold=0.5, stuff_area_limit=4096, boxes=None):
    """Combine instance detections and a semantic map into one panoptic map.

    The rules of panopticapi's ``combine_semantic_and_instance_predictions``:

    1. Instances with ``score < score_threshold`` are dropped; the others
       are visited by descending score (ties keep their order). An empty
       mask is skipped. An instance more than ``overlap_threshold`` of whose
       pixels are already taken by better instances is dropped; otherwise it
       becomes a segment of its free pixels. Instances of a class in
       ``stuff_class_ids`` are skipped: stuff comes from ``semantic`` (a box
       head whose classes include the stuff ones, as this package's do, may
       still detect one; panopticapi's inputs hold things only).
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
        boxes: optional int ``[N, (y1, x1, y2, x2)]`` boxes (``y2``, ``x2``
            exclusive) outside which each mask is empty, e.g. detect()'s
            ``rois``: saves finding each mask's extent. The result is the
            same as without them.

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
    stuff = np.asarray(stuff_class_ids, dtype=np.int64).reshape(-1)
    keep = np.flatnonzero((scores >= score_threshold) & ~np.isin(class_ids, stuff))
    order = keep[np.argsort(-scores[keep], kind="stable")]
    for i, box in zip(order, _instance_boxes(masks, order, boxes)):
        if box is None:
            continue
        mask = masks[box + (i,)].astype(bool, copy=False)
        area = int(np.count_nonzero(mask))
        if area == 0:
            continue
        taken = panoptic[box]
        free = mask & (taken == VOID)
        free_area = int(np.count_nonzero(free))
        if (area - free_area) / area > overlap_threshold:
            continue
        segment_id = len(segments) + 1
        taken[free] = segment_id
        segments.append({"id": segment_id, "category_id": int(class_ids[i]), "isthing": 1,
                         "area": free_area, "score": float(scores[i])})
    _fuse_stuff(panoptic, segments, semantic, stuff_class_ids, stuff_area_limit)
    return panoptic, segments


def _instance_boxes(masks, order, boxes):
    """The (row slice, column slice) of each instance of `order` that holds
    its whole mask (None: an empty mask)."""
    h, w = masks.shape[:2]
    if boxes is not None:
        boxes = np.asarray(boxes)
        if boxes.shape != (masks.shape[2], 4):
            raise ValueError("fuse: boxes must be [N, 4] for the {} masks, got shape {}".format(
                masks.shape[2], boxes.shape))
        for i in order:
            y1, x1, y2, x2 = (int(v) for v in boxes[i])
            y1, x1, y2, x2 = max(y1, 0), max(x1, 0), min(y2, h), min(x2, w)
            yield (slice(y1, y2), slice(x1, x2)) if y2 > y1 and x2 > x1 else None
        return
    if order.size == 0:
        return
    # All the extents at once from the [H, W, N] array (a full-image pass per
    # instance over a strided [H, W, N] slice is slow at 1024^2 with 100
    # detections).
    any_rows = masks.any(axis=1)  # [H, N]
    any_cols = masks.any(axis=0)  # [W, N]
    for i in order:
        rows = np.flatnonzero(any_rows[:, i])
        if rows.size == 0:
            yield None
            continue
        cols = np.flatnonzero(any_cols[:, i])
        yield slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _fuse_stuff(panoptic, segments, semantic, stuff_class_ids, stuff_area_limit):
    """Step 2 of `fuse`, in place: one segment per stuff class (in the order
    given, repeats ignored) of its pixels no instance took, if there are at
    least `stuff_area_limit` of them. One pass over the free pixels."""
    stuff = []
    for c in np.asarray(stuff_class_ids, dtype=np.int64).reshape(-1):
        if int(c) not in stuff:
            stuff.append(int(c))
    if not stuff:
        return
    flat = panoptic.reshape(-1)
    free = flat == VOID
    left = semantic.reshape(-1)[free]
    # Each free pixel's index among `stuff` (len(stuff): not stuff).
    values = np.asarray(stuff, np.int64)
    lo, hi = (int(left.min()), int(left.max())) if left.size else (0, 0)
    if lo >= 0 and max(hi, int(values.max())) < (1 << 20):   # a lookup table
        lookup = np.full(max(hi, int(values.max())) + 1, len(values), np.int64)
        lookup[values[values >= 0]] = np.flatnonzero(values >= 0)
        which = lookup[left]
    else:  # negative or huge ids: a sorted search
        sorter = np.argsort(values, kind="stable")
        pos = np.minimum(np.searchsorted(values, left, sorter=sorter), len(values) - 1)
        which = sorter[pos]
        which[values[which] != left] = len(values)
    areas = np.bincount(which, minlength=len(values) + 1)
    table = np.zeros(len(values) + 1, np.int32)
    for k, c in enumerate(stuff):
        area = int(areas[k])
        if area == 0 or area < stuff_area_limit:
            continue
        segment_id = len(segments) + 1
        table[k] = segment_id
        segments.append({"id": segment_id, "category_id": c, "isthing": 0, "area": area,
                         "score": None})
    flat[free] = table[which]
