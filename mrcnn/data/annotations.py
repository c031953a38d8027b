"""Helpers shared by the annotation formats (COCO, VIA, LabelMe, folder):
reading JSON with errors that name the file, rasterising shapes the way
pycocotools does, and counting recoverable problems.

Rasterisation: pixel (row r, column c) covers the square [c, c + 1) x
[r, r + 1); a polygon through (0, 0), (10, 0), (10, 10), (0, 10) fills a
10x10 block, as pycocotools' ``frPyObjects`` does, so converting between
formats keeps masks identical.
"""

import json
import os
import stat
import warnings

import numpy as np


class AnnotationError(ValueError):
    """A malformed annotation file or entry; the message names the file and
    the entry (annotation id, region index, ...)."""


def read_json(path, what="annotation file"):
    """Parse a JSON file; errors name the file (and line/column for syntax
    errors). A UTF-8 byte-order mark is accepted."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise FileNotFoundError("{} not found: {}".format(what, path)) from None
    except IsADirectoryError:
        raise AnnotationError("{} {} is a directory, not a JSON file".format(what, path)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise AnnotationError("{}: not UTF-8 text (byte {}): is it really JSON?".format(
            path, e.start)) from None
    if not text.strip():
        raise AnnotationError("{}: the file is empty".format(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise AnnotationError("{}: invalid JSON at line {} column {}: {}".format(
            path, e.lineno, e.colno, e.msg)) from None


def image_size(path):
    """(height, width) of an image file from its header, or None when the
    file is missing, unreadable or not a regular file (a named pipe or a
    device would block or never end). A header claiming more pixels than
    PIL's decompression-bomb limit raises AnnotationError naming the file,
    the claimed size and how to raise the limit."""
    from PIL import Image

    from mrcnn.data.images import decompression_bomb_message
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with Image.open(path) as image:
            width, height = image.size
    except Image.DecompressionBombError as e:
        raise AnnotationError(decompression_bomb_message(path, e)) from None
    except (OSError, ValueError):
        return None
    return int(height), int(width)


def resolve_image_path(image_dir, file_name):
    """`image_dir`/`file_name`; when that file does not exist but
    `image_dir`/basename(`file_name`) does (tools that store "images/x.jpg"
    or a Windows path), the latter."""
    path = os.path.join(image_dir, file_name)
    if not os.path.exists(path):
        base = os.path.join(image_dir, os.path.basename(file_name.replace("\\", "/")))
        if os.path.exists(base):
            return base
    return path


# Task prefixes of COCO file names in the "annotations/<task>_<subset>.json"
# layout of MS COCO and datumaro (CVAT's "COCO 1.0" export).
COCO_TASK_PREFIXES = ("instances", "person_keypoints", "panoptic", "stuff", "captions",
                      "image_info", "labels")


def default_image_dir(json_path, file_names=()):
    """Where the images of an annotation file are when no folder is given.

    * JSON in a folder named "annotations" with a sibling "images" folder
      (CVAT, COCO-style exports): that "images" folder, or its sub-folder
      named after the file's subset, as datumaro and MS COCO lay it out
      (annotations/instances_default.json -> images/default/,
      annotations/instances_val2017.json -> images/val2017/): the subset
      folder is taken when it exists and, given `file_names` (the file's
      image names), when it holds the first of them or "images" does not.
    * Otherwise the JSON file's folder.
    """
    json_dir = os.path.dirname(os.path.abspath(json_path))
    sibling = os.path.join(os.path.dirname(json_dir), "images")
    if os.path.basename(json_dir) != "annotations" or not os.path.isdir(sibling):
        return json_dir
    stem = os.path.splitext(os.path.basename(json_path))[0]
    subset = None
    for prefix in COCO_TASK_PREFIXES:
        if stem.startswith(prefix + "_") and len(stem) > len(prefix) + 1:
            subset = stem[len(prefix) + 1:]
            break
    if subset is None:  # datumaro's own format: annotations/<subset>.json
        subset = stem
    subset_dir = os.path.join(sibling, subset)
    if not subset or not os.path.isdir(subset_dir):
        return sibling
    first = next((f for f in file_names if isinstance(f, str) and f), None)
    if first is None:
        return subset_dir
    in_subset = os.path.exists(resolve_image_path(subset_dir, first))
    in_images = os.path.exists(resolve_image_path(sibling, first))
    return sibling if in_images and not in_subset else subset_dir


# Polygons reaching further outside the image than CLIP_MARGIN_FACTOR times
# its larger side are clipped to the image plus that margin before
# rasterising: pycocotools walks every edge pixel by pixel at 5x resolution,
# so a coordinate of 1e8 takes minutes and 1e9 overflows its int arithmetic
# and crashes the interpreter. Polygons within the margin (any annotation
# drawn past the border by hand) are rasterised exactly as pycocotools does;
# for clipped ones the new vertices round differently from the far-away
# ones, which moves a clipped edge by about 0.1 pixel / CLIP_MARGIN_FACTOR
# inside the image (measured: 25 pixels differ over 2000 random polygons
# reaching up to 30000 pixels out, against 336 with a margin of one image
# side), and the cost stays a few full-image outlines.
CLIP_MARGIN_FACTOR = 16
# Coordinates are first limited to +-this, far outside any image, so that
# the clipping arithmetic cannot overflow (coordinates near 1e308).
_COORDINATE_LIMIT = 1e12


def clip_polygon(points, height, width, margin=None):
    """A flat polygon [x0, y0, x1, y1, ...] clipped to the box [-margin,
    width + margin] x [-margin, height + margin] (Sutherland-Hodgman, one
    box side at a time); margin defaults to CLIP_MARGIN_FACTOR * max(height,
    width, 1).

    Every point of the box keeps the winding number it had in the original
    polygon (each cut-off piece of the outline is replaced by a segment on
    the box side, and the loop the two form lies outside that side), so the
    image's pixels are the same as for the unclipped polygon, for concave and
    self-intersecting polygons too. (Clamping the vertices to the box would
    not be: an edge passing outside a corner would cut the corner off.) In
    pycocotools' rasterisation the new vertices round differently from the
    far-away ones (see CLIP_MARGIN_FACTOR); polygons within the margin are
    returned unchanged.

    Returns a float64 flat array; it has fewer than 6 values when nothing of
    the polygon is inside the box.
    """
    if margin is None:
        margin = CLIP_MARGIN_FACTOR * max(height, width, 1)
    xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    xy = np.clip(xy, -_COORDINATE_LIMIT, _COORDINATE_LIMIT)
    low = np.array([-margin, -margin])
    high = np.array([width + margin, height + margin])
    if xy.size and (xy >= low).all() and (xy <= high).all():
        return xy.ravel()
    for axis, bound, keep_below in ((0, low[0], False), (0, high[0], True),
                                    (1, low[1], False), (1, high[1], True)):
        if len(xy) == 0:
            break
        nxt = np.roll(xy, -1, axis=0)
        if keep_below:
            inside, inside_next = xy[:, axis] <= bound, nxt[:, axis] <= bound
        else:
            inside, inside_next = xy[:, axis] >= bound, nxt[:, axis] >= bound
        crossing = inside != inside_next
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (bound - xy[:, axis]) / (nxt[:, axis] - xy[:, axis])
        t = np.where(crossing, t, 0.0)
        cut = xy + t[:, None] * (nxt - xy)
        cut[:, axis] = bound  # exactly on the side, whatever the rounding
        # Vertex i contributes itself when inside, then the crossing of edge
        # (i, i + 1) when the edge crosses the side.
        candidates = np.stack([xy, cut], axis=1)  # [n, 2, 2]
        keep = np.stack([inside, crossing], axis=1)  # [n, 2]
        xy = candidates[keep]
    return xy.ravel()


def polygons_to_rle(polygons, height, width):
    """One COCO RLE of the union of polygons.

    polygons: list of flat [x0, y0, x1, y1, ...] sequences of >= 3 points, in
        pixel coordinates (may reach outside the image: clipped to it, see
        `clip_polygon`).
    """
    from pycocotools import mask as mask_util
    polys = [np.asarray(p, dtype=np.float64).ravel() for p in polygons]
    if any(len(p) < 6 for p in polys):
        raise ValueError("polygons_to_rle: every polygon needs >= 3 points")
    if any(not np.isfinite(p).all() for p in polys):
        raise ValueError("polygons_to_rle: polygon coordinates must be finite numbers")
    polys = [clip_polygon(p, height, width) for p in polys]
    polys = [p.tolist() for p in polys if len(p) >= 6]
    if not polys:
        return mask_util.encode(np.zeros((height, width), np.uint8, order="F"))
    return mask_util.merge(mask_util.frPyObjects(polys, height, width))


def polygons_to_mask(polygons, height, width):
    """bool [height, width] union of polygons (see `polygons_to_rle`)."""
    from pycocotools import mask as mask_util
    return mask_util.decode(polygons_to_rle(polygons, height, width)).astype(bool)


def box_polygon(x, y, w, h):
    """Flat polygon [x0, y0, ...] of the box at (x, y) of size w x h."""
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def ellipse_mask(cx, cy, rx, ry, height, width, theta=0.0):
    """bool [height, width]: pixels whose centre (c + 0.5, r + 0.5) lies in
    the ellipse of centre (cx, cy), radii rx (along the rotated x axis) and
    ry, rotated by `theta` radians (clockwise on screen, y pointing down)."""
    mask = np.zeros((height, width), bool)
    reach = max(abs(rx), abs(ry))
    r0, r1 = max(int(np.floor(cy - reach)), 0), min(int(np.ceil(cy + reach)) + 1, height)
    c0, c1 = max(int(np.floor(cx - reach)), 0), min(int(np.ceil(cx + reach)) + 1, width)
    if r0 >= r1 or c0 >= c1 or rx <= 0 or ry <= 0:
        return mask
    ys, xs = np.mgrid[r0:r1, c0:c1]
    dx = xs + 0.5 - cx
    dy = ys + 0.5 - cy
    cos, sin = np.cos(theta), np.sin(theta)
    u = dx * cos + dy * sin
    v = -dx * sin + dy * cos
    mask[r0:r1, c0:c1] = (u / rx) ** 2 + (v / ry) ** 2 <= 1.0
    return mask


def render_shapes(shapes, height, width):
    """bool [height, width] union of shapes, each a dict with "type":

    * "polygon": "points", a flat [x0, y0, x1, y1, ...] list;
    * "ellipse": "cx", "cy", "rx", "ry" and optional "theta";
    * "rle": "rle", a COCO RLE dict of the image's size;
    * "mask": "mask", a bool [height, width] array.
    """
    from pycocotools import mask as mask_util
    out = np.zeros((height, width), bool)
    polygons = [s["points"] for s in shapes if s["type"] == "polygon"]
    if polygons:
        out |= polygons_to_mask(polygons, height, width)
    for s in shapes:
        if s["type"] == "ellipse":
            out |= ellipse_mask(s["cx"], s["cy"], s["rx"], s["ry"], height, width,
                                s.get("theta", 0.0))
        elif s["type"] == "rle":
            out |= mask_util.decode(_rle_for_decoding(s["rle"], height, width)).astype(bool)
        elif s["type"] == "mask":
            out |= s["mask"]
        elif s["type"] != "polygon":
            raise ValueError("render_shapes: unknown shape type {!r}".format(s["type"]))
    return out


def stack_rendered_instances(dataset, info, height, width, shapes_of=None):
    """`load_mask`'s result for an image whose instances are drawn shapes
    (VIA regions, LabelMe shapes): each of info["instances"] is rendered
    with `render_shapes(shapes_of(instance))`; instances that cover no pixel
    are left out. The indices of those kept go to info["drawn_instances"]
    (e.g. for keypoints aligned with the masks).

    Returns bool [height, width, N] masks and int32 [N] internal class ids.
    """
    masks, class_ids, drawn = [], [], []
    for index, inst in enumerate(info["instances"]):
        shapes = shapes_of(inst) if shapes_of is not None else inst["shapes"]
        m = render_shapes(shapes, height, width)
        if m.any():
            masks.append(m)
            drawn.append(index)
            class_ids.append(dataset.map_source_class_id("{}.{}".format(
                info["source"], inst["class_id"])))
    info["drawn_instances"] = drawn
    if not masks:
        return np.zeros((height, width, 0), bool), np.zeros([0], np.int32)
    return np.stack(masks, axis=2), np.array(class_ids, np.int32)


def _rle_for_decoding(rle, height, width):
    from pycocotools import mask as mask_util
    if isinstance(rle["counts"], list):
        return mask_util.frPyObjects(rle, height, width)
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return {"size": list(rle["size"]), "counts": counts}


def points_outside(points, height, width):
    """Whether any (x, y) of a flat point list lies outside [0, width] x [0, height]."""
    xs, ys = points[0::2], points[1::2]
    return bool(min(xs) < 0 or max(xs) > width or min(ys) < 0 or max(ys) > height)


class ProblemCounter(object):
    """Counts recoverable problems of an annotation file by kind and reports
    each kind once (with its first occurrence) through `warnings.warn`."""

    def __init__(self, path):
        self.path = path
        self.counts = {}
        self.first = {}

    def add(self, kind, where):
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.first.setdefault(kind, where)

    def report(self):
        """Warn once per kind; returns the messages."""
        messages = []
        for kind, count in self.counts.items():
            message = "{}: {} {} (first: {})".format(self.path, count, kind, self.first[kind])
            warnings.warn(message, stacklevel=3)
            messages.append(message)
        return messages


def _is_number(v):
    """A finite int or float (not a bool, not a numeric string)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return bool(np.isfinite(v))
    except (OverflowError, TypeError):  # an int too large for a float
        return False


def _is_number_list(values):
    """A list of finite numbers, none of them a string or a bool (fast for
    the long lists of COCO polygons)."""
    if not isinstance(values, list):
        return False
    if any(isinstance(v, (bool, str, bytes)) for v in values):
        return False
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return False
    return array.ndim == 1 and bool(np.isfinite(array).all())


def _require(entry, key, where, path, kinds=None):
    if not isinstance(entry, dict):
        raise AnnotationError("{}: {} is a {}, expected an object".format(
            path, where, type(entry).__name__))
    if key not in entry:
        raise AnnotationError("{}: {} has no {!r} field".format(path, where, key))
    value = entry[key]
    if kinds is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
        expected = kinds if isinstance(kinds, tuple) else (kinds,)
        raise AnnotationError("{}: {} field {!r} is {!r}; expected {}".format(
            path, where, key, value, " or ".join(k.__name__ for k in expected)))
    return value


def list_field(data, key, path, kind, contents, error=AnnotationError):
    """``data[key]`` of a parsed JSON file whose top level must be an object
    holding a list at `key`. The messages name the file `path` and the
    format: `kind` (e.g. "COCO-format file") and `contents`, what its top
    level holds (e.g. "'images', 'annotations' and 'categories'"). `error`
    is the AnnotationError subclass raised."""
    if not isinstance(data, dict):
        raise error("{}: the top level is a {}; a {} is an object with {}".format(
            path, type(data).__name__, kind, contents))
    if key not in data:
        raise error("{}: no {!r} list; is it a {}? (top-level keys: {})".format(
            path, key, kind, ", ".join(sorted(data)) or "none"))
    if not isinstance(data[key], list):
        raise error("{}: {!r} is a {}, expected a list".format(
            path, key, type(data[key]).__name__))
    return data[key]


def short_repr(value, limit=60):
    """``repr(value)``, cut to `limit` characters (with "...") for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_pixel_count(height, width, where):
    """Refuse an image size over PIL's decompression-bomb limit: masks of
    that size could not even be allocated (a typo or a damaged file).
    `where` names the file (and image) in the message."""
    from PIL import Image
    limit = Image.MAX_IMAGE_PIXELS
    if height is None or width is None or not limit or height * width <= 2 * limit:
        return
    raise AnnotationError(
        "{} is {} x {} pixels (width x height), over PIL's decompression-bomb limit of {} "
        "pixels; if the size is right, raise PIL.Image.MAX_IMAGE_PIXELS before "
        "loading".format(where, width, height, 2 * limit))
