"""The COCO panoptic format: segment ids <-> RGB, reading the PNGs and
checking the JSON.

One JSON file and one RGB PNG per image. A pixel's segment id is
``R + 256 * G + 256**2 * B`` (`rgb2id`); 0 is void (unlabelled). The JSON's
``annotations`` list has per image ``image_id``, ``file_name`` (the PNG) and
``segments_info``: ``id``, ``category_id``, ``iscrowd``, ``area``, ``bbox``;
``categories`` have ``id``, ``name`` and ``isthing`` (1 for countable
objects, 0 for amorphous "stuff").

The checks (`parse_categories`, `parse_annotation`, `check_segments`) raise
`PanopticError` naming the file, the image and the segment; the PQ
evaluation (`mrcnn.panoptic.pq`) and the dataset loader
(`mrcnn.data.panoptic`) share them.
"""

import os

import numpy as np

from mrcnn.data.annotations import AnnotationError, list_field, read_json, short_repr

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
#  The JSON file
############################################################


def _read_json(path, what):
    try:
        return read_json(path, what)
    except AnnotationError as e:
        raise PanopticError(str(e)) from None


def _list_field(data, key, path):
    return list_field(data, key, path, "COCO panoptic file", "'annotations' (and 'categories')",
                      error=PanopticError)


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
                path, where, key, short_repr(ann[key]),
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
