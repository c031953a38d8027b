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
    file is missing or unreadable."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            width, height = image.size
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


def default_image_dir(json_path):
    """The JSON file's folder, or ../images when that folder is named
    "annotations" and ../images exists (CVAT, COCO-style exports)."""
    json_dir = os.path.dirname(os.path.abspath(json_path))
    sibling = os.path.join(os.path.dirname(json_dir), "images")
    if os.path.basename(json_dir) == "annotations" and os.path.isdir(sibling):
        return sibling
    return json_dir


def polygons_to_rle(polygons, height, width):
    """One COCO RLE of the union of polygons.

    polygons: list of flat [x0, y0, x1, y1, ...] sequences of >= 3 points, in
        pixel coordinates (may reach outside the image: clipped).
    """
    from pycocotools import mask as mask_util
    polys = [np.asarray(p, dtype=np.float64).ravel().tolist() for p in polygons]
    if any(len(p) < 6 for p in polys):
        raise ValueError("polygons_to_rle: every polygon needs >= 3 points")
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
    are left out.

    Returns bool [height, width, N] masks and int32 [N] internal class ids.
    """
    masks, class_ids = [], []
    for inst in info["instances"]:
        shapes = shapes_of(inst) if shapes_of is not None else inst["shapes"]
        m = render_shapes(shapes, height, width)
        if m.any():
            masks.append(m)
            class_ids.append(dataset.map_source_class_id("{}.{}".format(
                info["source"], inst["class_id"])))
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
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def _is_number_list(values):
    """A list of finite numbers (fast for the long lists of COCO polygons)."""
    if not isinstance(values, list):
        return False
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return array.ndim == 1 and bool(np.isfinite(array).all()) and not any(
        isinstance(v, (bool, str)) for v in values[:2])


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
