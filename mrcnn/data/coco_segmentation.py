"""COCO segmentations: the polygon lists, uncompressed and compressed RLEs
and bare boxes of an annotation, checked when the file is loaded and
decoded into masks (matterport's ``annToRLE`` / ``annToMask``).

* A polygon list: several parts make one instance; a single polygon not
  wrapped in a list is accepted. Parts with fewer than 3 points are dropped
  (an annotation left with none is dropped); parts reaching outside the
  image are clipped when rasterised (`mrcnn.data.annotations.clip_polygon`).
* An RLE: ``counts`` a list of non-negative ints summing to height x width
  (uncompressed) or a string (compressed, decoded once at load time to
  catch a corrupt one); its ``size`` must be the image's.
* No segmentation: the ``bbox`` becomes a rectangular mask (detection-only
  exports).

Errors are `AnnotationError` naming the file and the annotation;
recoverable problems are counted in a `ProblemCounter`.
"""

from mrcnn.data.annotations import (AnnotationError, _is_number, _is_number_list,
                                    _rle_for_decoding, box_polygon, points_outside,
                                    polygons_to_rle, short_repr)


def ann_to_rle(ann, height, width):
    """COCO RLE of an annotation's segmentation (polygons, uncompressed or
    compressed RLE) in an image of height x width."""
    segm = ann["segmentation"]
    if isinstance(segm, list):
        return polygons_to_rle(segm, height, width)
    return _rle_for_decoding(segm, height, width)


def ann_to_mask(ann, height, width):
    """uint8 [height, width] binary mask of an annotation."""
    from pycocotools import mask as mask_util
    return mask_util.decode(ann_to_rle(ann, height, width))


def clean_segmentation(ann, where, path, height, width, problems):
    """A copy of `ann` with a usable "segmentation" (and ``iscrowd`` 0/1),
    or None to drop it.

    `where` names the annotation and `path` the file in messages; `height`,
    `width` are the image's (None when the file gives none: then a
    compressed RLE is checked later, against the image file's size);
    `problems` is the file's `ProblemCounter`. Raises AnnotationError for a
    malformed segmentation.
    """
    segm = ann.get("segmentation")
    out = dict(ann)
    out["iscrowd"] = int(bool(ann.get("iscrowd", 0)))
    if isinstance(segm, dict):
        if "counts" not in segm or "size" not in segm:
            raise AnnotationError("{}: {} has an RLE segmentation without 'counts' and "
                                  "'size'".format(path, where))
        size = segm["size"]
        if (not isinstance(size, list) or len(size) != 2
                or not all(isinstance(v, int) and v > 0 for v in size)):
            raise AnnotationError("{}: {} has RLE size {!r}; expected [height, width]".format(
                path, where, size))
        counts = segm["counts"]
        if isinstance(counts, list):
            if not all(isinstance(c, int) and c >= 0 for c in counts):
                raise AnnotationError("{}: {} has RLE counts that are not non-negative "
                                      "integers".format(path, where))
            if sum(counts) != size[0] * size[1]:
                raise AnnotationError("{}: {} has uncompressed RLE counts summing to {} but "
                                      "its size {}x{} has {} pixels".format(
                                          path, where, sum(counts), size[0], size[1],
                                          size[0] * size[1]))
        elif not isinstance(counts, str):
            raise AnnotationError("{}: {} has RLE counts of type {}; expected a list of ints "
                                  "or a string".format(path, where, type(counts).__name__))
        elif height is not None and list(size) == [height, width]:
            # A size that differs from the image's is reported later, with
            # the image; without an image size the check waits for the
            # file's header (a huge bogus size must not be decoded).
            check_compressed_rle(segm, where, path)
        return out
    if segm:  # polygons
        if not isinstance(segm, list):
            raise AnnotationError("{}: {} has a segmentation of type {}; expected a polygon "
                                  "list or an RLE object".format(path, where,
                                                                 type(segm).__name__))
        if all(_is_number(v) for v in segm):  # a single polygon not wrapped in a list
            segm = [segm]
        parts = []
        for part in segm:
            if not _is_number_list(part):
                raise AnnotationError("{}: {} has a polygon that is not a list of numbers: "
                                      "{!r}".format(path, where, short_repr(part)))
            if len(part) % 2:
                raise AnnotationError("{}: {} has a polygon of {} coordinates; expected "
                                      "x, y pairs".format(path, where, len(part)))
            if len(part) < 6:
                problems.add("polygons with fewer than 3 points skipped", where)
                continue
            if height is not None and points_outside(part, height, width):
                problems.add("polygons reaching outside the image clipped", where)
            parts.append(part)
        if not parts:
            problems.add("annotations without a valid polygon skipped", where)
            return None
        out["segmentation"] = parts
        return out
    # No segmentation: a detection-only annotation; its box becomes the mask.
    bbox = ann.get("bbox")
    if (not isinstance(bbox, list) or len(bbox) != 4
            or not all(_is_number(v) for v in bbox)):
        raise AnnotationError("{}: {} has neither a segmentation nor a valid bbox "
                              "[x, y, width, height] (bbox: {!r})".format(path, where, bbox))
    x, y, w, h = bbox
    if w <= 0 or h <= 0:
        problems.add("boxes of zero size skipped", where)
        return None
    problems.add("annotations without segmentation used their bbox as mask", where)
    polygon = box_polygon(x, y, w, h)
    if height is not None and points_outside(polygon, height, width):
        problems.add("boxes reaching outside the image clipped", where)
    out["segmentation"] = [polygon]
    return out


def check_compressed_rle(segm, where, path):
    """Decode a compressed RLE once (its size is the image's, so bounded): a
    corrupt string would otherwise fail at training time without naming the
    file."""
    from pycocotools import mask as mask_util
    size, counts = segm["size"], segm["counts"]
    try:
        counts.encode("ascii")
        decoded = mask_util.decode({"size": list(size), "counts": counts.encode()})
    except Exception as e:  # pycocotools raises bare ValueErrors
        raise AnnotationError("{}: {} has a compressed RLE that cannot be decoded: "
                              "{}".format(path, where, e)) from None
    # pycocotools decodes some invalid strings (e.g. "") into garbage values
    # instead of failing; a valid mask is 0/1.
    if decoded.shape[:2] != tuple(size) or decoded.max(initial=0) > 1:
        raise AnnotationError("{}: {} has a compressed RLE that cannot be decoded to a "
                              "{}x{} mask".format(path, where, size[0], size[1]))


def check_rle_sizes(anns, height, width, image_path, json_path, decode=False):
    """RLE sizes must be the image's; with `decode`, compressed RLEs (not
    checked when the file gave no image size) are decoded once too."""
    if height is None:
        return
    for ann in anns:
        segm = ann["segmentation"]
        if isinstance(segm, dict) and list(segm["size"]) != [height, width]:
            raise AnnotationError(
                "{}: annotation {} of image {!r} ({}): RLE mask size {}x{} differs from the "
                "image's {}x{} (height x width)".format(
                    json_path, ann.get("id"), ann["image_id"], image_path, segm["size"][0],
                    segm["size"][1], height, width))
        if decode and isinstance(segm, dict) and isinstance(segm["counts"], str):
            check_compressed_rle(segm, "annotation {}".format(ann.get("id")), json_path)
